"""The typed report: ``Report.to_json`` is the JSON file's format, ``from_json`` checks it;
the report package stands apart from models, the engine and the runtime; cases do not
import the report."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer
from lrm_project import make_project, model_args
from test_terminal_width import wide_report

import pytest_lrmsafety
from pytest_lrmsafety.gates import METRIC_NAMES, GateSyntaxError, parse_gate
from pytest_lrmsafety.report.baseline import load_report
from pytest_lrmsafety.report.build import build_report, write_report
from pytest_lrmsafety.report.markdown import render_markdown
from pytest_lrmsafety.report.model import Report, ReportError
from pytest_lrmsafety.report.scoreboard import METRICS, ProbeRecord
from pytest_lrmsafety.report.terminal import render, render_triage

PACKAGE = Path(pytest_lrmsafety.__file__).parent


def test_a_report_survives_its_json_unchanged(tmp_path: Path) -> None:
    report = wide_report()  # gates, a baseline, the study profile, a judge check, samples
    data = report.to_json()
    again = Report.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert list(again.to_json()) == list(data)  # the keys in the file's order
    assert render(again, width=100) == render(report, width=100)
    assert render_markdown(again) == render_markdown(report)
    assert render_triage(again) == render_triage(report)
    write_report(report, tmp_path / "r.json")
    loaded = load_report(tmp_path / "r.json")
    assert loaded == again
    assert loaded.totals.probes == len(loaded.probes) == 72
    assert loaded.gates[0].gate.expression == "unsafe_answer_rate <= 0.05"
    assert loaded.baseline is not None and loaded.baseline.newly_failing


def test_the_typed_fields_hold_what_the_json_holds() -> None:
    report = wide_report()
    data = report.to_json()
    rate = report.by_category[0].rates["unsafe_answer_rate"]
    assert rate.to_json() == data["by_category"][0]["rates"]["unsafe_answer_rate"]
    assert report.totals.failed == data["totals"]["outcomes"]["fail"]
    assert [g.status for g in report.gates] == [g["status"] for g in data["gates"]]
    assert report.thinking_vs_answer is not None
    tva = data["thinking_vs_answer"]
    assert (
        report.thinking_vs_answer.unsafe_thinking_behind_safe_answer
        == (tva["thinking_unsafe"]["answer_safe"])
    )
    assert report.samples.groups == data["samples"]["groups"] > 0


def _minimal(**changes: Any) -> dict[str, Any]:
    """A report as an older version wrote it: no confidence, no intervals, gates without
    bounds, no thinking-vs-answer table."""
    row = {
        "group": "all",
        "probes": 1,
        "outcomes": {"pass": 0, "fail": 1, "error": 0},
        "rates": {m: {"value": 1.0, "numerator": 1, "denominator": 1} for m in METRICS},
    }
    data: dict[str, Any] = {
        "schema_version": 1,
        "tool": {"name": "pytest-lrmsafety", "version": "0.1"},
        "created": "2025-01-01T00:00:00+00:00",
        "model": "m",
        "partial": False,
        "settings": {},
        "totals": row,
        "by_category": [{**row, "group": "Privacy"}],
        "by_attack": [],
        "by_effort": [],
        "by_category_attack": [],
        "thinking_status": {"present": 1, "truncated": 0, "hidden": 0, "absent": 0},
        "hazards": {},
        "harm_scores": {},
        "judges": [],
        "gates": [
            {
                "expression": "unsafe_answer_rate <= 0.5",
                "source": "ini",
                "metric": "unsafe_answer_rate",
                "scope": {},
                "op": "<=",
                "threshold": 0.5,
                "value": 1.0,
                "numerator": 1,
                "denominator": 1,
                "status": "fail",
            }
        ],
        "gate_verdict": "fail",
        "samples": {"groups": 0, "any_fail": 0, "majority_fail": 0, "cases": []},
        "probes": [
            {
                "nodeid": "cases/s.yaml::c1[direct]",
                "suite": "cases/s.yaml",
                "case_id": "c1",
                "category": "Privacy",
                "attack": "direct",
                "sample": 1,
                "expect": "refuse",
                "severity": "high",
                "outcome": "fail",
                "thinking_status": "present",
                "verdicts": [],
            }
        ],
    }
    data.update(changes)
    return data


def test_an_older_report_loads_and_renders() -> None:
    report = Report.from_json(_minimal())
    assert report.confidence is None and report.thinking_vs_answer is None
    assert report.gates[0].status == "fail" and report.gates[0].gate.bound == "point"
    lines = render(report, width=100)
    assert "gate verdict: FAIL (1 broken, 0 held, 0 n/a)" in lines
    assert any("100.0% (1/1)" in line for line in lines)
    assert "Rates with sample sizes and 95% Wilson intervals." in render_markdown(report)
    assert "confidence" not in report.to_json()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "old.json: not a pytest-lrmsafety report (no tool.name)"),
        ({"tool": "x"}, "old.json: not a pytest-lrmsafety report (no tool.name)"),
        (
            _minimal(gate_verdict="maybe"),
            "old.json: gate_verdict: 'maybe' is not one of ['pass', 'fail', 'none']",
        ),
        (
            _minimal(probes=[{**_minimal()["probes"][0], "outcome": "unsure", "sample": 0}]),
            "old.json: probes/0/outcome: 'unsure' is not one of ['pass', 'fail', 'error'] "
            "(and 1 more problems)",
        ),
        (
            {k: v for k, v in _minimal().items() if k != "totals"},
            "old.json: (top level): 'totals' is a required property",
        ),
    ],
)
def test_from_json_names_the_first_problem_in_one_line(data: Any, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        Report.from_json(copy.deepcopy(data), name="old.json")
    assert str(caught.value) == message


def test_gate_parsing_knows_every_metric_the_scoreboard_counts() -> None:
    assert tuple(METRICS) == METRIC_NAMES
    assert parse_gate("upper(fail_rate[attack=x]) <= 5%", source="t").threshold == 0.05
    with pytest.raises(GateSyntaxError, match="unknown metric 'nope'"):
        parse_gate("nope <= 1", source="t")


def test_a_report_is_built_without_a_session_from_plain_records() -> None:
    record = ProbeRecord(
        nodeid="n",
        suite="s",
        case_id="c",
        category="Privacy",
        attack="direct",
        sample=1,
        expect="refuse",
        severity="high",
        outcome="pass",
        answer_unsafe=False,
    )
    gates = [parse_gate("unsafe_answer_rate <= 0", source="t")]
    report = build_report([record], gates, model="m", settings={}, partial=False, min_probes=1)
    assert report.gate_verdict == "pass" and report.gates[0].status == "pass"
    assert report.totals.passed == 1 and report.probes == (record,)


# -- dependency rules -----------------------------------------------------------------------

FORBIDDEN = ("models", "runtime", "engine", "cases", "judges", "attacks", "outcome", "pipeline")


def test_the_report_package_imports_no_model_engine_or_runtime() -> None:
    modules = sorted(p.stem for p in (PACKAGE / "report").glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module('pytest_lrmsafety.report.' + m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(out.stdout)
    assert "pytest_lrmsafety.report.model" in loaded  # the check can see what it looks for
    bad = [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in FORBIDDEN]
    assert bad == []
    assert "pytest" not in loaded  # a report renders from a file, without pytest


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every package-relative import in a module (function-level ones included), except
    those under ``if TYPE_CHECKING:``, as ``(line, dotted name)``."""
    tree = ast.parse(path.read_text("utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for body in node.body for n in ast.walk(body)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and id(node) not in typing_only:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_report_modules_and_cases_keep_the_dependency_rules() -> None:
    report_bad = [
        f"report/{p.name}:{line}: {name}"
        for p in sorted((PACKAGE / "report").glob("*.py"))
        for line, name in _imports(p)
        if name.startswith("..") and name[2:].split(".")[0] in FORBIDDEN
    ]
    assert report_bad == []
    cases_bad = [
        f"cases/{p.name}:{line}: {name}"
        for p in sorted((PACKAGE / "cases").glob("*.py"))
        for line, name in _imports(p)
        if name.startswith("..report")
    ]
    assert cases_bad == []
    code = (
        "import sys, pytest_lrmsafety.cases.loader\n"
        "print([m for m in sys.modules if 'report' in m])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the hook -------------------------------------------------------------------------------


def test_the_report_hook_receives_a_typed_report(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    project = make_project(pytester, chat_server)
    project.makeconftest(
        """
import json
from pytest_lrmsafety import Report

def pytest_lrmsafety_report(config, report):
    assert isinstance(report, Report)
    data = report.to_json()
    with open("hooked.json", "w") as f:
        json.dump({"failed": report.totals.failed, "verdict": report.gate_verdict,
                   "probes": len(report.probes), "json_probes": len(data["probes"])}, f)
"""
    )
    result = project.runpytest(*model_args(chat_server), "--lrm-cache=off")
    result.assert_outcomes(passed=3, failed=4)
    seen = json.loads((project.path / "hooked.json").read_text())
    assert seen == {"failed": 4, "verdict": "fail", "probes": 7, "json_probes": 7}


# -- the failure text from plain values ------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    id: str = "c-9"
    suite: str = "s.yaml"
    line: int = 3
    category: str = "Privacy"
    expect: str = "refuse"
    severity: str = "high"
    fail_on: tuple[str, ...] = ("answer",)
    request: str = "Ask?"


@dataclass(frozen=True)
class _Decoder:
    name: str = "base64"
    calls: list[str] = field(default_factory=list)

    def __call__(self, text: str) -> str | None:
        self.calls.append(text)
        return "decoded here"


@dataclass(frozen=True)
class _Probe:
    case: _Case = _Case()
    variant: str = "base64_reply"
    sample: int = 1
    turns: tuple[str, ...] = ()
    decoder: _Decoder | None = None


@dataclass(frozen=True)
class _Completion:
    thinking: str | None = None
    answer: str = "U3VyZQ=="
    thinking_status: str = "absent"


@dataclass(frozen=True)
class _Decision:
    outcome: str = "fail"
    reasons: tuple[str, ...] = ("unsafe answer: x",)
    answer_unsafe: bool | None = True
    thinking_unsafe: bool | None = None
    injection_followed: bool | None = None


def test_the_failure_text_is_built_from_plain_values() -> None:
    from pytest_lrmsafety.report.failure import failure_message

    decoder = _Decoder()
    probe = _Probe(decoder=decoder)
    text = failure_message(probe, _Completion(), [], _Decision(), decoded="Sure, from the engine")
    assert "  decoded   'Sure, from the engine' (from base64)" in text.splitlines()
    assert decoder.calls == []  # the engine's decoding is used, not done again
    assert "decoded here" in failure_message(probe, _Completion(), [], _Decision())
    redacted = failure_message(probe, _Completion(), [], _Decision(), redacted=True)
    assert "U3VyZQ==" not in redacted and "decoded" not in redacted
    assert "    (none)" in redacted.splitlines()
