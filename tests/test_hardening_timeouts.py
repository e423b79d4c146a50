"""A hung server: each request gives up after --lrm-timeout with a message saying so, and
--lrm-deadline ends the whole generation: the probes left are errors, the report partial."""

from __future__ import annotations

import pytest
from chat_server import ChatServer, Reply
from lrm_project import make_project, model_args, read_report

HUNG = Reply(thinking="...", answer="I can't help.", delay_s=120.0)


@pytest.fixture
def project(pytester: pytest.Pytester, chat_server: ChatServer) -> pytest.Pytester:
    project = make_project(pytester, chat_server)  # 7 probes
    chat_server.rules.clear()
    chat_server.default = HUNG
    return project


@pytest.mark.slow
def test_a_hung_server_times_out_each_request_with_a_message_naming_the_option(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = project.runpytest_subprocess(
        *model_args(chat_server),
        "--lrm-timeout",
        "1",
        "--lrm-retries",
        "0",
        "--lrm-report-json",
        "r.json",
    )
    result.assert_outcomes(errors=7)
    result.stdout.fnmatch_lines(["*no answer within 1 s (--lrm-timeout), 1 try*"])
    report = read_report(project.path / "r.json")
    assert report["totals"]["outcomes"]["error"] == 7
    assert report["partial"] is False  # every probe ran; each is an error
    assert all("no answer within 1 s" in p["error"] for p in report["probes"])


@pytest.mark.slow
def test_the_deadline_ends_the_generation_and_the_report_is_partial(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = project.runpytest_subprocess(
        *model_args(chat_server),
        "--lrm-deadline",
        "2",
        "--lrm-concurrency",
        "2",
        "--lrm-report-json",
        "r.json",
        "--lrm-gate",
    )
    result.assert_outcomes(errors=7)
    result.stdout.fnmatch_lines(
        [
            "*deadline passed: no completion within --lrm-deadline 2 s*",
            "PARTIAL: the run stopped early*",
            "deadline passed (--lrm-deadline): 7 probes without a completion",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = read_report(project.path / "r.json")
    assert report["partial"] is True
    assert report["partial_reasons"] == [
        "deadline passed (--lrm-deadline): 7 probes without a completion"
    ]
    assert report["gate_verdict"] == "fail"
    assert len(report["probes"]) == 7
    # Two requests were in flight; the five queued behind them were never all sent.
    assert len(chat_server.requests) < 7


def test_the_deadline_is_an_ini_setting_and_must_be_positive(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.makeini("[pytest]\nlrm_deadline = 0\n")
    result = project.runpytest(*model_args(chat_server))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lrm_deadline*must be a positive number, got 0*"])
