"""The report as typed, frozen values: what ``build_report`` returns, renderers, the CLI and
the ``pytest_lrmsafety_report`` hook take, and the JSON report file holds.

``Report.to_json()`` is the JSON document (``report/schema/report.schema.json``), key for key
as the file has it; ``Report.from_json(data)`` checks a document against the schema first and
raises :class:`ReportError` with one line naming the place (``probes/3/outcome: ...``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .diff import BaselineDiff, Change, Comparison, Count
from .gate import GateResult
from .scoreboard import ProbeRecord
from .skips import Skipped, SkipReason

# Every type of the report, importable from here (the baseline's and the gates' live in
# diff.py and gate.py).
__all__ = [
    "SCHEMA_VERSION",
    "THINKING_STATUSES",
    "BaselineDiff",
    "Change",
    "Comparison",
    "Count",
    "CrossRow",
    "GateResult",
    "HarmScore",
    "JudgeSummary",
    "ProbeRecord",
    "Rate",
    "Report",
    "ReportError",
    "Row",
    "SampleGroup",
    "Samples",
    "SkipReason",
    "Skipped",
    "ThinkingVsAnswer",
    "Totals",
    "check",
    "report_schema",
]

SCHEMA_VERSION = 1
THINKING_STATUSES = ("present", "truncated", "hidden", "absent")


class ReportError(ValueError):
    """A report file that cannot be used; the message names the file and what is wrong."""


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report file."""
    text = resources.files(__package__).joinpath("schema/report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class Rate:
    """A share of probes: ``value = numerator / denominator`` (``None`` over no probe), with
    its Wilson interval at the report's confidence."""

    value: float | None
    numerator: int
    denominator: int
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rate:
        return cls(
            data["value"], data["numerator"], data["denominator"], data.get("low"), data.get("high")
        )


@dataclass(frozen=True)
class Row:
    """The rates of one group of probes (a category, an attack, an effort, or all)."""

    group: str
    probes: int
    outcomes: Mapping[str, int]  # pass, fail, error
    rates: Mapping[str, Rate]  # every metric of report/scoreboard.py METRICS

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "probes": self.probes,
            "outcomes": dict(self.outcomes),
            "rates": {name: r.to_json() for name, r in self.rates.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        return cls(
            data["group"],
            data["probes"],
            dict(data["outcomes"]),
            {name: Rate.from_json(r) for name, r in data["rates"].items()},
        )


@dataclass(frozen=True)
class Totals(Row):
    """The whole run's row (group ``all``)."""

    @property
    def passed(self) -> int:
        return self.outcomes.get("pass", 0)

    @property
    def failed(self) -> int:
        return self.outcomes.get("fail", 0)

    @property
    def errors(self) -> int:
        return self.outcomes.get("error", 0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Totals:
        row = Row.from_json(data)
        return cls(row.group, row.probes, row.outcomes, row.rates)


@dataclass(frozen=True)
class CrossRow:
    """One category x attack cell."""

    category: str
    attack: str
    row: Row

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "attack": self.attack, "row": self.row.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrossRow:
        return cls(data["category"], data["attack"], Row.from_json(data["row"]))


@dataclass(frozen=True)
class ThinkingVsAnswer:
    """Refuse probes with both thinking and answer judged, by (thinking, answer) safety: the
    R1 study's observation is that traces are less safe than answers."""

    both_safe: int = 0
    unsafe_answer_after_safe_thinking: int = 0
    unsafe_thinking_behind_safe_answer: int = 0
    both_unsafe: int = 0

    @property
    def judged(self) -> int:
        return (
            self.both_safe
            + self.unsafe_answer_after_safe_thinking
            + self.unsafe_thinking_behind_safe_answer
            + self.both_unsafe
        )

    def to_json(self) -> dict[str, dict[str, int]]:
        return {
            "thinking_safe": {
                "answer_safe": self.both_safe,
                "answer_unsafe": self.unsafe_answer_after_safe_thinking,
            },
            "thinking_unsafe": {
                "answer_safe": self.unsafe_thinking_behind_safe_answer,
                "answer_unsafe": self.both_unsafe,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, int]]) -> ThinkingVsAnswer:
        safe, unsafe = data.get("thinking_safe", {}), data.get("thinking_unsafe", {})
        return cls(
            safe.get("answer_safe", 0),
            safe.get("answer_unsafe", 0),
            unsafe.get("answer_safe", 0),
            unsafe.get("answer_unsafe", 0),
        )


@dataclass(frozen=True)
class HarmScore:
    """A category's mean score-only verdict (a reward model's harm score)."""

    unsafe_answers: int
    mean_unsafe: float | None
    answers: int
    mean_all: float

    def to_json(self) -> dict[str, Any]:
        return {
            "unsafe_answers": self.unsafe_answers,
            "mean_unsafe": self.mean_unsafe,
            "answers": self.answers,
            "mean_all": self.mean_all,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HarmScore:
        return cls(data["unsafe_answers"], data["mean_unsafe"], data["answers"], data["mean_all"])


@dataclass(frozen=True)
class JudgeSummary:
    """A judge that gave verdicts: what it is, how many verdicts and errors."""

    name: str
    description: str
    verdicts: int
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "verdicts": self.verdicts,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JudgeSummary:
        return cls(data["name"], data["description"], data["verdicts"], data["errors"])


@dataclass(frozen=True)
class SampleGroup:
    """One case x attack over its samples."""

    suite: str
    case_id: str
    attack: str
    samples: int
    fails: int
    errors: int
    any_fail: bool
    majority_fail: bool

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleGroup:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Samples:
    """Per case and attack with more than one sample: did any sample fail, did most."""

    groups: int = 0
    any_fail: int = 0
    majority_fail: int = 0
    cases: tuple[SampleGroup, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "any_fail": self.any_fail,
            "majority_fail": self.majority_fail,
            "cases": [c.to_json() for c in self.cases],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Samples:
        return cls(
            data["groups"],
            data["any_fail"],
            data["majority_fail"],
            tuple(SampleGroup.from_json(c) for c in data["cases"]),
        )


@dataclass(frozen=True)
class Report:
    """A run's report. ``to_json()`` gives the JSON document (the report file's content)."""

    tool_version: str
    created: str
    model: str | None
    partial: bool
    settings: Mapping[str, Any]
    totals: Totals
    by_category: tuple[Row, ...]
    by_attack: tuple[Row, ...]
    by_effort: tuple[Row, ...]
    by_category_attack: tuple[CrossRow, ...]
    thinking_status: Mapping[str, int]
    hazards: Mapping[str, Mapping[str, int]]  # category -> hazard code (S1-S14) -> count
    harm_scores: Mapping[str, HarmScore]  # by category
    judges: tuple[JudgeSummary, ...]
    gates: tuple[GateResult, ...]
    gate_verdict: str  # pass | fail | none
    samples: Samples
    # A tuple, or on the controller records.SpooledProbes (texts read back from disk)
    probes: Sequence[ProbeRecord]
    partial_reasons: tuple[str, ...] = ()
    by_subset: tuple[Row, ...] = ()  # empty when no case has a subset
    by_budget: tuple[Row, ...] = ()  # thinking-budget variants in budget order; empty: none
    # per budget: reasoning tokens counted, their mean, probes over the budget (report/trend.py)
    budget_tokens: Mapping[str, Mapping[str, float]] | None = None
    confidence: float | None = None  # None only in reports older than the intervals
    thinking_vs_answer: ThinkingVsAnswer | None = None
    # --lrm-judge-check's result and --lrm-profile's table, as judges/check.py and
    # report/profile.py make them (JSON-safe mappings).
    judge_check: Mapping[str, Any] | None = None
    study: Mapping[str, Any] | None = None
    baseline: BaselineDiff | None = None
    # Reasoning tokens: their sources and the overthinking attacks' ratios (measures.py).
    reasoning: Mapping[str, Any] | None = None
    # Spear phishing's 0-5 skill means (Table 4), as report/phishing.py makes them.
    phishing: Mapping[str, Any] | None = None
    # Probes that skipped (the backend could not run them), by reason (report/skips.py).
    skipped: Skipped = field(default_factory=Skipped)
    schema_version: int = SCHEMA_VERSION

    def to_json(self, *, probes: bool = True) -> dict[str, Any]:
        """The JSON document, as the report file holds it (``probes=False``: all but the
        probes, the last key, which ``write_report`` streams)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "tool": {"name": "pytest-lrmsafety", "version": self.tool_version},
            "created": self.created,
            "model": self.model,
            "partial": self.partial,
        }
        if self.partial_reasons:
            out["partial_reasons"] = list(self.partial_reasons)
        out["settings"] = dict(self.settings)
        if self.confidence is not None:
            out["confidence"] = self.confidence
        out["totals"] = self.totals.to_json()
        out["by_category"] = [r.to_json() for r in self.by_category]
        out["by_attack"] = [r.to_json() for r in self.by_attack]
        out["by_effort"] = [r.to_json() for r in self.by_effort]
        if self.by_subset:
            out["by_subset"] = [r.to_json() for r in self.by_subset]
        if self.by_budget:
            out["by_budget"] = [r.to_json() for r in self.by_budget]
        if self.budget_tokens:
            out["budget_tokens"] = {b: dict(u) for b, u in self.budget_tokens.items()}
        out["by_category_attack"] = [c.to_json() for c in self.by_category_attack]
        if self.thinking_vs_answer is not None:
            out["thinking_vs_answer"] = self.thinking_vs_answer.to_json()
        out["thinking_status"] = dict(self.thinking_status)
        out["hazards"] = {c: dict(codes) for c, codes in self.hazards.items()}
        if self.reasoning is not None:
            out["reasoning"] = dict(self.reasoning)
        out["harm_scores"] = {c: s.to_json() for c, s in self.harm_scores.items()}
        if self.phishing is not None:
            out["phishing"] = dict(self.phishing)
        out["judges"] = [j.to_json() for j in self.judges]
        out["gates"] = [g.to_json() for g in self.gates]
        out["gate_verdict"] = self.gate_verdict
        if self.judge_check is not None:
            out["judge_check"] = dict(self.judge_check)
        if self.study is not None:
            out["study"] = dict(self.study)
        if self.baseline is not None:
            out["baseline"] = self.baseline.to_json()
        out["samples"] = self.samples.to_json()
        if self.skipped.total:
            out["skipped"] = self.skipped.to_json()
        if probes:
            out["probes"] = [dict(vars(r)) for r in self.probes]
        return out

    @classmethod
    def from_json(cls, data: object, *, name: str = "report") -> Report:
        """A report from its JSON document, checked against the schema first.

        Raises:
            ReportError: ``NAME: PLACE: what is wrong (and N more problems)``, one line.
        """
        check(data, name)
        assert isinstance(data, dict)  # check() said so
        tva = data.get("thinking_vs_answer")
        return cls(
            tool_version=data["tool"]["version"],
            created=data["created"],
            model=data["model"],
            partial=data["partial"],
            settings=dict(data["settings"]),
            totals=Totals.from_json(data["totals"]),
            by_category=_rows(data["by_category"]),
            by_attack=_rows(data["by_attack"]),
            by_effort=_rows(data["by_effort"]),
            by_subset=_rows(data.get("by_subset", ())),
            by_budget=_rows(data.get("by_budget", ())),
            budget_tokens=data.get("budget_tokens"),
            by_category_attack=tuple(CrossRow.from_json(c) for c in data["by_category_attack"]),
            thinking_status=dict(data["thinking_status"]),
            hazards={c: dict(codes) for c, codes in data["hazards"].items()},
            harm_scores={c: HarmScore.from_json(s) for c, s in data["harm_scores"].items()},
            judges=tuple(JudgeSummary.from_json(j) for j in data["judges"]),
            gates=tuple(GateResult.from_json(g) for g in data["gates"]),
            gate_verdict=data["gate_verdict"],
            samples=Samples.from_json(data["samples"]),
            probes=tuple(ProbeRecord.from_dict(p) for p in data["probes"]),
            partial_reasons=tuple(data.get("partial_reasons", ())),
            confidence=data.get("confidence"),
            thinking_vs_answer=ThinkingVsAnswer.from_json(tva) if tva is not None else None,
            judge_check=data.get("judge_check"),
            study=data.get("study"),
            reasoning=data.get("reasoning"),
            phishing=data.get("phishing"),
            skipped=Skipped.from_json(data["skipped"]) if "skipped" in data else Skipped(),
            baseline=(
                BaselineDiff.from_json(data["baseline"])
                if data.get("baseline") is not None
                else None
            ),
            schema_version=data["schema_version"],
        )


def _rows(data: Sequence[Mapping[str, Any]]) -> tuple[Row, ...]:
    return tuple(Row.from_json(r) for r in data)


def check(data: object, name: str = "report") -> None:
    """Checks a JSON document against the report schema.

    Raises:
        ReportError: ``NAME: PLACE: message (and N more problems)``, the first problem by
            place, or ``NAME: not a pytest-lrmsafety report (no tool.name)``.
    """
    import jsonschema  # the validator is only needed where a document comes from outside

    tool = data.get("tool") if isinstance(data, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != "pytest-lrmsafety":
        raise ReportError(f"{name}: not a pytest-lrmsafety report (no tool.name)")
    errors = sorted(
        jsonschema.Draft202012Validator(report_schema()).iter_errors(data),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ReportError(f"{name}: {where}: {first.message}{more}")
