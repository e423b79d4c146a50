"""The built-in model clients: ``pytest_lrmsafety_make_client``'s own implementation.

A plugin or conftest that implements the hook is asked first; this one serves what is left:
``replay:``, ``hf:``, ``vllm:``, ``vllm-server:`` and the OpenAI-compatible presets. It reads
only the spec and its :class:`~pytest_lrmsafety.models.presets.ClientOptions`.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ..engine.cassette import REPLAY_PREFIX, ReplayClient
from ..errors import ConfigError
from .base import ModelClient
from .hf import PREFIX as HF_PREFIX
from .hf import make_hf_client
from .presets import (
    LOCAL_KEY_ENV,
    ClientOptions,
    Preset,
    make_openai_client,
    resolve_preset,
)
from .vllm_offline import PREFIX as VLLM_PREFIX
from .vllm_offline import make_vllm_client
from .vllm_server import PREFIX as SERVER_PREFIX
from .vllm_server import check_attached


@pytest.hookimpl(trylast=True)
def pytest_lrmsafety_make_client(spec: str, options: ClientOptions) -> ModelClient:
    source = options.source
    if spec.startswith(REPLAY_PREFIX):
        display = spec[len(REPLAY_PREFIX) :]
        return ReplayClient(options.path_base / display, display)
    if spec.startswith(HF_PREFIX):
        return make_hf_client(spec, options, source)
    if spec.startswith(VLLM_PREFIX):
        return make_vllm_client(spec, options, source, options.engine_args)
    if spec.startswith(SERVER_PREFIX):
        return _vllm_server_client(spec, options)
    preset = resolve_preset(spec, options.presets, source)
    return make_openai_client(spec, preset, options, source)


def _vllm_server_client(spec: str, options: ClientOptions) -> ModelClient:
    """``vllm-server:MODEL``: the server this run started (``--lrm-serve``), or the one at
    ``--lrm-base-url`` after a health check."""
    model = spec[len(SERVER_PREFIX) :]
    source = options.source
    if not model:
        raise ConfigError(f"{source}: 'vllm-server:' needs the model the server serves")
    urls = options.base_urls
    if options.serve_url is not None:
        urls = (options.serve_url,)
    elif not urls:
        raise ConfigError(
            f"{source}: {spec!r} needs a server: --lrm-serve starts one for the run, or "
            "--lrm-base-url http://HOST:PORT/v1 attaches to one that runs"
        )
    else:
        for url in urls:
            check_attached(url, model, source)
    preset = Preset(model=model, api_key_env=LOCAL_KEY_ENV, prefill="vllm")
    return make_openai_client(spec, preset, replace(options, base_urls=urls), source)
