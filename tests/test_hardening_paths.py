"""Paths: output paths checked before any probe runs; symlinked suites collected, once."""

from __future__ import annotations

import os

import pytest
from chat_server import ChatServer
from lrm_project import SUITE, make_project, model_args, read_report


@pytest.fixture
def project(pytester: pytest.Pytester, chat_server: ChatServer) -> pytest.Pytester:
    return make_project(pytester, chat_server)  # cases/mini.yaml: 7 probes


@pytest.mark.parametrize(
    "option", ["--lrm-report-json", "--lrm-report-md", "--lrm-report-html", "--lrm-record"]
)
def test_an_output_path_that_is_a_folder_is_a_usage_error_before_any_probe(
    project: pytest.Pytester, chat_server: ChatServer, option: str
) -> None:
    project.mkdir("out")
    result = project.runpytest(*model_args(chat_server), option, "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: option {option}: *out' is a folder; give a file path*"])
    assert "Traceback" not in result.stderr.str()
    assert chat_server.requests == []


def test_an_output_folder_that_cannot_be_made_is_a_usage_error(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.path.joinpath("notes.txt").write_text("a file, not a folder")
    result = project.runpytest(*model_args(chat_server), "--lrm-report-json", "notes.txt/r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: option --lrm-report-json: cannot make the folder for *notes.txt' is not a folder"]
    )
    assert chat_server.requests == []


def test_an_output_path_from_the_ini_file_names_the_ini_key(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.mkdir("out")
    project.makeini("[pytest]\nlrm_report_md = out\n")
    result = project.runpytest(*model_args(chat_server))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini lrm_report_md: *out' is a folder*"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_a_usage_error(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    locked = project.mkdir("locked")
    locked.chmod(0o500)
    try:
        result = project.runpytest(*model_args(chat_server), "--lrm-report-json", "locked/r.json")
    finally:
        locked.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: option --lrm-report-json: cannot write to *locked'*"])


def test_a_missing_output_folder_is_made(project: pytest.Pytester, chat_server: ChatServer) -> None:
    result = project.runpytest(*model_args(chat_server), "--lrm-report-json", "new/deep/r.json")
    result.assert_outcomes(passed=3, failed=4)
    assert len(read_report(project.path / "new" / "deep" / "r.json")["probes"]) == 7


def test_a_symlinked_suite_file_is_collected(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    elsewhere = pytester.mkdir("shared")
    elsewhere.joinpath("mini.yaml").write_text(SUITE)
    pytester.mkdir("cases")
    pytester.path.joinpath("cases", "mini.yaml").symlink_to(elsewhere / "mini.yaml")
    result = pytester.runpytest(*model_args(chat_server), "--lrm-report-json", "r.json")
    result.assert_outcomes(passed=6, failed=1)  # the server refuses everything
    assert len(read_report(pytester.path / "r.json")["probes"]) == 7


def test_a_symlinked_case_folder_is_collected(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    elsewhere = pytester.mkdir("shared")
    elsewhere.joinpath("mini.yaml").write_text(SUITE)
    pytester.mkdir("cases")
    pytester.path.joinpath("cases", "more").symlink_to(elsewhere, target_is_directory=True)
    result = pytester.runpytest(*model_args(chat_server))
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["cases/more/mini.yaml *"])


def test_a_symlink_loop_is_collected_once(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.path.joinpath("cases", "loop").symlink_to("..", target_is_directory=True)
    result = project.runpytest(*model_args(chat_server), "--lrm-report-json", "r.json")
    result.assert_outcomes(passed=3, failed=4)
    probes = read_report(project.path / "r.json")["probes"]
    assert len(probes) == 7
    assert all(p["nodeid"].startswith("cases/mini.yaml::") for p in probes)


def test_two_links_to_one_suite_count_its_probes_once(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    project.path.joinpath("cases", "same.yaml").symlink_to("mini.yaml")
    result = project.runpytest(*model_args(chat_server), "--lrm-report-json", "r.json")
    result.assert_outcomes(passed=3, failed=4)
    assert len(read_report(project.path / "r.json")["probes"]) == 7


def test_a_report_path_taken_during_the_run_costs_that_report_only_and_says_so(
    project: pytest.Pytester, chat_server: ChatServer
) -> None:
    # Free at configure; a folder by the time the run ends.
    project.makeconftest("import os\ndef pytest_sessionstart(session):\n    os.mkdir('r.json')\n")
    result = project.runpytest(
        *model_args(chat_server), "--lrm-report-json", "r.json", "--lrm-report-md", "r.md"
    )
    result.assert_outcomes(passed=3, failed=4)
    result.stdout.fnmatch_lines(
        [
            "--lrm-report-json: the report could not be written: *Is a directory*",
            "report: Markdown written to *r.md",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "probes" in (project.path / "r.md").read_text()
