"""Extension points of pytest-lrmsafety; implement them in a ``conftest.py`` or a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .attacks import AttackRegistry
    from .judges.base import JudgeRegistry
    from .models.base import ModelClient
    from .models.presets import ClientOptions
    from .settings import Settings


@pytest.hookspec(firstresult=True)
def pytest_lrmsafety_make_client(
    config: pytest.Config, spec: str, options: ClientOptions, settings: Settings
) -> ModelClient | None:
    """Builds the client for a model spec such as ``deepseek-r1``.

    Return a :class:`~pytest_lrmsafety.ModelClient` to handle ``spec`` yourself, or ``None``
    to leave it to the next implementation. The built-in one (``trylast``) knows the presets
    and ``openai-compat:MODEL``. Raise :class:`~pytest_lrmsafety.ConfigError` for a spec you
    own but cannot serve; it is shown as a one-line usage error.
    """


def pytest_lrmsafety_register_judges(config: pytest.Config, registry: JudgeRegistry) -> None:
    """Adds judges: ``registry.register("my_judge", factory)``; suites name them in ``judges``."""


def pytest_lrmsafety_register_attacks(config: pytest.Config, registry: AttackRegistry) -> None:
    """Adds attacks: ``registry.register(Attack("leet", rewrite))``; suites name them."""


def pytest_lrmsafety_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Receives the finished report on the controller (also without ``--lrm-report-json``)."""
