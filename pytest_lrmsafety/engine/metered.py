"""The model under test as the engine hands it to a probe: every call rate-limited and counted.

A probe may take many calls of the model under test: a multi-turn conversation, a prefill
probe's trace steps, a translation's request, a spear-phishing dialogue's turns, and an
attacker-model search's rounds (PAIR, adaptive Crescendo, TAP). ``--lrm-rpm`` is a promise
about the model under test's endpoint, so it holds for each of those calls, not once per
probe; and the engine's ``model_calls`` count (the end-of-run line, the progress line) is
the number of calls made, not of probes. The attacker, translator, victim and judge models
are other clients: their calls are neither limited nor counted here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..models.base import Completion, Message, ModelClient, SamplingParams
from .pool import RateLimit


class MeteredClient(ModelClient):
    """``inner`` with each :meth:`generate` waiting for its rate-limit slot and counted.

    Args:
        inner: The model under test.
        rate: The run's limit (``--lrm-rpm``), shared by every probe's calls.
        on_call: Called once per call, before it is made (the engine's count).
    """

    def __init__(self, inner: ModelClient, rate: RateLimit, on_call: Callable[[], None]) -> None:
        self.inner = inner
        self._rate = rate
        self._on_call = on_call

    @property
    def name(self) -> str:
        return self.inner.name

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        self._rate.wait()
        self._on_call()
        return self.inner.generate(messages, params)

    # What a runner may ask of the model under test is the client's own answer.
    @property
    def cache_identity(self) -> Mapping[str, Any]:
        return self.inner.cache_identity

    @property
    def supports_prefill(self) -> bool:
        return self.inner.supports_prefill

    def budget_unsupported(self, budget: int) -> str | None:
        return self.inner.budget_unsupported(budget)

    @property
    def preferred_concurrency(self) -> int:
        return self.inner.preferred_concurrency

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self.inner.endpoints

    def __getattr__(self, name: str) -> Any:  # a backend's own methods (render, generate_text)
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"MeteredClient({self.inner!r})"
