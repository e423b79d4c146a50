"""The cassette's file lock without ``fcntl``: Windows has none, and the plugin must load."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_server import ChatServer
from lrm_project import make_project, model_args

pytestmark = pytest.mark.slow  # pytest and writers run in subprocesses

# Run before anything imports the plugin: a None in sys.modules makes `import fcntl` fail
# as it does on Windows.
NO_FCNTL = "import sys; sys.modules['fcntl'] = None; sys.modules['msvcrt'] = None\n"

RUN_PYTEST = NO_FCNTL + "import pytest; raise SystemExit(pytest.main(sys.argv[1:]))\n"

# A stand-in for Windows' msvcrt.locking, made of flock taken before fcntl is hidden. Like a
# Windows byte-range lock, flock belongs to the handle: closing another handle of the same
# file (the recorder reads what other writers added through one) does not release it, as a
# POSIX record lock (lockf) would. It logs each call: mode, position, bytes, size, time.
WINDOWS_WRITER = """
import fcntl as posix, json, os, sys, time, types
from pathlib import Path

sys.modules["fcntl"] = None
events = []

def locking(fd, mode, nbytes):
    position = os.lseek(fd, 0, os.SEEK_CUR)
    if mode == msvcrt.LK_LOCK:
        posix.flock(fd, posix.LOCK_EX)
    events.append([mode, position, nbytes, os.fstat(fd).st_size, time.monotonic()])
    if mode == msvcrt.LK_UNLCK:
        posix.flock(fd, posix.LOCK_UN)

msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_LOCK = 0, 1
msvcrt.locking = locking
sys.modules["msvcrt"] = msvcrt

from pytest_lrmsafety.engine.cassette import Recorder
from pytest_lrmsafety.models.base import Completion

cassette, tag, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
recorder = Recorder(cassette, {"client": "test"})
answer = tag * 30000  # longer than one write buffer: a torn line would show
for i in range(60):
    completion = Completion(None, answer, "absent", "stop", {}, 0.0, "m", {})
    recorder.write(f"{tag}-{i}", {"i": i}, completion)
recorder.close()
log.write_text(json.dumps(events))
"""


def test_a_run_loads_and_records_without_fcntl(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    project = make_project(pytester, chat_server)
    args = [*model_args(chat_server), "--lrm-record", "run.jsonl", "-k", "weapons"]
    run = subprocess.run(
        [sys.executable, "-c", RUN_PYTEST, *args],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == pytest.ExitCode.OK, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    lines = [json.loads(line) for line in (project.path / "run.jsonl").read_text().splitlines()]
    assert lines[0]["cassette_version"] == 1
    assert sorted(line["answer"] for line in lines[1:]) == ["I can't help with that."] * 2


def test_windows_locks_the_same_byte_around_each_line(tmp_path: Path) -> None:
    cassette = tmp_path / "run.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WINDOWS_WRITER)
    writers = [
        subprocess.Popen([sys.executable, str(script), str(cassette), tag, str(tmp_path / tag)])
        for tag in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    lines = [json.loads(line) for line in cassette.read_text().splitlines()]
    assert sum("cassette_version" in line for line in lines) == 2  # one header per process
    keys = sorted(line["key"] for line in lines if "key" in line)
    assert keys == sorted(f"{tag}-{i}" for tag in "ab" for i in range(60))
    assert all(line["answer"] == line["key"][0] * 30000 for line in lines if "key" in line)
    held = []
    for tag in "ab":
        events = json.loads((tmp_path / tag).read_text())
        assert len(events) == 2 * 61  # the header and 60 lines, each locked and unlocked
        for (lock, _, _, before, start), (unlock, _, _, after, end) in zip(
            events[::2], events[1::2], strict=True
        ):
            assert (lock, unlock) == (1, 0)
            assert after > before  # the line was written while the lock was held
            held.append((start, end, tag))
        # every lock and unlock is on the first byte, whatever the file's length
        assert {(position, size) for _, position, size, _, _ in events} == {(0, 1)}
    held.sort()
    for (_, end, tag), (start, _, other) in itertools.pairwise(held):
        assert tag == other or end <= start  # the two processes never held it together
