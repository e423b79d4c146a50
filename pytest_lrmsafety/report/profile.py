"""``--lrm-profile r1-study``: a run's numbers in the R1 safety study's terms, table by
table, beside the study's published figures (Zhou et al. 2025, arXiv:2502.12659).

The study reports each benchmark apart, so the profile does too: :mod:`.study_tables` reads
the run's records by their benchmark (the ``subset`` an importer gave them) and native fields
(tags), and computes Tables 1-7, 9 and 10 and Figure 3 in the study's rows and columns, each
share with its Wilson interval; :mod:`.study_render` prints them beside the five models'
published figures. A table whose benchmark the run lacks says which import command adds it.

The published figures: every figure of the study's Tables 1-7, 9 and 10 is in
``profiles/r1_study.yaml`` (with its line in the reference notes, and the five places the
tables contradict themselves), read through :func:`figure` / :func:`figures`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from .layout import DEFAULT_WIDTH, wrap
from .scoreboard import ProbeRecord

PROFILES = ("r1-study",)
STUDY_VERSION = 2  # the study section's layout: one entry per table (1: one pooled table)


@functools.cache
def published(name: str = "r1-study") -> dict[str, Any]:
    """The profile's YAML file as it stands (tables, contradictions, models, citation)."""
    text = resources.files(__package__).joinpath(f"profiles/{name.replace('-', '_')}.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(text.read_text("utf-8"), Loader=loader)
    return data


@dataclass(frozen=True)
class Figure:
    """One published figure: ``table``, then ``row`` (``None`` where the paper's rows are the
    models), ``column`` and ``model`` (the paper's short name: DS-R1, DS-V3, R1-70b, Llama3.3,
    o3-mini; ``None`` in Table 1). ``line``: its line in the reference notes
    (``r1_study_tables.md``); ``contradiction``: the id (C1-C5) and ``arithmetic`` of the
    contradiction in the published tables it takes part in; ``note``: a rounding remark."""

    table: int
    row: str | None
    column: str
    model: str | None
    value: float
    unit: str
    better: str | None
    denominator: int | None
    denominator_inferred: bool
    line: int | None
    checked: bool
    category: str | None = None
    contradiction: str | None = None
    arithmetic: str | None = None
    note: str | None = None


def _denominator(spec: Mapping[str, Any], row: str | None, column: str) -> tuple[int | None, bool]:
    by = spec.get("denominators") or {}
    inferred = column in by.get("inferred", ()) or row in by.get("inferred", ())
    if column in by.get("column", {}):
        return by["column"][column], inferred
    if row in by.get("row", {}):
        return by["row"][row], inferred
    return spec.get("denominator"), inferred


@functools.cache
def _figures(name: str) -> tuple[Figure, ...]:
    out: list[Figure] = []
    for number, spec in published(name)["tables"].items():
        for f in spec["figures"]:
            denominator, inferred = _denominator(spec, f.get("row"), f["column"])
            clash = f.get("contradiction") or {}
            out.append(
                Figure(
                    table=int(number),
                    row=f.get("row"),
                    column=f["column"],
                    model=f.get("model"),
                    value=float(f["value"]),
                    unit=spec["unit"],
                    better=spec.get("better"),
                    denominator=denominator,
                    denominator_inferred=inferred,
                    line=f.get("line"),
                    checked=bool(f.get("checked")),
                    category=f.get("category"),
                    contradiction=clash.get("id"),
                    arithmetic=" ".join(clash["says"].split()) if clash else None,
                    note=f.get("note"),
                )
            )
    return tuple(out)


def model_key(model: str, name: str = "r1-study") -> str:
    """The paper's short name of ``model``: itself, its full name or an alias (any case)."""
    wanted = model.casefold()
    for key, info in published(name)["models"].items():
        names = [key, info["name"], *info.get("aliases", ())]
        if wanted in (n.casefold() for n in names):
            return str(key)
    raise KeyError(f"{name}: no model {model!r}; models: {', '.join(published(name)['models'])}")


def figures(
    table: int | None = None,
    row: str | None = None,
    column: str | None = None,
    model: str | None = None,
    name: str = "r1-study",
) -> tuple[Figure, ...]:
    """The published figures, those of ``table``/``row``/``column``/``model`` where given."""
    key = model_key(model, name) if model is not None else None
    return tuple(
        f
        for f in _figures(name)
        if (table is None or f.table == table)
        and (row is None or f.row == row)
        and (column is None or f.column == column)
        and (key is None or f.model == key)
    )


def figure(
    table: int, row: str | None, column: str, model: str | None, name: str = "r1-study"
) -> Figure:
    """The one published figure at ``table``, ``row`` (``None`` where the paper's rows are the
    models), ``column``, ``model``; a ``KeyError`` naming what the table has otherwise."""
    key = model_key(model, name) if model is not None else None
    found = [
        f
        for f in _figures(name)
        if (f.table, f.row, f.column, f.model) == (table, row, column, key)
    ]
    if len(found) == 1:
        return found[0]
    spec = published(name)["tables"].get(table)
    if spec is None:
        raise KeyError(
            f"{name}: no table {table}; tables: {', '.join(map(str, published(name)['tables']))}"
        )
    raise KeyError(
        f"{name}: table {table} has no figure at row {row!r}, column {column!r}, model {model!r}; "
        f"rows: {spec['rows']}, columns: {spec['columns']}"
    )


def study_table(
    records: Sequence[ProbeRecord],
    confidence: float = 0.95,
    *,
    model: str | None = None,
    baseline: Sequence[ProbeRecord] | None = None,
    baseline_model: str | None = None,
    name: str = "r1-study",
) -> dict[str, Any]:
    """The report's ``study`` section: every table of the study from the run's records, one
    benchmark at a time (:mod:`.study_tables`); Figure 3 against the ``baseline`` report's
    records where there is one. ``rows`` indexes the tables' shares (``T6/indirect``)."""
    from .study_tables import compute, flat_shares

    specs = {int(n): spec for n, spec in published(name)["tables"].items()}
    section = compute(
        records,
        specs,
        confidence,
        model=model,
        baseline=baseline,
        baseline_model=baseline_model,
    )
    data = published(name)
    return {
        "profile": name,
        "version": STUDY_VERSION,
        "rows": flat_shares(section["tables"]),
        "published": {
            "name": data["name"],
            "citation": data["citation"],
            "figures": f"pytest_lrmsafety/report/profiles/{name.replace('-', '_')}.yaml",
        },
        **section,
    }


def study_lines(
    section: Mapping[str, Any],
    model: str | None,
    width: int = DEFAULT_WIDTH,
    intervals: bool | None = None,
) -> list[str]:
    """The study's tables, each under its title, no line wider than ``width``; Wilson
    intervals of this run's shares where a table fits with them (``None``), always or never.
    A section from before the tables were per benchmark says how to recompute it."""
    if section.get("version") != STUDY_VERSION or "tables" not in section:
        return wrap(
            "This report's study section is from an older version (one pooled table); "
            "`lrmsafety report --profile r1-study REPORT.json` recomputes it from its probes.",
            width,
        )
    from .study_render import render_tables

    return render_tables(section, model, width, intervals)


def render_study(
    section: Mapping[str, Any],
    model: str | None,
    width: int = DEFAULT_WIDTH,
    intervals: bool | None = None,
) -> list[str]:
    """The terminal's study section: a title, then :func:`study_lines`."""
    title = (
        "R1 safety study profile (Zhou et al. 2025, arXiv:2502.12659): this run beside the "
        "published figures, table by table"
    )
    return ["", *wrap(title, width), *study_lines(section, model, width, intervals)]
