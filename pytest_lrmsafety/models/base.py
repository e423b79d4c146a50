"""The model-under-test contract: sampling parameters, the completion, the client base class."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError

ThinkingStatus = Literal["present", "absent", "hidden", "truncated"]
THINKING_STATUSES: tuple[ThinkingStatus, ...] = ("present", "absent", "hidden", "truncated")

Message = Mapping[str, str]

#: Key of a final assistant message that the model must continue rather than answer
#: (``{"role": "assistant", "content": "<think>...", "prefill": "true"}``); clients remove
#: it before sending. Without it, a final assistant message is part of the conversation
#: (e.g. the turn a classifier judges).
PREFILL_KEY = "prefill"


def is_prefill(messages: Sequence[Message]) -> bool:
    """Whether the last message is an assistant turn to be continued."""
    return (
        bool(messages)
        and messages[-1].get("role") == "assistant"
        and messages[-1].get(PREFILL_KEY) == "true"
    )


def wire_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The messages as sent: role and content only (markers such as ``prefill`` removed)."""
    return [{k: v for k, v in m.items() if k != PREFILL_KEY} for m in messages]


@dataclass(frozen=True)
class SamplingParams:
    """What changes the model's output besides the messages.

    ``None`` leaves the choice to the server.
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    seed: int | None = None
    response_format: str | None = None  # "json_object": ask the server for JSON (judges)
    # Most reasoning tokens (0: thinking off): a probe's budget variant (models/budget.py).
    thinking_budget: int | None = None

    def merged(self, other: Mapping[str, Any]) -> SamplingParams:
        """Returns a copy with the non-``None`` values of ``other`` laid over this one."""
        values = dict(vars(self))  # shallow and fast: this runs for every probe
        values.update({k: v for k, v in other.items() if v is not None})
        return SamplingParams(**values)

    def as_dict(self) -> dict[str, Any]:
        """The set values only, JSON-safe."""
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Completion:
    """What the model returned, normalised; the raw payload is kept beside it.

    Attributes:
        thinking: The reasoning trace, or ``None`` when there is none to read.
        answer: The final answer, without the trace.
        thinking_status: ``present``, ``absent`` (the model gave no trace), ``hidden``
            (the provider keeps it; see ``reasoning_tokens``) or ``truncated`` (cut by the
            token limit before the trace ended).
        finish_reason: As the server said (``stop``, ``length``, ...).
        usage: Token counts as reported (``prompt_tokens``, ``completion_tokens``,
            ``reasoning_tokens`` where known).
        latency_s: Wall time of the request.
        model: The model name the server reported.
        raw: The response body (or the streamed chunks' concatenated fields).
    """

    thinking: str | None
    answer: str
    thinking_status: ThinkingStatus
    finish_reason: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    model: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a shallow dict (``usage`` and ``raw`` are not copied)."""
        return dict(vars(self))

    def reasoning_token_count(self) -> tuple[int | None, str | None]:
        """``(tokens, source)``: the reasoning tokens the server reported (``usage``), else
        the trace counted (``counted``: words and punctuation, an approximation, see
        :func:`~.reasoning.count_trace_tokens`), else ``(None, None)`` (no trace to count)."""
        reported = self.usage.get("reasoning_tokens")
        if reported is not None:
            return int(reported), "usage"
        if self.thinking is None:
            return None, None
        from .reasoning import count_trace_tokens  # reasoning imports this module

        return count_trace_tokens(self.thinking), "counted"


class GenerationError(Exception):
    """A model call failed (after the client's own retries).

    The message is shown to the user; it never contains an API key. ``retryable`` marks a
    failure worth another attempt that the client did not make itself (a malformed body, a
    stream cut mid-way); the engine retries those with backoff.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, server_fault: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        #: The server, not the request, failed (down, overloaded, 5xx, 429, cut off): another
        #: replica of the same model may still answer.
        self.server_fault = server_fault or retryable


class ModelClient(ABC):
    """Anything that turns chat messages into a :class:`Completion`.

    Subclass it to test a model the built-in clients do not reach, and return it from the
    ``lrm_model`` fixture or the ``pytest_lrmsafety_make_client`` hook. ``name`` and
    ``generate`` are required; every other capability is declared here with its default, and
    a subclass overrides what it has (with a class attribute or a property). The plugin reads
    these attributes directly; an object that does not subclass this is adopted once where
    it is handed over (:func:`adopt_client`).
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """A label for reports, e.g. ``deepseek-r1`` or ``openai-compat:Qwen/QwQ-32B``."""

    @abstractmethod
    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Generates one completion; raises :class:`GenerationError` on failure."""

    @property
    def cache_identity(self) -> Mapping[str, Any]:
        """What about the client changes its output (JSON-safe): completions are cached and
        recorded under it. Never a key, a timeout or a concurrency."""
        return {"name": self.name}

    @property
    def supports_prefill(self) -> bool:
        """Whether it can continue a final assistant turn (``prefill`` attacks need it)."""
        return False

    def budget_unsupported(self, budget: int) -> str | None:
        """Why it cannot generate under a thinking budget (``params.thinking_budget``: ``0``
        thinking off, ``N`` at most N reasoning tokens), else ``None``. A client that applies
        the budget overrides this; by default the budget's probes are skipped with this reason."""
        return "it applies no thinking budget (ModelClient.budget_unsupported)"

    @property
    def preferred_concurrency(self) -> int:
        """Requests the engine should keep in flight at least (a batching backend's batch)."""
        return 0

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The URLs it sends requests to (none for a model run here or a replay)."""
        return ()

    @property
    def replays(self) -> bool:
        """Whether it answers only from a recording (:meth:`lookup`): a probe it does not
        hold is an error, never a request, and the cache is not used."""
        return False

    def lookup(self, key: str) -> Completion | None:
        """The recorded completion of a request key (a replaying client), else ``None``."""
        return None

    @property
    def batches(self) -> int:
        """Batches run so far (a batching backend; shown at the end of the run)."""
        return 0

    @property
    def largest_batch(self) -> int:
        """The most prompts in one batch so far (a batching backend)."""
        return 0


#: The capabilities a client that does not subclass :class:`ModelClient` may still have; they
#: are read once, when it is adopted.
ADOPTED_CLIENT_CAPABILITIES = (
    "cache_identity",
    "supports_prefill",
    "preferred_concurrency",
    "endpoints",
)


class AdoptedClient(ModelClient):
    """A client from user code that does not subclass :class:`ModelClient`: its ``name``
    and ``generate``, and the declared capabilities it has (read once); defaults for the rest.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._name = str(inner.name)
        self._generate: Callable[[Sequence[Message], SamplingParams], Completion] = inner.generate
        found = {k: getattr(inner, k) for k in ADOPTED_CLIENT_CAPABILITIES if hasattr(inner, k)}
        identity = found.get("cache_identity")
        self._identity = dict(identity) if isinstance(identity, Mapping) else {"name": self._name}
        self._prefill = bool(found.get("supports_prefill", False))
        self._concurrency = int(found.get("preferred_concurrency", 0) or 0)
        self._endpoints = tuple(str(u) for u in found.get("endpoints", ()) or ())
        budget = getattr(inner, "budget_unsupported", None)
        self._budget: Callable[[int], str | None] | None = budget if callable(budget) else None

    @property
    def name(self) -> str:
        return self._name

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        return self._generate(messages, params)

    @property
    def cache_identity(self) -> Mapping[str, Any]:
        return self._identity

    @property
    def supports_prefill(self) -> bool:
        return self._prefill

    @property
    def preferred_concurrency(self) -> int:
        return self._concurrency

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._endpoints

    def budget_unsupported(self, budget: int) -> str | None:
        if self._budget is None:
            return super().budget_unsupported(budget)
        return self._budget(budget)

    def __repr__(self) -> str:
        return f"AdoptedClient({self.inner!r})"


def adopt_client(obj: object, where: str) -> ModelClient:
    """The one place a client from user code is accepted (the ``make_client`` hook's result,
    the ``lrm_model`` fixture's value).

    A :class:`ModelClient` is used as it is; an object with ``name`` and a callable
    ``generate`` is wrapped once in an :class:`AdoptedClient`; anything else is refused.

    Args:
        obj: What the user's code returned.
        where: Who returned it, for the error (``pytest_lrmsafety_make_client for 'x'``).

    Raises:
        ConfigError: One line naming ``where``, the object's class and what it lacks.
    """
    if isinstance(obj, ModelClient):
        return obj
    missing = [
        what
        for what, ok in (
            ("name", hasattr(obj, "name")),
            ("generate(messages, params)", callable(getattr(obj, "generate", None))),
        )
        if not ok
    ]
    if missing:
        kind = type(obj)
        raise ConfigError(
            f"{where} returned {kind.__module__}.{kind.__qualname__}, which has no "
            f"{' and no '.join(missing)}; a model client subclasses "
            "pytest_lrmsafety.ModelClient (or has name and generate(messages, params))"
        )
    return AdoptedClient(obj)
