"""The SQLite cache: every completion and verdict, written the moment it arrives."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..judges.base import Verdict
from ..models.base import Completion

SCHEMA_VERSION = 1
CACHE_MODES = ("rw", "ro", "off", "refresh")
FILE_NAME = "cache.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,
    completion TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY, judge TEXT NOT NULL, verdict TEXT NOT NULL, created REAL NOT NULL);
"""


def _retry_locked(action: Callable[[], object], limit_s: float = 30.0) -> None:
    """Runs a statement that SQLite may refuse while another process (an xdist worker) sets
    up the same file: switching to WAL does not wait on the busy timeout."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def completion_to_json(completion: Completion) -> str:
    return json.dumps(completion.as_dict(), ensure_ascii=False, sort_keys=True)


def completion_from_json(text: str) -> Completion:
    data: dict[str, Any] = json.loads(text)
    return Completion(**data)


class Cache:
    """Completions and verdicts by content address, in ``DIR/cache.sqlite`` (WAL).

    Modes: ``rw`` reads and writes; ``ro`` reads only; ``off`` neither; ``refresh`` writes
    but never reads (regenerates everything, keeps the new results). Safe to share between
    threads and between xdist workers (SQLite's own locking; one connection per thread).
    """

    def __init__(self, directory: Path | None, mode: str = "rw") -> None:
        if mode not in CACHE_MODES:
            raise ConfigError(f"cache mode {mode!r} is not one of {', '.join(CACHE_MODES)}")
        self.mode = mode
        self.path = directory / FILE_NAME if directory is not None else None
        self._local = threading.local()
        if self.path is None or mode == "off":
            self.mode = "off"
        elif mode == "ro" and not self.path.exists():
            self.path = None  # nothing to read yet
        elif mode != "ro":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path is not None and self.mode != "off":
            try:
                self._check_schema(self._connection())
            except sqlite3.DatabaseError as exc:
                raise ConfigError(
                    f"cache {self.path}: not a pytest-lrmsafety cache ({exc}); move it away "
                    "or choose another --lrm-cache-dir"
                ) from None

    @property
    def reads(self) -> bool:
        return self.path is not None and self.mode in ("rw", "ro")

    @property
    def writes(self) -> bool:
        return self.path is not None and self.mode in ("rw", "refresh")

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            if self.mode == "ro":
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, timeout=60, check_same_thread=False
                )
            else:
                conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
                _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        if self.mode != "ro":

            def create() -> None:
                with conn:
                    conn.executescript(_SCHEMA)
                    conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )

            _retry_locked(create)
        row = conn.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = row[0] if row else "none"
            raise ConfigError(
                f"cache {self.path}: schema version {found}, this plugin needs {SCHEMA_VERSION}; "
                "move the file away or run with --lrm-cache off"
            )

    def get_completion(self, key: str) -> Completion | None:
        if not self.reads:
            return None
        row = (
            self._connection()
            .execute("SELECT completion FROM completions WHERE key=?", (key,))
            .fetchone()
        )
        return completion_from_json(row[0]) if row else None

    def get_completions(self, keys: Sequence[str]) -> dict[str, Completion]:
        """Many lookups in a few queries (planning thousands of probes at once)."""
        if not self.reads or not keys:
            return {}
        found: dict[str, Completion] = {}
        conn = self._connection()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, completion FROM completions WHERE key IN ({marks})", chunk
            )
            found.update((key, completion_from_json(text)) for key, text in rows)
        return found

    def put_completion(self, key: str, request: Mapping[str, Any], completion: Completion) -> None:
        if not self.writes:
            return
        conn = self._connection()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    str(request.get("model", "")),
                    json.dumps(request, ensure_ascii=False, sort_keys=True),
                    completion_to_json(completion),
                    time.time(),
                ),
            )

    def get_verdict(self, key: str) -> Verdict | None:
        if not self.reads:
            return None
        row = (
            self._connection()
            .execute("SELECT verdict FROM verdicts WHERE key=?", (key,))
            .fetchone()
        )
        return Verdict(**json.loads(row[0])) if row else None

    def put_verdict(self, key: str, verdict: Verdict) -> None:
        if not self.writes or verdict.error is not None:  # errors are retried, not remembered
            return
        conn = self._connection()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)",
                (key, verdict.judge, json.dumps(verdict.as_dict(), sort_keys=True), time.time()),
            )

    def close(self) -> None:
        """Closes this thread's connection. Others belong to pool threads that may still be
        finishing a request (after Ctrl-C): closing a connection under a running statement
        crashes SQLite, so they go with their daemon threads when the process ends."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
