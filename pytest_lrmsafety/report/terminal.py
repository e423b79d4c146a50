"""The end-of-run tables: per category, per attack, thinking states, gates and the verdict.

Every line fits the width given (the terminal's; 100 without one): tables narrow, wrap or
stack (``layout.table``), prose wraps with a hanging indent. Wilson intervals of the rates
show where the tables still fit with them (a wide terminal) or when asked for
(``intervals=True``: ``lrmsafety report --intervals``); the gates always show theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..hazards import HAZARDS
from .layout import DEFAULT_WIDTH, Cell, fits, table, wrap
from .model import BaselineDiff, Comparison, CrossRow, GateResult, Rate, Report, Row
from .phishing import phishing_facts
from .reasoning import measure_pieces, paired_line, reasoning_facts
from .records import without_texts
from .skips import skipped_lines
from .trend import token_lines, trend_line
from .triage import render_triage as render_triage  # where the reporter and CLI find it

COLUMNS = (
    ("unsafe answer", "unsafe_answer_rate"),
    ("unsafe thinking", "unsafe_thinking_rate"),
    ("refusal", "refusal_rate"),
    ("over-refusal", "over_refusal_rate"),
    ("injection", "injection_success_rate"),
    ("unclear", "unclear_rate"),
    ("error", "error_rate"),
)


def percent(rate: Rate) -> str:
    """``12.5% (1/8)``, or ``-`` when no probe is in the denominator."""
    if not rate.denominator or rate.value is None:
        return "-"
    return f"{100.0 * rate.value:.1f}% ({rate.numerator}/{rate.denominator})"


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


def ranged(rates: Mapping[str, Rate], metric: str) -> str:
    """A rate as its range when unclear verdicts leave it open: ``2.5% (2/80) to 10.0%``
    (the top: every unclear verdict read as unsafe); the plain rate when nothing is open."""
    rate = rates[metric]
    top = rates.get(metric + "_max")
    if top is None or not rate.denominator or top.numerator == rate.numerator:
        return percent(rate)
    return f"{percent(rate)} to {100.0 * (top.value or 0.0):.1f}%"


def _rate_cell(rates: Mapping[str, Rate], metric: str, intervals: bool) -> Cell:
    """``("33.3% (2/6)", "[9.7%, 70.0%]")``: the interval may go under the rate."""
    rate = rates[metric]
    if not rate.denominator:
        return "-"
    bounds = interval(rate).strip() if intervals else ""
    shown = ranged(rates, metric)
    return (shown, bounds) if bounds else (shown,)


def _table(
    rows: Sequence[Row],
    first: str,
    total: Row | None,
    columns: tuple[tuple[str, str], ...],
    width: int,
    intervals: bool | None,
) -> list[str]:
    # Drop columns no probe of the run can fill (e.g. injection without resist cases).
    every = [*rows, *([total] if total else [])]
    shown = [(h, m) for h, m in columns if any(r.rates[m].denominator for r in every)]
    listed = [*rows, *([total] if total is not None and len(rows) > 1 else [])]
    headers = [first, "probes", *(h for h, _ in shown)]

    def body(bounds: bool) -> list[list[Cell]]:
        return [
            [r.group, r.probes, *(_rate_cell(r.rates, m, bounds) for _, m in shown)] for r in listed
        ]

    if intervals is None:  # with intervals only where they fit without stacking
        intervals = fits(headers, body(True), width)
    return table(headers, body(intervals), width)


def _success(rate: Rate) -> str:
    return "-" if not rate.denominator else f"{rate.numerator}/{rate.denominator}"


def _cross(cells: Sequence[CrossRow], attacks: int, width: int = DEFAULT_WIDTH) -> list[str]:
    """Attack success per category x attack (answer / thinking): a matrix when there are few
    attacks, else the ten cells where attacks got through most often."""
    scored = [c for c in cells if c.row.rates["attack_success_rate"].denominator]
    if not scored:
        return []
    lines = ["", *wrap("attack success per category x attack (answer / thinking):", width)]
    if attacks <= MATRIX_MAX_ATTACKS:
        names = sorted({c.attack for c in cells})
        grid: dict[str, dict[str, Cell]] = {}
        for c in cells:
            rates = c.row.rates
            cell = (
                f"{_success(rates['attack_success_rate'])} / "
                f"{_success(rates['thinking_attack_success_rate'])}"
            )
            grid.setdefault(c.category, {})[c.attack] = (cell,)
        body = [[cat, *(grid[cat].get(a, "") for a in names)] for cat in sorted(grid)]
        return lines + table(["category", *names], body, width)

    def worst(c: CrossRow) -> tuple[float, int]:
        rate = c.row.rates["attack_success_rate"]
        return (-(rate.value or 0.0), -rate.denominator)

    top = [c for c in sorted(scored, key=worst) if c.row.rates["attack_success_rate"].numerator]
    if not top:
        return [*lines, "  no attack got through in any answer"]
    for c in top[:10]:
        rates = c.row.rates
        lines += wrap(
            f"{c.category} x {c.attack}: answer {percent(rates['attack_success_rate'])}"
            f", thinking {percent(rates['thinking_attack_success_rate'])}",
            width,
            "  ",
        )
    return lines


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}%"


def interval(rate: Rate | GateResult) -> str:
    """``[9.7%, 70.0%]``: the Wilson interval, or nothing when the report has none."""
    if rate.low is None or rate.high is None:
        return ""
    return f" [{pct(rate.low)}, {pct(rate.high)}]"


def gate_pieces(g: GateResult) -> tuple[str, ...]:
    """:func:`gate_value` in pieces a narrow table may put on separate lines."""
    if (measured := measure_pieces(g)) is not None:  # a value gate (reasoning.py)
        return measured
    if g.denominator == 0:
        return ("- (no probe in scope)",)
    base = f"{pct(g.rate)} ({g.numerator}/{g.denominator})"
    bound = g.gate.bound
    if bound == "point":
        return (base, interval(g).strip())
    if bound == "delta":
        if g.value is None:
            return (f"{base};", "no baseline in scope")
        return (
            f"{g.value * 100:+.1f} points",
            f"vs baseline {pct(g.baseline)};",
            f"now {base}",
        )
    if bound == "trend":  # the slope per budget level (report/trend.py)
        if g.value is None:
            return (f"{base};", "n/a: fewer than two budgets")
        return (f"{g.value * 100:+.1f} points per budget level;", f"overall {base}")
    return (f"{bound} {pct(g.value)}", f"of {base}", interval(g).strip())


def gate_value(g: GateResult) -> str:
    """What the gate decided on, with the rate, its sample size and interval."""
    return " ".join(p for p in gate_pieces(g) if p)


def _thinking_vs_answer_line(report: Report, width: int) -> list[str]:
    t = report.thinking_vs_answer
    if t is None or not t.judged:
        return []
    return wrap(
        f"thinking vs answer (refuse probes, both judged): both safe {t.both_safe}, unsafe "
        f"thinking behind a safe answer {t.unsafe_thinking_behind_safe_answer}, unsafe answer "
        f"after safe thinking {t.unsafe_answer_after_safe_thinking}, both unsafe {t.both_unsafe}",
        width,
    )


BASELINE_METRICS = (
    "unsafe_answer_rate",
    "unsafe_thinking_rate",
    "attack_success_rate",
    "over_refusal_rate",
    "injection_success_rate",
    "error_rate",
)


def _delta(c: Comparison) -> str:
    if c.delta is None:
        return "-"
    star = " *" if c.significant else ""
    return f"{c.delta * 100:+.1f} (p={c.p_value or 0.0:.3f}){star}"


def render_baseline(section: BaselineDiff, width: int = DEFAULT_WIDTH) -> list[str]:
    """Rates against the baseline: totals, then the categories and attacks that moved."""
    lines = [
        "",
        *wrap(
            f"against baseline {section.path} (model {section.model}, "
            f"{section.created}); points, two-proportion test, * significant:",
            width,
        ),
    ]
    body: list[list[Cell]] = []
    for metric in BASELINE_METRICS:
        c = section.totals[metric]
        if not (c.baseline.denominator or c.current.denominator):
            continue
        body.append([metric, pct(c.baseline.value), pct(c.current.value), _delta(c)])
    lines += table(["rate", "baseline", "now", "delta"], body, width)
    moved = []
    for kind, groups in (("category", section.by_category), ("attack", section.by_attack)):
        for group, metrics in groups.items():
            for metric in BASELINE_METRICS:
                c = metrics[metric]
                if c.significant and c.delta:
                    moved += wrap(f"{kind} {group}: {metric} {_delta(c)}", width, "  ")
    if paired := paired_line(section.paired):
        lines += wrap(paired, width)
    if moved:
        lines.append("significant changes:")
        lines += moved
    failing = section.newly_failing
    if failing:
        lines.append(f"passed in the baseline, fail now ({len(failing)}):")
        for f in failing[:20]:
            lines += wrap(f"{f.nodeid}: {'; '.join(f.reasons)}", width, "  ", "      ")
        if len(failing) > 20:
            lines.append(f"  ... and {len(failing) - 20} more (see the JSON report)")
    fixed = section.newly_passing
    if fixed:
        lines.append(f"failed in the baseline, pass now: {len(fixed)}")
    return lines


def render_groups(
    rows: Sequence[Row],
    key: str,
    total: Row,
    width: int = DEFAULT_WIDTH,
    intervals: bool | None = None,
) -> list[str]:
    """One table of ``rows`` grouped by ``key`` (``lrmsafety report --by``): the attack
    columns for attacks, the category columns otherwise, with the run's total."""
    columns = ATTACK_COLUMNS if key == "attack" else COLUMNS
    return _table(rows, key, total, columns, width, intervals)


def render(report: Report, width: int = DEFAULT_WIDTH, intervals: bool | None = None) -> list[str]:
    """The lines the terminal summary prints for a report.

    Args:
        report: The run's report.
        width: The terminal's width; no line is wider.
        intervals: Wilson intervals in the rate tables: ``None`` where a table still fits
            with them, ``True`` always (tables wrap or stack to fit), ``False`` never.
    """
    lines: list[str] = []
    if report.partial:
        lines += [
            "PARTIAL: the run stopped early or a suite failed to load;",
            "these numbers cover only the probes that ran.",
            *report.partial_reasons,
            "",
        ]
    lines += [*wrap(f"model: {report.model or '(fixture override)'}", width), ""]
    lines += skipped_lines(report.skipped, report.totals.probes, width)
    total = report.totals
    if not total.probes:  # every probe skipped (or none was selected): no rate to show
        while lines and not lines[-1]:
            lines.pop()
        return [*lines, *_gate_lines(report, width)]
    lines += _table(report.by_category, "category", total, COLUMNS, width, intervals)
    if report.by_subset:
        lines.append("")
        lines += _table(report.by_subset, "subset", total, COLUMNS, width, intervals)
    if len(report.by_attack) > 1:
        lines.append("")
        lines += _table(report.by_attack, "attack", total, ATTACK_COLUMNS, width, intervals)
        lines += _cross(report.by_category_attack, len(report.by_attack), width)
    if report.by_effort:
        lines.append("")
        lines += _table(report.by_effort, "effort", total, ATTACK_COLUMNS, width, intervals)
    if report.by_budget:
        lines.append("")
        lines += _table(report.by_budget, "thinking budget", None, COLUMNS, width, intervals)
        if trend := trend_line(report.by_budget):
            lines += wrap(trend, width)
        lines += [w for text in token_lines(report.budget_tokens or {}) for w in wrap(text, width)]
    lines += [wrapped for text in unclear_summary(report) for wrapped in wrap(text, width)]
    states = ", ".join(f"{k} {v}" for k, v in report.thinking_status.items())
    lines += ["", *wrap(f"thinking: {states}", width)]
    lines += [wrapped for text in _facts(report) for wrapped in wrap(text, width)]
    lines += _thinking_vs_answer_line(report, width)
    lines += [wrapped for text in reasoning_facts(report) for wrapped in wrap(text, width)]
    lines += [wrapped for text in phishing_facts(report.phishing) for wrapped in wrap(text, width)]
    if report.baseline is not None:
        lines += render_baseline(report.baseline, width)
    return lines + _gate_lines(report, width)


def _gate_lines(report: Report, width: int) -> list[str]:
    """The gates' table, their warnings and the verdict line."""
    lines: list[str] = []
    if report.gates:
        lines.append("")
        body: list[list[Cell]] = [
            [g.status.upper(), g.gate.expression, gate_pieces(g), g.gate.source]
            for g in report.gates
        ]
        # Narrowed first: the value (its interval under the rate), then where it came from.
        lines += table(
            ["gate", "expression", "value", "from"],
            body,
            width,
            keys=2,
            shrink=(2, 3, 1),
            overflow="records",
        )
        for g in report.gates:
            if g.warning:
                lines += wrap(f"warning: gate '{g.gate.expression}' {g.warning}", width)
    broken = sum(1 for g in report.gates if g.status == "fail")
    held = sum(1 for g in report.gates if g.status == "pass")
    na = sum(1 for g in report.gates if g.status == "n/a")
    verdict = report.gate_verdict.upper()
    lines += ["", f"gate verdict: {verdict} ({broken} broken, {held} held, {na} n/a)"]
    return lines


def unclear_summary(report: Report) -> list[str]:
    """How many verdicts no judge could decide, which judges said so, and who would decide
    them: an unclear verdict is not a safe one."""
    probes = without_texts(report.probes)  # verdicts only: no text read back from the spool
    unclear = [v for p in probes for v in p.verdicts if v.get("label") == "unclear"]
    if not unclear:
        return []
    by_target: dict[str, int] = {}
    by_judge: dict[str, int] = {}
    for v in unclear:
        by_target[v["target"]] = by_target.get(v["target"], 0) + 1
        by_judge[v["judge"]] = by_judge.get(v["judge"], 0) + 1
    targets = ", ".join(f"{n} on the {t}" for t, n in sorted(by_target.items()))
    judges = ", ".join(f"{j} {n}" for j, n in sorted(by_judge.items()))
    return [
        "",
        f"unclear: {len(unclear)} verdicts could not be decided ({targets}; by {judges}); the "
        "unsafe rates above run from the decided rate to the rate if every unclear one were "
        "unsafe. A judge that reads content decides them: --lrm-judge-model SPEC (an LLM "
        "judge), or the offline judge (--lrm-harm-judge embedded)",
    ]


def _facts(report: Report) -> list[str]:
    """Judges, hazards, harm scores, the judge check, disagreement and samples: one
    sentence each, before wrapping."""
    out = []
    for judge in report.judges:
        errors = f", {judge.errors} errors" if judge.errors else ""
        out.append(f"judge {judge.name}: {judge.description} ({judge.verdicts} verdicts{errors})")
    for category, codes in report.hazards.items():
        named = ", ".join(f"{code} {HAZARDS.get(code, '?')} {n}" for code, n in codes.items())
        out.append(f"hazards named in {category}: {named}")
    for category, scores in report.harm_scores.items():
        unsafe = (
            f"{scores.mean_unsafe:.3f} on {scores.unsafe_answers} unsafe answers"
            if scores.mean_unsafe is not None
            else "no unsafe answers"
        )
        out.append(
            f"harm score in {category}: {unsafe}; {scores.mean_all:.3f} on all "
            f"{scores.answers} answers to harmful requests (refuse probes)"
        )
    check = report.judge_check
    if check:
        for j in check["judges"]:
            flag = "" if j["agreement"] >= check["min"] else f"  BELOW {check['min']:.0%}"
            out.append(
                f"judge check ({j.get('set', check['set'])}): {j['judge']} agreed on "
                f"{j['agreed']}/{j['items']}"
                f" ({j['agreement']:.0%}){flag}"
            )
    disagreement = report.totals.rates["judge_disagreement_rate"]
    if disagreement.denominator:
        out.append(
            f"judges disagreed on {percent(disagreement)} of the probes several judges decided"
        )
    samples = report.samples
    if samples.groups:
        n = samples.groups
        out.append(
            f"samples: {n} case x attack groups; any sample failed "
            f"{100.0 * samples.any_fail / n:.1f}% ({samples.any_fail}/{n}), "
            f"most samples failed {100.0 * samples.majority_fail / n:.1f}% "
            f"({samples.majority_fail}/{n})"
        )
    return out
