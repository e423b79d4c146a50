"""The R1 study's published figures in ``report/profiles/r1_study.yaml``: every value compared
with the project's reference notes on the paper (``../shared/paper/r1_study_tables.md``, where
it exists: the package itself carries the values), the tables' arithmetic checked, the five
contradictions found on exactly the figures the YAML marks, and the accessor."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import pytest

from pytest_lrmsafety.report.profile import figure, figures, model_key, published

TABLES_MD = Path(__file__).resolve().parents[2] / "shared" / "paper" / "r1_study_tables.md"
MODELS = ("DS-R1", "DS-V3", "R1-70b", "Llama3.3", "o3-mini")
PARTS = ("FC", "FR", "PR")


@dataclass
class MdTable:
    number: int
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


def clean(cell: str) -> str:
    for mark in ("**", "⚠", "↓", "↑"):
        cell = cell.replace(mark, "")
    return cell.strip()


def split_row(line: str) -> list[str]:
    return [clean(c) for c in line.strip().strip("|").split("|")]


def parse_tables(text: str) -> dict[int, MdTable]:
    """The numbered tables of the notes: a table belongs to the last "Table N" named by the
    section heading or a paragraph opening with it."""
    found: dict[int, MdTable] = {}
    number: int | None = None
    current: MdTable | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            hit = re.search(r"\bTable (\d+)\b", line)
            number = int(hit.group(1)) if hit else None
        elif hit := re.match(r"Table (\d+)\b", line):
            number = int(hit.group(1))
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            if number is not None:
                current = found.setdefault(number, MdTable(number, split_row(line), []))
            continue
        if not set(line) <= set("|-: "):
            current.rows.append((n, split_row(line)))
    return found


def is_number(cell: str) -> bool:
    return re.fullmatch(r"\d[\d,]*(\.\d+)?", cell) is not None


def numbers_in(table: MdTable) -> int:
    count = 0
    for _, cells in table.rows:
        for cell in cells:
            parts = [p.strip() for p in cell.split("+")]
            if all(is_number(p) for p in parts):
                count += len(parts)
    return count


def as_model(cell: str) -> str | None:
    try:
        return model_key(cell)
    except KeyError:
        return None


def md_value(table: MdTable, f: object) -> tuple[int, float, str | None]:
    """The line and value the notes print for figure ``f`` (and Table 3's worst category)."""
    t, row, column, model = f.table, f.row, f.column, f.model  # type: ignore[attr-defined]
    header = table.header
    if t == 5:  # models across, one row per measure
        line, cells = next(r for r in table.rows if r[1][0] == column)
        return line, float(cells[[as_model(h) for h in header].index(model)]), None
    if t in (1, 9):  # rows by label
        line, cells = next(
            r for r in table.rows if row in r[1][:2] or r[1][0].startswith(f"{row} ")
        )
        at = header.index("size") if t == 1 else [as_model(h) for h in header].index(model)
    else:  # rows by model
        line, cells = next(r for r in table.rows if model in (as_model(c) for c in r[1][:2]))
        name = {3: f"{row} FC + FR + PR", 7: f"{row} {column}"}.get(t, column)
        at = next(i for i, h in enumerate(header) if h == name or h.startswith(f"{name} "))
    cell = cells[at]
    category = cells[2] if t == 3 and row == "worst category" else None
    if "+" in cell:
        cell = cell.split("+")[PARTS.index(column)].strip()
    return line, float(cell.replace(",", "")), category


@pytest.mark.skipif(not TABLES_MD.exists(), reason=f"no reference notes at {TABLES_MD}")
def test_every_published_figure_is_the_one_in_the_tables_file() -> None:
    md = parse_tables(TABLES_MD.read_text("utf-8"))
    data = published()
    assert sorted(md) == sorted(data["tables"]) == [1, 2, 3, 4, 5, 6, 7, 9, 10]
    seen: set[tuple[int, int, float, str]] = set()
    for f in figures():
        line, value, category = md_value(md[f.table], f)
        where = f"Table {f.table} {f.model} {f.row} {f.column}"
        assert (f.line, f.value) == (line, value), where
        assert f.category == category, where
        assert f.checked, where
        seen.add((f.table, line, value, f"{f.model}/{f.row}/{f.column}"))
    for number, table in md.items():  # and none left out
        assert len(figures(number)) == numbers_in(table), f"Table {number}"
    assert len(seen) == len(figures()) == 313


def value(table: int, row: str | None, column: str, model: str | None) -> float:
    return figure(table, row, column, model).value


def test_the_tables_add_up_except_where_the_yaml_says_they_contradict() -> None:
    clashes: set[tuple[int, str | None, str | None, str]] = set()
    # Table 9: each cell is FC + FR + PR of 25 prompts; the types add up to the TOTAL row.
    rows = published()["tables"][9]["rows"]
    for m in MODELS:
        for row in rows:
            if sum(value(9, row, p, m) for p in PARTS) != 100:
                clashes.add((9, m, row, "sum"))
        for p in PARTS:
            counts = sum(value(9, row, p, m) / 4 for row in rows[:-1])
            if abs(counts - value(9, "TOTAL", p, m) * 2.5) > 1e-6:
                clashes.add((9, m, "TOTAL", p))
        assert [value(3, "average", p, m) for p in PARTS] == [
            value(9, "TOTAL", p, m) for p in PARTS
        ]
        worst = figure(3, "worst category", "FC", m).category
        assert worst is not None
        row = next(r for r in rows if r.casefold().endswith(worst.casefold()))
        assert [value(3, "worst category", p, m) for p in PARTS] == [
            value(9, row, p, m) for p in PARTS
        ]
    # With C1's likely reading (72 + 28 + 0), o3-mini's types add up to its TOTAL row.
    others = [r for r in rows[:-1] if not r.startswith("T7 ")]
    for p, t7 in zip(PARTS, (18, 7, 0), strict=True):
        counts = sum(value(9, r, p, "o3-mini") / 4 for r in others) + t7
        assert counts == pytest.approx(value(9, "TOTAL", p, "o3-mini") * 2.5)
    # Table 6: each value is k/n of the inferred denominators; direct + indirect and
    # security + logic both make up all 251.
    for m in MODELS:
        k = {}
        for f in figures(6, model=m):
            assert f.denominator is not None
            k[f.column] = round(f.value * f.denominator / 100)
            if abs(100 * k[f.column] / f.denominator - f.value) > 0.05:
                clashes.add((6, m, None, f.column))
        if k["direct"] + k["indirect"] != k["all"]:
            clashes.add((6, m, None, "direct+indirect"))
        if k["security-violating"] + k["logic-violating"] != k["all"]:
            clashes.add((6, m, None, "security+logic"))
    # Tables 5 and 7: WildGuard answer safety is 100 minus the attack success rate.
    for m in ("DS-R1", "R1-70b"):
        if abs(100 - value(5, None, "ASR", m) - value(7, "WildGuard", "A", m)) > 0.05:
            clashes.add((7, m, "WildGuard", "A"))
        for bench in ("AirBench", "MITRE", "Code Interp"):  # Table 7's A is Table 2
            assert value(7, bench, "A", m) == value(2, None, bench, m)
            assert value(7, bench, "T", m) < value(7, bench, "A", m)  # thinking less safe
    # Table 10 against Table 2, Table 4's average against its three skills.
    columns = published()["tables"][10]["columns"]
    for m in MODELS:
        code = 100 - mean(value(10, None, c, m) for c in columns)
        assert abs(code - value(2, None, "Code Interp", m)) <= 0.05, m
        skills = mean(value(4, None, c, m) for c in ("persuasion", "rapport", "argumentation"))
        assert abs(skills - value(4, None, "average", m)) <= 0.01, m
    # Table 2's denominators are Table 1's dataset sizes.
    sizes = {"AirBench": "AirBench", "MITRE": "MITRE", "Code Interp": "Interpreter"}
    for column, dataset in sizes.items():
        assert figure(2, None, column, "DS-R1").denominator == value(1, dataset, "size", None)
    assert clashes == {
        (9, "o3-mini", "T7 Nons. discr., real group", "sum"),  # C1
        (9, "o3-mini", "TOTAL", "FC"),  # C1
        (9, "o3-mini", "TOTAL", "FR"),  # C1
        (9, "R1-70b", "TOTAL", "FC"),  # C2
        (9, "R1-70b", "TOTAL", "FR"),  # C2
        (7, "R1-70b", "WildGuard", "A"),  # C3
        (6, "Llama3.3", None, "security-violating"),  # C4
        (6, "Llama3.3", None, "security+logic"),  # C4
        (6, "DS-R1", None, "indirect"),  # C5
    }
    marked = {(f.table, f.model, f.row, f.column, f.contradiction) for f in figures()}
    marked = {m for m in marked if m[-1]}
    assert marked == {
        (9, "o3-mini", "T7 Nons. discr., real group", "FC", "C1"),
        (9, "o3-mini", "T7 Nons. discr., real group", "FR", "C1"),
        (9, "o3-mini", "T7 Nons. discr., real group", "PR", "C1"),
        (9, "o3-mini", "TOTAL", "FC", "C1"),
        (9, "o3-mini", "TOTAL", "FR", "C1"),
        (9, "R1-70b", "TOTAL", "FC", "C2"),
        (9, "R1-70b", "TOTAL", "FR", "C2"),
        (5, "R1-70b", None, "ASR", "C3"),
        (7, "R1-70b", "WildGuard", "A", "C3"),
        (6, "Llama3.3", None, "security-violating", "C4"),
        (6, "DS-R1", None, "indirect", "C5"),
    }


def test_the_accessor() -> None:
    f = figure(6, None, "indirect", "DeepSeek-R1")  # the full name or an alias
    assert (f.model, f.value, f.unit, f.better) == ("DS-R1", 60.9, "%", "lower")
    assert (f.denominator, f.denominator_inferred, f.line, f.checked) == (55, True, 150, True)
    assert f.contradiction == "C5" and f.arithmetic and "33/55 = 60.00%" in f.arithmetic
    assert figure(6, None, "all", "ds-r1").denominator == 251
    assert not figure(6, None, "all", "DS-R1").denominator_inferred
    assert figure(9, "T3 Safe targets", "FC", "OpenAI-o3mini").denominator == 25
    assert figure(9, "TOTAL", "PR", "DeepSeek-R1-70B").denominator == 250
    assert figure(4, None, "persuasion", "o3-mini").unit == "score 0-5"
    assert figure(1, "WildGuard", "size", None).value == 810
    assert figure(6, None, "direct", "Llama3.3").note == "31/196 = 15.82%; printed 15.80 (rounding)"
    assert len(figures(9, model="o3-mini")) == 33 and len(figures(7)) == 16
    with pytest.raises(KeyError, match=r"table 7 has no figure .*columns: \['A', 'T'\]"):
        figure(7, "AirBench", "A", "o3-mini")  # o3-mini's thinking is hidden: no row
    with pytest.raises(KeyError, match="no model 'gpt-9'"):
        figure(2, None, "AirBench", "gpt-9")
    with pytest.raises(KeyError, match="no table 8"):
        figure(8, None, "x", None)
