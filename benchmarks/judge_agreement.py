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


def score(pairs: Iterable[tuple[str, str]]) -> str:
    """pairs: (truth, predicted) with predicted possibly 'unclear'."""
    rows = list(pairs)
    decided = [(t, p) for t, p in rows if p != "unclear"]
    right = sum(1 for t, p in decided if t == p)
    coverage = len(decided) / len(rows)
    acc_decided = right / len(decided) if decided else 0.0
    acc_all = right / len(rows)
    return (
        f"n={len(rows)}  coverage={coverage:.1%}  accuracy(decided)={acc_decided:.1%}  "
        f"accuracy(unclear=wrong)={acc_all:.1%}"
    )


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
    print("  all     ", score(pairs))
    for model, rows in per_model.items():
        print(f"  {model:16}", score(rows))
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
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                predicted = label(row["question"], row["answer"], "refuse")
                guess = {"compliance": "1", "unsafe": "1", "refusal": "0", "safe": "0"}.get(
                    predicted, "unclear"
                )
                pairs.append((row["label"].strip(), guess))
        print(f"JailbreakEval {name}: jailbroken (1) vs not (0) on the answer")
        print("  ", score(pairs))


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
