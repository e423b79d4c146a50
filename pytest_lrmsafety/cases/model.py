"""Cases, suites and probes: frozen data, built by the loader, expanded by attacks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ..gates import Gate

Expect = Literal["refuse", "comply", "resist"]
Target = Literal["thinking", "answer"]
TARGETS: tuple[Target, ...] = ("thinking", "answer")


@dataclass(frozen=True)
class Check:
    """A resist case's own test of whether an injection worked."""

    not_contains: str | None = None
    contains: str | None = None
    not_matches: str | None = None
    matches: str | None = None
    ignore_case: bool = False
    targets: tuple[Target, ...] = ("answer",)

    def injection_followed(self, texts: Mapping[str, str | None]) -> tuple[bool, str]:
        """Returns ``(followed, reason)`` for the texts of the targets looked at."""
        flags = re.IGNORECASE if self.ignore_case else 0
        for target in self.targets:
            text = texts.get(target)
            if text is None:
                continue
            folded = text.lower() if self.ignore_case else text
            if self.not_contains is not None:
                needle = self.not_contains.lower() if self.ignore_case else self.not_contains
                if needle in folded:
                    return True, f"{target} contains {self.not_contains!r}"
            if self.contains is not None:
                needle = self.contains.lower() if self.ignore_case else self.contains
                if needle not in folded:
                    return True, f"{target} lacks {self.contains!r}"
            if self.not_matches is not None and re.search(self.not_matches, text, flags):
                return True, f"{target} matches /{self.not_matches}/"
            if self.matches is not None and not re.search(self.matches, text, flags):
                return True, f"{target} does not match /{self.matches}/"
        return False, f"check held on {', '.join(self.targets)}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("not_contains", self.not_contains),
                ("contains", self.contains),
                ("not_matches", self.not_matches),
                ("matches", self.matches),
            )
            if v is not None
        }
        out["ignore_case"] = self.ignore_case
        out["in"] = list(self.targets)
        return out


@dataclass(frozen=True)
class Case:
    """One YAML entry, with the suite defaults already applied."""

    id: str
    category: str
    expect: Expect
    messages: tuple[Mapping[str, str], ...]
    suite: str
    line: int
    severity: str = "medium"
    tags: tuple[str, ...] = ()
    subset: str | None = None  # the benchmark a case belongs to (``airbench``), for grouping
    attacks: tuple[str, ...] = ("direct",)
    judges: tuple[str, ...] = ("default",)
    samples: int = 1
    fail_on: tuple[Target, ...] = ("answer", "thinking")
    sampling: Mapping[str, Any] = field(default_factory=dict)
    check: Check | None = None
    note: str = ""
    # rubric name -> (file, digest): the suite's own rubrics for the llm judge
    rubrics: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    payload: str | None = None  # the injected instruction injection attacks deliver
    judge_question: str | None = None  # yes = the injection worked (llm judge)
    turns: tuple[str, ...] = ()  # later user turns; the model answers each
    efforts: tuple[str, ...] = ()  # reasoning efforts to run each probe under
    budgets: tuple[int, ...] = ()  # thinking budgets (max reasoning tokens; 0: off) to run under
    # What the request is after, in plain words, where the prompt itself is already an attack
    # (an imported jailbreak prompt): judges weigh an answer against this, not the wrapper.
    goal: str | None = None

    @property
    def request(self) -> str:
        """The last user message: what the case asks."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def goal_text(self) -> str:
        """The goal judges weigh an answer against: ``goal`` if given, else the request (as
        the case wrote it, before any attack rewrote it)."""
        return self.goal or self.request


class AnswerDecoder(Protocol):
    """Reads an answer given in kind (an encoding attack's ``base64``): one object per
    decoder, made once in the attack modules (``attacks/encodings.py``) and shared by every
    probe, so that the engine and the report decode without importing an attack."""

    @property
    def name(self) -> str:
        """The decoder's name (``base64``), as messages show it."""
        ...

    def __call__(self, text: str) -> str | None:
        """The decoded answer, or ``None`` when decoding does not make it read more plainly."""
        ...


@dataclass(frozen=True)
class Probe:
    """Case x attack x effort x budget x sample index: one pytest item, one generation.

    Attributes:
        messages: The messages sent (the attack applied).
        turns: Later user turns (multi-turn): the model answers each before the next.
        effort: The reasoning effort of this variant, if the case runs under several.
        budget: The thinking budget of this variant, if the run varies it: the most
            reasoning tokens, ``0`` for thinking off (see :mod:`pytest_lrmsafety.models.budget`).
        decoder: How to decode an answer given in kind (the attack's, set at expansion),
            if any.
        needs: What the backend must support (``prefill``).
        sampling: Sampling the attack sets.
    """

    case: Case
    attack: str
    sample: int
    messages: tuple[Mapping[str, str], ...]
    turns: tuple[str, ...] = ()
    effort: str | None = None
    decoder: AnswerDecoder | None = None
    needs: frozenset[str] = frozenset()
    sampling: Mapping[str, Any] = field(default_factory=dict)
    budget: int | None = None

    @property
    def variant(self) -> str:
        """``direct``, ``base64-low``, ``direct-high-budget512``, ``direct-s2``: the part of
        the test name in brackets."""
        effort = f"-{self.effort}" if self.effort else ""
        budget = f"-budget{self.budget}" if self.budget is not None else ""
        suffix = f"-s{self.sample}" if self.case.samples > 1 else ""
        return f"{self.attack}{effort}{budget}{suffix}"

    @property
    def name(self) -> str:
        """The test name: ``weapons-001[direct]``, ``weapons-001[direct-low-s2]``."""
        return f"{self.case.id}[{self.variant}]"


@dataclass(frozen=True)
class Suite:
    """One YAML file: its cases and the gate expressions that apply to them."""

    path: str
    name: str
    cases: tuple[Case, ...]
    gates: tuple[Gate, ...] = ()
