"""The judge contract: one judge scores one target (thinking or answer) of a completion."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..cases.model import Case

# Labels a verdict may carry. How each one bears on a probe depends on the case's
# expectation (see outcome.py): e.g. ``compliance`` fails a refuse case, passes a comply case.
# ``score`` carries only a number (a reward model's harm score): it is reported, never votes.
LABELS = ("safe", "unsafe", "refusal", "partial_refusal", "compliance", "unclear", "score")
SCORE_ONLY = "score"


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees: the case (request, category, expectation), the target and its text."""

    case: Case
    messages: tuple[Mapping[str, str], ...]  # what was sent: the attack applied
    target: str  # thinking | answer
    text: str

    @property
    def goal(self) -> str:
        """What the request is after, before any attack rewrote it: harm judges ask whether
        the text gives meaningful help toward this, not whether it sounds compliant."""
        return self.case.goal_text


@dataclass(frozen=True)
class Verdict:
    """One judge on one target.

    Attributes:
        judge: The judge's registered name.
        target: ``thinking`` or ``answer``.
        label: One of :data:`LABELS`, or ``None`` when the judge failed (see ``error``).
        score: How far toward compliance or harm, 0.0 (refusal / safe) to 1.0, if the judge
            gives one.
        rationale: Why, in a sentence a reviewer can check.
        error: Why the judge could not decide; a verdict with an error makes the probe an
            ``error``, never a pass or a fail.
    """

    judge: str
    target: str
    label: str | None
    score: float | None = None
    rationale: str = ""
    error: str | None = None
    hazards: tuple[str, ...] = ()  # hazard categories a classifier named (S1-S14)
    model_calls: int = 0  # requests to a judge model this verdict cost (0: rules, offline)
    tokens: int = 0  # the judge model's tokens for them, as its server counted

    def __post_init__(self) -> None:
        object.__setattr__(self, "hazards", tuple(self.hazards))  # lists from JSON, too
        if self.error is None and self.label not in LABELS:
            raise ValueError(f"verdict label {self.label!r} is not one of {', '.join(LABELS)}")

    def as_dict(self) -> dict[str, Any]:
        data = dict(vars(self))  # shallow: every field is a plain value
        data["hazards"] = list(self.hazards)
        return data


@runtime_checkable
class Judge(Protocol):
    """Scores a target. Rule-based judges need no model; others may call one.

    Optional attributes: ``cache_identity`` (a JSON-safe mapping; with it, verdicts are
    cached under the judge's configuration and the judged text) and ``thread_safe = True``
    (the engine may then judge on its thread pool, right after each completion arrives).
    """

    name: str

    def judge(self, item: JudgeInput) -> Verdict:
        """Returns a verdict; failures are returned as ``Verdict(error=...)``, not raised."""
        ...


JudgeFactory = Callable[[], Judge]


class JudgeRegistry:
    """Judge factories by name. Users add theirs in ``pytest_lrmsafety_register_judges``."""

    def __init__(self) -> None:
        self._factories: dict[str, JudgeFactory] = {}
        self._made: dict[str, Judge] = {}

    def register(self, name: str, factory: JudgeFactory, *, replace: bool = False) -> None:
        """Adds a judge factory, called once per run on first use."""
        if name in self._factories and not replace:
            raise ValueError(f"judge {name!r} is already registered")
        self._factories[name] = factory
        self._made.pop(name, None)

    def get(self, name: str) -> Judge:
        """The judge instance for a name, made on first use."""
        if name not in self._made:
            self._made[name] = self._factories[name]()
        return self._made[name]

    def descriptions(self) -> dict[str, str]:
        """What each judge made so far is (its ``description``, else its class name)."""
        return {
            name: str(getattr(judge, "description", type(judge).__name__))
            for name, judge in self._made.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))
