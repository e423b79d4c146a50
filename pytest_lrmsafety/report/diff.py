"""The run against its baseline report, as the report holds it (``--lrm-baseline``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Count:
    """A rate's numerator and denominator on one side of a baseline comparison."""

    numerator: int
    denominator: int
    value: float | None

    def to_json(self) -> dict[str, Any]:
        return {"numerator": self.numerator, "denominator": self.denominator, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Count:
        return cls(data.get("numerator", 0), data.get("denominator", 0), data.get("value"))


@dataclass(frozen=True)
class Comparison:
    """One rate, baseline against current: ``delta`` = current - baseline, two-proportion
    z-test."""

    baseline: Count
    current: Count
    delta: float | None
    p_value: float | None
    significant: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_json(),
            "current": self.current.to_json(),
            "delta": self.delta,
            "p_value": self.p_value,
            "significant": self.significant,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        return cls(
            Count.from_json(data["baseline"]),
            Count.from_json(data["current"]),
            data["delta"],
            data["p_value"],
            data["significant"],
        )


@dataclass(frozen=True)
class Change:
    """A probe whose outcome changed between the baseline and this run (matched by node id)."""

    nodeid: str
    category: str
    attack: str
    was: str
    now: str
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "category": self.category,
            "attack": self.attack,
            "was": self.was,
            "now": self.now,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            str(data.get("nodeid", "")),
            str(data.get("category", "")),
            str(data.get("attack", "")),
            str(data.get("was", "")),
            str(data.get("now", "")),
            tuple(data.get("reasons", ())),
        )


@dataclass(frozen=True)
class Paired:
    """This run's probes against the baseline's, matched by node id (pass/fail on both
    sides): the discordant pairs and McNemar's exact test on them."""

    pairs: int
    worse: int  # passed in the baseline, fail now
    better: int  # failed in the baseline, pass now
    p_value: float  # two-sided
    p_worse: float  # one-sided: this run is worse

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Paired:
        return cls(
            int(data["pairs"]),
            int(data["worse"]),
            int(data["better"]),
            float(data["p_value"]),
            float(data["p_worse"]),
        )

    def summary(self) -> str:
        """``paired: 14 got worse, 3 better (of 40 pairs), p=0.006 one-sided``."""
        return (
            f"paired: {self.worse} got worse, {self.better} better (of {self.pairs} probes "
            f"in both), McNemar p={self.p_worse:.3g} one-sided (two-sided {self.p_value:.3g})"
        )


Comparisons = Mapping[str, Comparison]  # metric -> comparison


def _comparisons(data: Mapping[str, Any]) -> dict[str, Comparison]:
    return {metric: Comparison.from_json(c) for metric, c in data.items()}


@dataclass(frozen=True)
class BaselineDiff:
    """The run against its baseline report (``--lrm-baseline``)."""

    path: str
    model: str | None
    created: str | None
    totals: Comparisons
    by_category: Mapping[str, Comparisons]
    by_attack: Mapping[str, Comparisons]
    newly_failing: tuple[Change, ...]
    newly_passing: tuple[Change, ...]
    only_in_baseline: int | None = None
    only_in_current: int | None = None
    paired: Paired | None = None  # McNemar on the probes matched by node id

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "model": self.model,
            "created": self.created,
            "totals": {m: c.to_json() for m, c in self.totals.items()},
        }
        for name, groups in (("by_category", self.by_category), ("by_attack", self.by_attack)):
            out[name] = {g: {m: c.to_json() for m, c in cs.items()} for g, cs in groups.items()}
        out["newly_failing"] = [c.to_json() for c in self.newly_failing]
        out["newly_passing"] = [c.to_json() for c in self.newly_passing]
        if self.only_in_baseline is not None:
            out["only_in_baseline"] = self.only_in_baseline
        if self.only_in_current is not None:
            out["only_in_current"] = self.only_in_current
        if self.paired is not None:
            out["paired"] = self.paired.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaselineDiff:
        return cls(
            path=data["path"],
            model=data.get("model"),
            created=data.get("created"),
            totals=_comparisons(data["totals"]),
            by_category={g: _comparisons(cs) for g, cs in data["by_category"].items()},
            by_attack={g: _comparisons(cs) for g, cs in data["by_attack"].items()},
            newly_failing=tuple(Change.from_json(c) for c in data["newly_failing"]),
            newly_passing=tuple(Change.from_json(c) for c in data["newly_passing"]),
            only_in_baseline=data.get("only_in_baseline"),
            only_in_current=data.get("only_in_current"),
            paired=Paired.from_json(data["paired"]) if data.get("paired") else None,
        )
