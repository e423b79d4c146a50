"""Calibration inside the run: a small human-labelled set through the configured judges,
before the suite, with agreement checked against a threshold (``--lrm-judge-check``).

With ``builtin``, the general judges meet ``data/judge_check.yaml`` and each benchmark-native
judge (``judges/native.py``) its own set, ``data/native_check/NAME.yaml``; a user's file goes
through every judge. A set may ask for ``match: label`` (the very label, as AIR-Bench's 0.5 or
XSTest's partial refusal need) instead of the same stance (pass / fail)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..cases.model import Case
from ..errors import ConfigError
from ..outcome import stance
from ..safeload import LoadLimitError, load_yaml, read_text
from .base import NON_VOTING, Judge, JudgeInput

BUILTIN = "builtin"
_FIELDS = {"id", "expect", "target", "category", "request", "text", "verdict"}
# kind: the hard case an item stands for (agreement is reported per kind); why: a note for
# the reader on what makes the item hard.
# judge_question, system, subset, tags: what the benchmark-native judges read of a case.
_OPTIONAL = {"kind", "why", "judge_question", "system", "subset", "tags"}
_MATCHES = ("stance", "label")
_EXPECTS = ("refuse", "comply", "resist")
_TARGETS = ("answer", "thinking")


@dataclass(frozen=True)
class CheckItem:
    id: str
    case: Case
    target: str
    text: str
    verdict: str
    kind: str | None = None
    exact: bool = False  # the set's ``match: label``: agreement is the very label


@dataclass(frozen=True)
class JudgeAgreement:
    """One judge on the labelled set: how often its stance matched the human one."""

    judge: str
    agreed: int
    decided: int
    items: int
    errors: int
    # kind -> (agreed, items), for the items that name a kind
    kinds: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    set: str | None = None  # a set of its own (a native judge's), else the run's set

    @property
    def agreement(self) -> float:
        """Agreement over all items: an unclear or failed verdict counts as a miss."""
        return self.agreed / self.items if self.items else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "agreement": self.agreement,
            "agreed": self.agreed,
            "decided": self.decided,
            "items": self.items,
            "errors": self.errors,
            **({"set": self.set} if self.set is not None else {}),
            **(
                {
                    "kinds": {
                        kind: {"agreed": agreed, "items": n, "agreement": agreed / n}
                        for kind, (agreed, n) in sorted(self.kinds.items())
                    }
                }
                if self.kinds
                else {}
            ),
        }


def load_check_set(spec: str, base: Path) -> tuple[str, list[CheckItem]]:
    """Reads ``builtin`` (the set shipped with the plugin) or a YAML file of items."""
    if spec == BUILTIN:
        where = "builtin judge check set"
        text = resources.files(__package__).joinpath("data/judge_check.yaml").read_text("utf-8")
    else:
        path = base / spec
        where = str(spec)
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError, LoadLimitError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise ConfigError(f"--lrm-judge-check {spec}: cannot read it: {reason}") from None
    return where, _parse(text, spec)


def load_native_set(name: str) -> tuple[str, list[CheckItem]]:
    """The labelled set shipped for a benchmark-native judge (``data/native_check/NAME.yaml``)."""
    text = resources.files(__package__).joinpath(f"data/native_check/{name}.yaml")
    return f"builtin {name} check set", _parse(text.read_text("utf-8"), f"builtin {name}")


def _parse(text: str, spec: str) -> list[CheckItem]:
    where = "builtin judge check set" if spec == BUILTIN else spec
    try:
        data = load_yaml(text)
        match = data.get("match", "stance")
        if match not in _MATCHES:
            raise ValueError(f"'match' must be one of {', '.join(_MATCHES)}")
        items = []
        seen: set[str] = set()
        for number, raw in enumerate(data["items"], 1):
            _check_fields(number, raw)
            if raw["expect"] not in _EXPECTS:
                raise ValueError(f"item {number}: 'expect' must be one of {', '.join(_EXPECTS)}")
            if raw["target"] not in _TARGETS:
                raise ValueError(f"item {number}: 'target' must be one of {', '.join(_TARGETS)}")
            if str(raw["id"]) in seen:
                raise ValueError(f"item {number}: id {raw['id']!r} is used twice")
            seen.add(str(raw["id"]))
            if not isinstance(raw.get("tags", []), list):
                raise ValueError(f"item {number}: 'tags' must be a list")
            system = [{"role": "system", "content": str(raw["system"])}] if "system" in raw else []
            question = raw.get("judge_question")
            case = Case(
                id=str(raw["id"]),
                category=str(raw["category"]),
                expect=raw["expect"],
                messages=(*system, {"role": "user", "content": str(raw["request"])}),
                suite=where,
                line=number,
                tags=tuple(str(t) for t in raw.get("tags") or ()),
                subset=None if raw.get("subset") is None else str(raw["subset"]),
                judge_question=None if question is None else str(question),
            )
            stance(case.expect, str(raw["verdict"]))  # an unknown label fails here
            kind = raw.get("kind")
            items.append(
                CheckItem(
                    case.id,
                    case,
                    str(raw["target"]),
                    str(raw["text"]),
                    str(raw["verdict"]),
                    None if kind is None else str(kind),
                    match == "label",
                )
            )
    except LoadLimitError as exc:
        line = f" line {exc.line}:" if exc.line else ""
        raise ConfigError(f"--lrm-judge-check {spec}:{line} {exc}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"--lrm-judge-check {spec}: {' '.join(str(exc).split())}") from None
    return items


def _check_fields(number: int, raw: Any) -> None:
    """An item has every required field, and no field beyond the optional ones."""
    if not isinstance(raw, dict):
        raise ValueError(f"item {number}: must be a mapping of fields")
    unknown = set(raw) - _FIELDS - _OPTIONAL
    missing = _FIELDS - set(raw)
    if unknown or missing:
        raise ValueError(
            f"item {number}: needs {', '.join(sorted(_FIELDS))}"
            f" and may have {', '.join(sorted(_OPTIONAL))}"
            + (f"; missing: {', '.join(sorted(missing))}" if missing else "")
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )


def run_check(items: list[CheckItem], judges: Mapping[str, Judge]) -> list[JudgeAgreement]:
    """Each judge on each item; agreement is the share of items whose stance matches,
    overall and per kind (for the items that name one)."""
    kind_items = Counter(item.kind for item in items if item.kind is not None)
    results = []
    for name, judge in judges.items():
        agreed = decided = errors = 0
        kind_agreed: Counter[str] = Counter()
        scores_only = False
        for item in items:
            try:
                verdict = judge.judge(
                    JudgeInput(item.case, item.case.messages, item.target, item.text)
                )
            except Exception:  # a judge that raises disagrees; the run says how often
                errors += 1
                continue
            if verdict.label is None:
                errors += 1
                continue
            if verdict.label in NON_VOTING:  # a score or an awareness reading: no stance
                scores_only = True
                break
            got = stance(item.case.expect, verdict.label)
            if got != "unclear" or (item.exact and verdict.label != "unclear"):
                decided += 1
                if (
                    verdict.label == item.verdict
                    if item.exact
                    else got == stance(item.case.expect, item.verdict)
                ):
                    agreed += 1
                    if item.kind is not None:
                        kind_agreed[item.kind] += 1
        if not scores_only:
            kinds = {kind: (kind_agreed[kind], n) for kind, n in kind_items.items()}
            results.append(JudgeAgreement(name, agreed, decided, len(items), errors, kinds))
    return results


def run_checks(
    spec: str, base: Path, judges: Mapping[str, Judge]
) -> tuple[str, list[JudgeAgreement]]:
    """``--lrm-judge-check SPEC`` for every judge that could be made: ``(the set's name,
    agreements)``. With ``builtin`` a judge with a ``check_set`` of its own (the native judges)
    meets that set instead; a judge whose ``check_set`` is ``""`` (``benchmark``, which only
    hands cases to them) is not checked."""
    where, items = load_check_set(spec, base)
    own = {n: getattr(j, "check_set", None) for n, j in judges.items()}
    general = {n: j for n, j in judges.items() if own[n] is None or (own[n] and spec != BUILTIN)}
    results = run_check(items, general)
    for name, judge in judges.items():
        if own[name] and spec == BUILTIN:
            set_name, native_items = load_native_set(str(own[name]))
            for result in run_check(native_items, {name: judge}):
                results.append(replace(result, set=set_name))
    return where, results
