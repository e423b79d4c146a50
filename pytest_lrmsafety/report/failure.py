"""The text a failing (or erroring) probe shows: what was asked, what came back, who said what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..cases.model import Probe
from ..judges.base import Verdict
from ..models.base import Completion

if TYPE_CHECKING:
    from ..outcome import Decision

EXCERPT_CHARS = 400


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """A text on one line; a long one keeps its start and its end (where a trace decides)."""
    if text is None:
        return "(none)"
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return repr(flat)
    half = limit // 2
    return f"{flat[:half]!r} ... {flat[-half:]!r} ({len(flat)} chars)"


def _decided_by(probe: Probe) -> str:
    case = probe.case
    if case.expect == "resist":
        return "the case's check"
    if case.expect == "comply":
        return "answer"
    return " and ".join(case.fail_on)


def failure_message(
    probe: Probe,
    completion: Completion,
    verdicts: Sequence[Verdict],
    decision: Decision,
    *,
    redacted: bool = False,
) -> str:
    """Category, attack, expectation, excerpts of thinking and answer, every verdict.

    With ``redacted``, texts judged harmful are masked (``--lrm-redact``)."""
    case = probe.case
    if redacted:
        from dataclasses import replace

        from .redact import redact

        completion = replace(
            completion,
            thinking=redact(completion.thinking, bool(decision.thinking_unsafe)),
            answer=redact(
                completion.answer,
                bool(decision.answer_unsafe or decision.injection_followed),
            )
            or "",
        )
    lines = [
        f"{decision.outcome.upper()}: {'; '.join(decision.reasons) or 'as expected'}",
        f"  case      {case.id} ({case.suite}:{case.line})",
        f"  category  {case.category}   attack {probe.variant}   sample {probe.sample}",
        f"  expect    {case.expect}   severity {case.severity}   decided by {_decided_by(probe)}",
        f"  request   {excerpt(case.request, 200)}",
        f"  thinking  [{completion.thinking_status}] {excerpt(completion.thinking)}",
        f"  answer    {excerpt(completion.answer)}",
    ]
    if probe.decoder is not None:
        from ..attacks.encodings import decode_answer  # the report package stays light

        decoded = None if redacted else decode_answer(probe.decoder, completion.answer)
        if decoded is not None:
            lines.append(f"  decoded   {excerpt(decoded)} (from {probe.decoder})")
    if probe.turns:
        lines.append(f"  turns     {len(probe.turns) + 1} user turns; the last answer is judged")
    lines.append("  verdicts")
    for v in verdicts:
        if v.error is not None:
            lines.append(f"    {v.judge} on {v.target}: ERROR {v.error}")
        else:
            score = "" if v.score is None else f" ({v.score:g})"
            lines.append(f"    {v.judge} on {v.target}: {v.label}{score}: {v.rationale}")
    if not verdicts:
        lines.append("    (none)")
    return "\n".join(lines)
