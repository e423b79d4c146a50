"""The end-of-run tables: per category, per attack, thinking states, gates and the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tabulate import tabulate

from ..judges.guard import HAZARDS

COLUMNS = (
    ("unsafe answer", "unsafe_answer_rate"),
    ("unsafe thinking", "unsafe_thinking_rate"),
    ("refusal", "refusal_rate"),
    ("over-refusal", "over_refusal_rate"),
    ("injection", "injection_success_rate"),
    ("unclear", "unclear_rate"),
    ("error", "error_rate"),
)


def percent(rate: Mapping[str, Any]) -> str:
    """``12.5% (1/8)``, or ``-`` when no probe is in the denominator."""
    if not rate["denominator"]:
        return "-"
    return f"{100.0 * rate['value']:.1f}% ({rate['numerator']}/{rate['denominator']})"


# Per attack, success in the answer and in the thinking say what "unsafe answer", "unsafe
# thinking", "refusal" and "injection" say per category, in two columns.
ATTACK_COLUMNS = (
    ("attack success: answer", "attack_success_rate"),
    ("thinking", "thinking_attack_success_rate"),
    ("over-refusal", "over_refusal_rate"),
    ("unclear", "unclear_rate"),
    ("error", "error_rate"),
)
MATRIX_MAX_ATTACKS = 6  # wider than this, the category x attack matrix becomes a top list


def _table(
    rows: list[dict[str, Any]],
    first: str,
    total: dict[str, Any] | None,
    columns: tuple[tuple[str, str], ...] = COLUMNS,
) -> str:
    # Drop columns no probe of the run can fill (e.g. injection without resist cases).
    every = [*rows, *([total] if total else [])]
    shown = [(h, m) for h, m in columns if any(r["rates"][m]["denominator"] for r in every)]
    body = [[r["group"], r["probes"], *(percent(r["rates"][m]) for _, m in shown)] for r in rows]
    if total is not None and len(rows) > 1:
        body.append(
            [total["group"], total["probes"], *(percent(total["rates"][m]) for _, m in shown)]
        )
    return tabulate(body, headers=[first, "probes", *(h for h, _ in shown)], tablefmt="simple")


def _success(rate: Mapping[str, Any]) -> str:
    return "-" if not rate["denominator"] else f"{rate['numerator']}/{rate['denominator']}"


def _cross(cells: list[dict[str, Any]], attacks: int) -> list[str]:
    """Attack success per category x attack (answer / thinking): a matrix when there are few
    attacks, else the ten cells where attacks got through most often."""
    scored = [c for c in cells if c["row"]["rates"]["attack_success_rate"]["denominator"]]
    if not scored:
        return []
    lines = ["", "attack success per category x attack (answer / thinking):"]
    if attacks <= MATRIX_MAX_ATTACKS:
        names = sorted({c["attack"] for c in cells})
        grid: dict[str, dict[str, str]] = {}
        for c in cells:
            rates = c["row"]["rates"]
            cell = (
                f"{_success(rates['attack_success_rate'])} / "
                f"{_success(rates['thinking_attack_success_rate'])}"
            )
            grid.setdefault(c["category"], {})[c["attack"]] = cell
        body = [[cat, *(grid[cat].get(a, "") for a in names)] for cat in sorted(grid)]
        lines += tabulate(body, headers=["category", *names], tablefmt="simple").splitlines()
        return lines

    def worst(c: dict[str, Any]) -> tuple[float, int]:
        rate = c["row"]["rates"]["attack_success_rate"]
        return (-(rate["value"] or 0.0), -rate["denominator"])

    top = [
        c
        for c in sorted(scored, key=worst)
        if c["row"]["rates"]["attack_success_rate"]["numerator"]
    ]
    if not top:
        return [*lines, "  no attack got through in any answer"]
    for c in top[:10]:
        rates = c["row"]["rates"]
        lines.append(
            f"  {c['category']} x {c['attack']}: answer {percent(rates['attack_success_rate'])}"
            f", thinking {percent(rates['thinking_attack_success_rate'])}"
        )
    return lines


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}%"


def interval(rate: Mapping[str, Any]) -> str:
    """``[9.7%, 70.0%]``: the Wilson interval, or nothing when the report has none."""
    if rate.get("low") is None or rate.get("high") is None:
        return ""
    return f" [{pct(rate['low'])}, {pct(rate['high'])}]"


def gate_value(g: Mapping[str, Any]) -> str:
    """What the gate decided on, with the rate, its sample size and interval."""
    if g["denominator"] == 0:
        return "- (no probe in scope)"
    base = f"{pct(g.get('rate', g['value']))} ({g['numerator']}/{g['denominator']})"
    bound = g.get("bound", "point")
    if bound == "point":
        return base + interval(g)
    if bound == "delta":
        if g["value"] is None:
            return f"{base}; no baseline in scope"
        return f"{g['value'] * 100:+.1f} points vs baseline {pct(g.get('baseline'))}; now {base}"
    return f"{bound} {pct(g['value'])} of {base}{interval(g)}"


def _thinking_vs_answer_line(report: Mapping[str, Any]) -> list[str]:
    table = report.get("thinking_vs_answer")
    if not table:
        return []
    ss, su = table["thinking_safe"]["answer_safe"], table["thinking_safe"]["answer_unsafe"]
    us, uu = table["thinking_unsafe"]["answer_safe"], table["thinking_unsafe"]["answer_unsafe"]
    if ss + su + us + uu == 0:
        return []
    return [
        f"thinking vs answer (refuse probes, both judged): both safe {ss}, unsafe thinking "
        f"behind a safe answer {us}, unsafe answer after safe thinking {su}, both unsafe {uu}"
    ]


BASELINE_METRICS = (
    "unsafe_answer_rate",
    "unsafe_thinking_rate",
    "attack_success_rate",
    "over_refusal_rate",
    "injection_success_rate",
    "error_rate",
)


def _delta(c: Mapping[str, Any]) -> str:
    if c["delta"] is None:
        return "-"
    star = " *" if c["significant"] else ""
    return f"{c['delta'] * 100:+.1f} (p={c['p_value']:.3f}){star}"


def render_baseline(section: Mapping[str, Any]) -> list[str]:
    """Rates against the baseline: totals, then the categories and attacks that moved."""
    lines = [
        "",
        f"against baseline {section['path']} (model {section.get('model')}, "
        f"{section.get('created')}); points, two-proportion test, * significant:",
    ]
    body = []
    for metric in BASELINE_METRICS:
        c = section["totals"][metric]
        if not (c["baseline"]["denominator"] or c["current"]["denominator"]):
            continue
        body.append(
            [
                metric,
                pct(c["baseline"]["value"]),
                pct(c["current"]["value"]),
                _delta(c),
            ]
        )
    lines += tabulate(
        body, headers=["rate", "baseline", "now", "delta"], tablefmt="simple"
    ).splitlines()
    moved = []
    for kind in ("by_category", "by_attack"):
        for group, metrics in section[kind].items():
            for metric in BASELINE_METRICS:
                c = metrics[metric]
                if c["significant"] and c["delta"]:
                    moved.append(f"  {kind[3:]} {group}: {metric} {_delta(c)}")
    if moved:
        lines.append("significant changes:")
        lines += moved
    failing = section["newly_failing"]
    if failing:
        lines.append(f"passed in the baseline, fail now ({len(failing)}):")
        lines += [f"  {f['nodeid']}: {'; '.join(f['reasons'])}" for f in failing[:20]]
        if len(failing) > 20:
            lines.append(f"  ... and {len(failing) - 20} more (see the JSON report)")
    fixed = section["newly_passing"]
    if fixed:
        lines.append(f"failed in the baseline, pass now: {len(fixed)}")
    return lines


def _flat(text: str | None, limit: int) -> str:
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def render_triage(report: Mapping[str, Any], limit: int = 160) -> list[str]:
    """Failures grouped by category, then attack: excerpts of thinking and answer and the
    deciding rationale; then the thinking-vs-answer table."""
    failed = [p for p in report["probes"] if p["outcome"] == "fail"]
    lines = ["", f"triage: {len(failed)} failed probes, by category and attack"]
    by_category: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for p in failed:
        by_category.setdefault(p["category"], {}).setdefault(p["attack"], []).append(p)
    for category in sorted(by_category):
        attacks = by_category[category]
        lines.append(f"{category} ({sum(len(v) for v in attacks.values())})")
        for attack in sorted(attacks):
            lines.append(f"  {attack} ({len(attacks[attack])})")
            for p in attacks[attack]:
                lines.append(f"    {p['case_id']}: {'; '.join(p['reasons'])}")
                lines.append(f"      thinking: {_flat(p.get('thinking'), limit)}")
                lines.append(f"      answer:   {_flat(p.get('answer'), limit)}")
                deciding = [
                    v
                    for v in p["verdicts"]
                    if v["label"] in ("unsafe", "compliance", "refusal", "partial_refusal")
                ]
                for v in deciding[:3]:
                    lines.append(
                        f"      {v['judge']} on {v['target']}: {v['label']}: "
                        f"{_flat(v['rationale'], 100)}"
                    )
    table = report.get("thinking_vs_answer")
    if table:
        lines.append("")
        lines.append("thinking vs answer (refuse probes with both judged):")
        body = [
            [
                "thinking safe",
                table["thinking_safe"]["answer_safe"],
                table["thinking_safe"]["answer_unsafe"],
            ],
            [
                "thinking unsafe",
                table["thinking_unsafe"]["answer_safe"],
                table["thinking_unsafe"]["answer_unsafe"],
            ],
        ]
        lines += tabulate(
            body, headers=["", "answer safe", "answer unsafe"], tablefmt="simple"
        ).splitlines()
    return lines


def render(report: Mapping[str, Any]) -> list[str]:
    """The lines the terminal summary prints for a report."""
    lines: list[str] = []
    if report["partial"]:
        lines += [
            "PARTIAL: the run stopped early or a suite failed to load;",
            "these numbers cover only the probes that ran.",
            "",
        ]
    lines += [f"model: {report['model'] or '(fixture override)'}", ""]
    lines += _table(report["by_category"], "category", report["totals"]).splitlines()
    if len(report["by_attack"]) > 1:
        lines.append("")
        lines += _table(
            report["by_attack"], "attack", report["totals"], ATTACK_COLUMNS
        ).splitlines()
        lines += _cross(report["by_category_attack"], len(report["by_attack"]))
    if report["by_effort"]:
        lines.append("")
        lines += _table(
            report["by_effort"], "effort", report["totals"], ATTACK_COLUMNS
        ).splitlines()
    states = ", ".join(f"{k} {v}" for k, v in report["thinking_status"].items())
    lines += ["", f"thinking: {states}"]
    for judge in report["judges"]:
        errors = f", {judge['errors']} errors" if judge["errors"] else ""
        lines.append(
            f"judge {judge['name']}: {judge['description']} ({judge['verdicts']} verdicts{errors})"
        )
    for category, codes in report["hazards"].items():
        named = ", ".join(f"{code} {HAZARDS.get(code, '?')} {n}" for code, n in codes.items())
        lines.append(f"hazards named in {category}: {named}")
    for category, scores in report["harm_scores"].items():
        unsafe = (
            f"{scores['mean_unsafe']:.3f} on {scores['unsafe_answers']} unsafe answers"
            if scores["mean_unsafe"] is not None
            else "no unsafe answers"
        )
        lines.append(
            f"harm score in {category}: {unsafe}; {scores['mean_all']:.3f} on all "
            f"{scores['answers']} answers"
        )
    check = report.get("judge_check")
    if check:
        for j in check["judges"]:
            flag = "" if j["agreement"] >= check["min"] else f"  BELOW {check['min']:.0%}"
            lines.append(
                f"judge check ({check['set']}): {j['judge']} agreed on {j['agreed']}/{j['items']}"
                f" ({j['agreement']:.0%}){flag}"
            )
    disagreement = report["totals"]["rates"]["judge_disagreement_rate"]
    if disagreement["denominator"]:
        lines.append(
            f"judges disagreed on {percent(disagreement)} of the probes several judges decided"
        )
    samples = report["samples"]
    if samples["groups"]:
        n = samples["groups"]
        lines.append(
            f"samples: {n} case x attack groups; any sample failed "
            f"{100.0 * samples['any_fail'] / n:.1f}% ({samples['any_fail']}/{n}), "
            f"most samples failed {100.0 * samples['majority_fail'] / n:.1f}% "
            f"({samples['majority_fail']}/{n})"
        )
    lines += _thinking_vs_answer_line(report)
    if report.get("baseline"):
        lines += render_baseline(report["baseline"])
    if report["gates"]:
        lines.append("")
        body = [
            [g["status"].upper(), g["expression"], gate_value(g), g["source"]]
            for g in report["gates"]
        ]
        lines += tabulate(
            body, headers=["gate", "expression", "value", "from"], tablefmt="simple"
        ).splitlines()
        for g in report["gates"]:
            if g.get("warning"):
                lines.append(f"warning: gate '{g['expression']}' {g['warning']}")
    broken = sum(1 for g in report["gates"] if g["status"] == "fail")
    held = sum(1 for g in report["gates"] if g["status"] == "pass")
    na = sum(1 for g in report["gates"] if g["status"] == "n/a")
    verdict = report["gate_verdict"].upper()
    lines += ["", f"gate verdict: {verdict} ({broken} broken, {held} held, {na} n/a)"]
    return lines
