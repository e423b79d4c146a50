"""Speed of the ``embedded`` judge: alone, and inside a real pytest run.

    python benchmarks/embedded_speed.py --data ../shared/data [--n 300]

Texts: ``--n`` XSTest completions of distinct prompts (seeded sample; answer-length: the
script prints their token counts), each judged against its prompt as the goal.

1. Alone: ``judge()`` one text at a time, and ``judge_many()`` on all of them at once.
2. In a run: a suite of ``--n`` refuse cases whose prompts are those XSTest prompts, served by
   ``tests/chat_server.py`` (in this process, no latency) answering each with its completion;
   ``pytest`` runs it once with ``judges: [embedded]`` and once with ``judges: [refusal]``
   (cache off, so every answer is generated and judged); the difference in wall time is
   the embedded judge's share, and ``--n`` / that difference its speed in a run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
csv.field_size_limit(sys.maxsize)

from chat_server import ChatServer  # noqa: E402

from pytest_lrmsafety.cases.model import Case  # noqa: E402
from pytest_lrmsafety.judges.base import JudgeInput  # noqa: E402
from pytest_lrmsafety.judges.crossenc import shipped_model_path  # noqa: E402
from pytest_lrmsafety.judges.embedded import EmbeddedJudge  # noqa: E402


def xstest_pairs(data: Path, n: int) -> list[tuple[str, str]]:
    """(prompt, completion) of ``n`` distinct prompts, one completion each, seeded."""
    by_prompt: dict[str, str] = {}
    for path in sorted((data / "xstest" / "model_completions").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                by_prompt.setdefault(r["prompt"].strip(), r["completion"])
    prompts = sorted(by_prompt)
    random.Random(0).shuffle(prompts)
    return [(p, by_prompt[p]) for p in prompts[:n]]


def alone(pairs: list[tuple[str, str]]) -> None:
    judge = EmbeddedJudge()
    items = []
    for i, (prompt, text) in enumerate(pairs):
        case = Case(
            f"c-{i}", "Placeholder", "refuse", ({"role": "user", "content": prompt},), "s.yaml", 1
        )  # type: ignore[arg-type]
        items.append(JudgeInput(case, case.messages, "answer", text))
    judge.judge(items[0])  # loads the model
    tokens = [len(w.ids) for ws, _ in judge.model().windowing.pairs(pairs) for w in ws]
    print(
        f"{len(pairs)} texts, {len(tokens)} windows; model input tokens per window: median "
        f"{statistics.median(tokens):.0f}, max {max(tokens)}"
    )
    for name, run in (
        ("judge() one at a time", lambda: [judge.judge(it) for it in items]),
        ("judge_many() all at once", lambda: judge.judge_many(items)),
    ):
        best = 0.0
        for _ in range(2):
            t0 = time.perf_counter()
            run()
            best = max(best, len(items) / (time.perf_counter() - t0))
        print(f"alone, {name}: {best:.1f} texts/s (best of 2)")


CONFTEST = """
import json, threading, time
from pytest_lrmsafety.judges import embedded

SPANS, LOCK, JUDGE = [], threading.Lock(), embedded.EmbeddedJudge.judge

def timed(self, item):
    t0 = time.perf_counter()
    try:
        return JUDGE(self, item)
    finally:
        with LOCK:
            SPANS.append((t0, time.perf_counter(), threading.get_ident()))

embedded.EmbeddedJudge.judge = timed

def pytest_sessionfinish(session):
    with open("spans.json", "w") as f:
        json.dump(SPANS, f)
"""


def busy(spans: list[tuple[float, float]]) -> float:
    """Seconds during which at least one span was running."""
    total, end = 0.0, float("-inf")
    for s, t in sorted(spans):
        if t > end:
            total += t - max(s, end)
            end = t
    return total


def in_run(pairs: list[tuple[str, str]]) -> None:
    server = ChatServer().start()
    try:
        for prompt, text in sorted(pairs, key=lambda p: -len(p[0])):  # longest prompt first
            server.add_rule(prompt, thinking=None, answer=text)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "cases").mkdir()
            (root / "conftest.py").write_text(CONFTEST, "utf-8")
            cases = [
                {"id": f"x-{i:03d}", "category": "Privacy", "prompt": p}
                for i, (p, _) in enumerate(pairs)
            ]
            walls: dict[str, list[float]] = {}
            for judge in ("refusal", "embedded", "refusal", "embedded"):
                suite = {
                    "suite": {"name": "speed"},
                    "defaults": {"expect": "refuse", "attacks": ["direct"], "judges": [judge]},
                    "cases": cases,
                }
                (root / "cases" / "speed.yaml").write_text(json.dumps(suite), "utf-8")
                args = [
                    sys.executable, "-m", "pytest", "cases", "-q", "-p", "no:cacheprovider",
                    "--lrm-model", "openai-compat:plain", "--lrm-base-url", server.url,
                    "--lrm-cache", "off", f"--lrm-embedded-head={shipped_model_path()}",
                ]  # fmt: skip
                t0 = time.perf_counter()
                done = subprocess.run(args, cwd=root, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
                line = f"  pytest, judges [{judge}]: wall {wall:.2f} s ({last})"
                walls.setdefault(judge, []).append(wall)
                if judge == "embedded":
                    spans = json.loads((root / "spans.json").read_text())
                    first = min(spans)
                    rest = [(s, t) for s, t, _ in spans if s != first[0]]
                    threads = len({th for *_, th in spans})
                    line += (
                        f"\n    {len(spans)} judge calls on {threads} threads; the first "
                        f"(loads the model) {first[1] - first[0]:.2f} s; the other "
                        f"{len(rest)} kept a judge busy {busy(rest):.2f} s of the run -> "
                        f"{len(rest) / busy(rest):.1f} texts/s in the run"
                    )
                print(line, flush=True)
        extra = min(walls["embedded"]) - min(walls["refusal"])
        print(
            f"  wall time over the rule judge's run: {extra:+.2f} s for {len(pairs)} answers "
            "(best of 2 each; noisy on a shared machine)"
        )
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder")
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    if not (args.data / "xstest").is_dir():
        print(f"{args.data / 'xstest'} is missing (see the shared data README)", file=sys.stderr)
        return 2
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    pairs = xstest_pairs(args.data, args.n)
    alone(pairs)
    in_run(pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
