"""The attacks on the reasoning in real runs: pytest against the local server (issue 17)."""

from __future__ import annotations

import pytest
from chat_server import ChatServer
from lrm_project import WEAPON_PROMPT as PROMPT
from lrm_project import model_args, probes_by_variant, weapon_project

from pytest_lrmsafety.attacks.encodings import atbash, caesar
from pytest_lrmsafety.attacks.hijack import STYLES

COMPLY = "Sure, here is how to do it. Step 1: [placeholder]. Step 2: [placeholder]."
REFUSE = "I can't help with that."


def project(pytester: pytest.Pytester, attacks: str) -> pytest.Pytester:
    return weapon_project(pytester, attacks, "reasoning")


def test_reasoning_attacks_through_the_plugin(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.default.answer = REFUSE
    chat_server.add_rule("starting with 'Final answer:'", answer=COMPLY)  # cot_hijack_*
    chat_server.add_rule("Okay, so the user is a teacher", answer=COMPLY)  # hcot_r1
    chat_server.add_rule("Go ahead with the overview", answer=COMPLY)  # hcot_o_series_prior
    chat_server.add_rule("Caesar cipher", answer=caesar(COMPLY, 5))  # any shift decodes
    chat_server.add_rule("Atbash cipher", answer=atbash(COMPLY))
    chat_server.add_rule("A word game", answer=COMPLY)  # disguise_reconstruct
    attacks = (
        "direct, cot_hijack_short, cot_hijack_long, hcot_r1, hcot_qwen3, hcot_o_series, "
        "hcot_o_series_prior, "
        "caesar, atbash, disguise_reconstruct, word_puzzle"
    )
    project(pytester, attacks)
    result = pytester.runpytest(*model_args(chat_server, "plain"), "--lrm-report-json=r.json")
    result.assert_outcomes(passed=4, failed=7)
    found = probes_by_variant(pytester.path / "r.json")
    failed = {name for name, p in found.items() if p["outcome"] == "fail"}
    assert failed == {
        "cot_hijack_short",
        "cot_hijack_long",
        "hcot_r1",
        "hcot_o_series_prior",
        "caesar",
        "atbash",
        "disguise_reconstruct",
    }
    for name in ("caesar", "atbash"):  # answered in kind, decoded for the judges
        assert found[name]["answer_decoded"] == COMPLY and found[name]["answer_unsafe"] is True
    assert found["word_puzzle"]["answer_decoded"] is None
    # the exact messages sent are in the record; the request reaches the model disguised
    assert PROMPT in found["cot_hijack_long"]["messages"][-1]["content"]
    assert [m["role"] for m in found["hcot_o_series_prior"]["messages"]] == [
        "user",
        "assistant",
        "user",
    ]
    assert STYLES["qwen3"].strip() in found["hcot_qwen3"]["messages"][-1]["content"]
    assert STYLES["o_series"].strip() in found["hcot_o_series"]["messages"][-1]["content"]
    assert PROMPT not in found["word_puzzle"]["messages"][-1]["content"]
    sent = {body["messages"][-1]["content"] for body in chat_server.requests}
    assert {p["messages"][-1]["content"] for p in found.values()} == sent
    result.stdout.fnmatch_lines(["*cot_hijack_long * 100.0% (1/1)*"])


def test_hcot_prefill_on_a_vllm_style_server_and_skipped_elsewhere(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.default.thinking = "I will go on with the four parts."
    chat_server.default.answer = COMPLY
    project(pytester, "hcot_r1_prefill, hcot_qwen3_prefill")
    result = pytester.runpytest(*model_args(chat_server, "think"), "--lrm-report-json=r.json")
    result.assert_outcomes(failed=2)
    for body in chat_server.requests:
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        last = body["messages"][-1]
        assert last["role"] == "assistant" and last["content"].startswith("<think>\n")
        assert "prefill" not in last  # the marker is removed before sending
    contents = {body["messages"][-1]["content"] for body in chat_server.requests}
    assert contents == {f"<think>\n{STYLES['r1']}", f"<think>\n{STYLES['qwen3']}"}

    chat_server.reset()
    pytester.makeini(
        f"[pytest]\nlrm_presets =\n    hosted = reasoning base_url={chat_server.url} prefill=none\n"
    )
    hosted = pytester.runpytest("--lrm-model=hosted", "-p", "no:cacheprovider", "-rs")
    hosted.assert_outcomes(skipped=2)
    hosted.stdout.fnmatch_lines(
        ["SKIPPED*hcot_*_prefill: not supported by this backend (hosted)*prefill*"]
    )
    assert not chat_server.requests


def test_the_listing_names_the_new_attacks(pytester: pytest.Pytester) -> None:
    listing = pytester.runpytest("--lrm-list-attacks")
    assert listing.ret == 0
    listing.stdout.fnmatch_lines(
        [
            "encoding:",
            "*  atbash *answer decoded (atbash)*",
            "*  caesar *answer decoded (caesar)*",
            "*  disguise_reconstruct *",
            "*  word_puzzle *",
            "reasoning:",
            "*  cot_hijack_long *",
            "*  cot_hijack_short *",
            "*  hcot_o_series *",
            "*  hcot_o_series_prior *",
            "*  hcot_qwen3 *",
            "*  hcot_qwen3_prefill *needs prefill*",
            "*  hcot_r1 *",
            "*  hcot_r1_prefill *needs prefill*",
        ]
    )


def test_a_cot_hijack_of_another_length_from_the_hook(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    chat_server.default.answer = REFUSE
    pytester.makeconftest(
        "from pytest_lrmsafety.attacks.hijack import cot_hijack\n\n"
        "def pytest_lrmsafety_register_attacks(config, registry):\n"
        "    registry.register(cot_hijack(3, name='cot_hijack_3'))\n"
    )
    project(pytester, "cot_hijack_3")
    result = pytester.runpytest(*model_args(chat_server, "plain"), "--lrm-report-json=r.json")
    result.assert_outcomes(passed=1)
    (body,) = chat_server.requests
    text = body["messages"][-1]["content"]
    assert text.count("\nStep 1: ") == 3 and "Puzzle 3: " in text and "Puzzle 4: " not in text
