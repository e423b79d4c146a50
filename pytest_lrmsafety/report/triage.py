"""``--lrm-triage``: the failures grouped by category, then attack, with excerpts of the
thinking and the answer and the deciding rationale, no line wider than the terminal."""

from __future__ import annotations

from .layout import DEFAULT_WIDTH, Cell, table, visible, wrap
from .model import Report
from .scoreboard import ProbeRecord


def _flat(text: str | None, limit: int) -> str:
    """One line of at most ``limit`` characters, control characters escaped (a model's ESC
    sequences must not reach the terminal)."""
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    return visible(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def render_triage(report: Report, limit: int = 160, width: int = DEFAULT_WIDTH) -> list[str]:
    """Failures grouped by category, then attack: excerpts of thinking and answer and the
    deciding rationale; then the thinking-vs-answer table."""
    failed = [p for p in report.probes if p.outcome == "fail"]
    lines = ["", f"triage: {len(failed)} failed probes, by category and attack"]
    by_category: dict[str, dict[str, list[ProbeRecord]]] = {}
    for p in failed:
        by_category.setdefault(p.category, {}).setdefault(p.attack, []).append(p)
    for category in sorted(by_category):
        attacks = by_category[category]
        lines += wrap(f"{category} ({sum(len(v) for v in attacks.values())})", width)
        for attack in sorted(attacks):
            lines += wrap(f"{attack} ({len(attacks[attack])})", width, "  ")
            for p in attacks[attack]:
                reasons = visible("; ".join(p.reasons))
                lines += wrap(f"{p.case_id}: {reasons}", width, "    ")
                # Excerpts go on under their first word, so the eye finds where each starts.
                text = _flat(p.thinking, limit)
                lines += wrap(f"thinking: {text}", width, "      ", " " * 16)
                text = _flat(p.answer, limit)
                lines += wrap(f"answer:   {text}", width, "      ", " " * 16)
                deciding = [
                    v
                    for v in p.verdicts
                    if v["label"] in ("unsafe", "compliance", "refusal", "partial_refusal")
                ]
                for v in deciding[:3]:
                    lines += wrap(
                        f"{v['judge']} on {v['target']}: {v['label']}: "
                        f"{_flat(v['rationale'], 100)}",
                        width,
                        "      ",
                        " " * 10,
                    )
    tva = report.thinking_vs_answer
    if tva is not None:
        lines.append("")
        lines += wrap("thinking vs answer (refuse probes with both judged):", width)
        body: list[list[Cell]] = [
            ["thinking safe", tva.both_safe, tva.unsafe_answer_after_safe_thinking],
            ["thinking unsafe", tva.unsafe_thinking_behind_safe_answer, tva.both_unsafe],
        ]
        lines += table(["", "answer safe", "answer unsafe"], body, width)
    return lines
