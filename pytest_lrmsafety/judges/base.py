"""The judge contract: one judge scores one target (thinking or answer) of a completion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..cases.model import Case
from ..errors import ConfigError

# Labels a verdict may carry. How each one bears on a probe depends on the case's
# expectation (see outcome.py): e.g. ``compliance`` fails a refuse case, passes a comply case.
# ``score`` carries only a number (a reward model's harm score): it is reported, never votes.
# ``aware`` / ``unaware`` say whether a text recognises the request's risk (the ``aware``
# judge, judges/awareness.py): reported and counted (aware_complied_rate), never votes.
LABELS = (
    "safe",
    "unsafe",
    "refusal",
    "partial_refusal",
    "compliance",
    "unclear",
    "score",
    "aware",
    "unaware",
)
SCORE_ONLY = "score"
NON_VOTING = (SCORE_ONLY, "aware", "unaware")


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


class Judge(ABC):
    """Scores a target. Rule-based judges need no model; others may call one.

    Subclass it for your own judge (``name`` and :meth:`judge` are required); every other
    capability is declared here with its default, and a subclass overrides what it has. The
    plugin reads these attributes directly; an object that does not subclass this is
    adopted once, when the registry makes it (:func:`adopt_judge`).

    Attributes:
        name: The judge's name in verdicts.
        thread_safe: ``True`` lets the engine judge on its thread pool, right after each
            completion arrives; otherwise probes are judged in the test's own thread.
        description: What it is, for the header and the report (default: the class name).
    """

    name: str
    thread_safe: bool = False
    description: str = ""

    @property
    def cache_identity(self) -> Mapping[str, Any] | None:
        """Its configuration (a JSON-safe mapping): with one, verdicts are cached under it and
        the judged text; ``None`` (the default): never cached."""
        return None

    @abstractmethod
    def judge(self, item: JudgeInput) -> Verdict:
        """Returns a verdict; failures are returned as ``Verdict(error=...)``, not raised."""


class AdoptedJudge(Judge):
    """A judge from user code that does not subclass :class:`Judge`: its ``name`` and
    ``judge``, and ``thread_safe``, ``cache_identity`` and ``description`` where it has them
    (read once); defaults for the rest."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = str(inner.name)
        self._judge: Callable[[JudgeInput], Verdict] = inner.judge
        self.thread_safe = bool(getattr(inner, "thread_safe", False))
        self.description = str(getattr(inner, "description", "") or type(inner).__name__)
        identity = getattr(inner, "cache_identity", None)
        self._identity = dict(identity) if isinstance(identity, Mapping) else None

    @property
    def cache_identity(self) -> Mapping[str, Any] | None:
        return self._identity

    def judge(self, item: JudgeInput) -> Verdict:
        return self._judge(item)

    def __repr__(self) -> str:
        return f"AdoptedJudge({self.inner!r})"


def adopt_judge(obj: object, where: str) -> Judge:
    """The one place a judge from user code is accepted (what a factory registered in
    ``pytest_lrmsafety_register_judges`` makes): a :class:`Judge` as it is, an object with
    ``name`` and a callable ``judge`` wrapped once in an :class:`AdoptedJudge`.

    Raises:
        ConfigError: One line naming ``where``, the object's class and what it lacks.
    """
    if isinstance(obj, Judge):
        return obj
    missing = [
        what
        for what, ok in (
            ("name", hasattr(obj, "name")),
            ("judge(item)", callable(getattr(obj, "judge", None))),
        )
        if not ok
    ]
    if missing:
        kind = type(obj)
        raise ConfigError(
            f"{where} made {kind.__module__}.{kind.__qualname__}, which has no "
            f"{' and no '.join(missing)}; a judge subclasses pytest_lrmsafety.Judge (or has "
            "name and judge(item) -> Verdict)"
        )
    return AdoptedJudge(obj)


JudgeFactory = Callable[[], object]  # a Judge, or an object adopt_judge accepts


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
        """The judge instance for a name, made on first use (and adopted, if it does not
        subclass :class:`Judge`)."""
        if name not in self._made:
            made = self._factories[name]()
            self._made[name] = adopt_judge(made, f"the factory of judge {name!r}")
        return self._made[name]

    def descriptions(self) -> dict[str, str]:
        """What each judge made so far is (its ``description``, else its class name), by the
        name it was asked for and by the name its verdicts carry (``default`` without a harm
        judge is the ``refusal`` judge itself)."""
        out: dict[str, str] = {}
        for name, judge in self._made.items():
            text = judge.description or type(judge).__name__
            out[name] = text
            out.setdefault(str(getattr(judge, "name", name)), text)
        return out

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))
