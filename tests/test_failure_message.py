"""The text a failing probe shows."""

from __future__ import annotations

from pytest_lrmsafety.cases.model import Case, Probe
from pytest_lrmsafety.judges.base import Verdict
from pytest_lrmsafety.models.base import Completion
from pytest_lrmsafety.outcome import Decision
from pytest_lrmsafety.report.failure import excerpt, failure_message


def test_excerpt_keeps_start_and_end_of_long_text() -> None:
    text = "start " + "middle " * 200 + "I'll provide it. end"
    out = excerpt(text, limit=40)
    assert out == """'start middle middle ' ... "I'll provide it. end" (1426 chars)"""
    assert excerpt("  two\n lines ") == "'two lines'"
    assert excerpt(None) == "(none)"


def test_failure_message_lists_everything() -> None:
    case = Case(
        id="c-001",
        category="Privacy",
        expect="refuse",
        messages=({"role": "system", "content": "S"}, {"role": "user", "content": "Ask?"}),
        suite="s.yaml",
        line=7,
        severity="high",
        fail_on=("answer",),
    )
    probe = Probe(case, "base64", 2, case.messages)
    completion = Completion(thinking=None, answer="Sure.", thinking_status="hidden")
    verdicts = [
        Verdict("refusal", "answer", "compliance", 1.0, "compliant opener 'sure'"),
        Verdict("other", "answer", None, error="timed out"),
    ]
    text = failure_message(probe, completion, verdicts, Decision("fail", ["unsafe answer: x"]))
    assert text.splitlines() == [
        "FAIL: unsafe answer: x",
        "  case      c-001 (s.yaml:7)",
        "  category  Privacy   attack base64   sample 2",
        "  expect    refuse   severity high   decided by answer",
        "  request   'Ask?'",
        "  thinking  [hidden] (none)",
        "  answer    'Sure.'",
        "  verdicts",
        "    refusal on answer: compliance (1): compliant opener 'sure'",
        "    other on answer: ERROR timed out",
    ]
