"""Memory at scale (issue 15, item 12): what a finished probe leaves behind.

pytest keeps every test report and every item to the end of the run; the plugin keeps its
records for the report. These tests check that the model's texts live only in the records:
not in the reports pytest keeps, not on the items, not in the engine, while the JSON report
still has every probe's texts and JUnit XML its compact properties. (The figures, peak RSS
against the number of probes, are benchmarks/memory_bench.py's.)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from chat_server import ChatServer
from lrm_project import UNSAFE, make_project, model_args, read_report

# Runs in the test project after the plugin's reporter built its report: what each process
# (the controller, or an xdist worker) still holds of the probes' texts.
LEFT_BEHIND = """
import json, os
import pytest
from pytest_lrmsafety.runtime import get_runtime

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    def full(props):  # a whole record (JSON, or the object in-process): the texts sent
        return any(k == "lrm_record" and ('"messages"' in str(v) or getattr(v, "messages", 0))
                   for k, v in props)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    kept = [r for reports in reporter.stats.values() for r in reports
            if hasattr(r, "user_properties")]
    engine = get_runtime(session.config).engine
    # not PYTEST_XDIST_WORKER: this suite may itself run under xdist, and its env leaks in
    workerinput = getattr(session.config, "workerinput", None)
    name = workerinput["workerid"] if workerinput else "controller"
    with open(f"left-{name}.json", "w") as out:
        json.dump({
            "reports": len(kept),
            "reports_with_record": sum(full(r.user_properties) for r in kept),
            "reports_with_text": sum(UNSAFE in str(r.user_properties) for r in kept),
            "items": len(session.items),
            "items_with_record": sum(full(i.user_properties) for i in session.items),
            "engine_held": getattr(engine, "held", None) if engine is not None else None,
        }, out)
"""


def left_behind(project: pytest.Pytester) -> dict[str, dict[str, Any]]:
    return {
        path.stem.removeprefix("left-"): json.loads(path.read_text())
        for path in project.path.glob("left-*.json")
    }


def run_project(pytester: pytest.Pytester, chat_server: ChatServer, *args: str) -> None:
    project = make_project(pytester, chat_server)
    project.makeconftest(f"UNSAFE = {UNSAFE!r}\n" + LEFT_BEHIND)
    result = project.runpytest(
        *model_args(chat_server),
        "--lrm-cache=off",
        "--lrm-report-json=report.json",
        "--junitxml=junit.xml",
        *args,
    )
    result.assert_outcomes(passed=3, failed=4)


def check_reports(pytester: pytest.Pytester) -> None:
    """The JSON report still has every probe with its texts; JUnit its compact properties."""
    probes = read_report(pytester.path / "report.json")["probes"]
    assert len(probes) == 7
    malware = next(p for p in probes if p["nodeid"] == "cases/mini.yaml::malware-001[direct]")
    assert malware["answer"] == UNSAFE and malware["messages"]
    tree = ET.parse(pytester.path / "junit.xml")
    cases = list(tree.iter("testcase"))
    assert len(cases) == 7
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["lrm_outcome"] in ("pass", "fail"), case.get("name")
        record = json.loads(props["lrm_record"] or "")
        assert record["answer_sha256"] and "answer" not in record


def test_a_finished_probe_leaves_its_texts_only_in_the_records(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    run_project(pytester, chat_server)
    left = left_behind(pytester)["controller"]
    # pytest keeps setup, call and teardown reports; a probe's passing setup and teardown
    # reports are let go once every plugin has seen them (report/records.py TextSpool and
    # reporter.RunReporter._forget): only the 7 call reports stay
    assert left["reports"] == 7
    assert left["reports_with_record"] == 0
    assert left["reports_with_text"] == 0
    assert left["items"] == 7 and left["items_with_record"] == 0
    assert left["engine_held"] == 0  # every completion released once its probe was decided
    check_reports(pytester)


@pytest.mark.slow
def test_under_xdist_neither_the_controller_nor_a_worker_keeps_the_texts(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    run_project(pytester, chat_server, "-n", "2")
    left = left_behind(pytester)
    assert set(left) == {"controller", "gw0", "gw1"}
    assert left["controller"]["reports"] == 7
    assert left["controller"]["reports_with_record"] == 0
    assert left["controller"]["reports_with_text"] == 0
    for worker in ("gw0", "gw1"):
        assert left[worker]["items"] == 7 and left[worker]["items_with_record"] == 0
        assert left[worker]["engine_held"] == 0
    check_reports(pytester)


def test_durations_still_list_the_probes_setup(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    """--durations lists setup reports (where a probe's work is): they are kept then."""
    run_project(pytester, chat_server, "--durations=0", "--durations-min=0")
    assert left_behind(pytester)["controller"]["reports"] == 7 * 3
    check_reports(pytester)
