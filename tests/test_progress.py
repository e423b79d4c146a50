"""The progress line of a long generation: past pytest's capture, under -q, from the xdist
controller fed by its workers, and quiet when not asked for on a pipe."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply
from lrm_project import make_project, model_args, request_probes

from pytest_lrmsafety.engine.cache import Cache
from pytest_lrmsafety.engine.engine import Engine
from pytest_lrmsafety.models.base import SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.progress import Snapshot, combine, progress_line

# Long enough that a test still waits when the first line is due (2 s into the generation),
# with a wide margin on a busy machine.
SLOW_S = 3.5
ONE_PROBE_LINE = "[[]lrm[]] 0/1 done, 0.0/s, 0 errors, 1 in flight, ETA unknown"


@pytest.fixture
def slow_project(pytester: pytest.Pytester, chat_server: ChatServer) -> pytest.Pytester:
    make_project(pytester, chat_server)
    chat_server.rules.clear()
    chat_server.default = Reply(
        thinking="I should decline.", answer="I can't help.", delay_s=SLOW_S
    )
    return pytester


def _one_probe(server: ChatServer) -> list[str]:
    return [*model_args(server), "-k", "weapons and direct", "--lrm-cache", "off"]


@pytest.mark.slow
@pytest.mark.parametrize("verbosity", [[], ["-q"]], ids=["default", "quiet"])
def test_line_shows_past_the_capture_while_a_test_waits(
    slow_project: pytest.Pytester, chat_server: ChatServer, verbosity: list[str]
) -> None:
    # A subprocess, as a user runs it: pytest's fd capture is active while the test waits.
    result = slow_project.runpytest_subprocess(
        *_one_probe(chat_server), "--lrm-progress", "on", *verbosity
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([ONE_PROBE_LINE])
    assert "Captured stdout" not in result.stdout.str()


@pytest.mark.slow
def test_line_from_the_ini_setting(slow_project: pytest.Pytester, chat_server: ChatServer) -> None:
    slow_project.makeini("[pytest]\nlrm_progress = on\n")
    result = slow_project.runpytest_subprocess(*_one_probe(chat_server))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([ONE_PROBE_LINE])


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--lrm-progress", "off"], []], ids=["off", "auto"])
def test_no_line_when_off_or_when_the_output_is_not_a_terminal(
    slow_project: pytest.Pytester, chat_server: ChatServer, mode: list[str]
) -> None:
    result = slow_project.runpytest_subprocess(*_one_probe(chat_server), *mode)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "[lrm]" not in result.stdout.str()
    assert len(chat_server.requests) == 1  # it did wait for the slow server


def test_bad_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--lrm-progress", "loud", "--lrm-model", "openai-compat:x")
    result.stderr.fnmatch_lines(
        ["ERROR: option --lrm-progress: 'loud' is not one of auto, on, off"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.slow
def test_xdist_controller_shows_the_workers_sum(
    slow_project: pytest.Pytester,
    chat_server: ChatServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the workers' feed files go
    result = slow_project.runpytest_subprocess(
        *model_args(chat_server), "--lrm-cache", "off", "-n", "2", "--lrm-progress", "on"
    )
    result.assert_outcomes(passed=6, failed=1)  # all refused: the benign one too
    # Workers print nothing the user sees: this line is the controller's, from the workers'
    # counts (3 and 4 probes; both, or the first to report).
    result.stdout.fnmatch_lines(
        ["[[]lrm[]] 0/[347] done, 0.0/s, 0 errors, [347] in flight, ETA unknown"]
    )
    assert len(chat_server.requests) == 7
    assert list(scratch.iterdir()) == []  # the feed folder is gone


@pytest.mark.slow
def test_xdist_without_progress_makes_no_feed(
    slow_project: pytest.Pytester,
    chat_server: ChatServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    chat_server.default.delay_s = 0.0
    result = slow_project.runpytest_subprocess(*model_args(chat_server), "-n", "2")
    result.assert_outcomes(passed=6, failed=1)  # all refused: the benign one too
    assert "[lrm]" not in result.stdout.str()
    assert list(scratch.iterdir()) == []


def test_snapshot_of_an_engine_names_a_probe_in_flight(chat_server: ChatServer) -> None:
    chat_server.default = Reply(thinking="t", answer="a", delay_s=1.0)
    client = OpenAICompatClient(
        name="openai-compat:reasoning",
        model="reasoning",
        base_url=chat_server.url,
        api_key="k",
        max_retries=0,
    )
    engine = Engine(client, Cache(None, "off"), concurrency=2)
    batch = request_probes(3)
    params = SamplingParams()
    engine.plan([(p, params) for p in batch])
    deadline = time.monotonic() + 10
    while engine.pool.in_flight < 2:
        assert time.monotonic() < deadline, "the pool never took two jobs"
        time.sleep(0.01)
    busy = Snapshot.of(engine)
    assert (busy.planned, busy.done, busy.in_flight, busy.eta_s) == (3, 0, 2, None)
    assert busy.slowest in ("c-000[direct]", "c-001[direct]")  # plan order: the first two
    for probe in batch:
        engine.completion(probe, params)
    idle = Snapshot.of(engine)
    assert (idle.done, idle.in_flight, idle.slowest, idle.eta_s) == (3, 0, "", 0.0)
    engine.close()


def test_line_names_the_slowest_probe_unless_quiet() -> None:
    snap = Snapshot(
        planned=1000,
        done=120,
        errors=1,
        in_flight=32,
        rate=35.2,
        eta_s=25.0,
        slowest="weapons-001[direct]",
        slowest_s=45.0,
    )
    assert progress_line(snap) == (
        "[lrm] 120/1000 done, 35.2/s, 1 error, 32 in flight, ETA 25 s, "
        "slowest: weapons-001[direct] 45 s"
    )
    assert progress_line(snap, quiet=True) == (
        "[lrm] 120/1000 done, 35.2/s, 1 error, 32 in flight, ETA 25 s"
    )
    fresh = Snapshot(planned=10, in_flight=8, eta_s=4000.0, slowest="a[direct]", slowest_s=3.0)
    assert progress_line(fresh) == "[lrm] 0/10 done, 0.0/s, 0 errors, 8 in flight, ETA 67 min"


def test_workers_combine_to_the_last_to_finish() -> None:
    fast = Snapshot(planned=100, done=90, rate=10.0, eta_s=1.0, in_flight=4)
    slow = Snapshot(planned=100, done=10, errors=2, rate=1.0, eta_s=90.0, in_flight=4)
    done = Snapshot(planned=100, done=100, rate=20.0, eta_s=0.0)
    total = combine([fast, slow, done])
    assert (total.planned, total.done, total.errors, total.in_flight) == (300, 200, 2, 8)
    assert (total.rate, total.eta_s) == (31.0, 90.0)
    stuck = Snapshot(planned=5, done=0, rate=0.0, eta_s=None)
    assert combine([fast, stuck]).eta_s is None
