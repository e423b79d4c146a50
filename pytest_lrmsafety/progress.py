"""The progress line of a long generation:
``[lrm] 120/1000 done, 35.2/s, 2 errors, 32 in flight, ETA 25 s``.

A test that waits for its completion runs under pytest's capture, which would swallow a plain
print; the line goes through the terminal reporter with the capture suspended around it.
Under xdist the engines run on the workers, whose output nobody sees: each worker writes its
counts to a small JSON file every second (:class:`WorkerFeed`), and the controller, which runs
no tests, sums them on a daemon thread and writes the line (:class:`LiveProgress`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from .engine.engine import Engine

EVERY_S = 5.0  # a line at most this often
FIRST_AFTER_S = 2.0  # a generation that ends sooner needs no progress line
FEED_EVERY_S = 1.0  # how often a worker writes its counts
POLL_S = 0.5  # how often the controller reads them
SLOWEST_AFTER_S = 10.0  # a probe in flight this long is named on the line
PROGRESS_DIR_KEY = "lrm_progress_dir"  # workerinput: where the workers write their counts
FEED_VERSION = 1


@dataclass(frozen=True)
class Snapshot:
    """What the engines have done so far (one engine, or the sum of the workers')."""

    planned: int = 0
    done: int = 0
    errors: int = 0
    in_flight: int = 0
    rate: float = 0.0  # completions per second
    eta_s: float | None = None  # None: not known yet
    elapsed_s: float = 0.0
    slowest: str = ""  # the probe in flight the longest
    slowest_s: float = 0.0
    generated: int = 0  # completions generated (not from the cache)
    calls: int = 0  # the calls of the model under test they took

    @property
    def busy(self) -> bool:
        return self.done < self.planned

    @classmethod
    def of(cls, engine: Engine) -> Snapshot:
        """The engine's counts now."""
        stats = engine.stats
        now = time.monotonic()
        elapsed = max(now - stats.started, 1e-9)
        rate = (stats.generated + stats.errors) / elapsed
        left = max(stats.planned - stats.done, 0)
        oldest = engine.pool.oldest_running()
        return cls(
            planned=stats.planned,
            done=stats.done,
            errors=stats.errors,
            in_flight=engine.pool.in_flight,
            rate=rate,
            eta_s=left / rate if rate > 0 else (0.0 if not left else None),
            elapsed_s=elapsed,
            slowest=oldest.label if oldest is not None else "",
            slowest_s=now - oldest.began if oldest is not None else 0.0,
            generated=stats.generated,
            calls=stats.model_calls,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def combine(snapshots: Iterable[Snapshot]) -> Snapshot:
    """The workers' snapshots as one: counts and rates add up; the workers run their shares
    side by side, so the run ends with the last of them (the longest ETA)."""
    parts = list(snapshots)
    if not parts:
        return Snapshot()
    busy = [s for s in parts if s.busy]
    etas = [s.eta_s for s in busy]
    slowest = max(parts, key=lambda s: s.slowest_s)
    return Snapshot(
        planned=sum(s.planned for s in parts),
        done=sum(s.done for s in parts),
        errors=sum(s.errors for s in parts),
        in_flight=sum(s.in_flight for s in parts),
        rate=sum(s.rate for s in parts),
        eta_s=None if None in etas else max((e for e in etas if e is not None), default=0.0),
        elapsed_s=max(s.elapsed_s for s in parts),
        slowest=slowest.slowest,
        slowest_s=slowest.slowest_s,
        generated=sum(s.generated for s in parts),
        calls=sum(s.calls for s in parts),
    )


def progress_line(snap: Snapshot, *, quiet: bool = False) -> str:
    """``[lrm] 120/1000 done, 35.2/s, 2 errors, 32 in flight, ETA 25 s``, and the probe in
    flight the longest when that is long (not under ``-q``); ``120/1000 done, 412 model
    calls, ...`` where probes took several calls each (``--lrm-rpm`` counts calls)."""
    errors = f"{snap.errors} error" + ("" if snap.errors == 1 else "s")
    eta = span(snap.eta_s) if snap.eta_s is not None else "unknown"
    # the model calls once some probe took more than one (turns, rounds, steps, retries)
    calls = (
        f"{snap.calls} model calls, "
        if snap.calls > snap.generated + snap.errors + snap.in_flight
        else ""
    )
    line = (
        f"[lrm] {snap.done}/{snap.planned} done, {calls}{snap.rate:.1f}/s, {errors}, "
        f"{snap.in_flight} in flight, ETA {eta}"
    )
    if not quiet and snap.slowest and snap.slowest_s >= SLOWEST_AFTER_S:
        line += f", slowest: {snap.slowest} {span(snap.slowest_s)}"
    return line


def span(seconds: float) -> str:
    """``25 s``, ``12 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


PROGRESS = pytest.StashKey["LiveProgress"]()


class LiveProgress:
    """The progress line on the controller (the only process of a run without xdist).

    Made by the controller's reporter, which forwards its hooks here; the engine's wait
    callback (``Runtime.show_progress``) and the xdist hooks find it in ``config.stash``.

    Args:
        config: The run's config.
        mode: ``--lrm-progress``: ``on``, ``off`` or ``auto`` (only when the terminal
            reporter writes to a terminal).
    """

    def __init__(self, config: pytest.Config, mode: str) -> None:
        self.config = config
        self._enabled: bool | None = None if mode == "auto" else mode == "on"
        self._next_at = 0.0
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._latest = Snapshot()
        self._last_report = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def install(cls, config: pytest.Config, mode: str) -> LiveProgress:
        """Makes the run's progress line and keeps it in ``config.stash``."""
        progress = config.stash[PROGRESS] = cls(config, mode)
        return progress

    @property
    def enabled(self) -> bool:
        if self._enabled is None:
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is None:
                return False
            # CallableBool on pytest >= 8.3, a plain bool before: bool() reads both
            self._enabled = bool(getattr(reporter, "isatty", False))
        return self._enabled

    def on_wait(self, engine: Engine) -> None:
        """A test waits for its completion (under capture): the line, if one is due."""
        if self.enabled:
            self._show(Snapshot.of(engine), past_capture=True)

    def on_report(self, engine: Engine | None) -> None:
        """A test report arrived (no capture here): the line, if one is due."""
        if not self.enabled:
            return
        if self._thread is not None:  # xdist: the workers' sum, kept fresh by the thread
            self._last_report = time.monotonic()
            self._show(self._latest, past_capture=False)
        elif engine is not None:
            self._show(Snapshot.of(engine), past_capture=False)

    def feed_folder(self) -> str | None:
        """xdist: the folder the workers write their counts to (made on the first call, with
        the thread that reads them); ``None`` when no line is shown."""
        if not self.enabled:
            return None
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="lrmsafety-progress-"))
            self._thread = threading.Thread(target=self._watch, name="lrm-progress", daemon=True)
            self._thread.start()
        return str(self._folder)

    def close(self) -> None:
        """Stops the thread and removes the workers' files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * POLL_S)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            assert self._folder is not None
            self._latest = combine(read_feeds(self._folder))
            # Lines come from the main thread while reports arrive (no interleaving with
            # the terminal reporter's own writes); from here only when it is quiet.
            if time.monotonic() - self._last_report >= POLL_S:
                with contextlib.suppress(OSError, ValueError):  # the output went away
                    self._show(self._latest, past_capture=False)

    def _show(self, snap: Snapshot, *, past_capture: bool) -> None:
        if not snap.busy or snap.elapsed_s < FIRST_AFTER_S or self._stop.is_set():
            return
        with self._lock:
            now = time.monotonic()
            if now < self._next_at:
                return
            self._next_at = now + EVERY_S
        self._write(progress_line(snap, quiet=self.config.get_verbosity() < 0), past_capture)

    def _write(self, line: str, past_capture: bool) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capman = self.config.pluginmanager.get_plugin("capturemanager") if past_capture else None
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            reporter.ensure_newline()  # ends a "file.yaml ..." line
            writer = self.config.get_terminal_writer()
            if writer.width_of_current_line:  # a line of dots without a file name (-q, xdist)
                writer.line()
            reporter.write_line(line)
            reporter.flush()


def read_feeds(folder: Path) -> list[Snapshot]:
    """The workers' latest counts (a file being replaced or unreadable is skipped)."""
    snapshots = []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["progress_version"] == FEED_VERSION:
                snapshots.append(Snapshot.from_dict(data))
    return snapshots


class WorkerFeed:
    """On an xdist worker: writes the engine's counts to ``<folder>/<worker id>.json`` every
    second on a daemon thread, replacing the file at once so the controller never reads half
    of one, until the engine closes.

    Args:
        folder: The controller's folder for this run.
        worker_id: ``gw0``.
        engine: This worker's engine.
    """

    def __init__(self, folder: Path, worker_id: str, engine: Engine) -> None:
        self.path = folder / f"{worker_id}.json"
        self.engine = engine
        self._thread = threading.Thread(target=self._run, name="lrm-progress-feed", daemon=True)

    @classmethod
    def start_for(cls, config: pytest.Config, engine: Engine) -> WorkerFeed | None:
        """Starts the feed on a worker whose controller shows progress; ``None`` elsewhere."""
        workerinput: dict[str, Any] = getattr(config, "workerinput", None) or {}
        folder = workerinput.get(PROGRESS_DIR_KEY)
        if not folder:
            return None
        feed = cls(Path(folder), str(workerinput["workerid"]), engine)
        feed._thread.start()
        return feed

    def _run(self) -> None:
        while True:
            closed = self.engine.closed
            self.write()
            if closed:
                return
            time.sleep(FEED_EVERY_S)

    def write(self) -> None:
        """Writes the counts now; a folder removed by a controller that is done is no error."""
        data = {"progress_version": FEED_VERSION, **asdict(Snapshot.of(self.engine))}
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
