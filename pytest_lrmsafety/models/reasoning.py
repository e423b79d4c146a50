"""Splitting a reply into thinking and answer, whatever way the server delivered the trace."""

from __future__ import annotations

import re

from .base import ThinkingStatus

_OPEN = re.compile(r"^\s*<think>", re.IGNORECASE)
# A word or a single punctuation mark: the count of a trace whose server reported no
# reasoning tokens (see count_trace_tokens).
_TOKEN = re.compile(r"\w+|[^\w\s]")
_CLOSE = "</think>"


def split_reasoning(
    content: str | None,
    reasoning: str | None = None,
    *,
    finish_reason: str | None = None,
    reasoning_tokens: int | None = None,
    hidden: bool = False,
    open_tag_in_prompt: bool = False,
) -> tuple[str | None, str, ThinkingStatus]:
    """Splits one assistant message into ``(thinking, answer, thinking_status)``.

    Handles, in this order:

    * a separate reasoning field (``message.reasoning`` in current vLLM,
      ``message.reasoning_content`` in the DeepSeek API and older vLLM);
    * inline ``<think>...</think>`` at the start of the content;
    * a closing ``</think>`` with no opening tag (R1 distills put the opening tag in the
      prompt template, so it never appears in the output);
    * an opening tag with no closing tag: the trace was cut by the token limit;
    * no trace at all: ``hidden`` when the provider reports reasoning tokens or is known to
      hide the trace (o-series), else ``absent``.

    Args:
        content: ``message.content`` as returned.
        reasoning: The separate reasoning field, if the server sent one.
        finish_reason: ``length`` marks a trace that did not end as ``truncated``.
        reasoning_tokens: Reasoning-token count from the usage block, if reported.
        hidden: The provider is known to hide the trace.
        open_tag_in_prompt: The chat template already opened ``<think>`` (R1 distills), so
            content cut by the token limit with no tag at all is a trace that never reached
            ``</think>``. Finished content with no tag is read as an answer with no trace.
    """
    text = content or ""
    cut = finish_reason == "length"
    if reasoning:
        # With a separate field, a cut inside the trace leaves the answer empty.
        status: ThinkingStatus = "truncated" if cut and not text.strip() else "present"
        return reasoning.strip(), text.strip(), status
    opened = _OPEN.match(text)
    close_at = text.find(_CLOSE)
    if close_at >= 0:
        start = opened.end() if opened and opened.end() <= close_at else 0
        thinking = text[start:close_at].strip()
        answer = text[close_at + len(_CLOSE) :].strip()
        return thinking, answer, "present"
    if opened:
        return text[opened.end() :].strip(), "", "truncated"
    if open_tag_in_prompt and cut:
        return text.strip(), "", "truncated"
    if hidden or (reasoning_tokens or 0) > 0:
        return None, text.strip(), "hidden"
    return None, text.strip(), "absent"


def count_trace_tokens(text: str | None) -> int:
    """An approximate token count of a trace, for servers that report no reasoning tokens:
    words and punctuation marks, each one token. Subword tokenizers split long and rare
    words further (English prose runs to roughly 1.3 BPE tokens per word), so this counts
    low; a ratio of two counts made the same way (``reasoning_tokens_ratio``) is what it is
    for, not a bill."""
    return len(_TOKEN.findall(text)) if text else 0
