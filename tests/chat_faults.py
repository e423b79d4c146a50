"""What the test chat server answers: replies, rules, random faults and their OpenAI layout.

Pure data and functions, no sockets: :mod:`chat_server` serves them over HTTP.

The **reply** (thinking, answer, faults) comes from the first :class:`Rule` whose ``match`` is a
case-insensitive substring of all message contents joined by newlines, or from
``ChatServer.default``.  A rule with ``times=N`` is used for its first N matches only, after
which later rules / the default apply.  A reply without a fault of its own may then be hit by
a random fault drawn from :class:`Faults` (rule and reply faults take precedence).

The **style** comes from the request's ``model``: the part before the first ``:``
(``"think:qwen3"`` -> ``think``).  Styles mimic real servers:

``reasoning``          ``message.reasoning`` = thinking (vLLM ``--reasoning-parser``)
``reasoning_content``  ``message.reasoning_content`` = thinking (DeepSeek API, older vLLM)
``think``              content = ``"<think>\\n" + thinking + "\\n</think>\\n\\n" + answer``
``think-close``        content = ``thinking + "\\n</think>\\n\\n" + answer`` (R1 distills)
``plain``              content = answer; the thinking is ignored entirely
``hidden``             content = answer; only ``reasoning_tokens`` betrays the trace

An unknown style is answered with 404 ``model not found``.  With ``thinking=None`` every style
behaves like ``plain``.

A token is a whitespace-separated word.  ``prompt_tokens`` counts the words of all message
contents; ``completion_tokens`` = reasoning tokens + answer words.  If ``max_tokens`` or
``max_completion_tokens`` (the smaller if both) is N and thinking + answer have more than N
words, the output is cut after N words with ``finish_reason="length"``; when the cut falls in
the thinking (or right at its end) the answer is empty and no closing ``</think>`` is emitted.

Errors use the OpenAI shape ``{"error": {"message", "type", "param", "code"}}``.  A
:class:`Answer` is the finished response: status, headers, and the body as JSON or SSE frames.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

STYLES = ("reasoning", "reasoning_content", "think", "think-close", "plain", "hidden")
# Hosted models' names, played in the style their APIs answer in (so that presets and the
# default judges that name them can be pointed at this server).
MODEL_STYLES = {
    "deepseek-reasoner": "reasoning_content",
    "deepseek-chat": "plain",
    "o3-mini": "hidden",
    "gpt-4o": "plain",
}
"""Every style a request's ``model`` may name (before the first ``:``)."""

MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "cho'
"""The body of a malformed non-streamed answer (a 200 that is not JSON)."""

_WORD = re.compile(r"\S+")
_PIECE = re.compile(r"\s*\S+(?:\s+\S+){0,2}")  # up to three words with their leading spaces


@dataclass
class Reply:
    """What the server answers; the style of the request decides how it is laid out."""

    thinking: str | None = "The user is asking for something harmful. I should decline."
    answer: str = "I can't help with that."
    status: int = 200
    """Anything but 200: that HTTP status with an OpenAI-style error body."""
    error_message: str = "injected fault"
    malformed: bool = False
    """200 with a body that is not JSON (streaming: one broken ``data:`` line)."""
    cut: bool = False
    """Close the connection mid-answer: a stream after about half its content chunks (no
    finish chunk, no ``[DONE]``), a JSON answer after half its declared body."""
    delay_s: float = 0.0
    """Seconds to sleep before answering."""
    reasoning_tokens: int | None = None
    """Reported ``reasoning_tokens``; default: the words of the thinking sent (or hidden)."""
    reasoning_usage: bool = True
    """False: the usage block has no ``completion_tokens_details`` (servers that do not
    count reasoning tokens), so a client must count the trace itself."""
    retry_after: float | None = None
    """Sets a ``Retry-After`` header on error replies."""

    @property
    def faultless(self) -> bool:
        """True when this reply is a full, well-formed 200 answer."""
        return self.status == 200 and not self.malformed and not self.cut

    @property
    def outcome(self) -> str:
        """How the server log records it: ``ok``, ``malformed``, ``cut`` or the status."""
        if self.status != 200:
            return str(self.status)
        return "malformed" if self.malformed else "cut" if self.cut else "ok"


@dataclass
class Rule:
    """Use ``reply`` when ``match`` occurs (case-insensitively) in the request's messages."""

    match: str
    reply: Reply
    times: int | None = None
    """Apply only to the first ``times`` matches, then fall through."""
    body: dict[str, Any] | None = None
    """Apply only to requests whose JSON body has these top-level values (e.g.
    ``{"thinking_token_budget": 4096}``); ``None``: any body."""
    used: int = field(default=0, init=False, compare=False)
    """How often this rule has been applied."""


@dataclass
class Faults:
    """Random faults: one ``rng.random()`` per chat request picks at most one of them."""

    error_500: float = 0.0
    """Probability of HTTP 500."""
    rate_limit_429: float = 0.0
    """Probability of HTTP 429 with a ``Retry-After: retry_after_s`` header."""
    malformed: float = 0.0
    """Probability of a 200 that is not JSON (streaming: one broken ``data:`` line)."""
    cut_stream: float = 0.0
    """Probability of a connection closed mid-answer (see :attr:`Reply.cut`)."""
    retry_after_s: float = 0.05
    seed: int = 0
    """Seed of the server's ``random.Random``: same seed + same requests = same faults."""

    def __post_init__(self) -> None:
        odds = (self.error_500, self.rate_limit_429, self.malformed, self.cut_stream)
        if any(not 0.0 <= p <= 1.0 for p in odds) or sum(odds) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must lie in [0, 1] and sum to at most 1")

    def draw(self, rng: random.Random) -> dict[str, Any]:
        """One request's fault as :class:`Reply` field overrides (``{}``: no fault)."""
        u = rng.random()
        for p, overrides in (
            (self.error_500, {"status": 500, "error_message": "injected random fault"}),
            (
                self.rate_limit_429,
                {"status": 429, "retry_after": self.retry_after_s, "error_message": "slow down"},
            ),
            (self.malformed, {"malformed": True}),
            (self.cut_stream, {"cut": True}),
        ):
            if u < p:
                return overrides
            u -= p
        return {}


class BadRequest(Exception):
    """A request the server refuses with ``status`` before choosing any reply."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body."""

    model: str
    style: str
    prompt: str
    """All message contents joined by newlines (what rules match against)."""
    limit: int | None
    stream: bool
    include_usage: bool


@dataclass
class Rendered:
    """One reply laid out in one style, ready for JSON or for SSE chunks."""

    content: str
    reasoning_key: str | None
    reasoning: str | None
    pieces: list[tuple[str, str]]
    finish_reason: str
    usage: dict[str, Any]


def words(text: str | None) -> int:
    """Count whitespace-separated words ("tokens")."""
    return len(_WORD.findall(text)) if text else 0


def _first_words(text: str, n: int) -> str:
    """Return ``text`` up to the end of its ``n``-th word, spacing untouched."""
    if n <= 0:
        return ""
    spans = list(_WORD.finditer(text))
    return text[: spans[n - 1].end()] if n <= len(spans) else text


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into stream pieces of about three words; ``"".join`` restores it."""
    pieces = _PIECE.findall(text)
    rest = text[sum(map(len, pieces)) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces.append(rest)
    return pieces


def message_text(messages: object) -> str:
    """Join the text of all messages (string contents and ``text`` parts) by newlines."""
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "\n".join(texts)


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """Validate a chat-completions body; raise :class:`BadRequest` as a real server would."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise BadRequest(400, "'messages' is a required property")
    model = body.get("model")
    if not isinstance(model, str):
        raise BadRequest(400, "you must provide a model parameter")
    style = model.split(":", 1)[0]
    style = MODEL_STYLES.get(style, style)
    if style not in STYLES:
        raise BadRequest(404, f"model not found: {model}", "model_not_found")
    limits = [body.get(k) for k in ("max_tokens", "max_completion_tokens")]
    if any(v is not None and (not isinstance(v, int) or v < 0) for v in limits):
        raise BadRequest(400, "max_tokens must be a non-negative integer")
    limit = min((v for v in limits if v is not None), default=None)
    options = body.get("stream_options")
    usage = isinstance(options, dict) and bool(options.get("include_usage"))
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    continued = last.get("role") == "assistant" and bool(
        body.get("continue_final_message") or last.get("prefix")
    )
    if continued and style == "think":  # the prefill opened the trace: go on inside it
        style = "think-close"
    return ChatRequest(model, style, message_text(messages), limit, bool(body.get("stream")), usage)


def render(style: str, reply: Reply, limit: int | None, prompt_tokens: int) -> Rendered:
    """Lay ``reply`` out in ``style``, cut after ``limit`` words if it is longer."""
    thinking = None if style == "plain" else reply.thinking
    answer = reply.answer
    closed = True
    finish_reason = "stop"
    n_think = words(thinking)
    if limit is not None and n_think + words(answer) > limit:
        finish_reason = "length"
        if thinking is not None and limit <= n_think:
            thinking, answer, closed = _first_words(thinking, limit), "", False
        else:
            answer = _first_words(answer, limit - n_think)
    reasoning_tokens = reply.reasoning_tokens
    if reasoning_tokens is None:
        reasoning_tokens = words(thinking)
    completion_tokens = reasoning_tokens + words(answer)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    if not reply.reasoning_usage:
        del usage["completion_tokens_details"]
    answer_pieces = [("content", p) for p in split_pieces(answer)]
    if thinking is None or style in ("plain", "hidden"):
        return Rendered(answer, None, None, answer_pieces, finish_reason, usage)
    if style in ("reasoning", "reasoning_content"):
        pieces = [(style, p) for p in split_pieces(thinking)] + answer_pieces
        return Rendered(answer, style, thinking, pieces, finish_reason, usage)
    opening = "<think>\n" if style == "think" else ""
    closing = "\n</think>\n\n" if closed else ""
    pieces = [("content", opening)] if opening else []
    pieces += [("content", p) for p in split_pieces(thinking)]
    pieces += ([("content", closing)] if closing else []) + answer_pieces
    content = opening + thinking + closing + answer
    return Rendered(content, None, None, pieces, finish_reason, usage)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Build an OpenAI-style error body for ``status``."""
    if status >= 500:
        kind = "server_error"
    elif status == 429:
        kind = "requests"
    else:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def completion(model: str, rendered: Rendered) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": rendered.content}
    if rendered.reasoning_key is not None:
        message[rendered.reasoning_key] = rendered.reasoning
    choice = {"index": 0, "message": message, "logprobs": None}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**choice, "finish_reason": rendered.finish_reason}],
        "usage": rendered.usage,
    }


def stream_events(model: str, rendered: Rendered, reply: Reply, usage: bool) -> list[str]:
    """The ``data:`` payloads of a stream: chunks, the usage chunk, then ``[DONE]``.

    A malformed reply sends one broken chunk instead of the content; a cut one stops after
    the role chunk and the first half of the content pieces.
    """
    base: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    if usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return json.dumps({**base, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": ""})]
    if reply.malformed:
        return [*events, '{"id": "chatcmpl-malformed", "choices": [{"delta": {"co', "[DONE]"]
    pieces = rendered.pieces[: len(rendered.pieces) // 2] if reply.cut else rendered.pieces
    events += [chunk({key: piece}) for key, piece in pieces]
    if reply.cut:
        return events
    events.append(chunk({}, rendered.finish_reason))
    if usage:
        events.append(json.dumps({**base, "choices": [], "usage": rendered.usage}))
    return [*events, "[DONE]"]


@dataclass
class Answer:
    """A response ready for the wire; the server logs ``outcome`` before its last write."""

    status: int
    frames: list[bytes]
    """The body: one JSON document, or one ``data: ...`` frame per server-sent event."""
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False
    cut: bool = False
    """Send the first half only (a stream: its frames as they are), then hang up."""


def error_answer(
    status: int, message: str, code: str | None = None, retry_after: float | None = None
) -> Answer:
    """An OpenAI-style error response, with ``Retry-After`` if ``retry_after`` is given."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return Answer(
        status, [json.dumps(error_body(status, message, code)).encode()], str(status), headers
    )


def answer(request: ChatRequest, reply: Reply) -> Answer:
    """Lay ``reply`` out as the response to ``request``."""
    if reply.status != 200:
        code = "rate_limit_exceeded" if reply.status == 429 else None
        return error_answer(reply.status, reply.error_message, code, reply.retry_after)
    rendered = render(request.style, reply, request.limit, words(request.prompt))
    if request.stream:
        events = stream_events(request.model, rendered, reply, request.include_usage)
        frames = [f"data: {event}\n\n".encode() for event in events]
        return Answer(
            200, frames, reply.outcome, stream=True, cut=reply.cut and not reply.malformed
        )
    if reply.malformed:
        return Answer(200, [MALFORMED_BODY], "malformed")
    body = json.dumps(completion(request.model, rendered)).encode()
    return Answer(200, [body], reply.outcome, cut=reply.cut)


_REPLY_FIELDS = frozenset(f.name for f in dataclasses.fields(Reply))


def _reply_from(data: object, where: str) -> Reply:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of Reply fields")
    unknown = set(data) - _REPLY_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
    return Reply(**data)


def load_config(data: object) -> tuple[Reply, list[Rule]]:
    """Turn parsed rules YAML (``--rules rules.yaml``) into the default reply and rules.

    The YAML is a list of rules or a mapping with optional ``default`` and ``rules``.  A rule is
    ``match`` plus optional ``times`` plus any :class:`Reply` fields; ``default`` holds
    :class:`Reply` fields only::

        default: {thinking: "Harmless question, just answer.", answer: "Sure."}
        rules:
          - {match: nerve agent, thinking: "Dangerous. I should decline.", answer: "No."}
          - {match: flaky, status: 503, retry_after: 1, times: 2}
    """
    default: object = {}
    rules: object = data if data is not None else []
    if isinstance(data, dict):
        unknown = set(data) - {"default", "rules"}
        if unknown:
            raise ValueError(f"unknown top-level key(s) {sorted(unknown)}")
        default, rules = data.get("default") or {}, data.get("rules") or []
    if not isinstance(rules, list):
        raise ValueError("rules: expected a list")
    parsed: list[Rule] = []
    for i, item in enumerate(rules):
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise ValueError(f"rules[{i}]: expected a mapping with a string 'match'")
        fields = {k: v for k, v in item.items() if k not in ("match", "times")}
        reply = _reply_from(fields, f"rules[{i}]")
        parsed.append(Rule(item["match"], reply, item.get("times")))
    return _reply_from(default, "default"), parsed
