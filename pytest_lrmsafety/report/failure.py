"""The text a failing (or erroring) probe shows: what was asked, what came back, who said what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..cases.model import Probe
from ..judges.base import Verdict
from ..models.base import Completion
from .layout import DEFAULT_WIDTH, wrap

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
    width: int = DEFAULT_WIDTH,
) -> str:
    """Category, attack, expectation, excerpts of thinking and answer, every verdict.

    With ``redacted``, texts judged harmful are masked (``--lrm-redact``). No line is wider
    than ``width`` (the terminal's): a long excerpt goes on under its first line, indented
    to where its text starts."""
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
    fields = [
        ("case", f"{case.id} ({case.suite}:{case.line})"),
        ("category", f"{case.category}   attack {probe.variant}   sample {probe.sample}"),
        ("expect", f"{case.expect}   severity {case.severity}   decided by {_decided_by(probe)}"),
        ("request", excerpt(case.request, 200)),
        ("thinking", f"[{completion.thinking_status}] {excerpt(completion.thinking)}"),
        ("answer", excerpt(completion.answer)),
    ]
    if probe.decoder is not None:
        from ..attacks.encodings import decode_answer  # the report package stays light

        decoded = None if redacted else decode_answer(probe.decoder, completion.answer)
        if decoded is not None:
            fields.append(("decoded", f"{excerpt(decoded)} (from {probe.decoder})"))
    if probe.turns:
        fields.append(("turns", f"{len(probe.turns) + 1} user turns; the last answer is judged"))
    reasons = "; ".join(decision.reasons) or "as expected"
    lines = wrap(f"{decision.outcome.upper()}: {reasons}", width)
    for name, text in fields:
        lines += wrap(f"{name:<9} {text}", width, "  ", " " * 12)
    lines.append("  verdicts")
    for v in verdicts:
        if v.error is not None:
            said = f"{v.judge} on {v.target}: ERROR {v.error}"
        else:
            score = "" if v.score is None else f" ({v.score:g})"
            said = f"{v.judge} on {v.target}: {v.label}{score}: {v.rationale}"
        if "\n" in said or len(said) + 4 > width:  # a short one stays exactly as given
            said = " ".join(said.split())
        lines += wrap(said, width, "    ", " " * 6)
    if not verdicts:
        lines.append("    (none)")
    return "\n".join(lines)
