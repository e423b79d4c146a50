"""The engine through pytest: cache, re-judge, record/replay, samples, resume after a kill."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Reply
from interruptible import python_command
from lrm_project import make_project, model_args, read_report


@pytest.fixture
def project(pytester: pytest.Pytester, chat_server: ChatServer) -> pytest.Pytester:
    return make_project(pytester, chat_server)


@pytest.mark.slow
def test_warm_cache_rerun_makes_no_model_call(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    first = project.runpytest(*model_args(chat_server), "--lrm-report-json", "a.json")
    first.stdout.fnmatch_lines(["engine: 7 completions (0 from cache, 7 generated, 0 errors)*"])
    assert (project.path / ".lrmsafety" / "cache.sqlite").exists()
    again = project.runpytest(*model_args(chat_server), "--lrm-report-json", "b.json")
    again.assert_outcomes(passed=3, failed=4)
    summary = " ".join(again.stdout.str().split())  # the engine line wraps to the width
    assert re.search(
        # the rules judges are run again: cheaper than reading their verdicts back
        r"engine: 7 completions \(7 from cache, 0 generated, 0 errors\).*0 from cache, 14 judged",
        summary,
    )
    assert len(chat_server.requests) == 7
    a, b = read_report(project.path / "a.json"), read_report(project.path / "b.json")
    assert [p["outcome"] for p in a["probes"]] == [p["outcome"] for p in b["probes"]]
    off = project.runpytest(*model_args(chat_server), "--lrm-cache", "off")
    off.assert_outcomes(passed=3, failed=4)
    assert len(chat_server.requests) == 14


def test_rejudging_with_other_judges_spends_nothing_on_the_model(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.runpytest(*model_args(chat_server)).assert_outcomes(passed=3, failed=4)
    project.makeconftest(
        """
        from pytest_lrmsafety import Verdict

        class Strict:
            name = "strict"
            def judge(self, item):
                return Verdict("strict", item.target, "unsafe", 1.0, "everything is unsafe")

        def pytest_lrmsafety_register_judges(config, registry):
            registry.register("strict", Strict)
        """
    )
    suite = project.path / "cases" / "mini.yaml"
    suite.write_text(
        suite.read_text().replace(
            "  expect: refuse\n", "  expect: refuse\n  judges: [refusal, strict]\n"
        )
    )
    rejudged = project.runpytest(*model_args(chat_server))
    rejudged.assert_outcomes(passed=1, failed=6)  # strict fails every refuse probe
    assert len(chat_server.requests) == 7  # the model was asked only in the first run


@pytest.mark.slow
def test_record_and_replay(project: pytest.Pytester, chat_server: ChatServer) -> None:
    recorded = project.runpytest(
        *model_args(chat_server), "--lrm-record", "run.jsonl", "--lrm-report-json", "a.json"
    )
    recorded.assert_outcomes(passed=3, failed=4)
    lines = (project.path / "run.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["cassette_version"] == 1
    chat_server.stop()  # no model from here on
    replayed = project.runpytest(
        "--lrm-model", "replay:run.jsonl", "-p", "no:cacheprovider", "--lrm-report-json", "b.json"
    )
    replayed.assert_outcomes(passed=3, failed=4)
    a, b = read_report(project.path / "a.json"), read_report(project.path / "b.json")
    assert [(p["nodeid"], p["outcome"], p["verdicts"]) for p in a["probes"]] == [
        (p["nodeid"], p["outcome"], p["verdicts"]) for p in b["probes"]
    ]
    assert b["model"] == "replay:run.jsonl"
    suite = project.path / "cases" / "mini.yaml"
    suite.write_text(suite.read_text().replace("BENIGN", "BENIGN, reworded"))
    missing = project.runpytest(
        "--lrm-model", "replay:run.jsonl", "-p", "no:cacheprovider", "-k", "homonym"
    )
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        ["*generation failed: probe not in the cassette 'replay:run.jsonl' (key *); record it*"]
    )


def test_replay_of_a_bad_cassette_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.mkdir("cases").joinpath("s.yaml").write_text(
        "cases: [{id: a-001, category: Privacy, expect: refuse, prompt: hi}]\n"
    )
    pytester.path.joinpath("bad.jsonl").write_text(
        '{"cassette_version": 1, "model": {}}\nnot json\n'
    )
    result = pytester.runpytest("--lrm-model", "replay:bad.jsonl")
    result.stderr.fnmatch_lines(["ERROR: */bad.jsonl:2: bad cassette line: *"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    gone = pytester.runpytest("--lrm-model", "replay:nowhere.jsonl")
    gone.stderr.fnmatch_lines(
        ["ERROR: --lrm-model replay:nowhere.jsonl: cannot read the cassette: No such file*"]
    )


def test_samples(project: pytest.Pytester, chat_server: ChatServer) -> None:
    result = project.runpytest(
        *model_args(chat_server),
        "--lrm-samples",
        "3",
        "--lrm-seed",
        "10",
        "-k",
        "weapons and direct",
        "-v",
        "--lrm-report-json",
        "r.json",
    )
    result.stdout.fnmatch_lines(
        [
            "cases/mini.yaml::weapons-001[[]direct-s1[]] PASSED*",
            "cases/mini.yaml::weapons-001[[]direct-s2[]] PASSED*",
            "cases/mini.yaml::weapons-001[[]direct-s3[]] PASSED*",
        ]
    )
    assert sorted(r["seed"] for r in chat_server.requests) == [10, 11, 12]
    samples = read_report(project.path / "r.json")["samples"]
    assert samples["groups"] == 1
    assert samples["cases"][0]["samples"] == 3 and samples["cases"][0]["any_fail"] is False
    result.stdout.fnmatch_lines(["samples: 1 case x attack groups; any sample failed 0.0% (0/1)*"])


def test_samples_aggregate_any_and_majority(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.add_rule(
        "WEAPONS", thinking="I'll provide it.", answer="Sure, here is how:", times=1
    )
    chat_server.rules.insert(0, chat_server.rules.pop())
    project.runpytest(
        *model_args(chat_server),
        "--lrm-samples",
        "3",
        "--lrm-concurrency",
        "1",
        "-k",
        "weapons and direct",
        "--lrm-report-json",
        "r.json",
    ).assert_outcomes(passed=2, failed=1)
    (group,) = read_report(project.path / "r.json")["samples"]["cases"]
    assert (group["fails"], group["any_fail"], group["majority_fail"]) == (1, True, False)


def _cached(path: Path) -> int:
    with sqlite3.connect(path / ".lrmsafety" / "cache.sqlite") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])


def _start(project: pytest.Pytester, server: ChatServer, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # SIGINT handled as Python's default, however this was launched
        python_command("-m", "pytest", *model_args(server), "--lrm-concurrency", "2", *extra),
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for_cached(path: Path, n: int, limit_s: float = 60.0) -> None:
    """Until the run has cached ``n`` completions (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit_s
    while True:
        with contextlib.suppress(sqlite3.OperationalError):  # no cache or table yet
            if (path / ".lrmsafety" / "cache.sqlite").exists() and _cached(path) >= n:
                return
        assert time.monotonic() < deadline, "the run cached too few completions"
        time.sleep(0.02)


def _read_until_outcomes(process: subprocess.Popen[bytes], n: int, limit_s: float = 60.0) -> bytes:
    """What the run printed until ``n`` tests showed their outcome, so the run has records to
    report (the limit only guards against a hang)."""
    assert process.stdout is not None
    fd, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + limit_s
    while True:
        line = seen[seen.rfind(b"\n") + 1 :]
        if line.startswith(b"cases/mini.yaml ") and sum(map(line[16:].count, (b".", b"F"))) >= n:
            return seen
        ready = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]
        chunk = os.read(fd, 4096) if ready else b""
        assert chunk, f"the run showed fewer than {n} outcomes:\n{seen.decode()}"
        seen += chunk


def _hang_on_the_benign_probe(server: ChatServer) -> None:
    """The server refuses after 0.3 s, and holds the benign look-alike's request (until it
    stops): however slow the machine, the run is stopped before it could finish."""
    server.default = Reply(thinking="I should decline.", answer="I can't help.", delay_s=0.3)
    server.rules.clear()
    server.add_rule("BENIGN", thinking="I should decline.", answer="I can't help.", delay_s=600)


@pytest.mark.slow
def test_a_killed_run_resumes_without_asking_again(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    _hang_on_the_benign_probe(chat_server)
    process = _start(project, chat_server)
    _wait_for_cached(project.path, 1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    done = _cached(project.path)
    assert 0 < done < 7
    before = len(chat_server.requests)
    chat_server.default.delay_s = 0.0
    chat_server.rules.clear()
    rerun = project.runpytest_subprocess(*model_args(chat_server))
    rerun.assert_outcomes(passed=6, failed=1)  # the benign look-alike is refused
    assert len(chat_server.requests) - before == 7 - done


@pytest.mark.slow
def test_ctrl_c_writes_a_partial_report_and_the_rerun_resumes(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    _hang_on_the_benign_probe(chat_server)
    process = _start(project, chat_server, "--lrm-report-json", "r.json")
    shown = _read_until_outcomes(process, 2)
    process.send_signal(signal.SIGINT)
    output = (shown + process.communicate(timeout=20)[0]).decode()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert (project.path / "r.json").exists(), output
    report = read_report(project.path / "r.json")
    assert report["partial"] is True
    assert "PARTIAL: the run stopped early" in output
    summary = " ".join(output.split())  # the engine line: what arrived of the plan
    assert re.search(r"engine: \d of 7 planned completions before the interrupt \(", summary)
    done = _cached(project.path)
    assert 0 < done < 7
    before = len(chat_server.requests)
    chat_server.default.delay_s = 0.0
    chat_server.rules.clear()
    project.runpytest_subprocess(*model_args(chat_server)).assert_outcomes(passed=6, failed=1)
    assert len(chat_server.requests) - before == 7 - done


@pytest.mark.slow
def test_other_dist_modes_generate_on_demand_without_duplicates(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = project.runpytest(*model_args(chat_server), "-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=3, failed=4)
    assert len(chat_server.requests) == 7


@pytest.mark.slow
def test_progress_line_while_a_test_waits(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.rules.clear()
    chat_server.default = Reply(thinking="I should decline.", answer="I can't help.", delay_s=3.5)
    args = [*model_args(chat_server), "-k", "weapons and direct", "--lrm-cache", "off"]
    shown = project.runpytest(*args, "--lrm-progress", "on")
    shown.stdout.fnmatch_lines(["[[]lrm[]] 0/1 done, 0.0/s, 0 errors, 1 in flight, ETA unknown"])
    not_a_terminal = project.runpytest(*args)  # auto: pytester's output is no terminal
    assert "[lrm]" not in not_a_terminal.stdout.str()
    # More cases (-q, xdist, off, the ini setting, in a subprocess): tests/test_progress.py
