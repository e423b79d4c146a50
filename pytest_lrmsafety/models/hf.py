"""``hf:<model path or id>``: a Hugging Face transformers causal LM, run in this process.

For models vLLM does not serve, and for judges (Llama Guard) run locally. The tokenizer's chat
template builds the prompt (with ``enable_thinking`` passed where the run sets the thinking
switch); an assistant turn at the end of the messages is continued rather than closed
(``continue_final_message``), which is what thinking-prefill attacks need. Requests arriving
together from the engine's threads are generated as one left-padded batch (see
:mod:`.batching`); greedy unless a temperature above 0 is asked for.

torch and transformers are imported on first use; without them the client fails at start-up
with the extra to install. Weights come from a local directory or the local Hugging Face cache
only (``local_files_only``): a run never downloads.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .base import Completion, GenerationError, Message, SamplingParams, is_prefill, wire_messages
from .batching import Batcher
from .presets import ClientOptions
from .reasoning import split_reasoning

INSTALL_HINT = "pip install 'pytest-lrmsafety[hf]'"
PREFIX = "hf:"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_MAX_NEW_TOKENS = 2048


def import_backend() -> tuple[Any, Any]:
    """``(torch, transformers)``, or ``ConfigError`` naming the extra to install."""
    try:
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
    except ImportError as exc:
        raise ConfigError(
            f"hf: models need torch and transformers ({exc}): {INSTALL_HINT}"
        ) from None
    return torch, transformers


def resolve_model(model: str) -> str:
    """An absolute path for a local directory or a path-like name; a hub id as given."""
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded) or model.startswith(("/", ".", "~")):
        return os.path.abspath(expanded)
    return model


@dataclass(frozen=True)
class _Request:
    params: SamplingParams
    messages: tuple[Message, ...] = ()
    prompt: str | None = None  # raw text: no chat template (the guard judge's own format)


class HFClient:
    """A transformers causal LM on this machine; batches concurrent requests.

    Args:
        name: Label for reports (the spec, e.g. ``hf:./models/qwen3-0.6b``).
        model: Local directory or hub id (read from the local cache only).
        device: ``auto`` (CUDA when there is one, else CPU), ``cpu``, ``cuda`` or ``mps``.
        dtype: ``auto`` (bfloat16 on a GPU, float32 on the CPU) or a torch dtype name.
        thinking: The chat template's ``enable_thinking`` switch; ``None`` leaves the
            template's default.
        max_batch: Most prompts in one ``generate`` call.
        trust_remote_code: Passed to transformers (off unless asked).
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        thinking: bool | None = None,
        max_batch: int = 16,
        trust_remote_code: bool = False,
    ) -> None:
        if device not in DEVICES:
            raise ConfigError(f"{name}: device must be one of {', '.join(DEVICES)}, got {device!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"{name}: dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self._name = name
        self.model = resolve_model(model)
        self.device = device
        self.dtype = dtype
        self.thinking = thinking
        self.trust_remote_code = trust_remote_code
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any, str] | None = None  # torch, tokenizer, model, device
        self._load_error: str | None = None
        self._batcher: Batcher[_Request, Completion | str | GenerationError] = Batcher(
            self._run_batch, max_batch=max_batch, name="lrm-hf"
        )

    @property
    def name(self) -> str:
        return self._name

    #: A final assistant turn is continued (``continue_final_message``).
    supports_prefill = True

    @property
    def cache_identity(self) -> dict[str, object]:
        """What changes the output: the weights' location, the thinking switch and dtype."""
        return {
            "client": "hf",
            "model": self.model,
            "thinking": self.thinking,
            "dtype": self.dtype,
        }

    @property
    def batches(self) -> int:
        return self._batcher.batches

    @property
    def largest_batch(self) -> int:
        return self._batcher.largest

    def __repr__(self) -> str:
        return f"HFClient(name={self._name!r}, model={self.model!r})"

    # -- loading ---------------------------------------------------------------------------

    def check(self) -> None:
        """Fails early (``ConfigError``) when the backend or the model directory is missing."""
        import_backend()
        if self.model.startswith("/") and not os.path.isdir(self.model):
            raise ConfigError(f"{self._name}: no such model directory {self.model}")

    def load(self) -> tuple[Any, Any, Any, str]:
        """Loads once (thread-safe); a failure is kept and raised as ``ConfigError`` again."""
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            if self._load_error is not None:
                raise ConfigError(self._load_error)
            try:
                self._loaded = self._load()
            except ConfigError as exc:
                self._load_error = str(exc)
                raise
            return self._loaded

    def _load(self) -> tuple[Any, Any, Any, str]:
        self.check()
        torch, transformers = import_backend()
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.dtype
        if dtype_name == "auto":
            dtype_name = "bfloat16" if device == "cuda" else "float32"
        kwargs = {"local_files_only": True, "trust_remote_code": self.trust_remote_code}
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.model, **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                self.model, dtype=getattr(torch, dtype_name), **kwargs
            )
        except Exception as exc:  # OSError, ValueError, ...: transformers raises many kinds
            raise ConfigError(f"{self._name}: cannot load {self.model}: {exc}") from None
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model.to(device)
        model.eval()
        return torch, tokenizer, model, device

    # -- prompts ---------------------------------------------------------------------------

    def has_chat_template(self) -> bool:
        _, tokenizer, _, _ = self.load()
        return bool(getattr(tokenizer, "chat_template", None))

    def render(self, messages: Sequence[Message], *, prefill: bool | None = None) -> str:
        """The prompt text for ``messages``: the chat template's, with the generation prompt,
        or continuing a final assistant turn marked as a prefill (``prefill`` key; or force
        it either way with ``prefill=``)."""
        _, tokenizer, _, _ = self.load()
        if not getattr(tokenizer, "chat_template", None):
            raise GenerationError(
                f"{self._name}: the tokenizer of {self.model} has no chat template"
            )
        if prefill is None:
            prefill = is_prefill(messages)
        extra = {} if self.thinking is None else {"enable_thinking": self.thinking}
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
        result = self._call(_Request(params, tuple(messages)))
        assert isinstance(result, Completion)
        return result

    def generate_text(self, prompt: str, params: SamplingParams) -> str:
        """Continues raw ``prompt`` text (no chat template); the new text only."""
        result = self._call(_Request(params, prompt=prompt))
        assert isinstance(result, str)
        return result

    def _call(self, request: _Request) -> Completion | str:
        try:
            self.load()
        except ConfigError as exc:
            raise GenerationError(str(exc)) from None
        result = self._batcher.call(request)
        if isinstance(result, GenerationError):
            raise result
        return result

    def _run_batch(self, requests: Sequence[_Request]) -> list[Completion | str | GenerationError]:
        results: list[Completion | str | GenerationError | None] = [None] * len(requests)
        groups: dict[SamplingParams, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(req.params, []).append(i)
        for params, members in groups.items():
            prompts: list[str] = []
            kept: list[int] = []
            for i in members:
                req = requests[i]
                try:
                    text = req.prompt if req.prompt is not None else self.render(req.messages)
                except GenerationError as exc:
                    results[i] = exc
                    continue
                prompts.append(text)
                kept.append(i)
            if not kept:
                continue
            try:
                outs = self._generate(prompts, params)
            except Exception as exc:  # a torch failure fails this group, not the run
                error = GenerationError(f"{self._name}: generation failed: {exc!r}")
                for i in kept:
                    results[i] = error
                continue
            for i, prompt, out in zip(kept, prompts, outs, strict=True):
                req = requests[i]
                if req.prompt is not None:
                    results[i] = out[0]
                else:
                    results[i] = self._completion(req, prompt, *out)
        return [r if r is not None else GenerationError("no result") for r in results]

    def _generate(
        self, prompts: list[str], params: SamplingParams
    ) -> list[tuple[str, str, int, int, float]]:
        """``(text, finish_reason, prompt_tokens, completion_tokens, latency)`` per prompt."""
        torch, tokenizer, model, device = self.load()
        started = time.perf_counter()
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(device) for k, v in enc.items()}
        limit = params.max_tokens or DEFAULT_MAX_NEW_TOKENS
        sample = params.temperature is not None and params.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": limit, "do_sample": sample}
        if sample:
            kwargs["temperature"] = params.temperature
            if params.top_p is not None:
                kwargs["top_p"] = params.top_p
        else:  # keep the model's own sampling defaults from warning about greedy decoding
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
        latency = time.perf_counter() - started
        width = enc["input_ids"].shape[1]
        eos = model.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        stops.add(tokenizer.eos_token_id)
        results = []
        for row, mask in zip(out, enc["attention_mask"], strict=True):
            new = row[width:].tolist()
            ended = next((k for k, t in enumerate(new) if t in stops), None)
            if ended is not None:
                new = new[:ended]
            text = tokenizer.decode(new, skip_special_tokens=True)
            finish = "stop" if ended is not None or len(new) < limit else "length"
            results.append((text, finish, int(mask.sum()), len(new), latency))
        return results

    def _completion(
        self,
        req: _Request,
        prompt: str,
        text: str,
        finish: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency: float,
    ) -> Completion:
        prefill = ""
        if is_prefill(req.messages):
            prefill = req.messages[-1].get("content", "")
        full = prefill + text
        opened = prompt.rstrip().endswith("<think>") and "<think>" not in prefill
        thinking, answer, status = split_reasoning(
            full, finish_reason=finish, open_tag_in_prompt=opened
        )
        return Completion(
            thinking=thinking,
            answer=answer,
            thinking_status=status,
            finish_reason=finish,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            latency_s=latency,
            model=self.model,
            raw={"text": text, "prefill": prefill} if prefill else {"text": text},
        )


def make_hf_client(spec: str, options: ClientOptions, option: str) -> HFClient:
    """The client for ``hf:PATH``; ``ConfigError`` naming ``option`` for a bad spec or a
    missing backend or directory (the weights themselves load on the first request)."""
    model = spec[len(PREFIX) :]
    if not model:
        raise ConfigError(f"{option}: 'hf:' needs a model directory or id, e.g. hf:./models/qwen3")
    client = HFClient(
        name=spec,
        model=model,
        device=options.device,
        dtype=options.dtype,
        thinking=options.thinking,
        max_batch=options.max_batch,
        trust_remote_code=options.trust_remote_code,
    )
    try:
        client.check()
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    return client
