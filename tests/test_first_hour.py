"""What a newcomer meets first: ``pytest --help``, an unrelated project in the same
environment, the built-in suites, ``lrmsafety init``, a path option written with a space."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from chat_server import ChatServer

from pytest_lrmsafety.cli import main as lrmsafety
from pytest_lrmsafety.header import BUILTIN_SUITES
from pytest_lrmsafety.options import OPTIONS

UNRELATED = """\
import json
import sys

import pytest


@pytest.mark.parametrize("i", range(10))
def test_unrelated(i):
    assert i >= 0


def test_zz_what_was_imported(pytestconfig):
    loaded = {
        "hooks": pytestconfig.pluginmanager.has_plugin("lrmsafety-hooks"),
        "modules": sorted(m for m in sys.modules if m.startswith("pytest_lrmsafety")),
        "heavy": sorted(
            m for m in ("jsonschema", "yaml", "tabulate", "openai", "sqlite3", "http.client")
            if m in sys.modules
        ),
    }
    with open("imported.json", "w") as f:
        json.dump(loaded, f)
"""


@pytest.mark.slow
def test_help_lists_every_option() -> None:
    # argparse %-formats every help text: one bare % (as in "2%") used to crash `pytest -h`
    # in every project of an environment the plugin was installed in.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback (most recent call last)" not in done.stdout + done.stderr
    for opt in OPTIONS:
        if opt.cli:
            assert re.search(rf"^\s+{re.escape(opt.flag)}\b", done.stdout, re.MULTILINE), opt.flag
        if opt.kind != "list":
            assert re.search(rf"^\s+{re.escape(opt.ini)} \(", done.stdout, re.MULTILINE), opt.ini
    assert "at most this much worse (e.g. 0.02 or 2%)" in " ".join(done.stdout.split())


def _imported(pytester: pytest.Pytester, *args: str) -> dict[str, object]:
    pytester.makepyfile(test_unrelated=UNRELATED)
    # an LRM_* variable turns the plugin on (tests/conftest.py sets one for the suite)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("LRM_")]:
            mp.delenv(name)
        return _run_unrelated(pytester, *args)


def _run_unrelated(pytester: pytest.Pytester, *args: str) -> dict[str, object]:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=11)
    loaded: dict[str, object] = json.loads((pytester.path / "imported.json").read_text())
    return loaded


@pytest.mark.slow
def test_an_unrelated_project_pays_for_nothing(pytester: pytest.Pytester) -> None:
    """Installed but unused, the plugin imports its option table and nothing else."""
    used = _imported(pytester)
    assert used["hooks"] is False
    assert used["modules"] == [
        "pytest_lrmsafety",
        "pytest_lrmsafety.errors",
        "pytest_lrmsafety.hookspecs",
        "pytest_lrmsafety.option_values",
        "pytest_lrmsafety.options",
        "pytest_lrmsafety.plugin",
        "pytest_lrmsafety.switch",
    ]
    # the third-party modules loaded are the ones pytest loads without the plugin
    assert used["heavy"] == _imported(pytester, "-p", "no:lrmsafety")["heavy"]


@pytest.mark.slow
def test_an_lrm_option_turns_the_plugin_on(pytester: pytest.Pytester) -> None:
    used = _imported(pytester, "--lrm-cache", "off")
    assert used["hooks"] is True


@pytest.mark.slow
def test_the_built_in_suites_run_without_a_cases_folder(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = pytester.runpytest(
        "--lrm-model",
        "openai-compat:reasoning",
        "--lrm-base-url",
        chat_server.url,
        "-p",
        "no:cacheprovider",
        "--lrm-report-json",
        "r.json",
    )
    result.stdout.fnmatch_lines(
        [
            "lrm suites: the built-in starter suites (benign, harmful, injection); no cases/ "
            "folder here (`lrmsafety init` copies them into cases/ to edit)",
            "collected 367 items",
        ]
    )
    assert "testpaths" not in result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert {p["suite"] for p in report["probes"]} == {
        "benign.yaml",
        "harmful.yaml",
        "injection.yaml",
    }
    # the suites' own gates were read and judged
    sources = {g["source"].split(":")[0] for g in report["gates"]}
    assert {"harmful.yaml", "benign.yaml", "injection.yaml"} <= sources


@pytest.mark.slow
def test_the_built_in_suites_under_xdist_keep_their_gates(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    result = pytester.runpytest_subprocess(
        "--lrm-model",
        "openai-compat:reasoning",
        "--lrm-base-url",
        chat_server.url,
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "-k",
        "weapons or homonym",
        "--lrm-report-json",
        "r.json",
    )
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    report = json.loads((pytester.path / "r.json").read_text())
    assert any(g["source"].startswith("harmful.yaml:") for g in report["gates"])


def test_init_copies_the_starter_suites(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.chdir()
    assert lrmsafety(["init"]) == 0
    for source in BUILTIN_SUITES.glob("*.yaml"):
        assert (pytester.path / "cases" / source.name).read_bytes() == source.read_bytes()
    (pytester.path / "cases" / "harmful.yaml").write_text("# my edits\n")
    assert lrmsafety(["init"]) == 2
    assert "already there; --force overwrites" in capsys.readouterr().err
    assert (pytester.path / "cases" / "harmful.yaml").read_text() == "# my edits\n"
    assert lrmsafety(["init", "--force"]) == 0
    assert (pytester.path / "cases" / "harmful.yaml").read_bytes() == (
        BUILTIN_SUITES / "harmful.yaml"
    ).read_bytes()


def test_a_project_with_cases_runs_its_own(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.makefile(
        ".yaml",
        **{"cases/mine": "cases:\n  - {id: a-1, category: Privacy, prompt: 'x', expect: refuse}\n"},
    )
    result = pytester.runpytest(
        "--lrm-model", "openai-compat:reasoning", "--lrm-base-url", chat_server.url
    )
    result.stdout.fnmatch_lines(["lrm suites: cases (default of lrm_cases)", "collected 1 item"])


def test_the_header_names_the_suite_given_on_the_command_line(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    """No cases/ folder, one suite named: the header says that suite, not the built-in ones."""
    pytester.makefile(
        ".yaml",
        **{"mine/one": "cases:\n  - {id: a-1, category: Privacy, prompt: 'x', expect: refuse}\n"},
    )
    result = pytester.runpytest(
        "mine/one.yaml", "--lrm-model", "openai-compat:reasoning", "--lrm-base-url", chat_server.url
    )
    result.stdout.fnmatch_lines(["lrm suites: mine/one.yaml (command line)", "collected 1 item"])
    assert "built-in" not in result.stdout.str()


PROJECT_INI = """\
[tool.pytest.ini_options]
lrm_model = "openai-compat:reasoning"
"""


@pytest.mark.slow
def test_a_spaced_path_option_that_moves_the_rootdir_is_refused(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    project = pytester.mkdir("project")
    (project / "pyproject.toml").write_text(PROJECT_INI)
    out = pytester.mkdir("out")
    (out / "run1.json").write_text("{}")
    pytester.chdir()
    result = pytester.runpytest_subprocess(
        "--rootdir", "project", "-p", "no:cacheprovider", "--lrm-baseline", "out/run1.json"
    )
    # with --rootdir given, the spaced form moves nothing: it is read as the option's value
    assert "write --lrm-baseline=" not in result.stderr.str()

    os.chdir(project)
    result = pytester.runpytest_subprocess(
        "--lrm-base-url",
        chat_server.url,
        "-p",
        "no:cacheprovider",
        "--lrm-baseline",
        "../out/run1.json",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: option --lrm-baseline: write --lrm-baseline=../out/run1.json (with '='): "
            "written with a space, pytest reads '../out/run1.json' as a test path before the "
            f"plugin loads, which moved the rootdir from {project} to * and dropped pyproject.toml"
        ]
    )
    assert "Traceback" not in result.stderr.str()
    assert chat_server.requests == []


def test_a_spaced_option_inside_the_project_is_harmless(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    pytester.makefile(
        ".yaml",
        **{"cases/mine": "cases:\n  - {id: a-1, category: Privacy, prompt: 'x', expect: refuse}\n"},
    )
    pytester.makepyprojecttoml(PROJECT_INI)
    first = pytester.runpytest(
        "--lrm-base-url", chat_server.url, "--lrm-report-json=out/r.json", "-p", "no:cacheprovider"
    )
    assert first.ret == pytest.ExitCode.OK
    again = pytester.runpytest(
        "--lrm-base-url", chat_server.url, "--lrm-baseline", "out/r.json", "-p", "no:cacheprovider"
    )
    assert again.ret == pytest.ExitCode.OK, again.stderr.str()
    again.stdout.fnmatch_lines(["collected 1 item"])
