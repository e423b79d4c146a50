"""Checking gates against a run: each gate's value, interval and status.

Gate expressions are read by :mod:`pytest_lrmsafety.gates` (the case loader reads a suite's
gates without the report package); the names are re-exported here for callers of old.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..gates import BOUNDS, GRAMMAR, MEASURES, SCOPE_KEYS, Gate, GateSyntaxError, parse_gate
from .measures import measure
from .scoreboard import ProbeRecord, rate
from .stats import DEFAULT_CONFIDENCE, wilson
from .trend import budget_trend

__all__ = [
    "BOUNDS",
    "DEFAULT_MIN_PROBES",
    "GRAMMAR",
    "SCOPE_KEYS",
    "Gate",
    "GateResult",
    "GateSyntaxError",
    "evaluate_gates",
    "gate_verdict",
    "parse_gate",
]

DEFAULT_MIN_PROBES = 10


@dataclass(frozen=True)
class GateResult:
    """A gate checked against a run: its value, and whether it holds.

    ``value`` is what the gate decides on: the rate, a bound of its interval, or the delta
    against the baseline; ``rate`` is the point estimate, ``low``/``high`` its interval.
    """

    gate: Gate
    value: float | None  # None: nothing in scope (or no baseline for a delta gate)
    numerator: int
    denominator: int
    rate: float | None = None
    low: float | None = None
    high: float | None = None
    baseline: float | None = None  # the baseline's rate, for delta gates
    warning: str | None = None

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``n/a`` (nothing in scope: reported, never broken)."""
        if self.value is None:
            return "n/a"
        return "pass" if self.gate.holds(self.value) else "fail"

    def to_json(self) -> dict[str, Any]:
        """The gate and its result as the report's ``gates`` entries hold them."""
        g = self.gate
        return {
            "expression": g.expression,
            "source": g.source,
            "metric": g.metric,
            "scope": {
                "suite": g.suite,
                "category": g.category,
                "attack": g.attack,
                **({"subset": g.subset} if g.subset is not None else {}),
                **({"tags": list(g.tags)} if g.tags else {}),
            },
            "op": g.op,
            "threshold": g.threshold,
            "bound": g.bound,
            "value": self.value,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
            "baseline": self.baseline,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "status": self.status,
            "warning": self.warning,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateResult:
        scope = data.get("scope") or {}
        gate = Gate(
            metric=data["metric"],
            op=data["op"],
            threshold=data["threshold"],
            expression=data["expression"],
            source=data["source"],
            category=scope.get("category"),
            attack=scope.get("attack"),
            suite=scope.get("suite"),
            bound=data.get("bound", "point"),
            subset=scope.get("subset"),
            tags=tuple(scope.get("tags", ())),
        )
        return cls(
            gate,
            data["value"],
            data["numerator"],
            data["denominator"],
            data.get("rate", data["value"]),  # reports before the bounds: the value
            data.get("low"),
            data.get("high"),
            data.get("baseline"),
            data.get("warning"),
        )


def evaluate_gates(
    gates: Sequence[Gate],
    records: Sequence[ProbeRecord],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    baseline: Sequence[ProbeRecord] | None = None,
    min_probes: int = DEFAULT_MIN_PROBES,
) -> list[GateResult]:
    """Checks every gate against the probe records of a run (and the baseline's records,
    for ``delta`` gates). A gate that rests on fewer than ``min_probes`` probes carries a
    warning: its verdict says little."""
    results = []
    for gate in gates:
        if gate.metric in MEASURES:
            results.append(_measured(gate, records, baseline, min_probes))
            continue
        numerator, denominator = rate(gate.metric, [r for r in records if gate.selects(r)])
        point = numerator / denominator if denominator else None
        low, high = wilson(numerator, denominator, confidence) if denominator else (None, None)
        value: float | None = point
        base_rate: float | None = None
        if gate.bound == "upper":
            value = high
        elif gate.bound == "lower":
            value = low
        elif gate.bound == "delta":
            value = None
            if baseline is not None and point is not None:
                k, n = rate(gate.metric, [r for r in baseline if gate.selects(r)])
                if n:
                    base_rate = k / n
                    value = point - base_rate
        elif gate.bound == "trend":  # the slope per budget level (report/trend.py)
            value = budget_trend(gate.metric, [r for r in records if gate.selects(r)])
        warning = None
        if 0 < denominator < min_probes:
            warning = f"rests on {denominator} probes (fewer than {min_probes}): weak evidence"
        results.append(
            GateResult(gate, value, numerator, denominator, point, low, high, base_rate, warning)
        )
    return results


def _measured(
    gate: Gate,
    records: Sequence[ProbeRecord],
    baseline: Sequence[ProbeRecord] | None,
    min_probes: int,
) -> GateResult:
    """A gate on a measure (a value, no interval): the token ratio's cases or the pairs."""
    selected = [r for r in records if gate.selects(r)]
    base = [r for r in baseline if gate.selects(r)] if baseline is not None else None
    m = measure(
        gate.metric,
        selected,
        records,
        base,
        attack=gate.attack,
        breaks=lambda x: not gate.holds(x),
    )
    warning = None
    if 0 < m.denominator < min_probes:
        unit = "matched probes" if gate.metric == "paired_worse_p" else "cases"
        warning = f"rests on {m.denominator} {unit} (fewer than {min_probes}): weak evidence"
    return GateResult(gate, m.value, m.numerator, m.denominator, m.value, warning=warning)


def gate_verdict(results: Sequence[GateResult]) -> str:
    """``fail`` if any gate is broken, ``pass`` if at least one holds, else ``none``."""
    statuses = {r.status for r in results}
    if "fail" in statuses:
        return "fail"
    return "pass" if "pass" in statuses else "none"
