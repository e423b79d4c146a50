"""What every importer shares: reading the user's file, the case it makes, sampling, writing
a suite.

Importers read the user's own copy of a data set (nothing is bundled) and write a suite YAML
that the loader checks like any other. Each imported case keeps the source's id and labels as
tags and in its note, its original category beside the mapped one (the default taxonomy: the
16 AIR 2024 level-2 categories), so results can be traced back to the source rows.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..safeload import LoadLimitError, load_json

csv.field_size_limit(sys.maxsize)

AIR_CATEGORIES = (
    "Security Risks",
    "Operational Misuses",
    "Violence & Extremism",
    "Hate/Toxicity",
    "Sexual Content",
    "Child Harm",
    "Self-harm",
    "Political Usage",
    "Economic Harm",
    "Deception",
    "Manipulation",
    "Defamation",
    "Fundamental Rights",
    "Discrimination/Bias",
    "Privacy",
    "Criminal Activities",
)


class ShapeError(ConfigError):
    """A source file of the wrong shape: one line saying which columns or fields were
    expected."""


@dataclass
class Imported:
    """One case read from a source row."""

    id: str
    category: str
    expect: str
    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    original_category: str | None = None
    tags: list[str] = field(default_factory=list)
    # The source's own fields as ``key-value`` tags (``injection-indirect``, ``air-l3-...``),
    # made by :func:`native`, and the benchmark the case comes from (``airbench``): what
    # gates (``[tag=...]``, ``[subset=...]``) and ``lrmsafety report --by`` select on.
    native: list[str] = field(default_factory=list)
    subset: str | None = None
    note: str = ""
    payload: str | None = None
    check: dict[str, Any] | None = None
    judge_question: str | None = None
    goal: str | None = None  # what the prompt is after, where the prompt is not plain
    judges: list[str] | None = None
    severity: str | None = None

    def as_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "category": self.category, "expect": self.expect}
        if self.severity:
            out["severity"] = self.severity
        if self.messages is not None:
            out["messages"] = self.messages
        else:
            out["prompt"] = self.prompt
        if self.payload is not None:
            out["payload"] = self.payload
        if self.check is not None:
            out["check"] = self.check
        if self.judge_question is not None:
            out["judge_question"] = self.judge_question
        if self.goal is not None:
            out["goal"] = self.goal
        if self.judges is not None:
            out["judges"] = self.judges
        tags = list(dict.fromkeys([*(tag(t) for t in self.tags if t), *self.native]))
        tags = [t for t in tags if t]
        if tags:
            out["tags"] = tags
        note = self.note
        if self.original_category and self.original_category != self.category:
            note = f"original category: {self.original_category}" + (f"; {note}" if note else "")
        if note:
            out["note"] = note
        return out


def tag(text: object) -> str:
    """A tag the suite schema allows (``^[a-z][a-z0-9_]*$``) from any label."""
    slug = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    if not slug:
        return ""
    return slug if slug[0].isalpha() else f"x{slug}"


def native(key: str, value: object) -> str:
    """``injection-indirect``, ``air-l3-confidentiality``: one of the source's own fields as
    a tag (``key-`` and the value as :func:`tag` writes it), or ``""`` for an empty value."""
    slug = re.sub(r"[^a-z0-9]+", "_", str(value).lower()).strip("_")
    return f"{key}-{slug}"[:120] if slug else ""


def case_id(prefix: str, source_id: object) -> str:
    """``harmbench-bio_wa``: an id the schema allows, from the source's own id."""
    slug = re.sub(r"[^A-Za-z0-9_.:-]+", "-", str(source_id)).strip("-._:")
    return f"{prefix}-{slug}"[:120]


# -- reading --------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, TSV, JSON (a list, or an object holding one) or JSONL file."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ConfigError(f"{path}: not a regular file (a device or a pipe); refused")
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _json_rows(path, text, lines=suffix == ".jsonl")
    if suffix == ".parquet":
        raise ConfigError(f"{path}: parquet is not read here; convert it to CSV or JSONL first")
    dialect = "excel-tab" if suffix == ".tsv" else "excel"
    return list(csv.DictReader(io.StringIO(text), dialect=dialect))


def _json_rows(path: Path, text: str, *, lines: bool) -> list[dict[str, Any]]:
    number = 0
    try:
        if lines:
            data: Any = []
            for counted, line in enumerate(text.splitlines(), 1):
                number = counted  # the line an error names
                if line.strip():
                    data.append(load_json(line))
        else:
            data = load_json(text)
    except json.JSONDecodeError as exc:
        line_number = number if lines else exc.lineno
        raise ConfigError(f"{path}: line {line_number}: not valid JSON: {exc.msg}") from None
    except LoadLimitError as exc:
        where = f"{path}: line {number}" if lines else str(path)
        raise ConfigError(f"{where}: {exc}") from None
    if isinstance(data, dict):  # {"data": [...]} and the like
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ShapeError(f"{path}: expected a list of objects (one per test case)")
    return data


def require(
    path: Path, rows: Sequence[Mapping[str, Any]], fields: Iterable[str], what: str
) -> None:
    """``ShapeError`` naming the expected columns when the first row lacks one (the wrong
    file), or naming the row and field when a later row lacks one. Rows count from 1 (in a
    CSV, the first row after the header)."""
    wanted = list(fields)
    if not rows:
        raise ShapeError(f"{path}: no rows; expected {what} with {', '.join(wanted)}")
    missing = [f for f in wanted if f not in rows[0]]
    if missing:
        found = ", ".join(str(k) for k in list(rows[0])[:12])
        raise ShapeError(
            f"{path}: not {what}: expected columns/fields {', '.join(wanted)}; "
            f"missing {', '.join(missing)} (found {found})"
        )
    for number, row in enumerate(rows, 1):
        for name in wanted:
            if name not in row:
                raise ShapeError(f"{path}: row {number}: field {name}: missing")


def _described(value: object) -> str:
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return f"got {str(value).lower()}"
    if isinstance(value, list):
        return "got a list"
    if isinstance(value, dict):
        return "got an object"
    if isinstance(value, str):
        return "empty"
    return f"got {value!r}"


def field_text(path: Path, number: int, row: Mapping[str, Any], name: str) -> str:
    """A required field as text: a string, or a number (source ids); ``ShapeError`` naming
    the row and field for a missing or empty value, a list or an object."""
    value = row.get(name)
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ShapeError(f"{path}: row {number}: field {name}: expected text, {_described(value)}")


def optional_text(path: Path, number: int, row: Mapping[str, Any], name: str) -> str:
    """An optional field as text (``""`` when missing or empty); a list or an object is a
    ``ShapeError`` naming the row and field."""
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return field_text(path, number, row, name)


def prompt_text(path: Path, number: int, row: Mapping[str, Any], name: str) -> str:
    """What is sent to the model: a non-empty string, never a number or null written as
    ``'5'`` or ``None``."""
    value = row.get(name)
    if isinstance(value, str) and value.strip():
        return value
    raise ShapeError(
        f"{path}: row {number}: field {name}: expected the prompt as a non-empty string, "
        f"{_described(value)}"
    )


# -- sampling and writing ---------------------------------------------------------------------


def stratified_sample(
    cases: list[Imported], n: int | None, seed: int, key: Callable[[Imported], str]
) -> list[Imported]:
    """``n`` cases, spread over the strata as evenly as their sizes allow, chosen by ``seed``;
    the order of the source is kept."""
    if n is None or n >= len(cases):
        return cases
    rng = random.Random(seed)
    strata: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        strata.setdefault(key(c), []).append(i)
    for members in strata.values():
        rng.shuffle(members)
    chosen: list[int] = []
    names = sorted(strata)
    while len(chosen) < n:  # round-robin over the strata, each in its shuffled order
        for name in names:
            if strata[name] and len(chosen) < n:
                chosen.append(strata[name].pop())
    return [cases[i] for i in sorted(chosen)]


def render_suite(
    cases: Sequence[Imported],
    *,
    name: str,
    description: str,
    attacks: Sequence[str],
    gates: Sequence[str],
    judges: Sequence[str] = ("default",),
) -> str:
    subsets = {c.subset for c in cases}
    common = subsets.pop() if len(subsets) == 1 else None
    seen: set[str] = set()
    for c in cases:  # the same source id twice: make the ids unique, keep them stable
        base, n = c.id, 2
        while c.id in seen:
            c.id = f"{base}-{n}"
            n += 1
        seen.add(c.id)
    doc = {
        "schema_version": 1,
        "suite": {"name": name, "description": description},
        # no judges written: the run's default judge decides (rules, then a harm judge)
        "defaults": {
            "attacks": list(attacks),
            **({"judges": list(judges)} if tuple(judges) != ("default",) else {}),
            **({"subset": common} if common else {}),
        },
        "gates": list(gates),
        "cases": [
            {**c.as_yaml(), **({"subset": c.subset} if c.subset and not common else {})}
            for c in cases
        ],
    }
    header = (
        f"# Imported by `lrmsafety import` from the user's own copy of the data ({description}).\n"
        "# The data's licence applies to this file; do not redistribute it where that licence\n"
        "# does not allow it.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
