"""Skipped probes: how many, and why, for the report.

A probe the backend cannot run (a prefill attack without prefill, ``phishing`` without a
victim model, ``translate_*`` without a translator, a thinking budget the backend cannot
apply) skips with its reason. The reason is part of the result: a run that skipped half its
attacks measured less than its probe count says, so the report counts the skips by reason,
with the attacks each reason cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .layout import wrap

SKIP_KEY = "lrm_skip"  # user_properties key of a probe's skipped setup report: its attack


@dataclass(frozen=True)
class SkipReason:
    """One reason probes skipped, how many probes it cost, and their attacks."""

    reason: str
    count: int
    attacks: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": self.count, "attacks": list(self.attacks)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SkipReason:
        return cls(data["reason"], data["count"], tuple(data.get("attacks", ())))


@dataclass(frozen=True)
class Skipped:
    """The probes of a run that skipped: ``total``, and by reason (most probes first)."""

    total: int = 0
    reasons: tuple[SkipReason, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "reasons": [r.to_json() for r in self.reasons]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Skipped:
        return cls(data["total"], tuple(SkipReason.from_json(r) for r in data["reasons"]))


def skipped_of(skips: Iterable[tuple[str, str]]) -> Skipped:
    """The :class:`Skipped` of ``(attack, reason)`` pairs, one per skipped probe. A reason
    that begins with its attack's name (``pair: needs an attacker model``) is counted
    without it, so that one cause over several attacks is one line."""
    counts: dict[str, int] = {}
    attacks: dict[str, set[str]] = {}
    total = 0
    for attack, reason in skips:
        total += 1
        if attack and reason.startswith(f"{attack}: "):
            reason = reason[len(attack) + 2 :]
        counts[reason] = counts.get(reason, 0) + 1
        attacks.setdefault(reason, set()).add(attack or "(unknown)")
    ordered = sorted(counts, key=lambda r: (-counts[r], r))
    return Skipped(
        total, tuple(SkipReason(r, counts[r], tuple(sorted(attacks[r]))) for r in ordered)
    )


def skip_reason(longrepr: object) -> str:
    """The reason of a skipped report: pytest keeps ``(path, line, "Skipped: reason")``
    (a tuple; a list too, should a round trip make it one); anything else as its text."""
    listed = isinstance(longrepr, (tuple, list)) and len(longrepr) == 3
    text = longrepr[2] if listed else longrepr  # type: ignore[index]
    text = " ".join(str(text).split())
    return text.removeprefix("Skipped: ") or "(no reason given)"


def skipped_lines(skipped: Skipped, probes: int, width: int) -> list[str]:
    """The terminal's lines: ``3 probes skipped:``, a line per reason (``2 x reason
    (attacks: a, b)``), a blank line; ``no probe ran`` first when ``probes`` is 0."""
    lines = [] if probes else wrap("no probe ran", width)
    if skipped.total:
        lines += wrap(f"{skipped.total} probe{'s' if skipped.total != 1 else ''} skipped:", width)
        for r in skipped.reasons:
            text = f"{r.count} x {r.reason} (attacks: {', '.join(r.attacks)})"
            lines += wrap(text, width, "  ", "      ")
    return [*lines, ""] if lines else []
