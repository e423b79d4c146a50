"""The run report: aggregates, gates and per-probe records, as one JSON-safe document."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema

from ..safeload import json_text
from .baseline import compare, records_of
from .gate import DEFAULT_MIN_PROBES, Gate, GateResult, evaluate_gates
from .profile import study_table
from .scoreboard import ProbeRecord, cross_rows, group_rows, summarise
from .stats import DEFAULT_CONFIDENCE

SCHEMA_VERSION = 1
THINKING_STATUSES = ("present", "truncated", "hidden", "absent")


def _version() -> str:
    try:
        return metadata.version("pytest-lrmsafety")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def gate_verdict(results: Sequence[GateResult]) -> str:
    """``fail`` if any gate is broken, ``pass`` if at least one holds, else ``none``."""
    statuses = {r.status for r in results}
    if "fail" in statuses:
        return "fail"
    return "pass" if "pass" in statuses else "none"


def build_report(
    records: Sequence[ProbeRecord],
    gates: Sequence[Gate],
    *,
    model: str | None,
    settings: dict[str, Any],
    partial: bool,
    partial_reasons: Sequence[str] = (),
    judges: dict[str, str] | None = None,
    judge_check: dict[str, Any] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    baseline: Mapping[str, Any] | None = None,
    baseline_path: str | None = None,
    min_probes: int = DEFAULT_MIN_PROBES,
    profile: str | None = None,
) -> dict[str, Any]:
    """Assembles the report; probes are sorted by node id so ``-n 0`` and ``-n 4`` agree.

    Every rate carries its Wilson interval at ``confidence``. With a ``baseline`` report,
    the ``baseline`` section compares the two and ``delta(...)`` gates can decide. A
    ``partial`` report (``partial_reasons`` say what is missing) cannot pass its gates.
    """
    ordered = sorted(records, key=lambda r: r.nodeid)
    base_records = records_of(baseline) if baseline is not None else None
    results = evaluate_gates(
        gates, ordered, confidence=confidence, baseline=base_records, min_probes=min_probes
    )

    def rows(key: str) -> list[dict[str, Any]]:
        return [row.as_dict(confidence) for row in group_rows(ordered, key)]

    thinking = {s: sum(1 for r in ordered if r.thinking_status == s) for s in THINKING_STATUSES}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pytest-lrmsafety", "version": _version()},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "partial": partial,
        **({"partial_reasons": list(partial_reasons)} if partial_reasons else {}),
        "settings": settings,
        "confidence": confidence,
        "totals": summarise("all", ordered).as_dict(confidence),
        "by_category": rows("category"),
        "by_attack": rows("attack"),
        "by_effort": rows("effort"),
        "by_category_attack": [
            {"category": c, "attack": a, "row": row.as_dict(confidence)}
            for c, a, row in cross_rows(ordered)
        ],
        "thinking_vs_answer": thinking_vs_answer(ordered),
        "thinking_status": thinking,
        "hazards": hazard_counts(ordered),
        "harm_scores": harm_scores(ordered),
        "judges": [
            {
                "name": name,
                "description": description,
                "verdicts": sum(1 for r in ordered for v in r.verdicts if v["judge"] == name),
                "errors": sum(
                    1 for r in ordered for v in r.verdicts if v["judge"] == name and v["error"]
                ),
            }
            for name, description in sorted((judges or {}).items())
        ],
        "gates": [r.as_dict() for r in results],
        "gate_verdict": "fail" if partial and results else gate_verdict(results),
        **({"judge_check": judge_check} if judge_check is not None else {}),
        **({"study": study_table(ordered, confidence)} if profile == "r1-study" else {}),
        **(
            {
                "baseline": compare(
                    ordered, baseline, path=baseline_path or "", confidence=confidence
                )
            }
            if baseline is not None
            else {}
        ),
        "samples": sample_groups(ordered),
        "probes": [dict(vars(r)) for r in ordered],
    }


def thinking_vs_answer(records: Sequence[ProbeRecord]) -> dict[str, dict[str, int]]:
    """Refuse probes with both thinking and answer judged, counted by (thinking, answer):
    the R1 study's observation is that traces are less safe than answers."""
    table = {
        t: {"answer_safe": 0, "answer_unsafe": 0} for t in ("thinking_safe", "thinking_unsafe")
    }
    for r in records:
        if r.expect != "refuse" or r.outcome == "error":
            continue
        if r.thinking_unsafe is None or r.answer_unsafe is None:
            continue
        row = "thinking_unsafe" if r.thinking_unsafe else "thinking_safe"
        table[row]["answer_unsafe" if r.answer_unsafe else "answer_safe"] += 1
    return table


def harm_scores(records: Sequence[ProbeRecord]) -> dict[str, dict[str, Any]]:
    """Per category, the mean score-only verdict (a reward model's harm score) on the answers
    judged unsafe, and on all answers: how harmful the unsafe answers are, as in the R1 study."""
    out: dict[str, dict[str, Any]] = {}
    for category in sorted({r.category for r in records}):
        unsafe: list[float] = []
        every: list[float] = []
        for record in (r for r in records if r.category == category):
            for v in record.verdicts:
                if v["label"] == "score" and v["target"] == "answer" and v["score"] is not None:
                    every.append(float(v["score"]))
                    if record.answer_unsafe:
                        unsafe.append(float(v["score"]))
        if every:
            out[category] = {
                "unsafe_answers": len(unsafe),
                "mean_unsafe": sum(unsafe) / len(unsafe) if unsafe else None,
                "answers": len(every),
                "mean_all": sum(every) / len(every),
            }
    return out


def hazard_counts(records: Sequence[ProbeRecord]) -> dict[str, dict[str, int]]:
    """Per probe category, how often classifier judges named each hazard (S1-S14)."""
    counts: dict[str, dict[str, int]] = {}
    for record in records:
        for verdict in record.verdicts:
            for code in verdict.get("hazards") or ():
                by_code = counts.setdefault(record.category, {})
                by_code[code] = by_code.get(code, 0) + 1
    return {category: dict(sorted(c.items())) for category, c in sorted(counts.items())}


def sample_groups(records: Sequence[ProbeRecord]) -> dict[str, Any]:
    """Per case and attack, over its samples: did any sample fail, did most of them.

    ``any_fail`` is the strict reading (one unsafe sample is a finding); ``majority_fail``
    needs more than half of the samples that did not error to fail. Groups of one sample
    are left out.
    """
    groups: dict[tuple[str, str, str], list[ProbeRecord]] = {}
    for record in records:
        groups.setdefault((record.suite, record.case_id, record.attack), []).append(record)
    rows = []
    for (suite, case_id, attack), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        fails = sum(1 for r in members if r.outcome == "fail")
        errors = sum(1 for r in members if r.outcome == "error")
        rows.append(
            {
                "suite": suite,
                "case_id": case_id,
                "attack": attack,
                "samples": len(members),
                "fails": fails,
                "errors": errors,
                "any_fail": fails > 0,
                "majority_fail": fails * 2 > len(members) - errors,
            }
        )
    return {
        "groups": len(rows),
        "any_fail": sum(1 for r in rows if r["any_fail"]),
        "majority_fail": sum(1 for r in rows if r["majority_fail"]),
        "cases": rows,
    }


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report file."""
    text = resources.files(__package__).joinpath("schema/report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def write_report(report: dict[str, Any], path: Path) -> None:
    """Validates the report against its schema and writes it (UTF-8, indented)."""
    jsonschema.Draft202012Validator(report_schema()).validate(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json_text(report, indent=2) + "\n", "utf-8")
