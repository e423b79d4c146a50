"""The quick schema check (``cases/quickcheck.py``) says exactly what jsonschema says about a
suite's data: it decides alone for a valid file, so a wrong "valid" would let a bad suite run.

Compared on every suite file the package ships and on the bad suites of ``tests/bad_inputs``,
on generated documents (drawn from the schema itself, with any field swapped for JSON of the
wrong kind), and on the corners of JSON Schema's semantics (``1.0`` is an integer, ``True`` is
not ``1``, ``pattern`` searches).
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest_lrmsafety
from pytest_lrmsafety.cases import loader
from pytest_lrmsafety.cases.quickcheck import Unsupported, all_unique, compile_check, json_equal
from pytest_lrmsafety.errors import SuiteError
from pytest_lrmsafety.safeload import load_yaml

FLAT = loader._flat_schema()
QUICK = compile_check(FLAT)
FULL = jsonschema.Draft202012Validator(FLAT)
PACKAGE = Path(pytest_lrmsafety.__file__).parent
BAD_SUITES = Path(__file__).parent / "bad_inputs" / "suite"


def agree(data: Any) -> bool:
    quick = QUICK(data)
    assert quick == FULL.is_valid(data), data
    return quick


def yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml"))


def loadable(paths: list[Path]) -> list[Path]:
    """The files that are YAML within the loader's limits (the others never reach a check)."""
    kept = []
    for path in paths:
        try:
            load_yaml(path.read_text("utf-8"))
        except Exception:
            continue
        kept.append(path)
    return kept


@pytest.mark.parametrize(
    "path",
    loadable(yaml_files(PACKAGE / "suites") + yaml_files(BAD_SUITES)),
    ids=lambda p: str(p.relative_to(p.parents[1])),
)
def test_every_shipped_and_every_bad_suite_gets_jsonschemas_answer(path: Path) -> None:
    agree(load_yaml(path.read_text("utf-8")))


def test_the_shipped_suites_are_valid() -> None:
    shipped = yaml_files(PACKAGE / "suites")
    assert shipped
    assert all(QUICK(load_yaml(p.read_text("utf-8"))) for p in shipped)


# --- generated documents ---------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, 1.5, -0.5, 2.5, math.inf, 1e6]),
    st.sampled_from(["", "x", "Refuse", "refuse", "answer", "a b", "A1", "default"]),
    st.lists(st.sampled_from(["answer", "answer", "x", 1, True]), max_size=3),
    st.dictionaries(st.sampled_from(["x", "prompt", "role", "content"]), st.just("y"), max_size=2),
)


def valid_for(node: Any) -> st.SearchStrategy[Any]:
    """Data that satisfies the schema node (a case gets exactly one of prompt and messages)."""
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "const" in node:
        return st.just(node["const"])
    if "anyOf" in node:
        return st.one_of([valid_for(sub) for sub in node["anyOf"]])
    kind = node.get("type")
    if kind == "string":
        if "pattern" in node:
            most = node.get("maxLength", 20)
            return st.from_regex(node["pattern"], fullmatch=True).filter(lambda s: len(s) <= most)
        return st.text(min_size=node.get("minLength", 0), max_size=8)
    if kind == "integer":
        low, high = node.get("minimum", -5), node.get("maximum", 1005)
        whole = st.integers(low, min(high, low + 1005))
        return st.one_of(whole, whole.map(float))  # 3.0 is an integer too
    if kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum", -1.0))
        floats = st.floats(low, node.get("maximum", 2), allow_nan=False)
        return floats.filter(lambda x: x > low) if "exclusiveMinimum" in node else floats
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = valid_for(node.get("items", {}))
        low = node.get("minItems", 0)
        unique = repr if node.get("uniqueItems") else None
        return st.lists(items, min_size=low, max_size=low + 2, unique_by=unique)
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        either = {"prompt", "messages"} & set(properties) if "oneOf" in node else set()
        optional = {n: valid_for(sub) for n, sub in properties.items() if n not in required}
        fixed = {n: valid_for(properties.get(n, {})) for n in required}
        shapes = [
            st.fixed_dictionaries(
                {**fixed, one: optional[one]},
                optional={n: v for n, v in optional.items() if n not in either},
            )
            for one in sorted(either)
        ] or [st.fixed_dictionaries(fixed, optional=optional)]
        least = node.get("minProperties", 0)
        return st.one_of(shapes).filter(lambda d: len(d) >= least)
    return JUNK


def paths(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the data (the root included)."""
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*here, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*here, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, node: Any) -> Any:
    """A valid document, or one with one to three places changed: a value swapped for JSON
    of another kind, a key dropped, an unknown key added, a list emptied."""
    data = draw(valid_for(node))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        where = draw(st.sampled_from(paths(data)))
        if not where:
            continue
        parent = data
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        how = draw(st.sampled_from(["swap", "swap", "drop", "add", "empty"]))
        if how == "swap":
            parent[last] = draw(JUNK)
        elif how == "drop" and isinstance(parent, dict):
            del parent[last]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "prompt", "messages", "id"]))] = draw(JUNK)
        elif how == "empty" and isinstance(parent[last], list | dict | str):
            parent[last] = type(parent[last])()
    return data


@settings(max_examples=150, deadline=None, database=None)
@given(mutated(FLAT))
def test_generated_documents_get_jsonschemas_answer(data: Any) -> None:
    agree(data)


# --- the corners ----------------------------------------------------------------------


def suite(**case: Any) -> dict[str, Any]:
    return {"cases": [{"id": "a-1", "prompt": "p", **case}]}


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        (suite(), True),
        ({"schema_version": 1, **suite()}, True),
        ({"schema_version": 1.0, **suite()}, True),  # JSON has one kind of number
        ({"schema_version": True, **suite()}, False),  # true is not 1
        (suite(samples=2.0), True),  # an integer, as JSON Schema counts
        (suite(samples=2.5), False),
        (suite(samples=True), False),
        (suite(budgets=[1, 1.0]), False),  # not unique: 1 and 1.0 are equal
        (suite(budgets=[0, 1]), True),
        (suite(fail_on=["answer", "answer"]), False),
        (suite(sampling={"top_p": 0}), False),  # exclusiveMinimum
        (suite(sampling={"top_p": 1}), True),
        (suite(sampling={"temperature": math.nan}), True),  # NaN is not below the minimum
        (suite(id="a\n"), True),  # `$` matches before a final newline (re.search)
        (suite(messages=[{"role": "user", "content": "x"}]), False),  # prompt and messages
        ({"cases": [{"id": "a-1", "messages": [{"role": "user", "content": "x"}]}]}, True),
        ({"cases": [{"id": "a-1"}]}, False),  # neither
        ({"cases": []}, False),
        ({"cases": [{"id": "a-1", "prompt": "p", 1: "x"}]}, False),  # a key that is not text
        (suite(tags=("a",)), False),  # a tuple (a YAML !!omap) is not a JSON array
        (suite(note=datetime.date(2024, 1, 1)), False),  # an unquoted date is not text
        (suite(payload=b"x"), False),
        ({"suite": {"name": "x"}, **suite()}, True),
        ({"suite": {}, **suite()}, True),
        ({"suite": "", **suite()}, False),
        ([], False),
        (None, False),
    ],
)
def test_corners_of_json_schema(data: Any, valid: bool) -> None:
    assert agree(data) is valid


def test_json_equality_keeps_booleans_apart_from_numbers() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal([True], [1])
    assert json_equal({"a": [1]}, {"a": [1.0]})
    assert not json_equal({"a": 1}, {"b": 1})
    assert all_unique([True, 1, False, 0])
    assert not all_unique([[1], [1.0]])  # not sortable against each other: compared pairwise
    assert all_unique(["a", 1, None])


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {"^x": {}}},
        {"items": [{"type": "string"}]},
        {"$ref": "#/$defs/case"},
        {"type": "thing"},
        {"format": "date"},
    ],
)
def test_a_schema_it_does_not_implement_is_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        compile_check(schema)


def test_without_the_quick_check_jsonschema_checks_every_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(loader, "_quick_check", lambda: None)
    path = tmp_path / "s.yaml"
    head = "defaults: {category: Privacy, expect: refuse}\ncases:\n  - id: a-1\n    prompt: p\n"
    path.write_text(head + "    sevrity: high\n")
    with pytest.raises(SuiteError, match="unknown key 'sevrity'"):
        loader.load_suite(path, "s.yaml", attacks={"direct"}, judges={"default"})
    path.write_text(head)
    assert loader.load_suite(path, "s.yaml", attacks={"direct"}, judges={"default"}).cases


@pytest.mark.parametrize(
    ("schema", "instances"),
    [
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [1, 1.5, 1.0, "x", True]),
        ({"anyOf": [{"minLength": 2}, {"type": "integer"}]}, ["a", "ab", 3, 3.5, None]),
        ({"not": {"type": ["string", "null"]}}, ["a", None, 0, []]),
        ({"enum": [1, "a", None, [1]]}, [1, 1.0, True, "a", None, [1.0], [True], 2]),
        ({"const": {"a": [1]}}, [{"a": [1.0]}, {"a": [True]}, {"a": [1], "b": 2}]),
        ({"additionalProperties": {"type": "integer"}}, [{"a": 1}, {"a": "x"}, {1: 2}, [1]]),
        (
            {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
            [{"a": 1}, {"b": "x"}, {}, "s"],
        ),
        ({"maximum": 2, "minimum": 1}, [0, 1, 2.0, 2.5, True, "3"]),
        ({"uniqueItems": True}, [[1, True], [0, False], [1, 1.0], [[1], [1.0]], ["a", "a"]]),
    ],
)
def test_each_keyword_as_jsonschema_reads_it(schema: dict[str, Any], instances: list[Any]) -> None:
    quick = compile_check(schema)
    full = jsonschema.Draft202012Validator(schema)
    assert [quick(x) for x in instances] == [full.is_valid(x) for x in instances]
