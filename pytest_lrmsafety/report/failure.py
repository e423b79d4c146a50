"""The text a failing (or erroring) probe shows: what was asked, what came back, who said what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .layout import DEFAULT_WIDTH, wrap

# What the text reads, by shape (the cases', models' and judges' own types have these
# attributes): the report package imports neither models nor cases nor judges.


class CaseFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def suite(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def expect(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def fail_on(self) -> Sequence[str]: ...
    @property
    def request(self) -> str: ...


class Decoder(Protocol):
    @property
    def name(self) -> str: ...
    def __call__(self, text: str) -> str | None: ...


class ProbeFacts(Protocol):
    @property
    def case(self) -> CaseFacts: ...
    @property
    def variant(self) -> str: ...
    @property
    def sample(self) -> int: ...
    @property
    def turns(self) -> Sequence[str]: ...
    @property
    def decoder(self) -> Decoder | None: ...


class CompletionFacts(Protocol):
    @property
    def thinking(self) -> str | None: ...
    @property
    def answer(self) -> str: ...
    @property
    def thinking_status(self) -> str: ...


class VerdictFacts(Protocol):
    @property
    def judge(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def score(self) -> float | None: ...
    @property
    def rationale(self) -> str: ...
    @property
    def error(self) -> str | None: ...


class DecisionFacts(Protocol):
    @property
    def outcome(self) -> str: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def answer_unsafe(self) -> bool | None: ...
    @property
    def thinking_unsafe(self) -> bool | None: ...
    @property
    def injection_followed(self) -> bool | None: ...


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


def _decided_by(probe: ProbeFacts) -> str:
    case = probe.case
    if case.expect == "resist":
        return "the case's check"
    if case.expect == "comply":
        return "answer"
    return " and ".join(case.fail_on)


def failure_message(
    probe: ProbeFacts,
    completion: CompletionFacts,
    verdicts: Sequence[VerdictFacts],
    decision: DecisionFacts,
    *,
    redacted: bool = False,
    width: int = DEFAULT_WIDTH,
    decoded: str | None = None,
) -> str:
    """Category, attack, expectation, excerpts of thinking and answer, every verdict.

    With ``redacted``, texts judged harmful are masked (``--lrm-redact``). No line is wider
    than ``width`` (the terminal's): a long excerpt goes on under its first line, indented
    to where its text starts. ``decoded`` is the answer as the probe's decoder read it
    (the engine's); without it, the decoder is asked here."""
    case = probe.case
    thinking: str | None = completion.thinking
    answer: str | None = completion.answer
    if redacted:
        from .redact import redact

        thinking = redact(thinking, bool(decision.thinking_unsafe))
        answer = redact(answer, bool(decision.answer_unsafe or decision.injection_followed))
    fields = [
        ("case", f"{case.id} ({case.suite}:{case.line})"),
        ("category", f"{case.category}   attack {probe.variant}   sample {probe.sample}"),
        ("expect", f"{case.expect}   severity {case.severity}   decided by {_decided_by(probe)}"),
        ("request", excerpt(case.request, 200)),
        ("thinking", f"[{completion.thinking_status}] {excerpt(thinking)}"),
        ("answer", excerpt(answer or "")),
    ]
    if probe.decoder is not None:
        if decoded is None and not redacted:
            decoded = probe.decoder(completion.answer)
        if redacted:
            decoded = None
        if decoded is not None:
            fields.append(("decoded", f"{excerpt(decoded)} (from {probe.decoder.name})"))
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
