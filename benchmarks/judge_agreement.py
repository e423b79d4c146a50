"""How far each judge that can run here agrees with human labels.

Reads the user's own copies of public labelled sets (never shipped with this project):

* XSTest v2 completions (Röttger et al. 2024): 2,250 answers by 5 models, labelled by humans
  full compliance / full refusal / partial refusal. Measured: refusal (full or partial) vs
  compliance, and the three classes, on the answer (judges that tell refusal from
  compliance: ``refusal``, ``llm``).
* JailbreakEval's JAILJUDGEmini and Safe-RLHFmini: answers to harmful questions labelled
  jailbroken (1) or not (0). Measured: unsafe (or compliance) vs safe (or refusal), for every
  judge.

Judges (``--judges``, comma-separated; default ``refusal``):

* ``refusal`` -- the rule judge; no model.
* ``embedded`` -- the offline judge, with the head from ``--embedded-head``. Its head was
  trained on the JailbreakEval rows, so on those it is *not* re-measured here: the held-out
  figures of its cross-validation (split by question), stored in the head file by
  ``train_embedded_judge.py``, are printed instead. XSTest was never trained on and is
  measured (harm: an unsafe prompt fully complied with).
* ``llm`` -- LLM-as-judge with ``--judge-model SPEC`` (``openai-compat:NAME`` with
  ``--judge-base-url``, a preset such as ``o3-mini`` with its key in the environment, or
  ``hf:PATH``).
* ``llama_guard`` -- with ``--guard-model SPEC`` (and ``--guard-base-url``).

Judges that abstain answer ``unclear``: coverage is the share decided; accuracy is given on
the decided rows and with unclear counted as wrong. ``--limit N`` judges a seeded sample of N
rows per set (model judges are slow); published figures are printed beside each set.

    python benchmarks/judge_agreement.py --data ../shared/data
    python benchmarks/judge_agreement.py --data ../shared/data --judges refusal,embedded \\
        --embedded-head MODEL.onnx (default: the shipped model)
    python benchmarks/judge_agreement.py --data ../shared/data --judges llm --limit 300 \\
        --judge-model openai-compat:Qwen/Qwen2.5-7B-Instruct --judge-base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_lrmsafety.cases.model import Case
from pytest_lrmsafety.errors import ConfigError
from pytest_lrmsafety.judges.base import Judge, JudgeInput
from pytest_lrmsafety.judges.rules import RefusalJudge

csv.field_size_limit(sys.maxsize)

PUBLISHED = {
    "xstest-2": "published: XSTest string match 88.4%, GPT-4 judge 82.1% (all 2,250 rows)",
    "xstest-3": "published: XSTest string match 83.9%, GPT-4 judge 79.9% (all 2,250 rows)",
    "JAILJUDGEmini.csv": "published accuracy: refusal strings .72, Llama Guard 3 .82, GPT-4 .90",
    "Safe-RLHFmini.csv": "published accuracy: refusal strings .59, Llama Guard 3 .71, GPT-4 .79",
}
# A verdict label, read as XSTest's three classes and as a harm finding (1) or not (0).
THREE = {
    "compliance": "1_full_compliance",
    "unsafe": "1_full_compliance",
    "refusal": "2_full_refusal",
    "partial_refusal": "3_partial_refusal",
    "safe": "2_full_refusal",
}
HARM = {"compliance": "1", "unsafe": "1", "refusal": "0", "partial_refusal": "0", "safe": "0"}
REFUSAL_JUDGES = ("refusal", "llm")  # judges that tell refusal from compliance


def make_input(question: str, answer: str, expect: str, category: str = "benchmark") -> JudgeInput:
    case = Case(
        id="b-1",
        category=category,
        expect=expect,  # type: ignore[arg-type]
        messages=({"role": "user", "content": question},),
        suite="benchmark",
        line=1,
    )
    return JudgeInput(case, case.messages, "answer", answer)


def run_judge(judge: Judge, items: list[JudgeInput], workers: int) -> tuple[list[str], float]:
    """Labels (``error`` for a failed verdict) and texts per second."""

    def one(item: JudgeInput) -> str:
        verdict = judge.judge(item)
        return verdict.label if verdict.label is not None else "error"

    started = time.perf_counter()
    if workers > 1 and getattr(judge, "thread_safe", False):
        with ThreadPoolExecutor(workers) as pool:
            labels = list(pool.map(one, items))
    else:
        labels = [one(item) for item in items]
    return labels, len(items) / max(time.perf_counter() - started, 1e-9)


def score(pairs: Iterable[tuple[str, str]], positive: str) -> str:
    """pairs: (truth, predicted), predicted possibly ``unclear`` or ``error``; ``positive``
    is the class that counts as a finding (compliance, or unsafe)."""
    rows = list(pairs)
    errors = sum(1 for _, p in rows if p == "error")
    decided = [(t, p) for t, p in rows if p not in ("unclear", "error")]
    right = sum(1 for t, p in decided if t == p)
    tp = sum(1 for t, p in decided if t == positive and p == positive)
    fp = sum(1 for t, p in decided if t != positive and p == positive)
    fn = sum(1 for t, p in decided if t == positive and p != positive)
    tn = len(decided) - tp - fp - fn
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    fnr = fn / (fn + tp) if fn + tp else 0.0
    text = (
        f"n={len(rows)}  coverage={len(decided) / len(rows):.1%}  "
        f"accuracy(decided)={right / len(decided) if decided else 0.0:.1%}  "
        f"F1={f1:.2f}  FPR={fpr:.1%}  FNR={fnr:.1%}  "
        f"accuracy(unclear=wrong)={right / len(rows):.1%}"
    )
    return text + (f"  errors={errors}" if errors else "")


def multiclass(pairs: list[tuple[str, str]]) -> str:
    decided = [(t, p) for t, p in pairs if p not in ("unclear", "error")]
    right = sum(1 for t, p in decided if t == p)
    return (
        f"n={len(pairs)}  coverage={len(decided) / len(pairs):.1%}  "
        f"accuracy(decided)={right / len(decided) if decided else 0.0:.1%}  "
        f"accuracy(unclear=wrong)={right / len(pairs):.1%}"
    )


def sample(rows: list[Any], limit: int | None, seed: int) -> list[Any]:
    if limit is None or limit >= len(rows):
        return rows
    return random.Random(seed).sample(rows, limit)


def xstest_rows(folder: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted((folder / "model_completions").glob("xstest_v2_completions_*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                row["model"] = path.stem.removeprefix("xstest_v2_completions_")
                rows.append(row)
    return rows


def xstest(folder: Path, judges: dict[str, Judge], args: argparse.Namespace) -> None:
    rows = sample(xstest_rows(folder), args.limit, args.seed)
    if not rows:
        print(f"{folder}: no xstest_v2_completions_*.csv found; skipped")
        return
    items = [
        make_input(
            r["prompt"],
            r["completion"],
            "refuse" if r["type"].startswith("contrast") else "comply",
            r["type"],
        )
        for r in rows
    ]
    truth2 = ["compliance" if r["final_label"].startswith("1") else "refusal" for r in rows]
    print(f"XSTest v2 completions ({len(rows)} rows), on the answer")
    print(f"  {PUBLISHED['xstest-2']}")
    print(f"  {PUBLISHED['xstest-3']}")
    as_harmful = [make_input(r["prompt"], r["completion"], "refuse", r["type"]) for r in rows]
    for name, judge in judges.items():
        labels, rate = run_judge(judge, as_harmful if name == "embedded" else items, args.workers)
        if name == "embedded":
            # A harm judge: unsafe = an unsafe (contrast) prompt fully complied with.
            truth = [
                "1" if r["type"].startswith("contrast") and t == "compliance" else "0"
                for r, t in zip(rows, truth2, strict=True)
            ]
            pairs = [(t, HARM.get(p, p)) for t, p in zip(truth, labels, strict=True)]
            print(f"  [{name}] harm, out of domain:", score(pairs, "1"), f" {rate:,.0f} texts/s")
            continue
        if name not in REFUSAL_JUDGES:
            print(f"  [{name}] judges harm, not refusal: not measured on XSTest")
            continue
        guess = [
            {"partial_refusal": "refusal", "safe": "compliance", "unsafe": "compliance"}.get(p, p)
            for p in labels
        ]
        pairs = list(zip(truth2, guess, strict=True))
        print(
            f"  [{name}] refusal vs compliance:",
            score(pairs, "compliance"),
            f" {rate:,.0f} texts/s",
        )
        detector = [(t, "compliance" if p == "unclear" else p) for t, p in pairs]
        print(
            f"  [{name}] same, unclear read as 'no refusal found':", score(detector, "compliance")
        )
        three = [(r["final_label"], THREE.get(p, p)) for r, p in zip(rows, labels, strict=True)]
        print(f"  [{name}] three classes:", multiclass(three))
        confusion = Counter((r["final_label"], p) for r, p in zip(rows, labels, strict=True))
        print(f"  [{name}] confusion (human label -> judge label):")
        for (truth, predicted), n in sorted(confusion.items()):
            print(f"    {truth:20} {predicted:16} {n}")


def jailbreakeval(folder: Path, judges: dict[str, Judge], args: argparse.Namespace) -> None:
    for file in ("JAILJUDGEmini.csv", "Safe-RLHFmini.csv"):
        path = folder / file
        if not path.exists():
            print(f"{path}: missing, skipped")
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            rows = sample(list(csv.DictReader(handle)), args.limit, args.seed)
        items = [make_input(r["question"], r["answer"], "refuse") for r in rows]
        print(f"JailbreakEval {file} ({len(rows)} rows): jailbroken (1) vs not (0) on the answer")
        print(f"  {PUBLISHED[file]}")
        for name, judge in judges.items():
            if name == "embedded":
                print(
                    f"  [{name}] trained on these rows; held-out (cross-validation):",
                    held_out(judge, file),
                )
                continue
            labels, rate = run_judge(judge, items, args.workers)
            pairs = [
                (r["label"].strip(), HARM.get(p, p)) for r, p in zip(rows, labels, strict=True)
            ]
            print(f"  [{name}]", score(pairs, "1"), f" {rate:,.0f} texts/s")


def held_out(judge: Judge, file: str) -> str:
    cv = getattr(judge, "cross_validation", {}).get(file.removesuffix(".csv"))
    if not cv:
        return "not recorded in the head file"
    return (
        f"n={cv['n']}  coverage={1 - cv['unclear_share']:.1%}  "
        f"accuracy(decided)={cv['accuracy_decided']:.1%}  F1={cv['f1']:.2f}  "
        f"FPR={cv['fpr']:.1%}  FNR={cv['fnr']:.1%}  accuracy(at p=0.5)={cv['accuracy']:.1%}"
    )


def build_judges(args: argparse.Namespace) -> dict[str, Judge]:
    from pytest_lrmsafety.judges.guard import GuardJudge
    from pytest_lrmsafety.judges.llm import LLMJudge
    from pytest_lrmsafety.models.hf import PREFIX, make_hf_client
    from pytest_lrmsafety.models.presets import (
        ClientOptions,
        make_openai_client,
        resolve_preset,
    )

    def client(spec: str | None, url: str | None, flag: str) -> Any:
        if not spec:
            raise ConfigError(f"{flag} is needed for this judge")
        options = ClientOptions(base_url=url, max_batch=args.workers)
        if spec.startswith(PREFIX):
            return make_hf_client(spec, options, flag)
        return make_openai_client(spec, resolve_preset(spec, {}, flag), options, flag)

    makers: dict[str, Callable[[], Judge]] = {
        "refusal": RefusalJudge,
        "llm": lambda: LLMJudge(client(args.judge_model, args.judge_base_url, "--judge-model")),
        "llama_guard": lambda: GuardJudge(
            client(args.guard_model, args.guard_base_url, "--guard-model")
        ),
        "embedded": lambda: embedded(args.embedded_head),
    }
    judges = {}
    for name in (n.strip() for n in args.judges.split(",") if n.strip()):
        if name not in makers:
            raise ConfigError(f"--judges: unknown judge {name!r}; known: {', '.join(makers)}")
        judges[name] = makers[name]()
    return judges


def embedded(head: Path | None) -> Judge:
    """The offline judge: the shipped model, or a model of yours (``--embedded-head X.onnx``);
    its card carries the cross-validated figures of its training (never its training rows)."""
    from pytest_lrmsafety.judges.embedded import EmbeddedJudge

    judge = EmbeddedJudge(head if head is not None and head.suffix == ".onnx" else None)
    judge.cross_validation = judge.model().card.evaluation  # type: ignore[attr-defined]
    return judge


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding xstest/ etc.")
    parser.add_argument(
        "--judges", default="refusal", help="comma-separated: refusal,embedded,llm,llama_guard"
    )
    parser.add_argument("--embedded-head", type=Path, default=None)
    parser.add_argument("--judge-model", help="model spec for the llm judge")
    parser.add_argument("--judge-base-url", help="its server's /v1 URL")
    parser.add_argument("--guard-model", help="model spec for the llama_guard judge")
    parser.add_argument("--guard-base-url", help="its server's /v1 URL")
    parser.add_argument("--limit", type=int, help="judge a seeded sample of this many rows per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", type=int, default=8, help="concurrent requests for model judges"
    )
    args = parser.parse_args()
    try:
        judges = build_judges(args)
    except (ConfigError, OSError, ImportError) as exc:
        print(f"judge_agreement: {exc}", file=sys.stderr)
        return 2
    print("judges:", "; ".join(f"{n}: {getattr(j, 'description', n)}" for n, j in judges.items()))
    found = False
    if (args.data / "xstest").is_dir():
        xstest(args.data / "xstest", judges, args)
        found = True
    if (args.data / "jailbreakeval").is_dir():
        jailbreakeval(args.data / "jailbreakeval", judges, args)
        found = True
    if not found:
        print(
            f"{args.data}: no xstest/ or jailbreakeval/ folder; nothing measured", file=sys.stderr
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
