"""A client for any OpenAI-compatible chat-completions server, on the ``openai`` SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai import OpenAI

from .base import (
    Completion,
    GenerationError,
    Message,
    SamplingParams,
    is_prefill,
    wire_messages,
)
from .budget import BUDGET_STYLES, budget_problem, generate_with_budget, server_budget_fields
from .endpoint import (
    CHECK_TIMEOUT_S,
    ServedClient,
    mask_url,
    redact,
    served_model,
    url_deployment,
)
from .reasoning import split_reasoning

# Servers put the trace in one of these message fields (current vLLM, DeepSeek and older vLLM).
REASONING_FIELDS = ("reasoning", "reasoning_content")
PREFILL_STYLES = ("", "vllm", "deepseek")
# Why 300 s: see the ``timeout`` option (options.py). Connecting is quick or never happens.
DEFAULT_TIMEOUT_S = 300.0
CONNECT_TIMEOUT_S = 10.0


class OpenAICompatClient(ServedClient):
    """Talks to the DeepSeek API, OpenAI, vLLM or any server speaking chat completions.

    Args:
        name: Label for reports.
        model: The model name sent in each request.
        base_url: The server's ``/v1`` URL.
        api_key: The key, read from the environment by the caller; never shown.
        stream: Use server-sent events instead of one response body.
        timeout: Seconds a request may go without an answer (streamed: between chunks);
            connecting may take at most :data:`CONNECT_TIMEOUT_S` of them.
        max_retries: Retries done by the SDK on connection errors, 408, 409, 429 and 5xx.
        hidden_thinking: The provider hides the trace (o-series): report ``hidden``.
        open_tag_in_prompt: The chat template opens ``<think>`` itself (R1 distills).
        max_tokens_field: ``max_tokens`` or ``max_completion_tokens`` (OpenAI reasoning models).
        prefill: How the server continues a final assistant turn: ``vllm``
            (``continue_final_message``), ``deepseek`` (prefix completion on the ``/beta``
            endpoint) or ``""`` (it cannot: probes that need it are skipped).
        budget: How a thinking budget is applied (:mod:`.budget`): ``vllm`` (the server's
            ``thinking_token_budget``, the template's ``enable_thinking`` for 0),
            ``prefill`` (ZeroThink and budget forcing by prefill) or ``none`` (skipped).
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        api_key: str,
        stream: bool = False,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 2,
        hidden_thinking: bool = False,
        open_tag_in_prompt: bool = False,
        max_tokens_field: str = "max_tokens",
        prefill: str = "",
        budget: str = "vllm",
    ) -> None:
        self._name = name
        self.model = model
        self.base_url = base_url
        #: The URL as shown in messages: a password in it masked (``http://***@host/v1``).
        self.shown_url = mask_url(base_url)
        self.stream = stream
        self.hidden_thinking = hidden_thinking
        self.open_tag_in_prompt = open_tag_in_prompt
        self.max_tokens_field = max_tokens_field
        if prefill not in PREFILL_STYLES:
            raise ValueError(f"prefill must be one of {PREFILL_STYLES}, got {prefill!r}")
        self.prefill = prefill
        if budget not in BUDGET_STYLES:
            raise ValueError(f"budget must be one of {BUDGET_STYLES}, got {budget!r}")
        self.budget = budget
        self._prefix_client: OpenAI | None = None
        self._api_key = api_key
        self._timeout = timeout
        self._max_retries = max_retries
        self._sdk_client: OpenAI | None = None
        self._sdk_lock = threading.Lock()
        #: What names the deployment in cache keys: this URL alone until told otherwise
        #: (replicas: all URLs of the run; ``{"revision": ...}`` from the user).
        self.deployment: dict[str, Any] = url_deployment([base_url])
        #: What the server said it serves the model from (:meth:`check_endpoint`).
        self.served: str | None = None

    @property
    def _sdk(self) -> OpenAI:
        """The SDK client, made on the first request: the SDK takes most of a second to
        import, which neither a plain pytest run nor a fully cached one should pay."""
        if self._sdk_client is None:
            with self._sdk_lock:
                if self._sdk_client is None:
                    import openai

                    self._sdk_client = openai.OpenAI(
                        base_url=self.base_url,
                        api_key=self._api_key,
                        timeout=self._sdk_timeout(),
                        max_retries=self._max_retries,
                    )
        return self._sdk_client

    def _sdk_timeout(self) -> Any:
        import openai

        return openai.Timeout(self._timeout, connect=min(CONNECT_TIMEOUT_S, self._timeout))

    @property
    def supports_prefill(self) -> bool:
        """Whether a final assistant turn is continued (thinking-prefill attacks need it)."""
        return bool(self.prefill)

    @property
    def prefix_base_url(self) -> str:
        """DeepSeek's prefix completion lives under ``/beta`` instead of ``/v1``."""
        base = self.base_url.rstrip("/").removesuffix("/v1")
        return base if base.endswith("/beta") else base + "/beta"

    def _sdk_for(self, args: dict[str, Any]) -> OpenAI:
        if not args.pop("_prefix", False):
            return self._sdk
        if self._prefix_client is None:
            with self._sdk_lock:
                if self._prefix_client is None:
                    import openai

                    self._prefix_client = openai.OpenAI(
                        base_url=self.prefix_base_url,
                        api_key=self._api_key,
                        timeout=self._sdk_timeout(),
                        max_retries=self._max_retries,
                    )
        return self._prefix_client

    @property
    def _openai(self) -> Any:
        import openai

        return openai

    @property
    def name(self) -> str:
        return self._name

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The URLs this client sends requests to."""
        return (self.base_url,)

    @property
    def cache_identity(self) -> dict[str, object]:
        """What changes the output or its parsing: the model, how it is asked and read, and
        the deployment (URLs and served weights, or the user's revision); never the key,
        the timeout or the transport."""
        deployment = dict(self.deployment)
        if self.served is not None and "revision" not in deployment:
            deployment["served"] = self.served
        return {
            "client": "openai-compat",
            "spec": self._name,
            "model": self.model,
            "hidden_thinking": self.hidden_thinking,
            "open_tag_in_prompt": self.open_tag_in_prompt,
            **({"prefill": self.prefill} if self.prefill else {}),
            **({"budget": self.budget} if self.budget == "prefill" else {}),
            "deployment": deployment,
        }

    def check_endpoint(self, where: str, timeout: float = CHECK_TIMEOUT_S) -> str | None:
        """Asks the server once (``GET /models``) whether it serves this model.

        Returns what the server serves it from (see :func:`.endpoint.served_model`), or
        ``None`` when it keeps no model list; raises :class:`ConfigError` with one line
        naming the model, the URL and what the server offers, or the URL that does not
        answer. Uses the standard library: a fully cached run does not import the SDK.
        """
        return served_model(
            self.base_url, self.model, self._api_key, where, min(timeout, self._timeout)
        )

    def budget_unsupported(self, budget: int) -> str | None:
        """Why a thinking budget cannot be applied (``budget=none``, or ``prefill`` on a
        server that cannot continue a turn), else ``None``."""
        return budget_problem(self.budget, prefill=bool(self.prefill), name=self._name)

    def __repr__(self) -> str:  # never the key
        return (
            f"OpenAICompatClient(name={self._name!r}, model={self.model!r}, url={self.shown_url!r})"
        )

    def _request_args(self, messages: Sequence[Message], params: SamplingParams) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.model, "messages": wire_messages(messages)}
        extra: dict[str, Any] = {}
        for key, value in params.as_dict().items():
            if key == "response_format":
                args[key] = {"type": value}
            elif key == "thinking_budget":  # not the SDK's: sent as extra body fields
                extra.update(server_budget_fields(value, self.budget))
            else:
                args[self.max_tokens_field if key == "max_tokens" else key] = value
        if is_prefill(messages):
            if self.prefill == "vllm":
                extra.update(continue_final_message=True, add_generation_prompt=False)
            elif self.prefill == "deepseek":
                args["messages"][-1]["prefix"] = True
                args["_prefix"] = True
            else:
                raise GenerationError(
                    f"{self._name}: this backend cannot continue an assistant turn (prefill)"
                )
        if extra:
            args["extra_body"] = extra
        return args

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Sends one chat-completions request and normalises the reply."""
        if params.thinking_budget is not None and self.budget == "prefill":
            return generate_with_budget(self.generate, messages, params, params.thinking_budget)
        args = self._request_args(messages, params)
        started = time.perf_counter()
        try:
            parts = self._generate_streamed(args) if self.stream else self._generate_whole(args)
        except Exception as exc:
            raise self._failure(exc) from None
        return self._completion(messages, parts, time.perf_counter() - started)

    def _failure(self, exc: Exception) -> GenerationError:
        """What a failed request is to the engine (messages never contain the key)."""
        openai = self._openai
        if isinstance(exc, openai.APIStatusError):
            detail = _server_message(exc.body) or exc.message
            return GenerationError(
                redact(f"{self.shown_url}: HTTP {exc.status_code}: {detail}", self._api_key),
                server_fault=exc.status_code >= 500 or exc.status_code in (408, 429),
            )
        if isinstance(exc, openai.APITimeoutError):  # after the SDK's retries
            tries = self._max_retries + 1
            return GenerationError(
                f"{self.shown_url}: no answer within {self._timeout:g} s (--lrm-timeout), "
                f"{tries} tr{'ies' if tries != 1 else 'y'}",
                server_fault=True,
            )
        if isinstance(exc, openai.APIError):  # connection errors: after the SDK's retries
            return GenerationError(
                redact(f"{self.shown_url}: {type(exc).__name__}: {exc.message}", self._api_key),
                server_fault=True,
            )
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            return GenerationError(f"{self.shown_url}: malformed response: {exc}", retryable=True)
        # a stream cut mid-way surfaces from the transport below
        detail = redact(f"{type(exc).__name__}: {exc}", self._api_key)
        return GenerationError(f"{self.shown_url}: {detail}", retryable=True)

    def _completion(self, messages: Sequence[Message], parts: _Parts, latency: float) -> Completion:
        content, reasoning, finish, usage, raw = parts
        prefill = messages[-1]["content"] if is_prefill(messages) else ""
        if prefill:  # the server sent the continuation only: the turn is prefill + it
            content, reasoning = _with_prefill(prefill, content, reasoning)
            raw = {**raw, "prefill": prefill}
        thinking, answer, status = split_reasoning(
            content,
            reasoning,
            finish_reason=finish,
            reasoning_tokens=usage.get("reasoning_tokens"),
            hidden=self.hidden_thinking,
            open_tag_in_prompt=self.open_tag_in_prompt,
        )
        return Completion(
            thinking=thinking,
            answer=answer,
            thinking_status=status,
            finish_reason=finish,
            usage=usage,
            latency_s=latency,
            model=str(raw.get("model", self.model)),
            raw=raw,
        )

    def _generate_whole(self, args: dict[str, Any]) -> _Parts:
        """One request through the SDK's documented ``client.post`` (its retries, timeout,
        auth and errors), the body sent as built: ``chat.completions.create`` would first run
        its typed transform over these plain JSON arguments, ~0.5 ms of CPU per request."""
        import httpx2

        sdk = self._sdk_for(args)
        extra = args.pop("extra_body", None)
        response = sdk.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            body={**args, **extra} if extra else args,
            options={"security": {"bearer_auth": True}},
        )
        return _whole_parts(response.content)

    def _generate_streamed(self, args: dict[str, Any]) -> _Parts:
        state = _Stream(self.model, self.shown_url)
        stream = self._sdk_for(args).chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}
        )
        try:
            for chunk in stream:
                state.take(chunk)
        except self._openai.APIError as exc:  # the SDK retries connecting, not a cut stream
            raise state.cut(exc) from None
        return state.parts()


_Parts = tuple[str | None, str | None, str | None, dict[str, int], dict[str, Any]]


def _whole_parts(body: bytes) -> _Parts:
    """Answer, trace, finish reason, usage and raw body of one non-streamed response.

    Read from the body's JSON as the server sent it (the raw HTTP response): building the
    SDK's pydantic models and dumping them back to a dict cost more CPU than the request.
    """
    raw = json.loads(body)
    if not isinstance(raw, dict) or not raw.get("choices"):
        raise ValueError("no choices in the response")
    choice = raw["choices"][0]
    message = choice["message"]
    reasoning = next((message[f] for f in REASONING_FIELDS if message.get(f)), None)
    finish = choice.get("finish_reason")
    return message.get("content"), reasoning, finish, _usage(raw), raw


class _Stream:
    """A streamed answer as its chunks arrive."""

    def __init__(self, model: str, shown_url: str) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finish: str | None = None
        self.usage: dict[str, int] = {}
        self.model = model
        self.shown_url = shown_url  # the URL as messages show it

    def take(self, chunk: Any) -> None:
        self.model = chunk.model or self.model
        _take_chunk(chunk, self.content, self.reasoning)
        self.finish = next((c.finish_reason for c in chunk.choices if c.finish_reason), self.finish)
        if chunk.usage is not None:
            self.usage = _usage({"usage": chunk.usage.model_dump(mode="json")})

    def cut(self, exc: Any) -> GenerationError:
        return GenerationError(
            f"{self.shown_url}: stream cut after {len(self.content) + len(self.reasoning)} "
            f"pieces: {type(exc).__name__}: {exc.message}",
            retryable=True,
        )

    def parts(self) -> _Parts:
        if self.finish is None:
            raise GenerationError(
                f"{self.shown_url}: the stream ended without a finish reason", retryable=True
            )
        content, reasoning = "".join(self.content), "".join(self.reasoning) or None
        raw = {
            "model": self.model,
            "stream": True,
            "content": content,
            "reasoning": reasoning,
            "finish_reason": self.finish,
            "usage": self.usage,
        }
        return content, reasoning, self.finish, self.usage, raw


def _with_prefill(
    prefill: str, content: str | None, reasoning: str | None
) -> tuple[str | None, str | None]:
    """The whole assistant turn from a prefill and its continuation. With a separate
    reasoning field, a prefill that opened the thinking belongs to the trace; one that also
    closed it (ZeroThink's empty trace, a forced close) is trace up to ``</think>`` and answer
    after it, its tags in neither."""
    lead = prefill.lstrip()
    opened = lead.startswith("<think>")
    if reasoning is not None and opened and "</think>" not in prefill:
        return content, lead[len("<think>") :] + reasoning
    if reasoning is not None and opened:
        trace, _, tail = lead[len("<think>") :].partition("</think>")
        thinking = "\n\n".join(s for s in (trace.strip(), reasoning) if s)
        return tail.lstrip() + (content or ""), thinking
    return prefill + (content or ""), reasoning


def _take_chunk(chunk: Any, content: list[str], reasoning: list[str]) -> None:
    """Adds one streamed chunk's answer and trace pieces."""
    for choice in chunk.choices:
        delta = choice.delta
        if delta.content:
            content.append(delta.content)
        extra = delta.model_extra or {}
        for field_name in REASONING_FIELDS:
            if extra.get(field_name):
                reasoning.append(str(extra[field_name]))


def _usage(raw: dict[str, Any]) -> dict[str, int]:
    usage = raw.get("usage") or {}
    counts = {
        k: int(usage[k])
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        if usage.get(k) is not None
    }
    details = usage.get("completion_tokens_details") or {}
    if details.get("reasoning_tokens") is not None:
        counts["reasoning_tokens"] = int(details["reasoning_tokens"])
    return counts


def _server_message(body: object) -> str | None:
    """The ``message`` of an OpenAI-style error body, as the server wrote it."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str):
            return message
    return None
