"""A fast yes/no check of plain data against the suite schema, so that a valid suite file never
pays for jsonschema (its import and its validation are ~0.14 s of a run that checks 1,000 cases
without a cache, as in CI on a fresh clone).

:func:`compile_check` turns the (``$ref``-inlined) schema into nested closures, one per schema
node, for the keywords the suite schema uses, with the semantics of JSON Schema draft 2020-12
as jsonschema implements them: ``1.0`` is an integer, ``True`` is neither an integer nor equal
to ``1``, ``pattern`` searches, a keyword applies only to the instance types it is about. A
schema that uses any other keyword is refused (:class:`Unsupported`) and the caller keeps
jsonschema for everything. The check only answers whether the data is valid; a file that fails
it is checked again by jsonschema, which finds and words the error (and has the last word).
"""

from __future__ import annotations

import itertools
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

# Keywords that say nothing about validity.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated"}
)


class Unsupported(ValueError):
    """The schema uses something this check does not implement."""


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "null": lambda value: value is None,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
}

_TRUE = object()
_FALSE = object()


def _unbool(value: Any) -> Any:
    """``True`` and ``False`` made unequal to ``1`` and ``0`` (JSON has no such equality)."""
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema means it (``enum``, ``const``, ``uniqueItems``): booleans are
    not numbers, sequences and mappings compare element by element."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and json_equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def all_unique(items: list[Any]) -> bool:
    """``uniqueItems``: no two elements equal in the sense of :func:`json_equal`."""
    if all(isinstance(item, str) for item in items):  # the common case: names, targets
        return len(set(items)) == len(items)
    try:
        ordered = sorted(_unbool(item) for item in items)
    except (TypeError, NotImplementedError):
        seen: list[Any] = []
        for item in items:
            item = _unbool(item)
            if any(json_equal(other, item) for other in seen):
                return False
            seen.append(item)
        return True
    return not any(json_equal(a, b) for a, b in itertools.pairwise(ordered))


def compile_check(schema: Any) -> Check:
    """A function telling whether data satisfies ``schema`` (its ``$ref`` already inlined).

    Raises:
        Unsupported: The schema uses a keyword (or a form of one) not implemented here.
    """
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise Unsupported(f"a schema must be an object or a boolean, not {schema!r}")
    checks: list[Check] = []
    for keyword, argument in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("properties", "additionalProperties"):
            continue  # the two object keywords are compiled together below
        maker = _KEYWORDS.get(keyword)
        if maker is None:
            raise Unsupported(f"keyword {keyword!r}")
        checks.append(maker(argument))
    if "properties" in schema or "additionalProperties" in schema:
        checks.append(
            _object_check(schema.get("properties", {}), schema.get("additionalProperties", True))
        )
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    every = tuple(checks)
    return lambda value: all(check(value) for check in every)


def _object_check(properties: Any, additional: Any) -> Check:
    if not isinstance(properties, dict):
        raise Unsupported("properties must be an object")
    known = {name: compile_check(sub) for name, sub in properties.items()}
    closed = additional is False
    extra: Check | None = None if additional is True or closed else compile_check(additional)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key, item in value.items():
            sub = known.get(key) if isinstance(key, str) else None
            if sub is not None:
                if not sub(item):
                    return False
            elif closed or (extra is not None and not extra(item)):
                return False
        return True

    return check


def _type(argument: Any) -> Check:
    names = [argument] if isinstance(argument, str) else argument
    if not isinstance(names, list) or not names or any(name not in _TYPES for name in names):
        raise Unsupported(f"type {argument!r}")
    tests = tuple(_TYPES[name] for name in names)
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _required(argument: Any) -> Check:
    if not isinstance(argument, list) or not all(isinstance(name, str) for name in argument):
        raise Unsupported(f"required {argument!r}")
    names = tuple(argument)
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


def _count(argument: Any, keyword: str) -> int:
    if not _is_integer(argument) or argument < 0:
        raise Unsupported(f"{keyword} {argument!r}")
    return int(argument)


def _min_length(argument: Any) -> Check:
    least = _count(argument, "minLength")
    return lambda value: not isinstance(value, str) or len(value) >= least


def _max_length(argument: Any) -> Check:
    most = _count(argument, "maxLength")
    return lambda value: not isinstance(value, str) or len(value) <= most


def _min_items(argument: Any) -> Check:
    least = _count(argument, "minItems")
    return lambda value: not isinstance(value, list) or len(value) >= least


def _min_properties(argument: Any) -> Check:
    least = _count(argument, "minProperties")
    return lambda value: not isinstance(value, dict) or len(value) >= least


def _bound(argument: Any, keyword: str) -> Any:
    if not _is_number(argument):
        raise Unsupported(f"{keyword} {argument!r}")
    return argument


def _minimum(argument: Any) -> Check:
    low = _bound(argument, "minimum")
    return lambda value: not _is_number(value) or not value < low


def _maximum(argument: Any) -> Check:
    high = _bound(argument, "maximum")
    return lambda value: not _is_number(value) or not value > high


def _exclusive_minimum(argument: Any) -> Check:
    low = _bound(argument, "exclusiveMinimum")
    return lambda value: not _is_number(value) or not value <= low


def _pattern(argument: Any) -> Check:
    if not isinstance(argument, str):
        raise Unsupported(f"pattern {argument!r}")
    search = re.compile(argument).search
    return lambda value: not isinstance(value, str) or search(value) is not None


def _enum(argument: Any) -> Check:
    if not isinstance(argument, list):
        raise Unsupported(f"enum {argument!r}")
    if all(isinstance(choice, str) for choice in argument):  # the common case
        choices = frozenset(argument)
        return lambda value: isinstance(value, str) and value in choices
    options = tuple(argument)
    return lambda value: any(json_equal(choice, value) for choice in options)


def _const(argument: Any) -> Check:
    return lambda value: json_equal(value, argument)


def _unique_items(argument: Any) -> Check:
    if not isinstance(argument, bool):
        raise Unsupported(f"uniqueItems {argument!r}")
    if not argument:
        return lambda value: True
    return lambda value: not isinstance(value, list) or all_unique(value)


def _items(argument: Any) -> Check:
    if isinstance(argument, list):  # the old tuple form: prefixItems in draft 2020-12
        raise Unsupported("items as a list")
    each = compile_check(argument)
    return lambda value: not isinstance(value, list) or all(each(item) for item in value)


def _not(argument: Any) -> Check:
    inner = compile_check(argument)
    return lambda value: not inner(value)


def _any_of(argument: Any) -> Check:
    if not isinstance(argument, list) or not argument:
        raise Unsupported(f"anyOf {argument!r}")
    branches = tuple(compile_check(sub) for sub in argument)
    return lambda value: any(branch(value) for branch in branches)


def _one_of(argument: Any) -> Check:
    if not isinstance(argument, list) or not argument:
        raise Unsupported(f"oneOf {argument!r}")
    branches = tuple(compile_check(sub) for sub in argument)
    return lambda value: sum(1 for branch in branches if branch(value)) == 1


_KEYWORDS: dict[str, Callable[[Any], Check]] = {
    "type": _type,
    "required": _required,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minItems": _min_items,
    "minProperties": _min_properties,
    "minimum": _minimum,
    "maximum": _maximum,
    "exclusiveMinimum": _exclusive_minimum,
    "pattern": _pattern,
    "enum": _enum,
    "const": _const,
    "uniqueItems": _unique_items,
    "items": _items,
    "not": _not,
    "anyOf": _any_of,
    "oneOf": _one_of,
}
