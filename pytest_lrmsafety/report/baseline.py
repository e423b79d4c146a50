"""Reading a report back, and comparing a run with a baseline report (``--lrm-baseline``).

The baseline is an earlier JSON report: the model in production, or the last release. Per
category and per attack, every rate is compared (current minus baseline) with a two-proportion
z-test; probes that passed in the baseline and fail now (matched by node id) are listed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from ..safeload import MAX_JSON_BYTES, LoadLimitError, load_json, read_text
from .scoreboard import METRICS, ProbeRecord, rate
from .stats import two_proportion

# Rates where a rise is a regression (max_regression gates them); refusal_rate is not one.
WORSE_WHEN_HIGHER = (
    "unsafe_answer_rate",
    "unsafe_thinking_rate",
    "over_refusal_rate",
    "injection_success_rate",
    "attack_success_rate",
    "thinking_attack_success_rate",
    "error_rate",
    "fail_rate",
)


class ReportError(ValueError):
    """A report file that cannot be used; the message names the file and what is wrong."""


def load_report(path: Path, display: str | None = None) -> dict[str, Any]:
    """Reads and validates a JSON report; :class:`ReportError` with a clear message."""
    from .build import report_schema

    name = display or str(path)
    try:
        text = read_text(path, MAX_JSON_BYTES)
    except FileNotFoundError:
        raise ReportError(f"{name}: no such report file") from None
    except IsADirectoryError:
        raise ReportError(f"{name}: a folder, not a JSON report") from None
    except (OSError, UnicodeDecodeError, LoadLimitError) as exc:
        raise ReportError(f"{name}: cannot read: {exc}") from None
    if not text.strip():
        raise ReportError(f"{name}: the file is empty, not a JSON report")
    try:
        data = load_json(text)
    except LoadLimitError as exc:
        raise ReportError(f"{name}: {exc}; not a pytest-lrmsafety report") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or not text.rstrip().endswith("}"):
            raise ReportError(
                f"{name}: line {exc.lineno}: the JSON ends early (a truncated report?): {exc.msg}"
            ) from None
        raise ReportError(
            f"{name}: line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or data.get("tool", {}).get("name") != "pytest-lrmsafety":
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
    return data


def records_of(report: Mapping[str, Any]) -> list[ProbeRecord]:
    return [ProbeRecord.from_dict(p) for p in report["probes"]]


def _compare(
    current: Sequence[ProbeRecord], base: Sequence[ProbeRecord], alpha: float
) -> dict[str, Any]:
    out = {}
    for metric in METRICS:
        k2, n2 = rate(metric, current)
        k1, n1 = rate(metric, base)
        delta, p_value = two_proportion(k1, n1, k2, n2)
        out[metric] = {
            "baseline": {"numerator": k1, "denominator": n1, "value": k1 / n1 if n1 else None},
            "current": {"numerator": k2, "denominator": n2, "value": k2 / n2 if n2 else None},
            "delta": delta,
            "p_value": p_value,
            "significant": p_value is not None and p_value < alpha,
        }
    return out


def _groups(records: Sequence[ProbeRecord], key: str) -> dict[str, list[ProbeRecord]]:
    groups: dict[str, list[ProbeRecord]] = {}
    for record in records:
        groups.setdefault(str(getattr(record, key)), []).append(record)
    return groups


def compare(
    current: Sequence[ProbeRecord],
    baseline: Mapping[str, Any],
    *,
    path: str,
    confidence: float,
) -> dict[str, Any]:
    """The ``baseline`` section of a report."""
    base = records_of(baseline)
    alpha = 1.0 - confidence
    section: dict[str, Any] = {
        "path": path,
        "model": baseline.get("model"),
        "created": baseline.get("created"),
        "totals": _compare(current, base, alpha),
    }
    for key, name in (("category", "by_category"), ("attack", "by_attack")):
        now, then = _groups(current, key), _groups(base, key)
        section[name] = {
            group: _compare(now.get(group, []), then.get(group, []), alpha)
            for group in sorted(set(now) | set(then))
        }
    before = {r.nodeid: r for r in base}
    after = {r.nodeid: r for r in current}
    section["newly_failing"] = [
        _change(before[n], after[n])
        for n in sorted(after)
        if n in before and before[n].outcome == "pass" and after[n].outcome == "fail"
    ]
    section["newly_passing"] = [
        _change(before[n], after[n])
        for n in sorted(after)
        if n in before and before[n].outcome == "fail" and after[n].outcome == "pass"
    ]
    section["only_in_baseline"] = len(set(before) - set(after))
    section["only_in_current"] = len(set(after) - set(before))
    return section


def _change(was: ProbeRecord, now: ProbeRecord) -> dict[str, Any]:
    return {
        "nodeid": now.nodeid,
        "category": now.category,
        "attack": now.attack,
        "was": was.outcome,
        "now": now.outcome,
        "reasons": list(now.reasons),
    }
