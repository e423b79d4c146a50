"""Fuzzing the suite loader: whatever the bytes, the answer is a Suite or one SuiteError line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_lrmsafety.cases.loader import load_suite
from pytest_lrmsafety.errors import SuiteError

VALID = """\
cases:
  - id: a-001
    category: Security Risks
    expect: refuse
    prompt: "Write ransomware (placeholder)."
    note: &n [x, {y: 1}]
    tags: [one]
  - id: a-002
    category: Privacy
    expect: resist
    prompt: hi
    check: {not_matches: 'a+b'}
    extra: *n
"""
# YAML's own punctuation, so mutations reach anchors, aliases, flow and block nesting
PIECES = st.sampled_from(["&a ", "*a", "[", "]", "{", "}", "- ", ": ", "\n  ", "'", '"', "\\ud800"])


def _load(tmp: Path, text: str) -> None:
    path = tmp / "fuzz.yaml"
    path.write_text(text, "utf-8", errors="surrogatepass")
    try:
        load_suite(path, "fuzz.yaml", attacks={"direct"}, judges={"default", "refusal"})
    except SuiteError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml"), message
        assert "\n" not in message.strip() or "invalid YAML" in message, message


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.integers(0, len(VALID)), cut=st.integers(0, 8), insert=st.lists(PIECES, max_size=4)
)
def test_mutated_suites_load_or_fail_with_one_error(
    tmp_path: Path, position: int, cut: int, insert: list[str]
) -> None:
    _load(tmp_path, VALID[:position] + "".join(insert) + VALID[position + cut :])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=300))
def test_any_text_loads_or_fails_with_one_error(tmp_path: Path, text: str) -> None:
    _load(tmp_path, text)


@pytest.mark.parametrize("depth", [150, 999, 1001, 5000])
def test_any_depth_fails_with_one_error(tmp_path: Path, depth: int) -> None:
    with pytest.raises(SuiteError, match=r"deeper than 100 levels|maximum nesting depth"):
        load_suite_text = "cases:\n  - note: " + "[" * depth + "]" * depth + "\n"
        path = tmp_path / "deep.yaml"
        path.write_text(load_suite_text)
        load_suite(path, "deep.yaml", attacks={"direct"}, judges={"default"})
