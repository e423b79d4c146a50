"""Turning test reports (local or from xdist workers) into probe records on the controller.

It reads what a report carries (``user_properties``, ``longrepr``) and keeps records in the
mapping it is given: no run state, so it works on any test report."""

from __future__ import annotations

import json
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from .scoreboard import META_KEY, RECORD_KEY, ProbeRecord

if TYPE_CHECKING:
    import pytest


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


# Values that repeat from probe to probe: kept once for the whole run, not once per record
# (the controller keeps every record to the end, for the report).
SHARED_VALUES = frozenset(
    {"suite", "category", "attack", "expect", "severity", "outcome", "thinking_status",
     "model", "finish_reason", "effort", "judge", "target", "label", "role"}
)  # fmt: skip


def _shared(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    intern = sys.intern
    return {intern(k): intern(v) if k in SHARED_VALUES and type(v) is str else v for k, v in pairs}


def read_record(text: str) -> ProbeRecord:
    """A record from its JSON text, its keys and repeated values shared with the others."""
    return ProbeRecord(**json.loads(text, object_pairs_hook=_shared))


def collect_record(
    records: MutableMapping[str, ProbeRecord],
    report: pytest.TestReport,
    taken: set[str] | None = None,
) -> None:
    """Keeps the newest record of each probe in ``records`` (by node id).

    A probe whose setup failed before the plugin could record it (a user fixture raised,
    say) still counts, as an ``error`` built from the metadata set at collection.

    With ``taken`` (the controller's reporter: the node ids whose record was read in the
    test's current run), the record is read from the first phase that carries it and its
    text leaves every report at once: pytest's terminal reporter keeps every report to the
    end of the run, so texts left there would grow memory with each probe. The setup and
    call reports lose the record; the teardown report (the one JUnit XML reads) gets the
    compact properties of :func:`junit_properties`.
    """
    props = dict(report.user_properties)
    if taken is not None and (RECORD_KEY in props or report.nodeid in taken):
        nodeid = report.nodeid
        if nodeid not in taken:
            records[nodeid] = read_record(str(props[RECORD_KEY]))
            taken.add(nodeid)
        if report.when == "teardown":
            taken.discard(nodeid)
            report.user_properties = junit_properties(report.user_properties, records[nodeid])
        elif RECORD_KEY in props:
            report.user_properties = [p for p in report.user_properties if p[0] != RECORD_KEY]
    elif RECORD_KEY in props and report.when == "teardown":  # once per probe, not per phase
        record = ProbeRecord.from_json(str(props[RECORD_KEY]))
        records[report.nodeid] = record
        report.user_properties = junit_properties(report.user_properties, record)
    elif META_KEY in props and report.failed and report.nodeid not in records:
        meta = json.loads(str(props[META_KEY]))
        message = _last_line(report)
        records[report.nodeid] = ProbeRecord(
            **meta, outcome="error", reasons=[message], error=message
        )
