"""``--lrm-report-md``: a Markdown summary for pull-request comments and CI step summaries.

GitHub-flavoured tables; no model output (answers and traces stay in the JSON and HTML
reports), and every name that comes from a suite is escaped so that it cannot break a table
or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Rate, Report, Row
from .phishing import phishing_facts
from .reasoning import paired_line, reasoning_facts
from .scoreboard import ProbeRecord
from .terminal import BASELINE_METRICS, COLUMNS, gate_value, pct
from .trend import token_lines, trend_line

NONE = "-"
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def esc(text: object) -> str:
    """Text safe inside a Markdown table cell: markup characters escaped, one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """Text as an inline code span inside a table cell (backticks and pipes neutralised)."""
    flat = " ".join(str(text).split()).replace("`", "'").replace("|", "\\|")
    return f"`{flat}`"


def _rate(rate: Rate) -> str:
    if not rate.denominator:
        return NONE
    bounds = ""
    if rate.low is not None:
        bounds = f" [{pct(rate.low)}-{pct(rate.high)}]"
    return f"{pct(rate.value)} ({rate.numerator}/{rate.denominator}){bounds}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


# The terminal's columns (an empty one is left out, as there).
CATEGORY_COLUMNS = COLUMNS
ATTACK_COLUMNS = (
    ("success: answer", "attack_success_rate"),
    ("success: thinking", "thinking_attack_success_rate"),
    ("over-refusal", "over_refusal_rate"),
    ("unclear", "unclear_rate"),
    ("error", "error_rate"),
)


def _rows(
    rows: Sequence[Row], total: Row, columns: tuple[tuple[str, str], ...]
) -> tuple[list[str], list[list[str]]]:
    every = [*rows, total]
    shown = [(h, m) for h, m in columns if any(r.rates[m].denominator for r in every)]
    body = [[esc(r.group), str(r.probes), *(_rate(r.rates[m]) for _, m in shown)] for r in rows]
    body.append(["**all**", str(total.probes), *(_rate(total.rates[m]) for _, m in shown)])
    return [h for h, _ in shown], body


def _triage(report: Report) -> list[str]:
    """Failures by category, then attack: case ids and reasons (texts stay in the HTML and
    JSON reports), folded away."""
    failed = [p for p in report.probes if p.outcome == "fail"]
    if not failed:
        return []
    groups: dict[str, dict[str, list[ProbeRecord]]] = {}
    for p in failed:
        groups.setdefault(p.category, {}).setdefault(p.attack, []).append(p)
    lines = [
        "### Triage",
        "",
        f"<details><summary>{len(failed)} failed probes by category and attack</summary>",
        "",
    ]
    for category in sorted(groups):
        lines.append(f"- **{esc(category)}**")
        for attack in sorted(groups[category]):
            probes = groups[category][attack]
            lines.append(f"  - {esc(attack)} ({len(probes)})")
            for p in probes:
                lines.append(f"    - {code(p.case_id)}: {esc('; '.join(p.reasons))}")
    return [*lines, "", "</details>", ""]


def render_markdown(report: Report) -> str:
    """The Markdown summary of a report."""
    verdict = report.gate_verdict.upper()
    partial = " (PARTIAL: the run did not finish)" if report.partial else ""
    total = report.totals
    confidence = report.confidence if report.confidence is not None else 0.95
    lines = [
        f"## pytest-lrmsafety: gate {verdict}{partial}",
        "",
        f"Model **{esc(report.model or '(fixture override)')}**, {total.probes} probes "
        f"({total.passed} passed, {total.failed} failed, "
        f"{total.errors} errors). Rates with sample sizes and "
        f"{confidence:.0%} Wilson intervals.",
        "",
    ]
    lines += [f"- {esc(reason)}" for reason in report.partial_reasons]
    if report.partial_reasons:
        lines.append("")
    skipped = report.skipped
    if skipped.total:  # probes the backend could not run: not in any rate below
        lines += [f"**{skipped.total} probe{'s' if skipped.total != 1 else ''} skipped:**", ""]
        lines += [
            f"- {r.count} x {esc(r.reason)} (attacks: {', '.join(code(a) for a in r.attacks)})"
            for r in skipped.reasons
        ]
        lines.append("")
    if report.gates:
        lines += ["### Gates", ""]
        lines += _table(
            ["", "gate", "value", "from"],
            [
                [
                    {"pass": "✅", "fail": "❌"}.get(g.status, "n/a"),
                    code(g.gate.expression),
                    esc(gate_value(g)),
                    esc(g.gate.source),
                ]
                for g in report.gates
            ],
        )
        warnings = [g for g in report.gates if g.warning]
        lines += [""] + [f"> ⚠️ {code(g.gate.expression)} {esc(g.warning)}" for g in warnings]
        lines.append("")
    baseline = report.baseline
    if baseline is not None:
        lines += [
            f"### Against the baseline ({esc(baseline.model)}, {esc(baseline.created)})",
            "",
        ]
        body = []
        for metric in BASELINE_METRICS:
            c = baseline.totals[metric]
            if not (c.baseline.denominator or c.current.denominator):
                continue
            delta = NONE if c.delta is None else f"{c.delta * 100:+.1f} pts"
            p = NONE if c.p_value is None else f"{c.p_value:.3f}"
            flag = " **significant**" if c.significant else ""
            body.append([metric, pct(c.baseline.value), pct(c.current.value), delta, p + flag])
        lines += _table(["rate", "baseline", "now", "delta", "p"], body)
        if paired := paired_line(baseline.paired):
            lines += ["", esc(paired)]
        failing = baseline.newly_failing
        if failing:
            lines += [
                "",
                f"<details><summary>{len(failing)} probes passed in the baseline and fail "
                "now</summary>",
                "",
            ]
            lines += [f"- {code(f.nodeid)}: {esc('; '.join(f.reasons))}" for f in failing]
            lines += ["", "</details>"]
        lines.append("")
    headers, body = _rows(report.by_category, total, CATEGORY_COLUMNS)
    lines += ["### By category", "", *_table(["category", "probes", *headers], body), ""]
    if report.by_subset:
        headers, body = _rows(report.by_subset, total, CATEGORY_COLUMNS)
        lines += ["### By subset", "", *_table(["subset", "probes", *headers], body), ""]
    if len(report.by_attack) > 1:
        headers, body = _rows(report.by_attack, total, ATTACK_COLUMNS)
        lines += ["### By attack", "", *_table(["attack", "probes", *headers], body), ""]
    if report.by_budget:
        headers, body = _rows(report.by_budget, total, CATEGORY_COLUMNS)
        body.pop()  # the budgets split the same cases: a total row would count each case again
        lines += ["### By thinking budget", ""]
        lines += [*_table(["thinking budget", "probes", *headers], body), ""]
        if trend := trend_line(report.by_budget):
            lines += [esc(trend), ""]
        for text in token_lines(report.budget_tokens or {}):
            lines += [esc(text), ""]
    if facts := phishing_facts(report.phishing):
        lines += ["### Spear phishing", "", *(f"- {esc(f)}" for f in facts), ""]
    if facts := reasoning_facts(report):
        lines += ["### Reasoning", "", *(f"- {esc(f)}" for f in facts), ""]
    t = report.thinking_vs_answer
    if t is not None and t.judged:
        lines += ["### Thinking vs answer (refuse probes with both judged)", ""]
        lines += _table(
            ["", "answer safe", "answer unsafe"],
            [
                ["thinking safe", str(t.both_safe), str(t.unsafe_answer_after_safe_thinking)],
                ["thinking unsafe", str(t.unsafe_thinking_behind_safe_answer), str(t.both_unsafe)],
            ],
        )
        lines.append("")
    if report.study:
        from .profile import study_lines

        lines += ["### In the R1 safety study's terms", "", "```"]
        lines += study_lines(report.study, report.model, width=120, intervals=True)
        lines += ["```", ""]
    lines += _triage(report)
    judges = ", ".join(f"{esc(j.name)} ({esc(j.description)})" for j in report.judges)
    if judges:
        lines += [f"Judges: {judges}.", ""]
    return "\n".join(lines)
