"""Reading a report back, and comparing a run with a baseline report (``--lrm-baseline``).

The baseline is an earlier JSON report: the model in production, or the last release. Per
category and per attack, every rate is compared (current minus baseline) with a two-proportion
z-test; probes that passed in the baseline and fail now (matched by node id) are listed,
and the matched probes are compared as pairs (McNemar's exact test, ``report/measures.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..safeload import MAX_JSON_BYTES, LoadLimitError, load_json, read_text
from .diff import BaselineDiff, Change, Comparison, Count
from .measures import paired
from .model import Report, ReportError
from .scoreboard import METRICS, ProbeRecord, rate
from .stats import two_proportion

__all__ = ["WORSE_WHEN_HIGHER", "ReportError", "compare", "load_report"]

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
    "aware_complied_rate",
)


def load_report(path: Path, display: str | None = None) -> Report:
    """Reads and validates a JSON report; :class:`ReportError` with a clear message."""
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
    return Report.from_json(data, name=name)


def _compare(
    current: Sequence[ProbeRecord], base: Sequence[ProbeRecord], alpha: float
) -> dict[str, Comparison]:
    out = {}
    for metric in METRICS:
        k2, n2 = rate(metric, current)
        k1, n1 = rate(metric, base)
        delta, p_value = two_proportion(k1, n1, k2, n2)
        out[metric] = Comparison(
            baseline=Count(k1, n1, k1 / n1 if n1 else None),
            current=Count(k2, n2, k2 / n2 if n2 else None),
            delta=delta,
            p_value=p_value,
            significant=p_value is not None and p_value < alpha,
        )
    return out


def _groups(records: Sequence[ProbeRecord], key: str) -> dict[str, list[ProbeRecord]]:
    groups: dict[str, list[ProbeRecord]] = {}
    for record in records:
        groups.setdefault(str(getattr(record, key)), []).append(record)
    return groups


def compare(
    current: Sequence[ProbeRecord],
    baseline: Report,
    *,
    path: str,
    confidence: float,
) -> BaselineDiff:
    """The run against its baseline report (the report's ``baseline`` section)."""
    base = baseline.probes
    alpha = 1.0 - confidence
    by: dict[str, dict[str, dict[str, Comparison]]] = {}
    for key in ("category", "attack"):
        now, then = _groups(current, key), _groups(base, key)
        by[key] = {
            group: _compare(now.get(group, []), then.get(group, []), alpha)
            for group in sorted(set(now) | set(then))
        }
    before = {r.nodeid: r for r in base}
    after = {r.nodeid: r for r in current}
    return BaselineDiff(
        path=path,
        model=baseline.model,
        created=baseline.created,
        totals=_compare(current, base, alpha),
        by_category=by["category"],
        by_attack=by["attack"],
        newly_failing=tuple(
            _change(before[n], after[n])
            for n in sorted(after)
            if n in before and before[n].outcome == "pass" and after[n].outcome == "fail"
        ),
        newly_passing=tuple(
            _change(before[n], after[n])
            for n in sorted(after)
            if n in before and before[n].outcome == "fail" and after[n].outcome == "pass"
        ),
        only_in_baseline=len(set(before) - set(after)),
        only_in_current=len(set(after) - set(before)),
        paired=paired(current, base),
    )


def _change(was: ProbeRecord, now: ProbeRecord) -> Change:
    return Change(
        now.nodeid, now.category, now.attack, was.outcome, now.outcome, tuple(now.reasons)
    )
