"""Shared fixtures: a real OpenAI-compatible chat server per test."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

import pytest
from chat_server import ChatServer

from pytest_lrmsafety.models.base import GenerationError, SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient


def _warm_the_sdk() -> None:
    """Import all of the SDK and its HTTP library now, before any in-process pytester run:
    pytester restores sys.modules after each run, so parts first imported lazily inside one
    (the transport, its error mapping) would later be imported again as new modules while
    the SDK still holds the old ones, and a refused connection would escape the SDK's own
    wrapping as a bare ConnectError. One answered request of each kind and one refused
    connection import everything those paths need."""
    with ChatServer() as server:
        for stream in (False, True):
            client = OpenAICompatClient(
                name="warm", model="plain", base_url=server.url, api_key="k", stream=stream
            )
            client.generate([{"role": "user", "content": "hi"}], SamplingParams())
        gone = server.url
    refused = OpenAICompatClient(
        name="warm", model="plain", base_url=gone, api_key="k", max_retries=0
    )
    with contextlib.suppress(GenerationError):
        refused.generate([{"role": "user", "content": "hi"}], SamplingParams())


_warm_the_sdk()

# The same for the plugin itself: an installed plugin imports its hooks (and yaml, jsonschema,
# sqlite3 ...) only when a run uses it, so the first in-process run would import them and
# pytester would drop them again; import them once here, for every run to share.
importlib.import_module("pytest_lrmsafety.hooks")

# And the HTML report's charts: numpy (under matplotlib) cannot be loaded twice in one process,
# so a chart drawn inside an in-process run, after pytester dropped the numpy an earlier run
# imported, fails with "cannot load module more than once per process". Loaded once here
# when the html extra is installed, every in-process run shares them.
with contextlib.suppress(ImportError):
    importlib.import_module("matplotlib").use("Agg")
    importlib.import_module("matplotlib.pyplot")
    importlib.import_module("matplotlib.backends.backend_svg")

# The default judge asks a harm judge when rules cannot tell: a judge model, else the offline
# judge when its extra is installed. Most tests here are about other things and are written
# against the rule judge's verdicts, so runs started by tests (in-process and subprocesses
# alike) use the rules alone unless a test says otherwise (tests/test_default_judge.py).
os.environ["LRM_HARM_JUDGE"] = "rules"

pytest_plugins = ["pytester"]


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started :class:`chat_server.ChatServer` on a free port, stopped after the test."""
    with ChatServer() as server:
        yield server
