"""Record and replay: a run's completions as JSON lines, and a client that serves them back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from ..models.base import (
    THINKING_STATUSES,
    Completion,
    GenerationError,
    Message,
    ModelClient,
    SamplingParams,
)
from ..safeload import json_text, load_json

CASSETTE_VERSION = 1
REPLAY_PREFIX = "replay:"
_COMPLETION_FIELDS = tuple(Completion.__dataclass_fields__)


FileLock = Callable[[IO[str]], None]


def _file_locks() -> tuple[FileLock, FileLock]:
    """Lock and unlock of a whole-line append, chosen on first use: ``fcntl.flock`` on
    POSIX, ``msvcrt.locking`` on Windows (which has no ``fcntl``), else none (the thread
    lock still keeps one process's lines whole)."""
    try:
        import fcntl
    except ImportError:
        pass
    else:
        return (
            lambda file: fcntl.flock(file, fcntl.LOCK_EX),
            lambda file: fcntl.flock(file, fcntl.LOCK_UN),
        )
    try:
        import msvcrt
    except ImportError:
        return (lambda file: None, lambda file: None)

    # msvcrt locks bytes from the current position: always the first byte, which every
    # writer agrees on (the file is in append mode, so writes still go to its end).
    def lock(file: IO[str]) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]

    def unlock(file: IO[str]) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]

    return lock, unlock


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "thinking": (str, type(None)),
    "answer": (str,),
    "thinking_status": (str,),
    "finish_reason": (str, type(None)),
    "usage": (dict,),
    "latency_s": (int, float),
    "model": (str,),
    "raw": (dict,),
}


def completion_from_data(data: Mapping[str, Any]) -> Completion:
    """A completion from a recorded line, each field of the type it must have.

    Raises:
        ValueError: Naming the first field that is missing or of another type.
    """
    for name in ("answer", "thinking_status"):
        if name not in data:
            raise ValueError(f"no {name!r}")
    fields = {k: data[k] for k in _COMPLETION_FIELDS if k in data}
    for name, value in fields.items():
        kinds = _FIELD_TYPES.get(name)
        if kinds and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise ValueError(f"{name!r} is a {type(value).__name__}, not {kinds[0].__name__}")
    if fields["thinking_status"] not in THINKING_STATUSES:
        raise ValueError(
            f"'thinking_status' {fields['thinking_status']!r} is not one of "
            f"{', '.join(THINKING_STATUSES)}"
        )
    return Completion(**fields)


class Recorder:
    """Appends one JSON line per completion; the first line names the format and the model.

    Each line: ``key`` (the request key), ``request`` (model identity, messages, sampling,
    sample index) and the completion (``thinking``, ``answer``, ``thinking_status``,
    ``finish_reason``, ``usage``, ``latency_s``, ``model``, ``raw``). Lines are flushed as
    written, so a cassette of an interrupted run holds everything that finished.
    """

    def __init__(self, path: Path, identity: Mapping[str, Any]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # The plugin empties the file when the run starts; xdist workers then append to it,
        # each line written whole under an OS lock.
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._lock_file, self._unlock_file = _file_locks()
        self._seen: set[str] = set()
        self._read_to = 0  # how far this recorder has read the file for others' keys
        self._write({"cassette_version": CASSETTE_VERSION, "model": dict(identity)})

    def _others_keys(self) -> None:
        """Notes the keys other writers (xdist workers, another run sharing the folder) have
        appended since this recorder last looked, so that no probe is written twice."""
        size = self.path.stat().st_size
        if size <= self._read_to:
            self._read_to = min(self._read_to, size)
            return
        with self.path.open("rb") as handle:
            handle.seek(self._read_to)
            chunk = handle.read(size - self._read_to)
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        for line in chunk[:end].splitlines():
            if line.startswith(b'{"answer"') or b'"key": "' in line:
                try:
                    key = json.loads(line).get("key")
                except (ValueError, AttributeError):
                    continue
                if isinstance(key, str):
                    self._seen.add(key)
        self._read_to += end

    def _write(self, data: Mapping[str, Any], key: str | None = None) -> None:
        line = json_text(data, sort_keys=True) + "\n"
        self._lock_file(self._file)
        try:
            self._others_keys()
            if key is not None:
                if key in self._seen:
                    return
                self._seen.add(key)
            self._file.write(line)
            self._file.flush()
            self._read_to = self.path.stat().st_size
        finally:
            self._unlock_file(self._file)

    def write(self, key: str, request: Mapping[str, Any], completion: Completion) -> None:
        with self._lock:
            if key in self._seen or self._file.closed:
                return
            self._write({"key": key, "request": dict(request), **completion.as_dict()}, key)

    def close(self) -> None:
        with self._lock:
            self._file.close()


class ReplayClient(ModelClient):
    """Serves a recorded cassette: no model, no network. A probe it lacks is an error."""

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self._name = REPLAY_PREFIX + display
        self._entries: dict[str, Completion] = {}
        self.identity: dict[str, Any] = {}
        self._load()

    #: A cassette holds whatever was recorded, prefilled probes included (a probe it lacks
    #: is an error that says so).
    supports_prefill = True
    replays = True  # the engine asks lookup() and never generate()

    def budget_unsupported(self, budget: int) -> str | None:
        """A budget probe is replayed as recorded (its budget is in the request key)."""
        return None

    def _load(self) -> None:
        where = f"--lrm-model {self._name}"
        if self._name == REPLAY_PREFIX:
            raise ConfigError(f"{where}: name the cassette, e.g. {REPLAY_PREFIX}run.jsonl")
        if self.path.exists() and not self.path.is_file() and not self.path.is_dir():
            raise ConfigError(f"{where}: not a regular file (a device or a pipe); refused")
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the cassette: {exc.strerror}") from None
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                data = load_json(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise ValueError(f"a JSON {type(data).__name__}, not an object")
                if number == 1 or "cassette_version" in data:  # xdist workers add headers
                    if data.get("cassette_version") != CASSETTE_VERSION:
                        raise ValueError(f"not a version {CASSETTE_VERSION} cassette")
                    if not isinstance(data.get("model"), dict):
                        raise ValueError("the header's 'model' is not an object")
                    if self.identity and dict(data["model"]) != self.identity:
                        raise ValueError("headers name different models")
                    self.identity = dict(data["model"])
                    continue
                if not isinstance(data.get("key"), str):
                    raise ValueError("no 'key' (text)")
                self._entries[data["key"]] = completion_from_data(data)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{self.path}:{number}: bad cassette line: not UTF-8 (byte {exc.start + 1})"
                ) from None
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{self.path}:{number}: bad cassette line: {exc}") from None
        if not self.identity:
            raise ConfigError(f"{self.path}:1: empty cassette (no header line)")

    @property
    def name(self) -> str:
        return self._name

    @property
    def cache_identity(self) -> dict[str, Any]:
        """The recorded model's identity, so that keys match the recording."""
        return self.identity

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Completion | None:
        return self._entries.get(key)

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        raise GenerationError(f"{self._name}: replay serves recorded probes only")
