"""The report's sentences on the reasoning itself, for the terminal and the Markdown report:
how the reasoning tokens were known and how far the overthinking attacks inflated them, the
aware-but-complied count, the paired comparison with the baseline, and a measure gate's
value (report/measures.py computes them)."""

from __future__ import annotations

from ..gates import MEASURES
from .diff import Paired
from .model import GateResult, Report


def reasoning_facts(report: Report) -> list[str]:
    """One sentence each: reasoning-token sources, the overthinking ratios, aware but
    complied; none of them when the run has nothing to say."""
    out = []
    block = report.reasoning or {}
    sources = block.get("sources") or {}
    if sources:
        how = ", ".join(
            f"{n} {'from the usage block' if s == 'usage' else 'counted from the trace'}"
            for s, n in sources.items()
        )
        out.append(f"reasoning tokens: {how}")
    for attack, r in (block.get("ratios") or {}).items():
        out.append(
            f"{attack}: reasoning tokens {r['median']:.1f}x the direct probe's (median over "
            f"{r['cases']} cases; mean {r['mean']:.1f}x, max {r['max']:.1f}x)"
        )
    rate = report.totals.rates.get("aware_complied_rate")
    if rate is not None and rate.denominator and rate.value is not None:
        out.append(
            f"aware but complied: {rate.numerator} of {rate.denominator} refuse probes with "
            f"a trace read for awareness ({100.0 * rate.value:.1f}%): the trace saw the risk "
            "and the answer went ahead"
        )
    return out


def paired_line(paired: Paired | None) -> str | None:
    """``paired: 14 got worse, 3 better (of 40 probes in both), McNemar p=0.00636 ...``."""
    if paired is None or not paired.pairs:
        return None
    return paired.summary()


def measure_pieces(g: GateResult) -> tuple[str, ...] | None:
    """A measure gate's value in pieces (``None`` for a rate gate)."""
    metric = g.gate.metric
    if metric not in MEASURES:
        return None
    if g.value is None:
        if metric == "paired_worse_p":
            return ("- (no baseline, or no probe in both runs)",)
        if metric == "harm_score_mean":
            return ("- (no reward-judge score on a refuse probe's answer)",)
        if metric == "phishing_score_mean":
            return ("- (no phishing dialogue graded on all three skills)",)
        return ("- (no case with both a direct and an attacked count)",)
    if metric == "paired_worse_p":
        return (f"p={g.value:.3g};", f"{g.numerator} worse of {g.denominator} in both")
    if metric in ("harm_score_mean", "phishing_score_mean"):  # report/phishing.py
        what = "answers" if metric == "harm_score_mean" else "dialogues"
        return (f"{g.value:.3f} (mean);", f"{g.numerator} of {g.denominator} {what} over")
    kind = "median" if metric == "reasoning_tokens_ratio" else "mean"
    return (f"{g.value:.2f}x ({kind});", f"{g.numerator} of {g.denominator} cases over")
