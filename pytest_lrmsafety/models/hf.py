"""``hf:<model path or id>``: a Hugging Face transformers causal LM, run in this process.

For models vLLM does not serve, and for judges (Llama Guard) run locally. Prompts, the
thinking switch, prefill and the trace split are shared with ``vllm:`` (see :mod:`.local`).
Requests arriving together from the engine's threads are generated as one left-padded batch;
greedy unless a temperature above 0 is asked for.

torch and transformers are imported on first use; without them the client fails at start-up
with the extra to install. Weights come from a local directory or the local Hugging Face cache
only (``local_files_only``): a run never downloads.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from ..errors import ConfigError
from .base import SamplingParams
from .local import DEFAULT_MAX_NEW_TOKENS, Generated, LocalClient, resolve_model
from .presets import ClientOptions

INSTALL_HINT = "pip install 'pytest-lrmsafety[hf]'"
PREFIX = "hf:"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "HFClient",
    "import_backend",
    "make_hf_client",
    "resolve_model",
]


def import_backend(who: str = "hf: models need", hint: str = INSTALL_HINT) -> tuple[Any, Any]:
    """``(torch, transformers)``, or ``ConfigError`` saying who needs them and the extra to
    install (the ``reward`` judge uses it too)."""
    try:
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
    except ImportError as exc:
        raise ConfigError(f"{who} torch and transformers ({exc}): {hint}") from None
    return torch, transformers


class HFClient(LocalClient):
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

    kind = "hf"

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
        super().__init__(
            name=name,
            model=model,
            thinking=thinking,
            max_batch=max_batch,
            trust_remote_code=trust_remote_code,
        )
        self.device = device
        self.dtype = dtype

    @property
    def cache_identity(self) -> dict[str, object]:
        return {**super().cache_identity, "dtype": self.dtype}

    def _import(self) -> None:
        import_backend()

    def _load(self) -> tuple[Any, Any]:
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
        return tokenizer, (torch, model, device)

    def _generate_batch(self, prompts: list[str], params: list[SamplingParams]) -> list[Generated]:
        # transformers takes one set of sampling settings per generate call: group by them.
        out: list[Generated | None] = [None] * len(prompts)
        groups: dict[SamplingParams, list[int]] = {}
        for i, p in enumerate(params):
            groups.setdefault(p, []).append(i)
        for p, members in groups.items():
            for i, result in zip(
                members, self._generate([prompts[i] for i in members], p), strict=True
            ):
                out[i] = result
        return [o for o in out if o is not None]

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generated]:
        torch, model, device = self.load()
        tokenizer = self.tokenizer
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
            generated = model.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
        latency = time.perf_counter() - started
        width = enc["input_ids"].shape[1]
        eos = model.generation_config.eos_token_id
        stops = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        stops.add(tokenizer.eos_token_id)
        results = []
        for row, mask in zip(generated, enc["attention_mask"], strict=True):
            new = row[width:].tolist()
            ended = next((k for k, t in enumerate(new) if t in stops), None)
            if ended is not None:
                new = new[:ended]
            text = tokenizer.decode(new, skip_special_tokens=True)
            finish = "stop" if ended is not None or len(new) < limit else "length"
            results.append(Generated(text, finish, int(mask.sum()), len(new), latency))
        return results


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
