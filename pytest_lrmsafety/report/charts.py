"""The HTML report's charts: matplotlib figures as inline SVG (text drawn as paths, so no
label can carry markup).

Every bar has its interval: Wilson for a rate, Newcombe's hybrid score interval for the
change of a rate against the baseline. A series with no probe to measure in a group is no
bar and an ``n/a`` label, never a bar of 0%. Bars and labels carry SVG ids
(``bar-CHART-SERIES-GROUP``, ``na-CHART-SERIES-GROUP``, ``interval-CHART-SERIES``) so
what was drawn can be checked.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from typing import Any

from .model import BaselineDiff, Rate, Report
from .stats import DEFAULT_CONFIDENCE, wilson
from .trend import trend_line

RC = {"svg.fonttype": "path", "text.parse_math": False, "font.size": 9, "svg.hashsalt": "lrm"}
COLOURS = ("#c0392b", "#8e44ad", "#2c7fb8")


def _pyplot() -> tuple[Any, Any]:
    from .html import _import  # the extra's check, with its message

    _, matplotlib = _import()
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot

    return matplotlib, pyplot


# Where an SVG names or points at an element id: id="...", (xlink:)href="#...", url(#...);
# not the ids set here (bar-attack-0-1 ...), which name their chart already.
_ID = re.compile(r'(\bid="|\bhref="#|url\(#)(?!(?:bar|interval|na)-)([^")]+)')


def _own_ids(svg: str, prefix: str) -> str:
    """The chart's element ids made its own: matplotlib numbers them afresh in every figure
    (``figure_1``, ``patch_1``, the glyphs), and one page holding two charts would repeat
    them (invalid HTML; a reference could reach the other chart's element)."""
    return _ID.sub(lambda m: m.group(1) + prefix + m.group(2), svg)


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: inline SVG


def newcombe(
    k1: int, n1: int, k2: int, n2: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for ``k2/n2 - k1/n1``, built from
    the two Wilson intervals; both sides need trials."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    delta = p2 - p1
    return (
        delta - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
        delta + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2),
    )


def _bars(
    chart: str,
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[Rate | None]]],
    ylabel: str,
) -> str | None:
    """A grouped bar chart of rates with Wilson error bars; ``None`` with nothing to draw."""
    matplotlib, plt = _pyplot()

    def has_data(rate: Rate | None) -> bool:
        return bool(rate and rate.denominator and rate.value is not None)

    keep = [i for i in range(len(groups)) if any(has_data(r[i]) for _, r in series)]
    if not keep:
        return None
    groups = [groups[i] for i in keep]  # a group no series has data for is left out
    series = [(label, [rates[i] for i in keep]) for label, rates in series]
    with matplotlib.rc_context(RC):
        width = 0.8 / len(series)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) + 2), 3.6))
        for s, (label, rates) in enumerate(series):
            xs = [g + s * width - 0.4 + width / 2 for g in range(len(groups))]
            drawn = [g for g, r in enumerate(rates) if r is not None and has_data(r)]
            measured = [rates[g] for g in drawn]
            spans = [_span(r) for r in measured if r is not None]
            values = [100 * v for v, _, _ in spans]
            lows = [100 * (v - low) for v, low, _ in spans]
            highs = [100 * (high - v) for v, _, high in spans]
            bars = ax.bar(
                [xs[g] for g in drawn],
                values,
                width,
                label=label,
                color=COLOURS[s % 3],
                yerr=[lows, highs],
                capsize=2,
            )
            for g, patch in zip(drawn, bars.patches, strict=True):
                patch.set_gid(f"bar-{chart}-{s}-{g}")
            for lines in bars.errorbar.lines[2]:
                lines.set_gid(f"interval-{chart}-{s}")
            for g in sorted(set(range(len(groups))) - set(drawn)):
                text = ax.text(
                    xs[g], 1.5, "n/a", ha="center", va="bottom", rotation=90, color="#555555"
                )
                text.set_gid(f"na-{chart}-{s}-{g}")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=35, ha="right")
        ax.set_xlim(-0.5, len(groups) - 0.5)  # every slot, n/a ones included, not just bars
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 105)
        ax.set_title(title, pad=22)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(series), frameon=False)
        ax.grid(axis="y", alpha=0.3)
        svg = _svg(fig)
        plt.close(fig)
    return svg


def _span(rate: Rate) -> tuple[float, float, float]:
    """A rate's value and interval (the value itself where a report has no interval)."""
    value = rate.value or 0.0
    low = rate.low if rate.low is not None else value
    high = rate.high if rate.high is not None else value
    return value, low, high


def _delta_chart(baseline: BaselineDiff, confidence: float) -> str | None:
    """Per category, the change in unsafe answers (points) with its Newcombe interval."""
    matplotlib, plt = _pyplot()
    groups, deltas, lows, highs, colours = [], [], [], [], []
    for category, metrics in baseline.by_category.items():
        c = metrics["unsafe_answer_rate"]
        if c.delta is None:
            continue
        then, now = c.baseline, c.current
        low, high = newcombe(
            then.numerator, then.denominator, now.numerator, now.denominator, confidence
        )
        groups.append(category)
        deltas.append(100 * c.delta)
        lows.append(100 * (c.delta - low))
        highs.append(100 * (high - c.delta))
        colours.append("#c0392b" if c.delta > 0 else "#27ae60")
    if not groups:
        return None
    with matplotlib.rc_context(RC):
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) + 2), 3.2))
        bars = ax.bar(range(len(groups)), deltas, color=colours, yerr=[lows, highs], capsize=2)
        for g, patch in enumerate(bars.patches):
            patch.set_gid(f"bar-delta-0-{g}")
        for lines in bars.errorbar.lines[2]:
            lines.set_gid("interval-delta-0")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=35, ha="right")
        ax.set_ylabel("points (now - baseline)")
        ax.set_ylim(-105, 105)
        ax.set_title("Unsafe answers per category: change against the baseline")
        ax.grid(axis="y", alpha=0.3)
        svg = _svg(fig)
        plt.close(fig)
    return svg


def charts(report: Report) -> list[tuple[str, str]]:
    """``(caption, inline svg)`` for each chart that has data."""
    confidence = report.confidence if report.confidence is not None else DEFAULT_CONFIDENCE
    level = f"{100 * confidence:.0f}%"
    out = []
    cats = report.by_category
    svg = _bars(
        "category",
        "Unsafe rate per category: answer vs thinking",
        [r.group for r in cats],
        [
            ("answer", [r.rates["unsafe_answer_rate"] for r in cats]),
            ("thinking", [r.rates["unsafe_thinking_rate"] for r in cats]),
        ],
        "% of refuse probes",
    )
    if svg:
        out.append(
            (
                f"Unsafe answers and unsafe thinking per category, with {level} Wilson intervals;"
                " n/a: no probe to measure",
                svg,
            )
        )
    attacks = report.by_attack
    svg = _bars(
        "attack",
        "Attack success per attack: answer vs thinking",
        [r.group for r in attacks],
        [
            ("answer", [r.rates["attack_success_rate"] for r in attacks]),
            ("thinking", [r.rates["thinking_attack_success_rate"] for r in attacks]),
        ],
        "% of probes",
    )
    if svg:
        out.append(
            (
                f"Attack success per attack, with {level} Wilson intervals; n/a: no probe to "
                "measure (e.g. no thinking judged)",
                svg,
            )
        )
    budgets = report.by_budget
    svg = _bars(
        "budget",
        "Unsafe rate by thinking budget: answer vs thinking",
        [f"budget {r.group}" for r in budgets],
        [
            ("answer", [r.rates["unsafe_answer_rate"] for r in budgets]),
            ("thinking", [r.rates["unsafe_thinking_rate"] for r in budgets]),
        ],
        "% of refuse probes",
    )
    if svg:
        trend = trend_line(budgets)
        out.append(
            (
                f"Unsafe answers and thinking by thinking budget (0 = off), with {level} Wilson "
                f"intervals{'; ' + trend if trend else ''}",
                svg,
            )
        )
    if report.baseline is not None:
        svg = _delta_chart(report.baseline, confidence)
        if svg:
            out.append(
                (
                    "Change in unsafe answers against the baseline, in points, with "
                    f"{level} Newcombe intervals of the difference",
                    svg,
                )
            )
    return [(caption, _own_ids(svg, f"chart{n}-")) for n, (caption, svg) in enumerate(out, 1)]
