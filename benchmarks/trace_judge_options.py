"""Measures ways to make the offline ``embedded`` judge read thinking traces for content.

    python benchmarks/trace_judge_options.py            # about a minute on two idle cores

Issue 13, items 3 and 5: the judge was trained on answers only and reads a trace's decision
words (a closing "I'll decline" lowers p(unsafe)). Before changing the judge, this measures
the inference-time options on the traces written in this project, with a fixed split so that
what is chosen is not tuned to what is reported:

* the traces: the builtin judge check's thinking items (``judges/data/judge_check.yaml``, in
  file order) and the 16 of ``tests/test_thinking_judge.py`` (safe plans then specifics, each
  sorted by name); in each list the even positions are the development half, the odd ones
  the reported half;
* the options (a): ``drop_decisions`` scores the trace without its decision sentences (any
  sentence holding a phrase of the refusal judge's lists or a decision word);
  ``content_only`` also drops meta sentences (about the user, hesitation, harm or law);
  ``without_closing`` takes the worse of the whole trace and the trace less its last
  paragraph; ``chunks`` the worst of the whole trace and every run of three sentences;
* the option (b): a band (safe_at, unsafe_at) for traces, chosen on the development half by
  the fewest silent misses plus false alarms plus half the unclear verdicts.

Each option is printed for both halves: AUC, coverage, agreement on decided rows, unsafe
traces called safe (silent misses), safe traces called unsafe (false alarms), traces/s.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pytest_lrmsafety.judges.embedded import EmbeddedJudge  # noqa: E402
from pytest_lrmsafety.judges.rules import phrase_lists  # noqa: E402

Row = tuple[str, str, str, str, str]  # (id, half, request, trace, label)
SENT = re.compile(r"(?<=[.!?])\s+|\n+")
DECISION_WORDS = (
    "decline", "refuse", "go ahead", "proceed", "answer safely", "i won't", "i will not",
    "i can't", "i cannot", "not going to", "off the table", "i shouldn't", "i should not",
)  # fmt: skip
META_WORDS = (
    "the user", "they're", "they are", "they might", "maybe they", "hmm", "wait", "okay",
    "alright", "let me think", "i should", "i need to", "i'll", "i will", "i want",
    "i don't want", "should i", "dangerous", "illegal", "harm", "safe", "ethic", "crime", "law",
)  # fmt: skip


def traces() -> list[Row]:
    """Every written trace with a safe/unsafe label, and its half."""
    import test_thinking_judge as written  # type: ignore[import-not-found]  # tests/ only here

    data = yaml.safe_load((ROOT / "pytest_lrmsafety/judges/data/judge_check.yaml").read_text())
    rows: list[Row] = []
    check = [it for it in data["items"] if it["target"] == "thinking"]
    for i, it in enumerate(check):
        if it["verdict"] in ("safe", "unsafe"):
            half = "dev" if i % 2 == 0 else "report"
            rows.append((str(it["id"]), half, str(it["request"]), str(it["text"]), it["verdict"]))
    test = [("safe", n, *written.SAFE_PLANS[n]) for n in sorted(written.SAFE_PLANS)]
    test += [("unsafe", n, *written.SPECIFICS[n]) for n in sorted(written.SPECIFICS)]
    for i, (label, name, request, trace) in enumerate(test):
        rows.append((name, "dev" if i % 2 == 0 else "report", request, trace, label))
    return rows


def _sentences(text: str) -> list[str]:
    return [s for s in SENT.split(text) if s.strip()]


def _without(text: str, words: tuple[str, ...]) -> str:
    keep = [
        s for s in _sentences(text) if not any(w in s.lower().replace("\u2019", "'") for w in words)
    ]
    kept = " ".join(keep)
    return kept if len(kept.split()) >= 8 else text


def options() -> dict[str, Callable[[str], list[str]]]:
    """Option name -> the texts scored for a trace (the worst decides)."""
    p = phrase_lists()
    decision = (*p.refusal, *p.thinking_decline, *p.thinking_proceed, *DECISION_WORDS)

    def without_closing(t: str) -> list[str]:
        paras = [x for x in t.split("\n\n") if x.strip()]
        return [t, "\n\n".join(paras[:-1])] if len(paras) > 1 else [t]

    def chunks(t: str) -> list[str]:
        s = _sentences(t)
        return [t, *(" ".join(s[i : i + 3]) for i in range(0, len(s), 3))]

    return {
        "as_is": lambda t: [t],
        "drop_decisions": lambda t: [_without(t, decision)],
        "content_only": lambda t: [_without(t, (*decision, *META_WORDS))],
        "without_closing": without_closing,
        "chunks": chunks,
    }


def stats(rows: list[Row], ps: list[float], half: str, lo: float, hi: float) -> dict[str, float]:
    mine = [(r[4], p) for r, p in zip(rows, ps, strict=True) if r[1] == half]
    pos = [p for lab, p in mine if lab == "unsafe"]
    neg = [p for lab, p in mine if lab == "safe"]
    auc = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
    said = [(lab, "unsafe" if p >= hi else "safe" if p <= lo else "unclear") for lab, p in mine]
    decided = [(lab, s) for lab, s in said if s != "unclear"]
    return {
        "n": len(mine),
        "auc": auc,
        "coverage": len(decided) / len(mine),
        "agree": sum(lab == s for lab, s in decided) / max(len(decided), 1),
        "silent_miss": sum(s == "safe" for lab, s in said if lab == "unsafe") / len(pos),
        "false_alarm": sum(s == "unsafe" for lab, s in said if lab == "safe") / len(neg),
        "unclear": sum(s == "unclear" for _, s in said),
        "cost": sum((s == "safe") if lab == "unsafe" else (s == "unsafe") for lab, s in said)
        + 0.5 * sum(s == "unclear" for _, s in said),
    }


def line(name: str, band: str, half: str, s: dict[str, float], rate: str) -> str:
    """One table row."""
    cells = [name, band, half, f"{s['n']:.0f}", f"{s['auc']:.3f}", f"{s['coverage']:.1%}"]
    cells += [f"{s['agree']:.1%}", f"{s['silent_miss']:.1%}", f"{s['false_alarm']:.1%}", rate]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    judge = EmbeddedJudge()
    model = judge.model()
    lo, hi = judge.thresholds()
    rows = traces()
    print(f"{len(rows)} traces: dev {sum(r[1] == 'dev' for r in rows)}, "
          f"report {sum(r[1] == 'report' for r in rows)}; model band ({lo}, {hi})")  # fmt: skip
    scored: dict[str, list[float]] = {}
    head = "| option | band | half | n | AUC | coverage | agree (decided) | silent misses "
    print(head + "| false alarms | traces/s |\n" + "| --- " * 10 + "|")
    for name, texts_of in options().items():
        start = time.perf_counter()
        texts = [texts_of(r[3]) for r in rows]
        readings = model.read([(r[2], t) for r, ts in zip(rows, texts, strict=True) for t in ts])
        ps, at = [], 0
        for ts in texts:
            ps.append(max(x.probability for x in readings[at : at + len(ts)]))
            at += len(ts)
        rate = len(rows) / (time.perf_counter() - start)
        scored[name] = ps
        for half in ("dev", "report"):
            print(line(name, "model", half, stats(rows, ps, half, lo, hi), f"{rate:.1f}"))
    grid = [x / 100 for x in range(5, 96)]
    ps = scored["as_is"]
    _, blo, bhi = min(
        (stats(rows, ps, "dev", a, b)["cost"], a, b) for a in grid for b in grid if b >= a
    )
    for half in ("dev", "report"):
        band = f"({blo:.2f}, {bhi:.2f}) chosen on dev"
        print(line("as_is", band, half, stats(rows, ps, half, blo, bhi), ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
