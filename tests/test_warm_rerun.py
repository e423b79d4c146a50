"""A warm-cache rerun kept near plain pytest's cost (issue 14): what it skips, and what it
must still catch.

The figures (a rerun of 1,000 cached probes against 1,000 trivial tests) are
``benchmarks/engine_bench.py --only 2``'s; these tests check the behaviour behind them: a
suite file whose text already passed the schema is not checked again, an edited one is
(jsonschema is imported only to word an error); records handed to the reporter in-process as
objects never reach another plugin; the cheap path of the JSON depth check still refuses deep
nesting; the package is imported without pytest's assertion rewriting; the interpreter's exit
skips its last collection of the heap.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from chat_server import ChatServer
from lrm_project import make_project, model_args

from pytest_lrmsafety.engine.cache import FILE_NAME, Cache
from pytest_lrmsafety.plugin import skip_assertion_rewriting
from pytest_lrmsafety.safeload import LoadLimitError, load_json

# Written in the project's conftest: how many suite files the run checked against the schema
# (the quick check, or jsonschema where it says no), and whether it imported jsonschema.
CHECKS = """
import json, sys
from pytest_lrmsafety.cases import loader

checked = []
_check = loader.validate_document

def _counting(doc):
    checked.append(doc.path)
    _check(doc)

loader.validate_document = _counting

def pytest_sessionfinish(session):
    with open("checks.json", "w") as out:
        json.dump({"checked": len(checked), "jsonschema": "jsonschema" in sys.modules}, out)
"""


def checks(project: pytest.Pytester) -> dict[str, object]:
    found: dict[str, object] = json.loads((project.path / "checks.json").read_text())
    return found


def test_a_suite_that_passed_the_schema_is_not_checked_again_until_it_changes(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    project = make_project(pytester, chat_server)
    project.makeconftest(CHECKS)
    first = project.runpytest_subprocess(*model_args(chat_server))
    first.assert_outcomes(passed=3, failed=4)
    # checked against the schema (and remembered); valid, so jsonschema was never needed
    assert checks(project) == {"checked": 1, "jsonschema": False}
    rerun = project.runpytest_subprocess(*model_args(chat_server))
    rerun.assert_outcomes(passed=3, failed=4)
    assert checks(project)["checked"] == 0  # the same text: not checked again
    suite = project.path / "cases" / "mini.yaml"
    text = suite.read_text().replace("severity: critical", "severity: critical\n    sevrity: x")
    suite.write_text(text)
    edited = project.runpytest_subprocess(*model_args(chat_server))
    assert edited.ret == pytest.ExitCode.INTERRUPTED
    edited.stdout.fnmatch_lines(["*cases/mini.yaml:*unknown key 'sevrity'*"])
    assert "Traceback" not in edited.stdout.str()
    assert checks(project) == {"checked": 1, "jsonschema": True}  # it words the error
    again = project.runpytest_subprocess(*model_args(chat_server), "--lrm-cache=off")
    assert again.ret == pytest.ExitCode.INTERRUPTED  # without a cache, checked every run
    again.stdout.fnmatch_lines(["*unknown key 'sevrity'*"])
    assert checks(project)["checked"] == 1


def test_a_cache_without_the_suites_table_read_only_checks_every_suite(tmp_path: Path) -> None:
    Cache(tmp_path, "rw").note_suite_checked("d1")
    assert Cache(tmp_path, "rw").suite_checked("d1")
    with sqlite3.connect(tmp_path / FILE_NAME) as conn:  # a file from before the table
        conn.execute("DROP TABLE suites")
    reader = Cache(tmp_path, "ro")
    assert not reader.suite_checked("d1")
    reader.note_suite_checked("d2")  # read only: nothing written, nothing raised
    assert not Cache(tmp_path, "refresh").suite_checked("d1")  # refresh never reads


# A plugin of the project's that sees every test report after the plugin's reporter.
SEEN = """
import json
import pytest

seen = []

@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    seen.extend(type(v).__name__ for k, v in report.user_properties if k == "lrm_record")

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):  # the controller's view
        with open("seen.json", "w") as out:
            json.dump(seen, out)
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_other_plugins_see_records_only_as_json_and_only_in_teardown(
    pytester: pytest.Pytester, chat_server: ChatServer, xdist: list[str]
) -> None:
    project = make_project(pytester, chat_server)
    project.makeconftest(SEEN)
    result = project.runpytest(*model_args(chat_server), "--lrm-cache=off", *xdist)
    result.assert_outcomes(passed=3, failed=4)
    seen = json.loads((project.path / "seen.json").read_text())
    assert seen == ["str"] * 7  # one compact JSON record per probe (teardown), never an object


def test_the_json_depth_check_still_refuses_deep_nesting() -> None:
    with pytest.raises(LoadLimitError, match="deeper than 100"):
        load_json("[" * 150 + "]" * 150)
    with pytest.raises(LoadLimitError, match="deeper than 3"):
        load_json('{"a": {"b": {"c": {"d": []}}}}', max_depth=3)
    # brackets inside strings are counted but do not nest: walked, and accepted
    text = json.dumps({"answer": "[" * 500, "list": [[1], [2]]})
    assert load_json(text)["list"] == [[1], [2]]


def test_the_package_is_left_out_of_assertion_rewriting(pytester: pytest.Pytester) -> None:
    """An installed wheel's modules are all marked for rewriting (each import then hashes
    the module's source again); the entry point takes the package's name off the list."""
    config = pytester.parseconfig()
    marked = getattr(config.pluginmanager.rewrite_hook, "_must_rewrite", None)
    if not isinstance(marked, set):  # pytest's own (private) set of marked names
        pytest.skip("this pytest keeps its marked names elsewhere")
    marked.add("pytest_lrmsafety")  # as pytest marks it for a wheel's pytest11 entry point
    skip_assertion_rewriting(config.pluginmanager)
    assert "pytest_lrmsafety" not in marked


# A conftest that counts the fixtures each probe gets, and a session fixture's setups.
COUNTING = """
import json
import pytest

calls = {"per_test": 0, "session": 0, "seen": []}

@pytest.fixture(scope="session")
def lrm_model(pytestconfig, lrm_model):  # the plugin's model, wrapped: set up once
    calls["session"] += 1
    return lrm_model

AUTOUSE

def pytest_runtest_teardown(item):
    calls["seen"].append(sorted(k for k in item.funcargs if k != "request"))

def pytest_sessionfinish(session):
    with open("calls.json", "w") as out:
        json.dump(calls, out)
"""
PER_TEST = """
@pytest.fixture(autouse=True)
def per_test():
    calls["per_test"] += 1
"""


@pytest.mark.parametrize("autouse", [False, True], ids=["session-only", "per-test-autouse"])
def test_probes_get_their_fixtures_whether_or_not_pytest_resolves_them_each_time(
    pytester: pytest.Pytester, chat_server: ChatServer, autouse: bool
) -> None:
    """A probe whose fixtures are all session-scoped and set up takes their values as they
    are (the cheap path); one that also asks for a narrower fixture (an autouse in a
    conftest) goes through pytest's fixtures each time, so that fixture runs for every probe."""
    project = make_project(pytester, chat_server)
    project.makeconftest(COUNTING.replace("AUTOUSE", PER_TEST if autouse else ""))
    result = project.runpytest(*model_args(chat_server), "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=4)
    calls = json.loads((project.path / "calls.json").read_text())
    assert calls["session"] == 1
    assert calls["per_test"] == (7 if autouse else 0)
    expected = sorted(["lrm_engine", "lrm_model", "pytestconfig"] + ["per_test"] * autouse)
    assert calls["seen"] == [expected] * 7  # every probe holds the fixtures' values


def test_setup_show_lists_the_fixtures_of_every_probe(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    project = make_project(pytester, chat_server)
    result = project.runpytest(*model_args(chat_server), "--setup-show")
    result.assert_outcomes(passed=3, failed=4)
    used = [line for line in result.outlines if "(fixtures used: lrm_engine" in line]
    assert len([line for line in used if "::" in line]) == 7


# A conftest's exit handler, registered before the plugin's (at import): it runs after it.
AT_EXIT = """
import atexit, gc, json, pathlib

here = pathlib.Path.cwd() / "at_exit.json"

def _note():
    here.write_text(json.dumps({"frozen": gc.get_freeze_count()}))

atexit.register(_note)
"""

PLAIN_TEST = "def test_plain():\n    assert True\n"


def test_a_run_exits_without_collecting_its_whole_heap_and_a_plain_run_is_left_alone(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    """The interpreter's last collection at exit is skipped (what is left is frozen) after
    every other exit handler of the run has had its turn; a run that does not use the
    plugin keeps Python's exit as it is."""
    project = make_project(pytester, chat_server)
    project.makeconftest(AT_EXIT)
    project.makepyfile(test_plain=PLAIN_TEST)
    result = project.runpytest_subprocess(*model_args(chat_server))
    result.assert_outcomes(passed=3, failed=4)
    at_exit = json.loads((project.path / "at_exit.json").read_text())
    assert at_exit["frozen"] > 0  # frozen first, and the conftest's handler still ran
    (project.path / "at_exit.json").unlink()
    plain = project.runpytest_subprocess("test_plain.py", "-p", "no:cacheprovider")
    plain.assert_outcomes(passed=1)
    assert json.loads((project.path / "at_exit.json").read_text())["frozen"] == 0


# Which of the report's modules a run has imported when its collection is done, and at the end.
REPORT_MODULES = """
import json, sys

seen = {}

def _report_modules():
    return sorted(m for m in sys.modules if m.startswith("pytest_lrmsafety.report."))

def pytest_collection_finish(session):
    seen["collected"] = _report_modules()

def pytest_sessionfinish(session):
    seen["finished"] = _report_modules()
    with open("report_modules.json", "w") as out:
        json.dump(seen, out)
"""


def test_the_reports_modules_wait_until_the_run_waits_for_the_model(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    """Building and rendering the report is the end's work: none of it is imported before
    the first request, which goes out that much sooner."""
    project = make_project(pytester, chat_server)
    project.makeconftest(REPORT_MODULES)
    result = project.runpytest_subprocess(*model_args(chat_server))
    result.assert_outcomes(passed=3, failed=4)
    seen = json.loads((project.path / "report_modules.json").read_text())
    for module in ("model", "build", "terminal", "markdown", "baseline", "gate", "measures"):
        assert f"pytest_lrmsafety.report.{module}" not in seen["collected"], module
        if module != "baseline":  # no --lrm-baseline: never
            assert f"pytest_lrmsafety.report.{module}" in seen["finished"], module
