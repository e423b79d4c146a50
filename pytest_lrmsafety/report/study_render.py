"""The R1 study's tables as text: this run's row (or column) beside the five models'
published figures, in the study's own rows and columns (Zhou et al. 2025, arXiv:2502.12659).

Shares are printed as the study prints them, in percent without the sign, with the run's
numerator and denominator and, where the table fits (or when asked), the Wilson interval.
A published figure that takes part in one of the tables' five contradictions carries ``!``
and the contradiction's arithmetic under the table (``profiles/r1_study.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .layout import DEFAULT_WIDTH, Cell, fits, table, wrap
from .profile import Figure, figures

Body = tuple[list[str], list[list[Cell]]]


def _num(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}"


def _share(cell: Mapping[str, Any] | None, bounds: bool) -> Cell:
    """``46.0 (23/50)`` and, with ``bounds``, ``[32.9, 59.6]`` as a second piece."""
    if not cell:
        return "-"
    share = f"{_num(100 * cell['value'])} ({cell['numerator']}/{cell['denominator']})"
    if not bounds:
        return (share,)
    return (share, f"[{_num(100 * cell['low'])}, {_num(100 * cell['high'])}]")


def _classes(cell: Mapping[str, Any] | None, bounds: bool) -> Cell:
    """XSTest's ``FC+FR+PR`` and ``(n=25)``; with ``bounds``, FC's interval."""
    if not cell or not cell.get("FC"):
        return "-"
    parts = "+".join(_num(100 * cell[c]["value"]) for c in ("FC", "FR", "PR"))
    fc = cell["FC"]
    pieces = [parts, f"(n={fc['denominator']})"]
    if bounds:
        pieces.append(f"FC [{_num(100 * fc['low'])}, {_num(100 * fc['high'])}]")
    return tuple(pieces)


def _mean(cell: Mapping[str, Any] | None) -> Cell:
    return (f"{cell['mean']:.2f}", f"(n={cell['n']})") if cell else "-"


class _Published:
    """The published figures of one table, and the contradictions among those shown."""

    def __init__(self, number: int) -> None:
        self.figures = figures(number)
        self.models = list(dict.fromkeys(f.model for f in self.figures if f.model))
        self.clashes: dict[str, str] = {}

    def get(self, row: str | None, column: str, model: str | None) -> Figure | None:
        for f in self.figures:
            if (f.row, f.column, f.model) == (row, column, model):
                if f.contradiction and f.arithmetic:
                    self.clashes[f.contradiction] = f.arithmetic
                return f
        return None

    def value(self, row: str | None, column: str, model: str | None) -> str:
        f = self.get(row, column, model)
        if f is None:
            return "-"
        digits = DIGITS.get(f.table)
        text = f"{f.value:.{digits}f}" if digits is not None else f"{f.value:g}"
        return text + _mark([f])

    def classes(self, row: str, model: str) -> str:
        found = [self.get(row, c, model) for c in ("FC", "FR", "PR")]
        parts = [f for f in found if f is not None]
        if len(parts) < 3:
            return "-"
        return "+".join(f"{f.value:g}" for f in parts) + _mark(parts)


def _mark(found: Sequence[Figure]) -> str:
    """``!`` on a figure in one of the contradictions, ``†`` on one not checked."""
    clash = any(f.contradiction for f in found)
    return ("!" if clash else "") + ("" if all(f.checked for f in found) else " †")


# The study's own precision where it is the same for a whole table (Table 3's and 9's vary).
DIGITS = {1: 0, 2: 1, 4: 2, 5: 2, 6: 2, 7: 1, 10: 1}


def _by_model(
    t: Mapping[str, Any], pub: _Published, label: str, cell: Callable[..., Cell]
) -> Callable[[bool], Body]:
    """Tables 2, 4, 6, 10: the models are the rows, the study's columns the columns."""

    def body(bounds: bool) -> Body:
        rows = [[label, *(cell(t["run"].get(c), bounds) for c in t["columns"])]]
        rows += [[m, *(pub.value(None, c, m) for c in t["columns"])] for m in pub.models]
        return ["model", *t["columns"]], rows

    return body


def _table1(t: Mapping[str, Any], pub: _Published, label: str) -> Callable[[bool], Body]:
    def body(bounds: bool) -> Body:
        rows: list[list[Cell]] = [
            [row, pub.value(row, "size", None), c["cases"], c["probes"]]
            for row, c in t["run"].items()
        ]
        return ["dataset", "study: size", "this run: cases", "probes"], rows

    return body


def _table3(t: Mapping[str, Any], pub: _Published, label: str) -> Callable[[bool], Body]:
    def body(bounds: bool) -> Body:
        worst = t["run"].get("worst category")
        rows: list[list[Cell]] = [
            [
                label,
                _classes(t["run"].get("average"), bounds),
                worst["category"] if worst else "-",
                _classes(worst, bounds),
            ]
        ]
        for m in pub.models:
            f = pub.get("worst category", "FC", m)
            category = f.category if f and f.category else "-"
            rows.append([m, pub.classes("average", m), category, pub.classes("worst category", m)])
        return ["model", "average FC+FR+PR", "worst category", "FC+FR+PR"], rows

    return body


def _table5(t: Mapping[str, Any], pub: _Published, label: str) -> Callable[[bool], Body]:
    def body(bounds: bool) -> Body:
        row: list[Cell] = ["ASR", _share(t["run"]["ASR"], bounds)]
        row += [pub.value(None, "ASR", m) for m in pub.models]
        return ["", label, *pub.models], [row]

    return body


def _table7(t: Mapping[str, Any], pub: _Published, label: str) -> Callable[[bool], Body]:
    columns = [(row, c) for row in t["rows"] for c in t["columns"]]

    def body(bounds: bool) -> Body:
        rows: list[list[Cell]] = [
            [m, *(pub.value(r, c, m) for r, c in columns)] for m in pub.models
        ]
        rows.append([label, *(_share(t["run"][r][c], bounds) for r, c in columns)])
        return ["model", *(f"{r} {c}" for r, c in columns)], rows

    return body


def _table9(t: Mapping[str, Any], pub: _Published, label: str) -> Callable[[bool], Body]:
    def body(bounds: bool) -> Body:
        rows: list[list[Cell]] = [
            [row, _classes(t["run"].get(row), bounds), *(pub.classes(row, m) for m in pub.models)]
            for row in t["rows"]
        ]
        return ["safe prompt type", label, *pub.models], rows

    return body


LAYOUTS: dict[int, Callable[[Mapping[str, Any], _Published, str], Callable[[bool], Body]]] = {
    1: _table1,
    2: lambda t, p, label: _by_model(t, p, label, _share),
    3: _table3,
    4: lambda t, p, label: _by_model(t, p, label, lambda c, bounds: _mean(c)),
    5: _table5,
    6: lambda t, p, label: _by_model(t, p, label, _share),
    7: _table7,
    9: _table9,
    10: lambda t, p, label: _by_model(t, p, label, _share),
}
BETTER = {
    "higher": "higher is safer",
    "lower": "lower is safer",
    "FC higher": "FC higher is better",
}


def _title(t: Mapping[str, Any]) -> str:
    unit = " (%)" if t["unit"] == "%" else f" ({t['unit']})"
    better = f", {BETTER[t['better']]}" if t.get("better") in BETTER else ""
    return f"Table {t['table']}. {_upper(t['title'])}{unit}{better}"


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def table_lines(
    t: Mapping[str, Any], model: str | None, width: int, intervals: bool | None
) -> list[str]:
    """One table: its title, then the table, or one line when the run lacks its benchmark."""
    lines = ["", *wrap(_title(t), width)]
    missing = t["missing"]
    every = {m["benchmark"] for m in missing}
    needs = {2: set(t["columns"]), 7: set(t["rows"] or ())}.get(t["table"])
    if t["table"] != 1 and (needs is None or needs <= every) and missing:
        if len(missing) == 1:
            m = missing[0]
            what = f"no {m['benchmark']} probes; add them: {m['command']}"
        else:
            names = [m["benchmark"] for m in missing]
            what = f"no {', '.join(names[:-1])} or {names[-1]} probes (Table 1: how to add them)"
        return lines + wrap(f"not in this run: {what}", width, indent="  ")
    pub = _Published(t["table"])
    label = f"{model} (this run)" if model else "this run"
    body = LAYOUTS[t["table"]](t, pub, label)
    headers, rows = body(True)
    if intervals is None:
        intervals = fits(headers, rows, width)
    headers, rows = body(intervals)
    lines += table(headers, rows, width, overflow="stack")
    if t["table"] == 1:
        for m in missing:
            lines += wrap(f"{m['benchmark']}: not in this run; add it: {m['command']}", width, "  ")
    elif missing:
        absent = ", ".join(m["benchmark"] for m in missing)
        lines += wrap(f"not in this run: {absent} (Table 1 has the import commands)", width, "  ")
    for key, says in sorted(pub.clashes.items()):
        lines += wrap(f"! {key}: {says}", width, "  ")
    return lines


def figure3_lines(f: Mapping[str, Any], width: int) -> list[str]:
    lines = ["", *wrap(f"Figure 3. {_upper(f['title'])}", width)]
    if f["missing"]:
        m = f["missing"][0]
        return lines + wrap(
            f"not in this run: no AirBench probes; add them: {m['command']}", width, "  "
        )
    if f["run"] is None:
        return lines + wrap(
            "no 'reward' harm scores on the AirBench answers: import it with the reward judge "
            "(lrmsafety import airbench FILE -o cases/airbench.yaml --judges benchmark,reward) "
            "and run with --lrm-reward-model PATH",
            width,
            indent="  ",
        )
    rows: list[list[Cell]] = []
    for key, what in (("run", "this run"), ("baseline", "baseline")):
        c = f.get(key)
        if c:
            rows.append([what, c.get("model") or "-", f"{c['mean']:.3f}", c["n"]])
    d = f.get("difference")
    if d:
        rows.append(
            ["difference", "", (f"{d['mean']:+.3f}", f"[{d['low']:+.3f}, {d['high']:+.3f}]"), ""]
        )
    lines += table(["", "model", "mean harm", "answers"], rows, width, overflow="records")
    if f.get("baseline") is None:
        lines += wrap(
            "no baseline with harm scores: --lrm-baseline REPORT.json of the pair's other model "
            "compares the two",
            width,
            "  ",
        )
    lines += wrap(
        "Published: an image only, no values; the study found the reasoning model of each pair "
        "(DS-R1 against DS-V3, R1-70b against Llama3.3) the more harmful.",
        width,
        "  ",
    )
    return lines


def render_tables(
    section: Mapping[str, Any],
    model: str | None,
    width: int = DEFAULT_WIDTH,
    intervals: bool | None = None,
) -> list[str]:
    """Every table of the study section, then Figure 3 and the note on sources."""
    lines: list[str] = []
    tables: Sequence[Mapping[str, Any]] = section["tables"]
    datasets = next(t for t in tables if t["table"] == 1)
    if len(datasets["missing"]) == len(datasets["run"]):  # not one benchmark: no table
        lines += wrap(
            "None of the study's benchmarks is in this run (no probe's subset is one of "
            "them); each table needs its benchmark imported from your copy of the data:",
            width,
        )
        for m in datasets["missing"]:
            lines += wrap(f"{m['benchmark']}: {m['command']}", width, "  ", "      ")
    else:
        for t in tables:
            lines += table_lines(t, model, width, intervals)
        lines += figure3_lines(section["figure3"], width)
    lines.append("")
    if section.get("other_attacks"):
        lines += wrap(
            f"Left out of the study's tables: {section['other_attacks']} probes of these "
            "benchmarks under the project's own attacks or thinking budgets (the by-attack "
            "table has them).",
            width,
        )
    lines += wrap(
        "Published: every figure of the study's tables, checked against them, in "
        "pytest_lrmsafety/report/profiles/r1_study.yaml. The study judged with GPT-4o on its "
        "own samples: compare directions and gaps, not digits.",
        width,
    )
    return lines
