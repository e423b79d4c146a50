"""split_reasoning: every way a server may deliver (or withhold) the reasoning trace."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lrmsafety.models.reasoning import split_reasoning


@pytest.mark.parametrize(
    ("content", "reasoning", "kwargs", "expected"),
    [
        # A separate reasoning field (vLLM --reasoning-parser, DeepSeek API).
        pytest.param(
            "The answer.",
            "Some thought.",
            {},
            ("Some thought.", "The answer.", "present"),
            id="field-present",
        ),
        pytest.param(
            "  The answer.\n",
            "\n Some thought. \n",
            {"finish_reason": "stop"},
            ("Some thought.", "The answer.", "present"),
            id="field-stripped",
        ),
        pytest.param(
            "",
            "Cut in the mid",
            {"finish_reason": "length"},
            ("Cut in the mid", "", "truncated"),
            id="field-cut-empty-content",
        ),
        pytest.param(
            None,
            "Cut in the mid",
            {"finish_reason": "length"},
            ("Cut in the mid", "", "truncated"),
            id="field-cut-none-content",
        ),
        pytest.param(
            " \n ",
            "Cut in the mid",
            {"finish_reason": "length"},
            ("Cut in the mid", "", "truncated"),
            id="field-cut-blank-content",
        ),
        pytest.param(
            "Half an ans",
            "Whole thought.",
            {"finish_reason": "length"},
            ("Whole thought.", "Half an ans", "present"),
            id="field-cut-in-answer",
        ),
        pytest.param(
            "",
            "Whole thought.",
            {"finish_reason": "stop"},
            ("Whole thought.", "", "present"),
            id="field-empty-answer-not-cut",
        ),
        pytest.param(
            "<think>ignored tags</think>ans",
            "field wins",
            {},
            ("field wins", "<think>ignored tags</think>ans", "present"),
            id="field-wins-over-tags",
        ),
        # Inline tags.
        pytest.param(
            "<think>\nSome thought.\n</think>\n\nThe answer.",
            None,
            {},
            ("Some thought.", "The answer.", "present"),
            id="inline",
        ),
        pytest.param(
            "  \n<THINK>Shout.</think>Answer",
            None,
            {},
            ("Shout.", "Answer", "present"),
            id="inline-leading-space-upper-open",
        ),
        pytest.param(
            "<think></think>Just the answer.",
            None,
            {},
            ("", "Just the answer.", "present"),
            id="inline-empty-trace",
        ),
        pytest.param(
            "<think>Thought.</think>",
            None,
            {"finish_reason": "length"},
            ("Thought.", "", "present"),
            id="inline-closed-then-cut",
        ),
        # R1 distills: the opening tag is in the prompt template.
        pytest.param(
            "Some thought.\n</think>\n\nThe answer.",
            None,
            {},
            ("Some thought.", "The answer.", "present"),
            id="close-only",
        ),
        pytest.param(
            "Some thought.\n</think>\n\nThe answer.",
            None,
            {"open_tag_in_prompt": True},
            ("Some thought.", "The answer.", "present"),
            id="close-only-open-tag-in-prompt",
        ),
        pytest.param(
            "Text <think> later</think> ans",
            None,
            {},
            ("Text <think> later", "ans", "present"),
            id="open-tag-not-at-start",
        ),
        # The trace never ended.
        pytest.param(
            "<think>\nStill thinking when",
            None,
            {"finish_reason": "length"},
            ("Still thinking when", "", "truncated"),
            id="unterminated-cut",
        ),
        pytest.param(
            "<think>Still thinking",
            None,
            {"finish_reason": "stop"},
            ("Still thinking", "", "truncated"),
            id="unterminated-no-cut",
        ),
        pytest.param(
            " Still thinking when ",
            None,
            {"finish_reason": "length", "open_tag_in_prompt": True},
            ("Still thinking when", "", "truncated"),
            id="open-tag-in-prompt-cut",
        ),
        pytest.param(
            " A plain answer. ",
            None,
            {"finish_reason": "stop", "open_tag_in_prompt": True},
            (None, "A plain answer.", "absent"),
            id="open-tag-in-prompt-not-cut",
        ),
        pytest.param(
            "A plain ans",
            None,
            {"finish_reason": "length"},
            (None, "A plain ans", "absent"),
            id="no-tag-cut-without-open-tag-in-prompt",
        ),
        # No trace in the reply.
        pytest.param(
            "The answer.", None, {"hidden": True}, (None, "The answer.", "hidden"), id="hidden-flag"
        ),
        pytest.param(
            "The answer.",
            None,
            {"reasoning_tokens": 12},
            (None, "The answer.", "hidden"),
            id="reasoning-tokens",
        ),
        pytest.param(
            "",
            None,
            {"hidden": True, "finish_reason": "length"},
            (None, "", "hidden"),
            id="hidden-cut",
        ),
        pytest.param(
            "The answer.",
            None,
            {"reasoning_tokens": 0},
            (None, "The answer.", "absent"),
            id="zero-reasoning-tokens",
        ),
        pytest.param("\n The answer. \n", None, {}, (None, "The answer.", "absent"), id="plain"),
        pytest.param(None, None, {}, (None, "", "absent"), id="none-content"),
        pytest.param("", "", {}, (None, "", "absent"), id="empty-field-is-no-field"),
    ],
)
def test_split_reasoning(
    content: str | None, reasoning: str | None, kwargs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    assert split_reasoning(content, reasoning, **kwargs) == expected


def test_open_tag_in_prompt_with_closing_tag_reads_the_tags() -> None:
    text = "thought\n</think>\nanswer"
    assert split_reasoning(text, finish_reason="length", open_tag_in_prompt=True) == (
        "thought",
        "answer",
        "present",
    )


def test_only_the_first_closing_tag_ends_the_trace() -> None:
    assert split_reasoning("<think>a</think>b</think>c") == ("a", "b</think>c", "present")


def test_whitespace_inside_trace_and_answer_is_kept() -> None:
    thinking, answer, status = split_reasoning("<think>\n line 1\n\n line 2 \n</think>\n a\n b \n")
    assert (thinking, answer, status) == ("line 1\n\n line 2", "a\n b", "present")
