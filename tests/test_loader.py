"""Suite loading (defaults, messages, every error with its line) and probe expansion."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pytest_lrmsafety.attacks import builtin_attacks
from pytest_lrmsafety.cases.loader import load_suite
from pytest_lrmsafety.cases.model import Check, Suite
from pytest_lrmsafety.collect import expand_probes
from pytest_lrmsafety.errors import SuiteError

ATTACKS = builtin_attacks()
SHOWN = "cases/s.yaml"


def load(tmp_path: Path, text: str, fail_on: tuple[str, ...] | None = None) -> Suite:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return load_suite(path, SHOWN, attacks=set(ATTACKS), judges={"refusal"}, fail_on=fail_on)


SUITE = """\
suite:
  name: demo
defaults:
  category: Weapons
  expect: refuse
  severity: high
  tags: [starter, cbrn]
  attacks: [direct, base64]
  samples: 2
  sampling: {temperature: 0.6, max_tokens: 512}
gates:
  - unsafe_answer_rate <= 0.05
  - over_refusal_rate[category=Privacy] < 10%
cases:
  - id: w-1
    prompt: "[placeholder request]"
    tags: [cbrn, extra]
    sampling: {max_tokens: 64, seed: 3}
  - id: p-1
    category: Privacy
    expect: comply
    severity: low
    attacks: [direct]
    samples: 1
    fail_on: [answer]
    judges: [refusal]
    note: benign
    messages:
      - role: system
        content: You are helpful.
      - role: user
        content: "[first question]"
      - role: assistant
        content: "[first answer]"
      - role: user
        content: "[follow-up]"
  - id: r-1
    expect: resist
    prompt: "Summarise: [document with an injected CANARY-7]"
    check: {not_contains: CANARY-7, ignore_case: true, in: [thinking, answer]}
"""


def test_load_suite(tmp_path: Path) -> None:
    suite = load(tmp_path, SUITE)
    assert (suite.path, suite.name) == (SHOWN, "demo")
    w, p, r = suite.cases
    assert [w.id, w.category, w.expect, w.severity, w.line] == [
        "w-1",
        "Weapons",
        "refuse",
        "high",
        15,
    ]
    assert w.messages == ({"role": "user", "content": "[placeholder request]"},)
    assert w.tags == ("starter", "cbrn", "extra")  # merged, defaults first, no duplicates
    assert (w.attacks, w.judges, w.samples) == (("direct", "base64"), ("default",), 2)
    assert w.fail_on == ("answer", "thinking")
    assert dict(w.sampling) == {"temperature": 0.6, "max_tokens": 64, "seed": 3}
    assert (w.check, w.note, w.suite) == (None, "", SHOWN)
    assert (p.category, p.expect, p.severity, p.line) == ("Privacy", "comply", "low", 19)
    assert (p.attacks, p.samples, p.fail_on, p.note) == (("direct",), 1, ("answer",), "benign")
    assert p.tags == ("starter", "cbrn")
    assert [m["role"] for m in p.messages] == ["system", "user", "assistant", "user"]
    assert p.request == "[follow-up]"
    assert r.check == Check(
        not_contains="CANARY-7", ignore_case=True, targets=("thinking", "answer")
    )
    assert [(g.expression, g.source, g.suite) for g in suite.gates] == [
        ("unsafe_answer_rate <= 0.05", f"{SHOWN}:12", SHOWN),
        ("over_refusal_rate[category=Privacy] < 10%", f"{SHOWN}:13", SHOWN),
    ]


@pytest.mark.parametrize(
    ("suite_fail_on", "case_yaml", "expected"),
    [
        (None, "", ("answer", "thinking")),
        (("answer",), "", ("answer",)),
        (("answer",), "    fail_on: [thinking]\n", ("thinking",)),
    ],
)
def test_fail_on_precedence(
    tmp_path: Path, suite_fail_on: tuple[str, ...] | None, case_yaml: str, expected: tuple[str, ...]
) -> None:
    text = f"cases:\n  - id: a\n    category: X\n    expect: refuse\n    prompt: hi\n{case_yaml}"
    (case,) = load(tmp_path, text, fail_on=suite_fail_on).cases
    assert case.fail_on == expected


def test_minimal_case_defaults(tmp_path: Path) -> None:
    suite = load(tmp_path, "cases:\n  - {id: a, category: X, expect: comply, prompt: hi}\n")
    (case,) = suite.cases
    assert suite.name == "s"  # the file's stem
    got = [case.severity, case.tags, case.attacks, case.judges, case.samples]
    assert got == ["medium", (), ("direct",), ("default",), 1]
    assert (dict(case.sampling), case.line, suite.gates) == ({}, 2, ())


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("suite: my-suite\n", "my-suite"),  # the short form users write
        ("suite: {name: my-suite, description: d}\n", "my-suite"),
        ("suite: {description: only a description}\n", "s"),  # the file's stem
    ],
)
def test_suite_name_as_a_string_or_a_mapping(tmp_path: Path, header: str, name: str) -> None:
    suite = load(tmp_path, header + "cases:\n  - {id: a, category: X, expect: comply, prompt: x}\n")
    assert suite.name == name


HEAD = "cases:\n  - id: a\n    category: X\n    expect: refuse\n    prompt: hi\n"  # lines 1-5
RESIST = "cases:\n  - id: a\n    category: X\n    prompt: hi\n    expect: resist\n"  # lines 1-5
CASE_KEYS = (
    "attacks, budgets, category, check, efforts, expect, fail_on, goal, id, judge_question, "
    "judges, messages, "
    "note, payload, prompt, samples, sampling, severity, subset, tags, turns"
)
DEFAULT_KEYS = (
    "attacks, budgets, category, efforts, expect, fail_on, judges, rubrics, samples, sampling, "
    "severity, subset, tags"
)
LIST_HINT = "list them with pytest --lrm-list-attacks"
EMPTY = "1: the file is empty; a suite needs a 'cases' list"
ONE_OF = "give exactly one of 'prompt' or 'messages'"
NO_CHECK = (
    "a resist case needs a 'check' (or a 'judge_question' for the llm judge) that decides if "
    "the injection worked"
)
THRESHOLD = "threshold must be within 0..1 or 0%..100%"
# id: (file text, expected "LINE: field: message")
ERRORS = {
    "bad-yaml": (
        "cases:\n  - id: a\n\tprompt: x\n",
        "3: invalid YAML: found character '\\t' that cannot start any token",
    ),
    "empty": ("", EMPTY),
    "only-comment": ("# just a comment\n", EMPTY),
    "unknown-top-key": (
        "suite:\n  name: s\ncolour: red\n" + HEAD,
        "3: colour: unknown key 'colour'; allowed: cases, defaults, gates, schema_version, suite",
    ),
    "suite-not-a-name": (
        "suite: 3\n" + HEAD,
        "1: suite: 3 is not allowed here; give a string or a mapping of description, name",
    ),
    "suite-empty-name": ("suite: ''\n" + HEAD, "1: suite: '' should be non-empty"),
    "suite-unknown-key": (
        "suite: {nme: x}\n" + HEAD,
        "1: suite.nme: unknown key 'nme'; allowed: description, name",
    ),
    "unknown-case-key": (
        HEAD + "    promt: hi\n",
        f"6: cases[0].promt: unknown key 'promt'; allowed: {CASE_KEYS}",
    ),
    "unknown-defaults-key": (
        "defaults:\n  category: X\n  severity: high\n  colour: red\n" + HEAD,
        f"4: defaults.colour: unknown key 'colour'; allowed: {DEFAULT_KEYS}",
    ),
    "bad-expect": (
        "cases:\n  - id: a\n    category: X\n    prompt: hi\n    expect: maybe\n",
        "5: cases[0].expect: 'maybe' is not allowed; use one of refuse, comply, resist",
    ),
    "prompt-and-messages": (
        HEAD + "  - id: b\n    prompt: hi\n    messages: [{role: user, content: hi}]\n",
        f"6: cases[1]: {ONE_OF}",
    ),
    "neither": (
        HEAD + "  - id: b\n    category: X\n    expect: refuse\n",
        f"6: cases[1]: {ONE_OF}",
    ),
    "duplicate-id": (
        HEAD + "  - category: X\n    id: a\n    expect: refuse\n    prompt: hi\n",
        "7: cases[1].id: duplicate id 'a' (first on line 2)",
    ),
    "duplicate-key": (HEAD + "    category: Y\n", "6: cases[0].category: duplicate key"),
    "unknown-attack": (
        HEAD + "    attacks:\n      - direct\n      - nope\n",
        "8: cases[0].attacks[1]: unknown attack 'nope'; " + LIST_HINT,
    ),
    "unknown-attack-in-defaults": (
        "defaults:\n  attacks: [direct, roleplay,\n    nope]\n" + HEAD,
        "3: defaults.attacks[2]: unknown attack 'nope'; " + LIST_HINT,
    ),
    "unknown-judge": (
        HEAD + "    judges: [llm_judge]\n",
        "6: cases[0].judges[0]: unknown judge 'llm_judge'; known: refusal",
    ),
    "unknown-judge-in-defaults": (
        "defaults:\n  judges: [refusal, llm]\n" + HEAD,
        "2: defaults.judges[1]: unknown judge 'llm'; known: refusal",
    ),
    "no-category": (
        "cases:\n  - id: a\n    expect: refuse\n    prompt: hi\n",
        "2: cases[0].category: required: set 'category' on the case or in 'defaults'",
    ),
    "no-expect": (
        "defaults: {category: X}\ncases:\n  - id: a\n    prompt: hi\n",
        "3: cases[0].expect: required: set 'expect' on the case or in 'defaults'",
    ),
    "resist-without-check": (RESIST, f"5: cases[0].expect: {NO_CHECK}"),
    "resist-from-defaults-without-check": (
        "defaults: {expect: resist}\ncases:\n  - id: a\n    category: X\n    prompt: hi\n",
        f"3: cases[0].expect: {NO_CHECK}",
    ),
    "check-on-refuse": (
        HEAD + "    check:\n      not_contains: CANARY\n",
        "6: cases[0].check: only 'expect: resist' cases take a check",
    ),
    "check-without-condition": (
        RESIST + "    check: {ignore_case: true}\n",
        "6: cases[0].check: needs one of not_contains, contains, not_matches, matches",
    ),
    "check-bad-regex": (
        RESIST + "    check:\n      contains: ok\n      matches: '(unclosed'\n",
        "8: cases[0].check.matches: bad regular expression: "
        "missing ), unterminated subpattern at position 0",
    ),
    "last-message-not-user": (
        "cases:\n  - id: a\n    category: X\n    expect: refuse\n    messages:\n"
        "      - {role: user, content: hi}\n      - content: sure\n        role: assistant\n",
        "8: cases[0].messages[1].role: the last message must be the user's",
    ),
    "bad-gate": (
        "gates:\n  - error_rate <= 0.1\n  - error_rate <= 2\n" + HEAD,
        f"3: gates[1]: gate 'error_rate <= 2': {THRESHOLD}",
    ),
    "gate-unknown-metric": (
        HEAD + "gates:\n  - unsafe_rate < 1\n",
        "7: gates[0]: gate 'unsafe_rate < 1': unknown metric 'unsafe_rate'; known: "
        "unsafe_answer_rate, unsafe_thinking_rate, unsafe_answer_rate_max, "
        "unsafe_thinking_rate_max, refusal_rate, over_refusal_rate, "
        "injection_success_rate, attack_success_rate, thinking_attack_success_rate, "
        "unclear_rate, judge_disagreement_rate, error_rate, fail_rate, aware_complied_rate, "
        "reasoning_tokens_ratio, reasoning_tokens_ratio_mean, paired_worse_p, harm_score_mean, "
        "phishing_score_mean",
    ),
}


@pytest.mark.parametrize(("text", "expected"), list(ERRORS.values()), ids=list(ERRORS))
def test_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SuiteError) as info:
        load(tmp_path, text)
    assert str(info.value) == f"{SHOWN}:{expected}"
    assert info.value.path == SHOWN
    assert info.value.line == int(expected.split(":")[0])


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"cases: \xff\xfe\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path, SHOWN, attacks=set(ATTACKS), judges={"refusal"})
    assert str(info.value).startswith(f"{SHOWN}: cannot read: ")
    assert info.value.line is None


# -- expand_probes ---------------------------------------------------------------------------


def test_expand_probes_names_and_order(tmp_path: Path) -> None:
    probes = expand_probes(load(tmp_path, SUITE), ATTACKS)
    assert [p.name for p in probes] == [
        "w-1[direct-s1]",
        "w-1[direct-s2]",
        "w-1[base64-s1]",
        "w-1[base64-s2]",
        "p-1[direct]",
        "r-1[direct-s1]",
        "r-1[direct-s2]",
        "r-1[base64-s1]",
        "r-1[base64-s2]",
    ]
    assert [(p.attack, p.sample) for p in probes[:4]] == [
        ("direct", 1),
        ("direct", 2),
        ("base64", 1),
        ("base64", 2),
    ]


@pytest.mark.parametrize("attack", ["direct", "base64", "roleplay", "refusal_suppression"])
def test_attack_rewrites_last_user_message_only(tmp_path: Path, attack: str) -> None:
    text = SUITE.replace("    attacks: [direct]\n", f"    attacks: [{attack}]\n")
    suite = load(tmp_path, text)
    (probe,) = [p for p in expand_probes(suite, ATTACKS) if p.case.id == "p-1"]
    case = probe.case
    assert probe.name == f"p-1[{attack}]"
    assert probe.messages[:3] == case.messages[:3]  # system, user, assistant untouched
    assert probe.messages[3]["role"] == "user"
    only_last = ATTACKS[attack].apply([{"role": "user", "content": "[follow-up]"}])
    assert probe.messages[3]["content"] == only_last[0]["content"]
    assert case.messages[3]["content"] == "[follow-up]"  # the case itself is not changed
    if attack == "direct":
        assert probe.messages == case.messages
    else:
        assert probe.messages[3]["content"] != "[follow-up]"


def test_base64_attack_encodes_the_request() -> None:
    content = ATTACKS["base64"].apply([{"role": "user", "content": "[req]"}])[0]["content"]
    assert content.endswith("\n\n" + base64.b64encode(b"[req]").decode())
    roleplay = ATTACKS["roleplay"].apply([{"role": "user", "content": "[req]"}])[0]["content"]
    assert 'The colleague asks VEX: "[req]"' in roleplay
