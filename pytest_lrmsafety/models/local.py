"""What the backends that run a model in this process share (``hf:``, ``vllm:``).

The tokenizer's chat template builds every prompt here, the same way for both backends: the
thinking switch (``enable_thinking``) where the run sets it, a final assistant turn marked as
a prefill continued rather than closed (``continue_final_message``), otherwise the generation
prompt. Knowing the prompt, the client knows when the template itself opened ``<think>`` and
splits the reply into thinking and answer as :func:`~.reasoning.split_reasoning` does for
servers. Concurrent requests from the engine's threads are gathered into one batch
(:class:`~.batching.Batcher`): a subclass generates a whole batch at once.

A thinking budget (:mod:`.budget`) of 0 turns the template's switch off where it has one
(``enable_thinking=False``); otherwise, and for a budget of N tokens, the prefill forms apply
(ZeroThink, budget forcing).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError
from .base import (
    Completion,
    GenerationError,
    Message,
    ModelClient,
    SamplingParams,
    is_prefill,
    wire_messages,
)
from .batching import Batcher
from .budget import generate_with_budget
from .reasoning import split_reasoning

DEFAULT_MAX_NEW_TOKENS = 2048


def resolve_model(model: str) -> str:
    """An absolute path for a local directory or a path-like name; a hub id as given."""
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded) or model.startswith(("/", ".", "~")):
        return os.path.abspath(expanded)
    return model


@dataclass(frozen=True)
class Request:
    params: SamplingParams
    messages: tuple[Message, ...] = ()
    prompt: str | None = None  # raw text: no chat template (the guard judge's own format)
    thinking: bool | None = None  # the template's thinking switch for this request, if set


@dataclass(frozen=True)
class Generated:
    """One prompt's output from a backend."""

    text: str
    finish_reason: str  # stop | length
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class LocalClient(ModelClient):
    """A model run in this process. Subclasses set ``kind`` and implement :meth:`_load` (the
    tokenizer and whatever generates) and :meth:`_generate_batch`.

    Besides chat messages it takes raw prompts (:meth:`render`, :meth:`generate_text`,
    :meth:`has_chat_template`): a judge whose model runs here (a Llama Guard ``hf:``) builds
    its own prompt when the tokenizer has no template."""

    kind = "local"
    #: A final assistant turn marked as a prefill is continued.
    supports_prefill = True

    def __init__(
        self,
        *,
        name: str,
        model: str,
        thinking: bool | None = None,
        max_batch: int = 16,
        trust_remote_code: bool = False,
    ) -> None:
        self._name = name
        self.model = resolve_model(model)
        self.thinking = thinking
        self.trust_remote_code = trust_remote_code
        self._lock = threading.Lock()
        self._loaded: Any = None
        self._tokenizer: Any = None
        self._load_error: str | None = None
        self._batcher: Batcher[Request, Completion | str | GenerationError] = Batcher(
            self._run_batch, max_batch=max_batch, name=f"lrm-{self.kind}"
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def cache_identity(self) -> dict[str, object]:
        """What changes the output: the backend, the weights' location, the thinking switch
        (subclasses add their own settings)."""
        return {"client": self.kind, "model": self.model, "thinking": self.thinking}

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def largest_batch(self) -> int:
        return self._batcher.largest

    @property
    def preferred_concurrency(self) -> int:
        """Requests the engine should keep in flight so that batches fill."""
        return self._batcher.max_batch

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, model={self.model!r})"

    # -- loading ---------------------------------------------------------------------------

    def check(self) -> None:
        """Fails early (``ConfigError``) when the backend or the model directory is missing."""
        self._import()
        if self.model.startswith("/") and not os.path.isdir(self.model):
            raise ConfigError(f"{self._name}: no such model directory {self.model}")

    def _import(self) -> None:
        raise NotImplementedError

    def _load(self) -> tuple[Any, Any]:
        """``(tokenizer, backend state)``; raises :class:`ConfigError`."""
        raise NotImplementedError

    def load(self) -> Any:
        """Loads once (thread-safe); a failure is kept and raised as ``ConfigError`` again."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            if self._load_error is not None:
                raise ConfigError(self._load_error)
            try:
                self.check()
                self._tokenizer, self._loaded = self._load()
            except ConfigError as exc:
                self._load_error = str(exc)
                raise
            return self._loaded

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    # -- prompts ---------------------------------------------------------------------------

    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def has_thinking_switch(self) -> bool:
        """Whether the chat template reads ``enable_thinking`` (Qwen3 and other hybrids)."""
        return "enable_thinking" in str(getattr(self.tokenizer, "chat_template", None) or "")

    def budget_unsupported(self, budget: int) -> str | None:
        """Every budget applies here: by the template's switch or by prefill."""
        return None

    def render(
        self,
        messages: Sequence[Message],
        *,
        prefill: bool | None = None,
        thinking: bool | None = None,
    ) -> str:
        """The prompt text for ``messages``: the chat template's, with the generation prompt,
        or continuing a final assistant turn marked as a prefill (``prefill`` key; or force
        it either way with ``prefill=``); ``thinking`` overrides the client's switch."""
        tokenizer = self.tokenizer
        if not getattr(tokenizer, "chat_template", None):
            raise GenerationError(
                f"{self._name}: the tokenizer of {self.model} has no chat template"
            )
        if prefill is None:
            prefill = is_prefill(messages)
        thinking = self.thinking if thinking is None else thinking
        extra = {} if thinking is None else {"enable_thinking": thinking}
        try:
            text = tokenizer.apply_chat_template(
                wire_messages(messages),
                tokenize=False,
                add_generation_prompt=not prefill,
                continue_final_message=prefill,
                **extra,
            )
        except Exception as exc:  # jinja errors, role-order rules in some templates
            raise GenerationError(f"{self._name}: chat template failed: {exc}") from None
        return str(text)

    # -- generation ------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        budget = params.thinking_budget
        request = Request(params, tuple(messages))
        if budget is not None:
            if budget > 0 or not self._switch_off_ok():
                return generate_with_budget(self.generate, messages, params, budget)
            plain = replace(params, thinking_budget=None)
            request = Request(plain, tuple(messages), thinking=False)
        result = self._call(request)
        assert isinstance(result, Completion)
        return result

    def generate_text(self, prompt: str, params: SamplingParams) -> str:
        """Continues raw ``prompt`` text (no chat template); the new text only."""
        result = self._call(Request(params, prompt=prompt))
        assert isinstance(result, str)
        return result

    def _switch_off_ok(self) -> bool:
        """Whether budget 0 can use the template's switch (else ZeroThink by prefill)."""
        try:
            return self.has_thinking_switch()
        except ConfigError as exc:
            raise GenerationError(str(exc)) from None

    def _call(self, request: Request) -> Completion | str:
        try:
            self.load()
        except ConfigError as exc:
            raise GenerationError(str(exc)) from None
        result = self._batcher.call(request)
        if isinstance(result, GenerationError):
            raise result
        return result

    def _generate_batch(self, prompts: list[str], params: list[SamplingParams]) -> list[Generated]:
        raise NotImplementedError

    def _run_batch(self, requests: Sequence[Request]) -> list[Completion | str | GenerationError]:
        results: list[Completion | str | GenerationError | None] = [None] * len(requests)
        prompts: list[str] = []
        kept: list[int] = []
        for i, req in enumerate(requests):
            try:
                text = (
                    req.prompt
                    if req.prompt is not None
                    else self.render(req.messages, thinking=req.thinking)
                )
            except GenerationError as exc:
                results[i] = exc
                continue
            prompts.append(text)
            kept.append(i)
        if kept:
            try:
                outs = self._generate_batch(prompts, [requests[i].params for i in kept])
            except Exception as exc:  # a backend failure fails this batch, not the run
                error = GenerationError(f"{self._name}: generation failed: {exc!r}")
                for i in kept:
                    results[i] = error
            else:
                for i, prompt, out in zip(kept, prompts, outs, strict=True):
                    req = requests[i]
                    if req.prompt is not None:
                        results[i] = out.text
                    else:
                        results[i] = self._completion(req, prompt, out)
        return [r if r is not None else GenerationError("no result") for r in results]

    def _completion(self, req: Request, prompt: str, out: Generated) -> Completion:
        prefill = req.messages[-1].get("content", "") if is_prefill(req.messages) else ""
        full = prefill + out.text
        opened = prompt.rstrip().endswith("<think>") and "<think>" not in prefill
        thinking, answer, status = split_reasoning(
            full, finish_reason=out.finish_reason, open_tag_in_prompt=opened
        )
        raw: dict[str, Any] = {"text": out.text}
        if prefill:
            raw["prefill"] = prefill
        usage = {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens}
        if thinking is not None:  # the model's own tokenizer counts the trace
            usage["reasoning_tokens"] = len(
                self.tokenizer.encode(thinking, add_special_tokens=False)
            )
        return Completion(
            thinking=thinking,
            answer=answer,
            thinking_status=status,
            finish_reason=out.finish_reason,
            usage=usage,
            latency_s=out.latency_s,
            model=self.model,
            raw=raw,
        )
