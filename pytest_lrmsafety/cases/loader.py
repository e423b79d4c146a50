"""Reading suite files: YAML with line numbers, schema validation, defaults, semantic checks."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import yaml

from ..errors import SuiteError
from ..gates import Gate, GateSyntaxError, parse_gate
from ..safeload import (
    MAX_DEPTH,
    LoadLimitError,
    catastrophic,
    compose_yaml,
    has_surrogate,
    read_text,
    scalar,
)
from .model import Case, Check, Suite, Target
from .quickcheck import Check as QuickCheck
from .quickcheck import Unsupported, compile_check

if TYPE_CHECKING:
    import jsonschema

Path_ = tuple[str | int, ...]


@cache
def suite_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every suite file must satisfy."""
    text = resources.files(__package__).joinpath("schema/suite.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every local ``$ref`` replaced by its target (the schema has no cycles)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {**_inline_refs(defs[ref.removeprefix("#/$defs/")], defs), **rest}
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


@cache
def _flat_schema() -> dict[str, Any]:
    """The schema with its references inlined (what both checks below read)."""
    schema = suite_schema()
    flat: dict[str, Any] = _inline_refs(
        {k: v for k, v in schema.items() if k != "$defs"}, schema["$defs"]
    )
    return flat


@cache
def _schema_digest() -> str:
    text = resources.files(__package__).joinpath("schema/suite.schema.json").read_bytes()
    return hashlib.sha256(text).hexdigest()


class SchemaChecked(Protocol):
    """Suite files known to pass the schema, by :func:`suite_digest` (the run's cache)."""

    def suite_checked(self, digest: str) -> bool: ...

    def note_suite_checked(self, digest: str) -> None: ...


def suite_digest(text: str) -> str:
    """What a schema check's result depends on: the file's text and the schema's."""
    data = f"{_schema_digest()}\n{text}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


@cache
def _suite_validator() -> jsonschema.Draft202012Validator:
    """A validator of the schema with its references inlined: resolving ``$ref`` for every
    case of a 25,000-case suite costs about as much as the rest of the validation.
    (jsonschema is imported here, on the first check: a rerun whose suites the cache knows
    to be valid never pays its import.)"""
    import jsonschema

    return jsonschema.Draft202012Validator(_flat_schema())


def _field_name(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


@dataclass
class _Document:
    data: Any
    lines: dict[Path_, int]
    path: str
    file: Path | None = None  # the file itself (``path`` is how messages show it)
    text: str = ""  # as read

    def line(self, path: Path_) -> int:
        """The line of the deepest known node on ``path``."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, path: Path_, message: str) -> SuiteError:
        return SuiteError(self.path, self.line(path), _field_name(path), message)


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int], doc_path: str) -> Any:
    """Builds plain data from a YAML node, noting each node's line and refusing duplicate keys
    and nesting deeper than :data:`~pytest_lrmsafety.safeload.MAX_DEPTH`."""
    lines[path] = node.start_mark.line + 1
    if len(path) > MAX_DEPTH:
        raise SuiteError(doc_path, lines[path], None, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                raise SuiteError(doc_path, line, None, "a key must be text, not a list or mapping")
            key = str(key_node.value)
            child = (*path, key)
            if key in out:
                raise SuiteError(
                    doc_path, key_node.start_mark.line + 1, _field_name(child), "duplicate key"
                )
            out[key] = _convert(value_node, child, lines, doc_path)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines, doc_path) for i, item in enumerate(node.value)]
    try:
        value = scalar(node)
    except yaml.YAMLError as exc:  # a tag no safe loader knows (``!secret x``)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(
            doc_path, lines[path], _field_name(path), f"invalid YAML: {problem}"
        ) from None
    except LoadLimitError as exc:
        raise SuiteError(doc_path, lines[path], _field_name(path), str(exc)) from None
    if isinstance(value, str) and has_surrogate(value):
        where = _field_name(path)
        raise SuiteError(
            doc_path,
            lines[path],
            where,
            "holds a lone surrogate (a \\ud800-\\udfff escape), which "
            "is not text: no request or report can carry it",
        )
    return value


def read_document(
    path: Path, display: str, needs: str = "a suite needs a 'cases' list"
) -> _Document:
    """Parses a YAML file into data plus a line for every key and item (``needs``: what an
    empty file lacks, in the error)."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(display, None, None, f"cannot read: {exc}") from None
    except LoadLimitError as exc:
        raise SuiteError(display, None, None, str(exc)) from None
    try:
        node = compose_yaml(text)
    except LoadLimitError as exc:
        raise SuiteError(display, exc.line, None, str(exc)) from None
    except yaml.reader.ReaderError as exc:  # a control character: one line, with its line
        line = text.count("\n", 0, exc.position) + 1
        raise SuiteError(
            display,
            line,
            None,
            f"invalid YAML: control character #x{exc.character:04x} "
            "is not allowed; write it as an escape in double quotes",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and (not mark or start.line != mark.line):
            problem += f" ({context} at line {start.line + 1})"
        raise SuiteError(
            display, mark.line + 1 if mark else None, None, f"invalid YAML: {problem}"
        ) from None
    if node is None or node.tag == "tag:yaml.org,2002:null":  # nothing, or only "---"
        raise SuiteError(display, 1, None, f"the file is empty; {needs}")
    lines: dict[Path_, int] = {}
    return _Document(_convert(node, (), lines, display), lines, display, path, text)


# Judges that answer a resist case's judge_question (the llm judge's injection rubric, or
# CyberSecEval's judge-question protocol directly or through ``benchmark``).
QUESTION_JUDGES = ("llm", "cse_question", "benchmark")
_KINDS = {"string": "a string", "array": "a list", "integer": "a whole number"}


def _kind(branch: Any) -> str:
    """One branch of an ``anyOf``, in a YAML writer's words: ``a mapping of name, ...``."""
    kind = branch.get("type") if isinstance(branch, dict) else None
    if kind == "object":
        return f"a mapping of {', '.join(sorted(branch.get('properties', {})))}"
    return _KINDS.get(str(kind), f"a {kind}")


def _schema_message(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        keys = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(keys)) if isinstance(error.instance, dict) else []
        return f"unknown key {', '.join(map(repr, extra))}; allowed: {', '.join(keys)}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        choices = ", ".join(map(str, error.validator_value))
        return f"{error.instance!r} is not allowed; use one of {choices}"
    if error.validator == "anyOf" and isinstance(error.validator_value, list):
        kinds = " or ".join(_kind(branch) for branch in error.validator_value)
        return f"{error.instance!r} is not allowed here; give {kinds}"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        return "give exactly one of 'prompt' or 'messages'"
    if error.validator == "pattern" and isinstance(error.instance, str):
        return f"{error.instance!r} is not a valid name (pattern {error.validator_value})"
    return error.message


@cache
def _quick_check() -> QuickCheck | None:
    """The schema as a fast yes/no check (:mod:`.quickcheck`); ``None`` if it cannot be."""
    try:
        return compile_check(_flat_schema())
    except Unsupported:  # a keyword the quick check lacks: jsonschema checks every file
        return None


def validate_document(doc: _Document) -> None:
    """Checks the data against the suite schema; the first error (in file order) is raised.

    A file that passes the quick check is valid (the common case: jsonschema is not even
    imported); any other is checked by jsonschema, which finds and words the error."""
    quick = _quick_check()
    if quick is not None and quick(doc.data):
        return
    validator = _suite_validator()
    if validator.is_valid(doc.data):
        return
    errors = list(validator.iter_errors(doc.data))
    if errors:
        first = min(errors, key=lambda e: (doc.line(tuple(e.absolute_path)), -len(e.absolute_path)))
        # For oneOf/anyOf, the deepest sub-error usually names the real problem.
        if first.context:
            from jsonschema.exceptions import best_match

            best = best_match([first])
        else:
            best = first
        if first.validator == "oneOf" and "prompt" in str(first.schema):
            best = first
        where: Path_ = tuple(best.absolute_path)
        if best.validator == "additionalProperties" and isinstance(best.instance, dict):
            allowed = best.schema.get("properties", {})
            extra = [k for k in best.instance if k not in allowed]
            if extra:  # point at the unknown key itself
                where = (*where, extra[0])
        raise doc.error(where, _schema_message(best))


def load_suite(
    path: Path,
    display: str,
    *,
    attacks: Collection[str],
    judges: Collection[str],
    fail_on: tuple[str, ...] | None = None,
    samples: int | None = None,
    checked: SchemaChecked | None = None,
) -> Suite:
    """Loads and checks one suite file.

    Args:
        path: The file.
        display: The path as shown in messages and node ids (relative to the rootdir).
        attacks: Known attack names.
        judges: Known judge names.
        fail_on: Targets that can fail a refuse probe when neither case nor suite says.
        samples: Samples per case for every case (``--lrm-samples``), if given.
        checked: Where a file's passing the schema is remembered (the run's cache): a file
            whose text passed before is not checked against the schema again; every other
            check runs as always.

    Raises:
        SuiteError: With ``file:line: field: message`` for the first problem found.
    """
    doc = read_document(path, display)
    if checked is None:
        validate_document(doc)
    else:
        digest = suite_digest(doc.text)
        if not checked.suite_checked(digest):
            validate_document(doc)
            checked.note_suite_checked(digest)
    data: dict[str, Any] = doc.data
    defaults: dict[str, Any] = data.get("defaults", {})
    seen: dict[str, int] = {}
    cases = []
    for index, raw in enumerate(data["cases"]):
        here: Path_ = ("cases", index)
        case_id = raw["id"]
        if case_id in seen:
            raise doc.error(
                (*here, "id"), f"duplicate id {case_id!r} (first on line {seen[case_id]})"
            )
        seen[case_id] = doc.line((*here, "id"))
        case = _build_case(doc, here, raw, defaults, attacks, judges, fail_on)
        cases.append(replace(case, samples=samples) if samples else case)
    gates = tuple(
        _parse_gate(doc, ("gates", i), expr, display)
        for i, expr in enumerate(data.get("gates", []))
    )
    name = _suite_name(data.get("suite")) or Path(display).stem
    return Suite(path=display, name=name, cases=tuple(cases), gates=gates)


def _suite_name(suite: str | Mapping[str, Any] | None) -> str | None:
    """``suite: my-suite`` is the name itself; ``suite: {name: ..., description: ...}``."""
    if isinstance(suite, str):
        return suite
    return suite.get("name") if suite else None


def _parse_gate(doc: _Document, where: Path_, expression: str, display: str) -> Gate:
    try:
        return parse_gate(expression, source=f"{display}:{doc.line(where)}", suite=display)
    except GateSyntaxError as exc:
        raise doc.error(where, str(exc)) from None


def _merged(raw: Mapping[str, Any], defaults: Mapping[str, Any], key: str) -> Any:
    return raw[key] if key in raw else defaults.get(key)


def _rubrics(doc: _Document, defaults: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The suite's rubric overrides, read and checked now so a bad one names its line."""
    from ..judges.llm import load_rubric  # the judges depend on cases, not the reverse

    out: dict[str, tuple[str, str]] = {}
    for name, relative in (defaults.get("rubrics") or {}).items():
        where: Path_ = ("defaults", "rubrics", name)
        base = doc.file.parent if doc.file is not None else Path(doc.path).parent
        path = base / relative
        try:
            rubric = load_rubric(read_text(path), str(relative))
        except OSError as exc:
            raise doc.error(where, f"cannot read rubric {relative!r}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise doc.error(where, f"cannot read rubric {relative!r}: {exc}") from None
        except ValueError as exc:
            raise doc.error(where, str(exc)) from None
        if rubric.name != name:
            raise doc.error(where, f"{relative!r} is a {rubric.name!r} rubric, not {name!r}")
        out[name] = (str(path), rubric.digest)
    return out


def unknown_name(kind: str, name: str, known: Collection[str]) -> str:
    """``unknown attack 'rot31'; did you mean 'rot13'? ...``: attacks are too many to list."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if kind == "attack":
        return f"unknown attack {name!r}{hint}; list them with pytest --lrm-list-attacks"
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(sorted(known))}"


def _build_case(
    doc: _Document,
    here: Path_,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    attacks: Collection[str],
    judges: Collection[str],
    fail_on: tuple[str, ...] | None,
) -> Case:
    for key in ("category", "expect"):
        if _merged(raw, defaults, key) is None:
            raise doc.error((*here, key), f"required: set '{key}' on the case or in 'defaults'")
    for key, known in (("attacks", attacks), ("judges", judges)):
        names = _merged(raw, defaults, key) or []
        source = (*here, key) if key in raw else ("defaults", key)
        for i, name in enumerate(names):
            if name not in known:
                kind = key[:-1]
                raise doc.error((*source, i), unknown_name(kind, name, known))
    if "messages" in raw:
        messages = tuple({"role": m["role"], "content": m["content"]} for m in raw["messages"])
        if messages[-1]["role"] != "user":
            raise doc.error(
                (*here, "messages", len(messages) - 1, "role"),
                "the last message must be the user's",
            )
    else:
        messages = ({"role": "user", "content": raw["prompt"]},)
    expect = _merged(raw, defaults, "expect")
    check = None
    if "check" in raw:
        if expect != "resist":
            raise doc.error((*here, "check"), "only 'expect: resist' cases take a check")
        spec = raw["check"]
        if not any(k in spec for k in ("not_contains", "contains", "not_matches", "matches")):
            raise doc.error(
                (*here, "check"), "needs one of not_contains, contains, not_matches, matches"
            )
        for key in ("not_matches", "matches"):
            if key in spec:
                where = (*here, "check", key)
                try:
                    re.compile(spec[key])
                    slow = catastrophic(spec[key])
                except (re.error, OverflowError) as exc:  # a{99999999999}: OverflowError
                    raise doc.error(where, f"bad regular expression: {exc}") from None
                except RecursionError:
                    raise doc.error(where, "bad regular expression: nested too deep") from None
                if slow:
                    raise doc.error(
                        (*here, "check", key),
                        f"{spec[key]!r} nests a repeat inside a repeat, which can take minutes "
                        "on one answer; write the inner one possessively (a++) or atomically",
                    )
        check = Check(
            not_contains=spec.get("not_contains"),
            contains=spec.get("contains"),
            not_matches=spec.get("not_matches"),
            matches=spec.get("matches"),
            ignore_case=bool(spec.get("ignore_case", False)),
            targets=tuple(spec.get("in", ["answer"])),
        )
    elif expect == "resist":
        if "judge_question" not in raw:
            raise doc.error(
                (*here, "expect"),
                "a resist case needs a 'check' (or a 'judge_question' for the llm judge) that "
                "decides if the injection worked",
            )
        if not set(QUESTION_JUDGES) & set(_merged(raw, defaults, "judges") or []):
            raise doc.error(
                (*here, "judge_question"),
                "a resist case with only a judge_question needs the 'llm' judge (or "
                "'cse_question' or 'benchmark') in its judges (nothing else can answer the "
                "question)",
            )
    if "judge_question" in raw and expect != "resist":
        raise doc.error(
            (*here, "judge_question"), "only 'expect: resist' cases take a judge_question"
        )
    sampling = {**defaults.get("sampling", {}), **raw.get("sampling", {})}
    return Case(
        id=raw["id"],
        category=_merged(raw, defaults, "category"),
        expect=expect,
        messages=messages,
        suite=doc.path,
        line=doc.line(here),
        severity=_merged(raw, defaults, "severity") or "medium",
        tags=tuple(dict.fromkeys([*defaults.get("tags", []), *raw.get("tags", [])])),
        subset=_merged(raw, defaults, "subset"),
        attacks=tuple(_merged(raw, defaults, "attacks") or ["direct"]),
        judges=tuple(_merged(raw, defaults, "judges") or ["default"]),
        samples=int(_merged(raw, defaults, "samples") or 1),
        fail_on=cast(
            "tuple[Target, ...]",
            tuple(_merged(raw, defaults, "fail_on") or fail_on or ("answer", "thinking")),
        ),
        sampling=sampling,
        rubrics=_rubrics(doc, defaults),
        check=check,
        note=raw.get("note", ""),
        payload=raw.get("payload"),
        judge_question=raw.get("judge_question"),
        goal=raw.get("goal"),
        turns=tuple(raw.get("turns", ())),
        efforts=tuple(_merged(raw, defaults, "efforts") or ()),
        budgets=tuple(_merged(raw, defaults, "budgets") or ()),
    )


def load_suite_gates(path: Path, display: str) -> tuple[Gate, ...]:
    """Reads only the gates of a suite (the xdist controller needs them, not the cases)."""
    doc = read_document(path, display)
    return tuple(
        _parse_gate(doc, ("gates", i), expr, display)
        for i, expr in enumerate(doc.data.get("gates", []) if isinstance(doc.data, dict) else [])
    )
