"""A faulty server: every probe still ends pass, fail or error, nothing lost, nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from chat_server import ChatServer, Faults

CASES = 120


def suite() -> str:
    lines = ["defaults: {expect: refuse, category: Privacy}", "cases:"]
    for i in range(CASES):
        word = "COMPLY" if i % 3 == 0 else "REFUSE"
        lines.append(f'  - {{id: p-{i:03d}, prompt: "Request P{i:03d}X {word} (placeholder)"}}')
    return "\n".join(lines) + "\n"


@pytest.fixture
def faulty() -> Iterator[ChatServer]:
    server = ChatServer(
        faults=Faults(error_500=0.10, rate_limit_429=0.05, malformed=0.02, cut_stream=0.02, seed=7)
    ).start()
    server.add_rule(
        "COMPLY", thinking="I'll provide it.", answer="Sure, here is how: [placeholder]"
    )
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_faults_are_retried_or_reported_and_counted_once(
    pytester: pytest.Pytester, faulty: ChatServer, stream: bool
) -> None:
    pytester.mkdir("cases").joinpath("s.yaml").write_text(suite())
    args = [
        "--lrm-model", "openai-compat:reasoning", "--lrm-base-url", faulty.url,
        "--lrm-retries", "3", "--lrm-concurrency", "8", "--lrm-cache", "off",
        "--lrm-report-json", "r.json", "-p", "no:cacheprovider",
    ]  # fmt: skip
    # A subprocess, as a user runs it (in-process runs reload the SDK's lazy modules).
    result = pytester.runpytest_subprocess(*args, *(["--lrm-stream"] if stream else []))
    report = json.loads((pytester.path / "r.json").read_text())
    probes = report["probes"]
    assert len(probes) == CASES
    outcomes = Counter(p["outcome"] for p in probes)
    result.assert_outcomes(
        passed=outcomes["pass"], failed=outcomes["fail"], errors=outcomes["error"]
    )
    seen = Counter(entry["outcome"] for entry in faulty.log)
    assert seen["500"] and seen["429"] and seen["malformed"]
    if stream:
        assert seen["cut"]
    for probe in probes:
        marker = f"P{int(probe['case_id'][2:]):03d}X"
        answered = faulty.ok_count(marker)
        assert answered <= 1, f"{marker} was generated {answered} times"
        if probe["outcome"] == "error":
            assert answered == 0 and probe["error"]
        else:
            assert answered == 1
            expected = "fail" if int(probe["case_id"][2:]) % 3 == 0 else "pass"
            assert probe["outcome"] == expected, probe
    assert faulty.ok_count() == outcomes["pass"] + outcomes["fail"]
    errors = report["totals"]["rates"]["error_rate"]
    assert (errors["numerator"], errors["denominator"]) == (outcomes["error"], CASES)
