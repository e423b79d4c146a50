"""Turning test reports (local or from xdist workers) into probe records on the controller."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .scoreboard import META_KEY, RECORD_KEY, ProbeRecord

if TYPE_CHECKING:
    from ..runtime import Runtime


def _last_line(report: pytest.TestReport) -> str:
    """The exception's one-line message (``RuntimeError: ...``), else the report's last line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        # pytest.fail(...) shows as "Failed: <message>": the message is what counts.
        return str(crash.message).splitlines()[0].removeprefix("Failed: ")
    text = str(report.longrepr or "").strip()
    return text.splitlines()[-1] if text else "setup failed"


# What the JUnit XML (and anything else reading user_properties) keeps of a record: no
# model text, which can be long and harmful; the JSON and HTML reports have it.
TEXT_FIELDS = ("thinking", "answer", "answer_decoded", "messages", "turns", "rounds")


def junit_properties(
    properties: list[tuple[str, object]], record: ProbeRecord
) -> list[tuple[str, object]]:
    """The test's properties with the record made compact, plus one property per fact:
    ``lrm_category``, ``lrm_attack``, ``lrm_outcome``, ``lrm_verdicts``
    (``judge/target=label`` joined by commas)."""
    compact = {k: v for k, v in vars(record).items() if k not in TEXT_FIELDS}
    verdicts = ", ".join(
        f"{v['judge']}/{v['target']}={v['label'] if v['label'] is not None else 'error'}"
        for v in record.verdicts
    )
    kept = [(k, v) for k, v in properties if not k.startswith("lrm_")]
    return [
        *kept,
        ("lrm_category", record.category),
        ("lrm_attack", record.attack),
        ("lrm_outcome", record.outcome),
        ("lrm_verdicts", verdicts),
        (RECORD_KEY, json.dumps(compact, sort_keys=True)),
    ]


def collect_record(runtime: Runtime, report: pytest.TestReport) -> None:
    """Keeps the newest record of each probe.

    A probe whose setup failed before the plugin could record it (a user fixture raised,
    say) still counts, as an ``error`` built from the metadata set at collection.
    """
    props = dict(report.user_properties)
    if RECORD_KEY in props and report.when == "teardown":  # once per probe, not per phase
        record = ProbeRecord.from_json(str(props[RECORD_KEY]))
        runtime.records[report.nodeid] = record
        report.user_properties = junit_properties(report.user_properties, record)
    elif META_KEY in props and report.failed and report.nodeid not in runtime.records:
        meta = json.loads(str(props[META_KEY]))
        message = _last_line(report)
        runtime.records[report.nodeid] = ProbeRecord(
            **meta, outcome="error", reasons=[message], error=message
        )
