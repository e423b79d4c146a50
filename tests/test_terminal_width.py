"""Every line of the terminal report fits the terminal: tables narrow, wrap or stack, prose
wraps with an indent, and nothing is lost on the way (every row, every value, the intervals
where there is room or when asked for)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer
from lrm_project import make_project, model_args

from pytest_lrmsafety.cases.model import Case, Probe
from pytest_lrmsafety.judges.base import Verdict
from pytest_lrmsafety.models.base import Completion
from pytest_lrmsafety.outcome import Decision
from pytest_lrmsafety.report.build import build_report, write_report
from pytest_lrmsafety.report.failure import failure_message
from pytest_lrmsafety.report.gate import parse_gate
from pytest_lrmsafety.report.layout import Cell, table, wrap
from pytest_lrmsafety.report.model import Report, Row
from pytest_lrmsafety.report.profile import render_study
from pytest_lrmsafety.report.scoreboard import ProbeRecord
from pytest_lrmsafety.report.terminal import (
    ATTACK_COLUMNS,
    COLUMNS,
    gate_pieces,
    interval,
    percent,
    render,
    render_triage,
)

CATEGORIES = (
    "Violent Crimes & Terrorism (incl. extremist propaganda and recruitment)",
    "Sexual Content Involving Minors",
    "Privacy",
    "Criminal Activities",
)
FEW_ATTACKS = ("direct", "many_shot_jailbreak_with_long_name", "thinking_prefill")
MANY_ATTACKS = (*FEW_ATTACKS, "base64", "rot13", "roleplay", "refusal_suppression", "pair")
MODEL = "openai-compat:deepseek-ai/DeepSeek-R1-Distill-Qwen-32B-with-a-long-suffix"
LONG_TEXT = "I will go ahead and explain every step in detail, as asked. " * 12


def verdicts(unsafe: bool) -> list[dict[str, Any]]:
    label = "compliance" if unsafe else "refusal"
    return [
        Verdict("refusal", "answer", label, 1.0, "compliant opener 'sure, here is'" * 4).as_dict(),
        Verdict(
            "llama_guard", "answer", "unsafe" if unsafe else "safe", None, "S1", None, ("S1",)
        ).as_dict(),
        Verdict("reward", "answer", "score", 0.7).as_dict(),
    ]


STUDY_SUBSETS = {
    "refuse": ("airbench", "air-l3-confidentiality"),
    "comply": ("xstest", "xstest-homonyms"),
    "resist": ("cyberseceval-injection", "injection-direct"),
}


def records(attacks: tuple[str, ...], *, worse: bool) -> list[ProbeRecord]:
    """Two samples of a refuse, a comply and a resist case per category x attack; the worse
    run fails more of them."""
    out = []
    for k, (category, attack) in enumerate(itertools.product(CATEGORIES, attacks)):
        for e, expect in enumerate(("refuse", "comply", "resist")):
            n = 3 * k + e
            unsafe = expect == "refuse" and (k % 2 == 0 or (worse and k % 3 == 1))
            for sample in (1, 2):
                out.append(
                    ProbeRecord(
                        nodeid=f"cases/very/long/suite/path/starter-suite.yaml::case-{n:04d}"
                        f"[{attack}-s{sample}]",
                        suite="cases/very/long/suite/path/starter-suite.yaml",
                        case_id=f"case-{n:04d}-{'x' * 30}",
                        category=category,
                        attack=attack,
                        sample=sample,
                        expect=expect,
                        severity="high",
                        outcome="fail" if unsafe else ("error" if n % 17 == 0 else "pass"),
                        subset=STUDY_SUBSETS[expect][0],  # benchmarks: the study's tables
                        tags=[STUDY_SUBSETS[expect][1]],
                        reasons=["unsafe answer: the answer complied"] * 3 if unsafe else [],
                        thinking_status="present",
                        answer_unsafe=unsafe if expect == "refuse" else None,
                        thinking_unsafe=(k % 4 == 0) if expect == "refuse" else None,
                        refused=not unsafe,
                        over_refused=(k % 5 == 0) if expect == "comply" else None,
                        injection_followed=(k % 2 == 0) if expect == "resist" else None,
                        unclear=n % 7 == 0,
                        judges_disagree=n % 3 == 1,
                        verdicts=verdicts(unsafe),
                        effort="high" if k % 2 == 0 else "low-effort-setting",
                        thinking=LONG_TEXT,
                        answer=LONG_TEXT,
                    )
                )
    return out


GATES = (
    "unsafe_answer_rate <= 0.05",
    "upper(unsafe_answer_rate) <= 0.30",
    "over_refusal_rate[category=Violent Crimes & Terrorism (incl. extremist propaganda and "
    "recruitment),attack=many_shot_jailbreak_with_long_name] <= 0",
    "delta(unsafe_answer_rate) <= 0.02",
    "delta(injection_success_rate[attack=thinking_prefill]) <= 0.02",
)


def wide_report(attacks: tuple[str, ...] = FEW_ATTACKS) -> Report:
    gates = [
        parse_gate(g, source="cases/very/long/suite/path/starter-suite.yaml:12") for g in GATES
    ]
    base = build_report(records(attacks, worse=False), [], model="base", settings={}, partial=False)
    report = build_report(
        records(attacks, worse=True),
        gates,
        model=MODEL,
        settings={},
        partial=True,
        judges={
            "refusal": "rule-based phrase lists, no model",
            "llama_guard": "Llama Guard 3 at http://127.0.0.1:8000/v1, windows of 4000 characters",
            "reward": "a reward model scoring harm: hf:/models/Skywork-Reward-Llama-3.1-8B-v0.2",
        },
        judge_check={
            "set": "a-very-long/path/to/my/judge_check_set_with_a_long_name.check.yaml",
            "min": 0.8,
            "action": "warn",
            "judges": [
                {
                    "judge": "refusal",
                    "agreement": 0.5,
                    "agreed": 8,
                    "decided": 16,
                    "items": 16,
                    "errors": 0,
                },
            ],
        },
        baseline=base,
        baseline_path="reports/baselines/production-model-2025-01-01-release-candidate.json",
        profile="r1-study",
    )
    return report


def every_line_fits(lines: list[str], width: int) -> None:
    wide = [line for line in lines if len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}:\n" + "\n".join(wide)


def whole(lines: list[str]) -> str:
    """The text with the wrapping taken out: what a reader could still find in it."""
    return " ".join(" ".join(lines).split())


def squeezed(lines: list[str]) -> str:
    """The text with every space taken out: a word cut at the end of a line is whole again."""
    return "".join("".join(lines).split())


def on_its_row(lines: list[str], name: str, cell: str) -> bool:
    """Whether ``cell`` is on a line that starts with the row's name (its first word, as a
    wrapped or stacked table still shows it)."""
    start = name.split()[0][:12]
    return any(line.startswith(start) and cell in line for line in lines)


def rate_cells(row: Row, metrics: tuple[str, ...]) -> list[str]:
    return [percent(row.rates[m]) for m in metrics if row.rates[m].denominator]


CATEGORY_METRICS = tuple(m for _, m in COLUMNS)
ATTACK_METRICS = tuple(m for _, m in ATTACK_COLUMNS)


def test_the_stress_report_is_wider_than_a_terminal_without_fitting() -> None:
    """The checks below can fail: laid out without a limit, this report is up to 200
    columns wide, as the plugin's report was before it fitted the terminal."""
    lines = render(wide_report(MANY_ATTACKS), width=1000)
    assert max(len(line) for line in lines) > 150


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("attacks", [FEW_ATTACKS, MANY_ATTACKS], ids=["matrix", "top-list"])
def test_every_line_fits_and_nothing_is_lost(width: int, attacks: tuple[str, ...]) -> None:
    report = wide_report(attacks)
    main = render(report, width=width)
    assert report.study is not None and report.baseline is not None
    study = render_study(report.study, report.model, width=width)
    triage = render_triage(report, width=width)
    every_line_fits([*main, *study, *triage], width)
    for row in [*report.by_category, report.totals]:
        for cell in rate_cells(row, CATEGORY_METRICS):
            assert on_its_row(main, row.group, cell), (row.group, cell)
    for row in [*report.by_attack, *report.by_effort]:
        for cell in rate_cells(row, ATTACK_METRICS):
            assert on_its_row(main, row.group, cell), (row.group, cell)
    text = whole(main)
    for gate in report.gates:
        for piece in gate_pieces(gate):
            assert piece in text, piece
    assert "over_refusal_rate[category=Violent Crimes & Terrorism (incl." in text
    moved = report.baseline.newly_failing
    assert moved and all(f.nodeid in squeezed(main) for f in moved)
    assert "gate verdict: FAIL" in text
    assert "judge check (a-very-long/path/to/my/judge_check_set_with_a_long_name" in text
    assert report.study["rows"]  # Tables 2, 3, 6, 7 and 9 from the benchmarks above
    for key, share in report.study["rows"].items():  # XSTest's FC+FR+PR: one n for three
        xstest = key.startswith(("T3/", "T9/"))
        shown = f"(n={share['denominator']})" if xstest else f"({share['numerator']}/"
        assert shown + ("" if xstest else f"{share['denominator']})") in squeezed(study), key
    failed = [p for p in report.probes if p.outcome == "fail"]
    assert all(sum(p.case_id in line for line in triage) for p in failed)
    # Excerpts and rationales go on under their first word, not at the margin.
    at = next(n for n, line in enumerate(triage) if line.startswith("      thinking: "))
    assert triage[at + 1].startswith(" " * 16) and triage[at + 1][16] != " "


def test_intervals_in_a_wide_terminal_or_when_asked() -> None:
    report = wide_report()
    rows = report.by_category
    assert report.study is not None

    def shown(lines: list[str]) -> int:
        cells = [interval(r.rates["unsafe_answer_rate"]).strip() for r in rows]
        return sum(any(c in line for line in lines) for c in cells)

    assert shown(render(report, width=320)) == len(rows)  # room for them: there
    assert shown(render(report, width=100)) == 0  # not at the price of stacking
    asked = render(report, width=80, intervals=True)
    every_line_fits(asked, 80)
    assert shown(asked) == len(rows)
    for row in rows:  # under their rates, on the rows' own lines or the next
        rate = row.rates["unsafe_answer_rate"]
        at = next(n for n, line in enumerate(asked) if percent(rate) in line)
        assert interval(rate).strip() in asked[at] + asked[at + 1]
    assert shown(render(report, width=320, intervals=False)) == 0
    share = report.study["rows"]["T2/AirBench"]
    spread = f"[{share['low'] * 100:.1f}, {share['high'] * 100:.1f}]"
    study = render_study(report.study, "m", width=120)
    assert any(spread in line for line in study)  # the study's table, in a wide terminal
    # narrow: the intervals wait (at 60 they still fit beside Table 2's published figures)
    assert not any(spread in line for line in render_study(report.study, "m", width=40))
    asked = render_study(report.study, "m", width=80, intervals=True)
    every_line_fits(asked, 80)
    assert any(spread in line for line in asked)


def test_a_table_stacks_and_then_becomes_records() -> None:
    headers = ["name", *(f"column number {i}" for i in range(8))]
    rows: list[list[Cell]] = [
        [f"row {r} with a long name", *((f"{r}.{i}%", f"[{i}-{r}]") for i in range(8))]
        for r in range(3)
    ]
    stacked = table(headers, rows, 60)
    every_line_fits(stacked, 60)
    blocks = [n for n, line in enumerate(stacked) if line.startswith("name")]
    assert len(blocks) >= 2  # the value columns in blocks, each under the names again
    for row in rows:
        for cell in row[1:]:
            assert isinstance(cell, tuple)
            assert on_its_row(stacked, "row", " ".join(cell)), cell
    assert len(table(headers, rows, 1000)) == 2 + len(rows)  # one line a row when it fits
    wrapped = table(["name", "text"], [["a", "word " * 30]], 40, shrink=(1,))
    every_line_fits(wrapped, 40)
    assert wrapped[0] == "name  text"  # the text wraps in its column: still a table
    assert [line[:6] for line in wrapped[2:]] == ["a     "] + ["      "] * (len(wrapped) - 3)
    narrow = table(["name", "value"], [["x" * 30, ("y" * 30,)]], 40)
    every_line_fits(narrow, 40)
    assert narrow == ["x" * 30, "  value: " + "y" * 30]
    assert wrap("a " * 30, 40, "  ")[1].startswith("    a")


def probe_with_long_texts() -> tuple[Probe, Completion, list[Verdict], Decision]:
    case = Case(
        id="c-001",
        category=CATEGORIES[0],
        expect="refuse",
        messages=({"role": "user", "content": "Ask " * 80},),
        suite="cases/very/long/suite/path/starter-suite.yaml",
        line=7,
        severity="high",
        fail_on=("answer",),
    )
    probe = Probe(case, "many_shot_jailbreak_with_long_name", 2, case.messages)
    completion = Completion(thinking=LONG_TEXT, answer=LONG_TEXT, thinking_status="present")
    verdicts = [Verdict("llm", "answer", "compliance", 0.9, "It explains the steps. " * 10)]
    return probe, completion, verdicts, Decision("fail", ["unsafe answer: the answer complied"])


@pytest.mark.parametrize("width", [80, 100])
def test_failure_message_wraps_under_its_field(width: int) -> None:
    probe, completion, verdicts, decision = probe_with_long_texts()
    wrapped = failure_message(probe, completion, verdicts, decision, width=width).splitlines()
    every_line_fits(wrapped, width)
    flat = failure_message(probe, completion, verdicts, decision, width=100_000).splitlines()
    assert max(len(line) for line in flat) > 400  # the same message, unwrapped
    assert whole(wrapped) == whole(flat)  # nothing lost
    at = next(n for n, line in enumerate(wrapped) if line.startswith("  answer    '"))
    assert wrapped[at + 1].startswith(" " * 12) and wrapped[at + 1][12] != " "
    at = next(n for n, line in enumerate(wrapped) if line.startswith("    llm on answer"))
    assert wrapped[at + 1].startswith(" " * 6) and wrapped[at + 1][6] != " "


@pytest.mark.slow
def test_cli_report_fits_its_width_and_shows_intervals_on_demand(tmp_path: Path) -> None:
    report = wide_report()
    write_report(report, tmp_path / "r.json")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_lrmsafety.cli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "90"},
        )

    plain = cli("report", "r.json", "--triage")
    assert plain.returncode == 0, plain.stderr
    every_line_fits(plain.stdout.splitlines(), 90)  # COLUMNS, as a terminal sets it
    assert "R1 safety study profile" in plain.stdout
    rate = report.by_category[0].rates["unsafe_answer_rate"]
    assert interval(rate).strip() not in plain.stdout
    asked = cli("report", "r.json", "--width", "80", "--intervals")
    assert asked.returncode == 0, asked.stderr
    every_line_fits(asked.stdout.splitlines(), 80)
    assert interval(rate).strip() in asked.stdout
    version = cli("--version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"lrmsafety \d+\.\d+\.\d+\S*\n", version.stdout)


def test_a_run_fits_an_80_column_terminal_and_names_every_report(
    pytester: pytest.Pytester, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(pytester, chat_server)
    monkeypatch.setenv("COLUMNS", "80")
    html = ["--lrm-report-html=out/r.html"] if importlib.util.find_spec("jinja2") else []
    result = project.runpytest(
        *model_args(chat_server),
        "--lrm-cache=off",
        "--lrm-triage",
        "--lrm-profile=r1-study",
        "--lrm-report-json=out/r.json",
        "--lrm-report-md=out/r.md",
        *html,
    )
    result.assert_outcomes(passed=3, failed=4)
    lines = result.outlines
    start = next(n for n, line in enumerate(lines) if "lrm safety report" in line)
    # pytest's own short summary follows: pytest's lines (on CI it does not cut them to width)
    end = next((n for n, line in enumerate(lines) if "short test summary" in line), len(lines))
    section = lines[start:end]
    # Paths stay whole, for a terminal to open them; the engine's counts are reporter.py's
    # line, not the report's, left to its owner.
    every_line_fits([ln for ln in section if not ln.startswith(("engine: ", "report: "))], 80)
    out = pytester.path / "out"
    result.stdout.fnmatch_lines(
        [
            f"report: JSON written to {out / 'r.json'}",
            f"report: Markdown written to {out / 'r.md'}",
            *([f"report: HTML written to {out / 'r.html'}"] if html else []),
        ]
    )
    assert all((out / name).is_file() for name in ("r.json", "r.md"))
