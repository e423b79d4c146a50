"""Extension points of pytest-lrmsafety; implement them in a ``conftest.py`` or a plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .attacks import AttackRegistry
    from .judges.base import JudgeRegistry
    from .models.base import ModelClient
    from .models.presets import ClientOptions
    from .report.model import Report


@pytest.hookspec(firstresult=True)
def pytest_lrmsafety_make_client(
    config: pytest.Config, spec: str, options: ClientOptions
) -> ModelClient | None:
    """Builds the client for a model spec such as ``deepseek-r1``.

    Called for the model under test (``--lrm-model``) and for each judge or attacker model
    (``--lrm-judge-model``, ``--lrm-guard-model``, ``--lrm-attacker-model``), each with its
    own ``options``: the base URLs, timeout, retries, streaming and the rest of the run's
    settings a client needs (:class:`~pytest_lrmsafety.models.presets.ClientOptions`), and
    ``options.source``, the option the spec came from, to begin your error messages with.
    An implementation may take any subset of ``config``, ``spec`` and ``options``.

    Return a :class:`~pytest_lrmsafety.ModelClient` to handle ``spec`` yourself, or ``None``
    to leave it to the next implementation. A subclass of ``ModelClient`` is used as it is
    (it declares ``supports_prefill``, ``cache_identity``, ``preferred_concurrency``,
    ``endpoints`` and the rest with their defaults); any other object with ``name`` and
    ``generate(messages, params)`` is wrapped once in an adapter that reads those it has and
    takes the defaults for the rest; an object without them is a one-line usage error naming
    the option, this hook, the spec and its class. The built-in one (``trylast``,
    ``pytest_lrmsafety/models/factory.py``) knows the presets, ``openai-compat:MODEL``,
    ``replay:``, ``hf:``, ``vllm:`` and ``vllm-server:``. Raise
    :class:`~pytest_lrmsafety.ConfigError` for a spec you own but cannot serve; it is shown
    as a one-line usage error.
    """


def pytest_lrmsafety_register_judges(config: pytest.Config, registry: JudgeRegistry) -> None:
    """Adds judges: ``registry.register("my_judge", factory)``; suites name them in ``judges``.

    The factory is called once, on first use. What it makes should subclass
    :class:`~pytest_lrmsafety.Judge` (``name``, ``judge(item) -> Verdict``, and the optional
    ``thread_safe``, ``cache_identity``, ``description`` with their defaults); any other
    object with ``name`` and ``judge`` is wrapped once in an adapter that reads those optional
    attributes it has; an object without them fails the first case that names the judge
    (``file:line: judges: ...``), naming the judge, the object's class and what it lacks.
    """


def pytest_lrmsafety_register_attacks(config: pytest.Config, registry: AttackRegistry) -> None:
    """Adds attacks: ``registry.register(Attack("leet", rewrite))``; suites name them."""


def pytest_lrmsafety_report(config: pytest.Config, report: Report) -> None:
    """Receives the finished report on the controller (also without ``--lrm-report-json``).

    ``report`` is a frozen :class:`~pytest_lrmsafety.report.model.Report`: ``report.totals``,
    ``report.by_category`` (rows of :class:`~pytest_lrmsafety.report.model.Rate` by metric),
    ``report.gates``, ``report.gate_verdict``, ``report.probes`` and the rest, typed. For the
    JSON document that ``--lrm-report-json`` writes (a dict), call ``report.to_json()``;
    ``Report.from_json(data)`` reads one back, checked against the schema.
    """
