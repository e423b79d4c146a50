"""Shared fixtures: a real OpenAI-compatible chat server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chat_server import ChatServer

pytest_plugins = ["pytester"]


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started :class:`chat_server.ChatServer` on a free port, stopped after the test."""
    with ChatServer() as server:
        yield server
