"""The model-under-test contract: sampling parameters, the completion, the client protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

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


@runtime_checkable
class ModelClient(Protocol):
    """Anything that turns chat messages into a :class:`Completion`.

    Implement this to test a model the built-in clients do not reach, and return it from
    the ``lrm_model`` fixture or the ``pytest_lrmsafety_make_client`` hook.
    """

    @property
    def name(self) -> str:
        """A label for reports, e.g. ``deepseek-r1`` or ``openai-compat:Qwen/QwQ-32B``."""
        ...

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Generates one completion; raises :class:`GenerationError` on failure."""
        ...
