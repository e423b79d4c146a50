"""How far the rule-based ``refusal`` judge agrees with human labels.

Reads the user's own copies of two public labelled sets (never shipped with this project):

* XSTest v2 completions (Röttger et al. 2024): 2,250 answers by 5 models, labelled by humans
  full compliance / full refusal / partial refusal. Measured: refusal (full or partial) vs
  compliance on the answer, as the over-refusal judge uses it.
* JailbreakEval's JAILJUDGEmini and Safe-RLHFmini: answers to harmful questions labelled
  jailbroken (1) or not (0). Measured: the judge's compliance (unsafe) vs refusal (safe).

The judge answers ``unclear`` when rules cannot tell; coverage is the share it decided, and
accuracy is given on the decided rows and with unclear counted as wrong.

    python benchmarks/judge_agreement.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pytest_lrmsafety.cases.model import Case
from pytest_lrmsafety.judges.base import JudgeInput
from pytest_lrmsafety.judges.rules import RefusalJudge

csv.field_size_limit(sys.maxsize)
JUDGE = RefusalJudge()


def label(question: str, answer: str, expect: str) -> str:
    case = Case(
        id="b-1",
        category="benchmark",
        expect=expect,  # type: ignore[arg-type]
        messages=({"role": "user", "content": question},),
        suite="benchmark",
        line=1,
    )
    verdict = JUDGE.judge(JudgeInput(case, case.messages, "answer", answer))
    assert verdict.label is not None
    return verdict.label


def score(pairs: Iterable[tuple[str, str]], positive: str) -> str:
    """pairs: (truth, predicted), predicted possibly 'unclear'; ``positive`` is the class
    that counts as a finding (compliance, or unsafe)."""
    rows = list(pairs)
    decided = [(t, p) for t, p in rows if p != "unclear"]
    right = sum(1 for t, p in decided if t == p)
    tp = sum(1 for t, p in decided if t == positive and p == positive)
    fp = sum(1 for t, p in decided if t != positive and p == positive)
    fn = sum(1 for t, p in decided if t == positive and p != positive)
    tn = len(decided) - tp - fp - fn
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    fnr = fn / (fn + tp) if fn + tp else 0.0
    return (
        f"n={len(rows)}  coverage={len(decided) / len(rows):.1%}  "
        f"accuracy(decided)={right / len(decided) if decided else 0.0:.1%}  "
        f"F1={f1:.2f}  FPR={fpr:.1%}  FNR={fnr:.1%}  "
        f"accuracy(unclear=wrong)={right / len(rows):.1%}"
    )


def speed(texts: list[tuple[str, str]]) -> str:
    """Texts judged per second (answers of the data set, one thread)."""
    started = time.perf_counter()
    for question, answer in texts:
        label(question, answer, "refuse")
    return f"{len(texts) / (time.perf_counter() - started):,.0f} texts/s"


def xstest(folder: Path) -> None:
    pairs: list[tuple[str, str]] = []
    per_model: dict[str, list[tuple[str, str]]] = {}
    confusion: Counter[tuple[str, str]] = Counter()
    for path in sorted((folder / "model_completions").glob("xstest_v2_completions_*.csv")):
        model = path.stem.removeprefix("xstest_v2_completions_")
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                expect = "refuse" if row["type"].startswith("contrast") else "comply"
                predicted = label(row["prompt"], row["completion"], expect)
                truth = "compliance" if row["final_label"].startswith("1") else "refusal"
                mapped = {
                    "partial_refusal": "refusal",
                    "safe": "compliance",
                    "unsafe": "compliance",
                }
                guess = mapped.get(predicted, predicted)
                pairs.append((truth, guess))
                per_model.setdefault(model, []).append((truth, guess))
                confusion[(row["final_label"], predicted)] += 1
    print("XSTest v2 completions, refusal (full or partial) vs compliance on the answer")
    print("  all     ", score(pairs, "compliance"))
    # As a refusal detector: an answer with no refusal found counts as compliance.
    detector = [(t, "compliance" if p == "unclear" else p) for t, p in pairs]
    print("  all, unclear read as 'no refusal found':", score(detector, "compliance"))
    for model, rows in per_model.items():
        print(f"  {model:16}", score(rows, "compliance"))
    print("  confusion (human label -> judge label):")
    for (truth, predicted), n in sorted(confusion.items()):
        print(f"    {truth:20} {predicted:16} {n}")


def jailbreakeval(folder: Path) -> None:
    for name in ("JAILJUDGEmini.csv", "Safe-RLHFmini.csv"):
        path = folder / name
        if not path.exists():
            print(f"{path}: missing, skipped")
            continue
        pairs = []
        texts: list[tuple[str, str]] = []
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                texts.append((row["question"], row["answer"]))
                predicted = label(row["question"], row["answer"], "refuse")
                guess = {"compliance": "1", "unsafe": "1", "refusal": "0", "safe": "0"}.get(
                    predicted, "unclear"
                )
                pairs.append((row["label"].strip(), guess))
        print(f"JailbreakEval {name}: jailbroken (1) vs not (0) on the answer")
        print("  ", score(pairs, "1"))
        print("   speed:", speed(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder holding xstest/ etc.")
    args = parser.parse_args()
    found = False
    if (args.data / "xstest").is_dir():
        xstest(args.data / "xstest")
        found = True
    if (args.data / "jailbreakeval").is_dir():
        jailbreakeval(args.data / "jailbreakeval")
        found = True
    if not found:
        print(
            f"{args.data}: no xstest/ or jailbreakeval/ folder; nothing measured", file=sys.stderr
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
