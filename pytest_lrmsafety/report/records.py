"""Turning test reports (local or from xdist workers) into probe records on the controller.

It reads what a report carries (``user_properties``, ``longrepr``) and keeps records in the
mapping it is given: no run state, so it works on any test report."""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from collections.abc import Iterator, MutableMapping, Sequence
from typing import IO, TYPE_CHECKING, Any, overload

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
TEXT_FIELDS = ("thinking", "answer", "answer_decoded", "messages", "turns", "rounds", "steps")
_TEXTS = frozenset(TEXT_FIELDS)


def junit_properties(
    properties: list[tuple[str, object]], record: ProbeRecord
) -> list[tuple[str, object]]:
    """The test's properties with the record made compact, plus one property per fact:
    ``lrm_category``, ``lrm_attack``, ``lrm_outcome``, ``lrm_verdicts``
    (``judge/target=label`` joined by commas)."""
    compact = {k: v for k, v in vars(record).items() if k not in _TEXTS}
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
        (RECORD_KEY, json.dumps(compact)),  # in the record's field order, as it was made
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


def read_record(value: object) -> ProbeRecord:
    """A record from its JSON text (its keys and repeated values shared with the others), or
    the record itself when it was made in this process."""
    if isinstance(value, ProbeRecord):
        return value
    return ProbeRecord(**json.loads(str(value), object_pairs_hook=_shared))


class TextSpool:
    """The texts of the records the controller keeps (``TEXT_FIELDS``: thinking, answer,
    messages ...), in an unnamed temporary file rather than in memory: the records stay
    in memory without them (about 2 KB instead of 6 KB each), enough for every aggregate,
    gate and JUnit property; the report's probes read them back one at a time
    (:class:`SpooledProbes`). The file goes when the process ends."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._at: dict[str, tuple[int, int]] = {}  # node id -> (offset, length)
        self._end = 0  # where the next text goes
        self._read = False  # whether the file's position moved back for a read

    def keep(self, record: ProbeRecord) -> ProbeRecord:
        """The record without its texts, which go to the file."""
        self._at.pop(record.nodeid, None)  # a rerun's record replaces the last one
        texts = {k: v for k in TEXT_FIELDS if (v := getattr(record, k))}
        if not texts:
            return record
        if self._file is None:
            # open for the whole run (closed by close(), or with the process)
            self._file = tempfile.TemporaryFile(prefix="lrmsafety-texts-")  # noqa: SIM115
        data = json.dumps(texts).encode("ascii")  # \u escapes: a lone surrogate is kept too
        if self._read:  # back to the end after a read; else writes stay in io's buffer
            self._file.seek(self._end)
            self._read = False
        self._at[record.nodeid] = (self._end, len(data))
        self._file.write(data)
        self._end += len(data)
        empty: dict[str, Any] = {k: _EMPTY[k]() for k in texts}
        return _copy_with(record, empty)

    def full(self, record: ProbeRecord) -> ProbeRecord:
        """The record with its texts back."""
        at = self._at.get(record.nodeid)
        if at is None or self._file is None:
            return record
        self._file.seek(at[0])
        self._read = True
        return _copy_with(record, json.loads(self._file.read(at[1])))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._at.clear()
            self._end, self._read = 0, False


def _copy_with(record: ProbeRecord, changes: dict[str, Any]) -> ProbeRecord:
    """The record with some fields changed: ``dataclasses.replace`` without calling the
    frozen class's ``__init__`` again (45 guarded assignments, the spool's main cost per
    probe); the fields changed are the record's own text fields, already checked."""
    copy = object.__new__(ProbeRecord)
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy


_EMPTY = {  # what a record holds in place of a spooled text field
    f.name: (f.default_factory if f.default_factory is not dataclasses.MISSING else lambda: None)
    for f in dataclasses.fields(ProbeRecord)
    if f.name in TEXT_FIELDS
}


class SpooledProbes(Sequence[ProbeRecord]):
    """A report's probes whose texts are in a :class:`TextSpool`: each record is made whole
    when it is read, so writing the report never holds every text at once."""

    def __init__(self, records: Sequence[ProbeRecord], spool: TextSpool) -> None:
        self._records = tuple(records)
        self._spool = spool

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> ProbeRecord: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[ProbeRecord, ...]: ...
    def __getitem__(self, index: int | slice) -> ProbeRecord | tuple[ProbeRecord, ...]:
        if isinstance(index, slice):
            return tuple(self._spool.full(r) for r in self._records[index])
        return self._spool.full(self._records[index])

    def __iter__(self) -> Iterator[ProbeRecord]:
        return (self._spool.full(r) for r in self._records)

    @property
    def without_texts(self) -> tuple[ProbeRecord, ...]:
        """The records as kept, their texts left in the spool: for what reads no text."""
        return self._records

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpooledProbes({len(self._records)} records)"


def collect_record(
    records: MutableMapping[str, ProbeRecord],
    report: pytest.TestReport,
    taken: set[str] | None = None,
    spool: TextSpool | None = None,
    *,
    properties: bool = True,
) -> None:
    """Keeps the newest record of each probe in ``records`` (by node id).

    A probe whose setup failed before the plugin could record it (a user fixture raised,
    say) still counts, as an ``error`` built from the metadata set at collection.

    With ``taken`` (the controller's reporter: the node ids whose record was read in the
    test's current run), the record is read from the first phase that carries it and its
    text leaves every report at once: pytest's terminal reporter keeps every report to the
    end of the run, so texts left there would grow memory with each probe. The setup and
    call reports lose the record; the teardown report (the one JUnit XML reads) gets the
    compact properties of :func:`junit_properties` when ``properties`` (a plugin may read
    them: ``reporter.properties_read``; they cost a JSON text per probe).
    With ``spool`` too, the record kept leaves its texts there (:class:`TextSpool`).
    """
    props = dict(report.user_properties)
    if taken is not None and (RECORD_KEY in props or report.nodeid in taken):
        nodeid = report.nodeid
        if nodeid not in taken:
            record = read_record(props[RECORD_KEY])
            records[nodeid] = spool.keep(record) if spool is not None else record
            taken.add(nodeid)
        if report.when == "teardown":
            taken.discard(nodeid)
            if properties:
                report.user_properties = junit_properties(report.user_properties, records[nodeid])
        elif RECORD_KEY in props:
            report.user_properties = [p for p in report.user_properties if p[0] != RECORD_KEY]
    elif RECORD_KEY in props and report.when == "teardown":  # once per probe, not per phase
        value = props[RECORD_KEY]
        record = value if isinstance(value, ProbeRecord) else ProbeRecord.from_json(str(value))
        records[report.nodeid] = record
        report.user_properties = junit_properties(report.user_properties, record)
    elif META_KEY in props and report.failed and report.nodeid not in records:
        meta = json.loads(str(props[META_KEY]))
        message = _last_line(report)
        records[report.nodeid] = ProbeRecord(
            **meta, outcome="error", reasons=[message], error=message
        )


def without_texts(probes: Sequence[ProbeRecord]) -> Sequence[ProbeRecord]:
    """A report's probes for reading what is not text (verdicts, outcomes): the records as
    kept where the texts are spooled, without reading every text back from the file."""
    return probes.without_texts if isinstance(probes, SpooledProbes) else probes
