"""A client for any OpenAI-compatible chat-completions server, on the ``openai`` SDK."""

from __future__ import annotations

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
from .endpoint import CHECK_TIMEOUT_S, redact, served_model, url_deployment
from .reasoning import split_reasoning

# Servers put the trace in one of these message fields (current vLLM, DeepSeek and older vLLM).
REASONING_FIELDS = ("reasoning", "reasoning_content")
PREFILL_STYLES = ("", "vllm", "deepseek")


class OpenAICompatClient:
    """Talks to the DeepSeek API, OpenAI, vLLM or any server speaking chat completions.

    Args:
        name: Label for reports.
        model: The model name sent in each request.
        base_url: The server's ``/v1`` URL.
        api_key: The key, read from the environment by the caller; never shown.
        stream: Use server-sent events instead of one response body.
        timeout: Seconds per request.
        max_retries: Retries done by the SDK on connection errors, 408, 409, 429 and 5xx.
        hidden_thinking: The provider hides the trace (o-series): report ``hidden``.
        open_tag_in_prompt: The chat template opens ``<think>`` itself (R1 distills).
        max_tokens_field: ``max_tokens`` or ``max_completion_tokens`` (OpenAI reasoning models).
        prefill: How the server continues a final assistant turn: ``vllm``
            (``continue_final_message``), ``deepseek`` (prefix completion on the ``/beta``
            endpoint) or ``""`` (it cannot: probes that need it are skipped).
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        api_key: str,
        stream: bool = False,
        timeout: float = 600.0,
        max_retries: int = 2,
        hidden_thinking: bool = False,
        open_tag_in_prompt: bool = False,
        max_tokens_field: str = "max_tokens",
        prefill: str = "",
    ) -> None:
        self._name = name
        self.model = model
        self.base_url = base_url
        self.stream = stream
        self.hidden_thinking = hidden_thinking
        self.open_tag_in_prompt = open_tag_in_prompt
        self.max_tokens_field = max_tokens_field
        if prefill not in PREFILL_STYLES:
            raise ValueError(f"prefill must be one of {PREFILL_STYLES}, got {prefill!r}")
        self.prefill = prefill
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
                        timeout=self._timeout,
                        max_retries=self._max_retries,
                    )
        return self._sdk_client

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
                        timeout=self._timeout,
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

    def __repr__(self) -> str:  # never the key
        return (
            f"OpenAICompatClient(name={self._name!r}, model={self.model!r}, url={self.base_url!r})"
        )

    def _request_args(self, messages: Sequence[Message], params: SamplingParams) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.model, "messages": wire_messages(messages)}
        for key, value in params.as_dict().items():
            if key == "response_format":
                args[key] = {"type": value}
            else:
                args[self.max_tokens_field if key == "max_tokens" else key] = value
        if is_prefill(messages):
            if self.prefill == "vllm":
                args["extra_body"] = {
                    "continue_final_message": True,
                    "add_generation_prompt": False,
                }
            elif self.prefill == "deepseek":
                args["messages"][-1]["prefix"] = True
                args["_prefix"] = True
            else:
                raise GenerationError(
                    f"{self._name}: this backend cannot continue an assistant turn (prefill)"
                )
        return args

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Sends one chat-completions request and normalises the reply."""
        args = self._request_args(messages, params)
        started = time.perf_counter()
        try:
            if self.stream:
                content, reasoning, finish, usage, raw = self._generate_streamed(args)
            else:
                content, reasoning, finish, usage, raw = self._generate_whole(args)
        except self._openai.APIStatusError as exc:
            detail = _server_message(exc.body) or exc.message
            raise GenerationError(
                redact(f"{self.base_url}: HTTP {exc.status_code}: {detail}", self._api_key),
                server_fault=exc.status_code >= 500 or exc.status_code in (408, 429),
            ) from None
        except self._openai.APIError as exc:  # connection errors, timeouts: after SDK retries
            raise GenerationError(
                redact(f"{self.base_url}: {type(exc).__name__}: {exc.message}", self._api_key),
                server_fault=True,
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise GenerationError(
                f"{self.base_url}: malformed response: {exc}", retryable=True
            ) from None
        except Exception as exc:  # a stream cut mid-way surfaces from the transport below
            detail = redact(f"{type(exc).__name__}: {exc}", self._api_key)
            raise GenerationError(f"{self.base_url}: {detail}", retryable=True) from None
        latency = time.perf_counter() - started
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

    def _generate_whole(
        self, args: dict[str, Any]
    ) -> tuple[str | None, str | None, str | None, dict[str, int], dict[str, Any]]:
        response = self._sdk_for(args).chat.completions.create(**args)
        if not response.choices:
            raise ValueError("no choices in the response")
        choice = response.choices[0]
        extra = choice.message.model_extra or {}
        reasoning = next((extra[f] for f in REASONING_FIELDS if extra.get(f)), None)
        raw = response.model_dump(mode="json")
        return choice.message.content, reasoning, choice.finish_reason, _usage(raw), raw

    def _generate_streamed(
        self, args: dict[str, Any]
    ) -> tuple[str | None, str | None, str | None, dict[str, int], dict[str, Any]]:
        content: list[str] = []
        reasoning: list[str] = []
        finish: str | None = None
        usage: dict[str, int] = {}
        model = self.model
        stream = self._sdk_for(args).chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}
        )
        try:
            for chunk in stream:
                model = chunk.model or model
                _take_chunk(chunk, content, reasoning)
                finish = next((c.finish_reason for c in chunk.choices if c.finish_reason), finish)
                if chunk.usage is not None:
                    usage = _usage({"usage": chunk.usage.model_dump(mode="json")})
        except self._openai.APIError as exc:  # the SDK retries connecting, not a cut stream
            raise GenerationError(
                f"{self.base_url}: stream cut after {len(content) + len(reasoning)} pieces: "
                f"{type(exc).__name__}: {exc.message}",
                retryable=True,
            ) from None
        if finish is None:
            raise GenerationError(
                f"{self.base_url}: the stream ended without a finish reason", retryable=True
            )
        raw = {
            "model": model,
            "stream": True,
            "content": "".join(content),
            "reasoning": "".join(reasoning) or None,
            "finish_reason": finish,
            "usage": usage,
        }
        return "".join(content), "".join(reasoning) or None, finish, usage, raw


def _with_prefill(
    prefill: str, content: str | None, reasoning: str | None
) -> tuple[str | None, str | None]:
    """The whole assistant turn from a prefill and its continuation. With a separate
    reasoning field, a prefill that opened the thinking belongs to the trace."""
    opened = prefill.lstrip().startswith("<think>") and "</think>" not in prefill
    if reasoning is not None and opened:
        head = prefill.lstrip()[len("<think>") :]
        return content, head + reasoning
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
