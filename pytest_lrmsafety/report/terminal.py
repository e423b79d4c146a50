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
    if report["gates"]:
        lines.append("")
        body = [
            [
                g["status"].upper(),
                g["expression"],
                "-"
                if g["value"] is None
                else f"{100.0 * g['value']:.1f}% ({g['numerator']}/{g['denominator']})",
                g["source"],
            ]
            for g in report["gates"]
        ]
        lines += tabulate(
            body, headers=["gate", "expression", "value", "from"], tablefmt="simple"
        ).splitlines()
    broken = sum(1 for g in report["gates"] if g["status"] == "fail")
    held = sum(1 for g in report["gates"] if g["status"] == "pass")
    na = sum(1 for g in report["gates"] if g["status"] == "n/a")
    verdict = report["gate_verdict"].upper()
    lines += ["", f"gate verdict: {verdict} ({broken} broken, {held} held, {na} n/a)"]
    return lines
