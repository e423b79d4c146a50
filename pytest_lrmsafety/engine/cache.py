"""The SQLite cache: every completion and verdict, written the moment it arrives."""

from __future__ import annotations

import ast
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..judges.base import Verdict
from ..models.base import Completion
from ..safeload import json_text, load_json

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
CREATE TABLE IF NOT EXISTS endpoints (
    model TEXT PRIMARY KEY, endpoint TEXT NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS completions_by_model ON completions (model, created);
CREATE TABLE IF NOT EXISTS suites (digest TEXT PRIMARY KEY, checked REAL NOT NULL);
"""
# Added to schema 1 without a new version: older files gain them when opened for writing,
# and a reader of an older file finds no endpoints (see ``identities``) and no checked
# suites (``suite_checked``).


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


def identity_text(identity: object) -> str:
    """The ``model`` column: the client's identity as canonical JSON (older files hold
    Python's ``repr`` of it)."""
    return json_text(identity, sort_keys=True, separators=(",", ":"))


def _identity_from(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)  # written before the column held JSON
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class CachedModel:
    """The completions a cache holds for one model identity, and where they came from."""

    identity: dict[str, Any] | None  # None: a ``model`` value this plugin cannot read
    entries: int
    latest: float
    endpoint: str | None  # the URLs that last wrote them (older files: None)


@dataclass(frozen=True)
class CacheGroup:
    """One line of ``lrmsafety cache stats``: a model identity's completions or a judge's
    verdicts."""

    table: str  # "completions" or "verdicts"
    name: str  # the ``model`` column (identity JSON) or the judge
    identity: dict[str, Any] | None  # the model identity, read back (completions only)
    entries: int
    oldest: float
    newest: float
    endpoint: str | None = None  # the URLs that last wrote them (completions only)


def completion_to_json(completion: Completion) -> str:
    return json_text(completion.as_dict(), sort_keys=True)


def completion_from_json(text: str) -> Completion | None:
    """The completion a row holds; ``None`` (a miss: generated again and written over) when
    the row does not read back as one: a damaged row, or another writer's."""
    from .cassette import completion_from_data

    try:
        data = load_json(text)
        return completion_from_data(data) if isinstance(data, dict) else None
    except (ValueError, TypeError, KeyError):
        return None


def verdict_from_json(text: str) -> Verdict | None:
    """The verdict a row holds; ``None`` (judged again) when it does not read back as one."""
    try:
        data = load_json(text)
        return Verdict(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError, KeyError):
        return None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; in a folder this user cannot write (where SQLite cannot make
    the WAL index beside the file), the file is opened as immutable instead."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60, check_same_thread=False)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError:
        conn.close()
        if os.access(path.parent, os.W_OK):
            raise
        conn = sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, timeout=60, check_same_thread=False
        )
    return conn


class Cache:
    """Completions and verdicts by content address, in ``DIR/cache.sqlite`` (WAL).

    Modes: ``rw`` reads and writes; ``ro`` reads only; ``off`` neither; ``refresh`` writes
    but never reads (regenerates everything, keeps the new results). Safe to share between
    threads and between xdist workers (SQLite's own locking; one connection per thread).
    """

    def __init__(
        self, directory: Path | None, mode: str = "rw", where: str = "--lrm-cache-dir"
    ) -> None:
        """``where`` names the setting the folder came from, for the errors."""
        if mode not in CACHE_MODES:
            raise ConfigError(f"cache mode {mode!r} is not one of {', '.join(CACHE_MODES)}")
        self.mode = mode
        self._where = where
        self.path = directory / FILE_NAME if directory is not None else None
        self._local = threading.local()
        #: The URLs this run's completions come from, kept beside them (see ``identities``).
        self.endpoint: str | None = None
        self._noted: set[str] = set()
        self._models: list[CachedModel] | None = None
        if self.path is None or mode == "off":
            self.mode = "off"
            return
        if directory is not None and directory.exists() and not directory.is_dir():
            raise ConfigError(f"{where} {directory}: a file, not a folder")
        if mode == "ro" and not self.path.exists():
            self.path = None  # nothing to read yet
            return
        if mode != "ro":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"{where} {directory}: cannot create it: {exc.strerror}"
                ) from None
        try:
            self._check_schema(self._connection())
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"cache {self.path}: not a pytest-lrmsafety cache ({exc}); move it away (a "
                f"damaged cache too) or choose another {where}"
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
                conn = _connect_read_only(self.path)
            else:
                conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
                _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            # another program's database: adding our tables to it would change its file
            raise ConfigError(
                f"cache {self.path}: an SQLite file of another program (tables "
                f"{', '.join(sorted(tables)[:5])}), not a pytest-lrmsafety cache; choose "
                f"another {self._where}"
            )
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
        # A partly overwritten file opens and then fails on the first page it reads, in every
        # probe; one check of the b-trees now (about 2 ms per MB) makes it one usage error.
        damage = conn.execute("PRAGMA quick_check(1)").fetchone()
        if damage is None or damage[0] != "ok":
            raise sqlite3.DatabaseError(damage[0] if damage else "quick_check gave nothing")

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
            for key, text in rows:
                completion = completion_from_json(text)
                if completion is not None:
                    found[key] = completion
        return found

    def put_completion(self, key: str, request: Mapping[str, Any], completion: Completion) -> None:
        if not self.writes:
            return
        model = identity_text(request.get("model", ""))
        conn = self._connection()
        now = time.time()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    json_text(request, sort_keys=True),
                    completion_to_json(completion),
                    now,
                ),
            )
            if self.endpoint is not None and model not in self._noted:
                # once per model and process: which URLs this model's entries came from
                conn.execute(
                    "INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?)", (model, self.endpoint, now)
                )
                self._noted.add(model)

    def identities(self) -> list[CachedModel]:
        """Every model identity the cache holds completions of, with counts and the URLs
        that wrote them (read once per run: a grouped scan of the ``model`` index)."""
        if self._models is not None:
            return self._models
        if not self.reads:
            return []
        conn = self._connection()
        rows = conn.execute(
            "SELECT model, COUNT(*), MAX(created) FROM completions GROUP BY model"
        ).fetchall()
        try:
            endpoints = dict(conn.execute("SELECT model, endpoint FROM endpoints").fetchall())
        except sqlite3.OperationalError:  # a file from before endpoints were recorded
            endpoints = {}
        self._models = [
            CachedModel(_identity_from(model), int(count), float(latest), endpoints.get(model))
            for model, count, latest in rows
        ]
        return self._models

    def suite_checked(self, digest: str) -> bool:
        """Whether a suite file with this text passed the schema before (``cases/loader.py``
        ``suite_digest``: the file's text and the schema's), so a rerun need not check it."""
        if not self.reads:
            return False
        try:
            row = (
                self._connection()
                .execute("SELECT 1 FROM suites WHERE digest=?", (digest,))
                .fetchone()
            )
        except sqlite3.Error:  # an older file read only (no table yet): check the suite
            return False
        return row is not None

    def note_suite_checked(self, digest: str) -> None:
        """Remembers a suite text that passed the schema (a failed write only costs the next
        run the check)."""
        if not self.writes:
            return
        conn = self._connection()
        try:
            with conn:
                conn.execute("INSERT OR IGNORE INTO suites VALUES (?, ?)", (digest, time.time()))
        except sqlite3.Error:
            pass

    def get_verdict(self, key: str) -> Verdict | None:
        if not self.reads:
            return None
        row = (
            self._connection()
            .execute("SELECT verdict FROM verdicts WHERE key=?", (key,))
            .fetchone()
        )
        return verdict_from_json(row[0]) if row else None

    def get_verdicts(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """Many verdicts in one query (a probe's judges on each target); a row that does not
        read back as a verdict is left out (judged again)."""
        if not self.reads or not keys:
            return {}
        found: dict[str, Verdict] = {}
        conn = self._connection()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT key, verdict FROM verdicts WHERE key IN ({marks})", chunk)
            for key, text in rows:
                verdict = verdict_from_json(text)
                if verdict is not None:
                    found[key] = verdict
        return found

    def put_verdict(self, key: str, verdict: Verdict) -> None:
        if not self.writes or verdict.error is not None:  # errors are retried, not remembered
            return
        conn = self._connection()
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)",
                (key, verdict.judge, json_text(verdict.as_dict(), sort_keys=True), time.time()),
            )

    def groups(self) -> list[CacheGroup]:
        """``lrmsafety cache stats``: completions per model identity (with the URLs that
        last wrote them), then verdicts per judge, oldest first."""
        if not self.reads:
            return []
        conn = self._connection()
        try:
            endpoints = dict(conn.execute("SELECT model, endpoint FROM endpoints").fetchall())
        except sqlite3.OperationalError:  # a file from before endpoints were recorded
            endpoints = {}
        completions = conn.execute(
            "SELECT model, COUNT(*), MIN(created), MAX(created) FROM completions GROUP BY model"
        ).fetchall()
        verdicts = conn.execute(
            "SELECT judge, COUNT(*), MIN(created), MAX(created) FROM verdicts GROUP BY judge"
        ).fetchall()
        out = [
            CacheGroup("completions", name, _identity_from(name), n, old, new, endpoints.get(name))
            for name, n, old, new in completions
        ]
        out += [CacheGroup("verdicts", name, None, n, old, new) for name, n, old, new in verdicts]
        return sorted(out, key=lambda g: (g.table, g.oldest))

    def purge(self, *, before: float | None = None, models: Sequence[str] | None = None) -> int:
        """Deletes entries, then shrinks the file (``VACUUM``): all of them; those written
        before ``before`` (a UNIX time); or, with ``models`` (``model`` column values), those
        models' completions (verdicts name no model: their judges' labels and rationales are
        kept). Returns how many entries went."""
        if not self.writes:
            raise ConfigError(f"cache {self.path}: opened read-only; cannot purge it")
        old = "created < ?" if before is not None else "1"
        since = [before] if before is not None else []
        removed = 0
        conn = self._connection()
        with conn:
            if models is None:
                removed += conn.execute(f"DELETE FROM completions WHERE {old}", since).rowcount
                removed += conn.execute(f"DELETE FROM verdicts WHERE {old}", since).rowcount
            for model in models or ():
                removed += conn.execute(
                    f"DELETE FROM completions WHERE {old} AND model = ?", [*since, model]
                ).rowcount
            # the URLs of models with nothing left go too (endpoints: see ``identities``)
            conn.execute("DELETE FROM endpoints WHERE model NOT IN (SELECT model FROM completions)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._models = None
        return removed

    def size(self) -> int:
        """Bytes on disk: the file and its write-ahead log."""
        if self.path is None:
            return 0
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def close(self) -> None:
        """Closes this thread's connection. Others belong to pool threads that may still be
        finishing a request (after Ctrl-C): closing a connection under a running statement
        crashes SQLite, so they go with their daemon threads when the process ends."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
