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


def collect_record(runtime: Runtime, report: pytest.TestReport) -> None:
    """Keeps the newest record of each probe.

    A probe whose setup failed before the plugin could record it (a user fixture raised,
    say) still counts, as an ``error`` built from the metadata set at collection.
    """
    props = dict(report.user_properties)
    if RECORD_KEY in props and report.when == "teardown":  # once per probe, not per phase
        runtime.records[report.nodeid] = ProbeRecord.from_json(str(props[RECORD_KEY]))
    elif META_KEY in props and report.failed and report.nodeid not in runtime.records:
        meta = json.loads(str(props[META_KEY]))
        message = _last_line(report)
        runtime.records[report.nodeid] = ProbeRecord(
            **meta, outcome="error", reasons=[message], error=message
        )
