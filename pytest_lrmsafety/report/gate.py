"""Gates: thresholds over the scoreboard's rates, written as ``metric[scope] op value``."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .scoreboard import METRICS, ProbeRecord, rate

_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[A-Za-z_]+)\s*(?:\[(?P<scope>[^\]]*)\])?\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<pct>%?)\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
SCOPE_KEYS = ("category", "attack")
GRAMMAR = "METRIC[category=NAME,attack=NAME] OP VALUE, e.g. 'unsafe_answer_rate <= 0.05'"


class GateSyntaxError(ValueError):
    """A gate expression that cannot be read; the message says what is allowed."""


@dataclass(frozen=True)
class Gate:
    """One threshold. ``suite`` limits it to one suite's probes (gates written in a suite)."""

    metric: str
    op: str
    threshold: float
    expression: str
    source: str
    category: str | None = None
    attack: str | None = None
    suite: str | None = None

    def selects(self, record: ProbeRecord) -> bool:
        """Whether a probe counts towards this gate."""
        return (
            (self.suite is None or record.suite == self.suite)
            and (self.category is None or record.category == self.category)
            and (self.attack is None or record.attack == self.attack)
        )


@dataclass(frozen=True)
class GateResult:
    """A gate checked against a run: its value, and whether it holds."""

    gate: Gate
    value: float | None  # None: no probe in scope
    numerator: int
    denominator: int

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``n/a`` (nothing in scope: reported, never broken)."""
        if self.value is None:
            return "n/a"
        return "pass" if _OPS[self.gate.op](self.value, self.gate.threshold) else "fail"


def parse_gate(expression: str, *, source: str, suite: str | None = None) -> Gate:
    """Reads one gate expression.

    Raises:
        GateSyntaxError: The expression does not follow the grammar, names an unknown metric
            or scope key, or a value outside 0..1 (0%..100%).
    """
    match = _EXPRESSION.match(expression)
    if not match:
        raise GateSyntaxError(f"bad gate expression {expression!r}; expected {GRAMMAR}")
    metric = match["metric"]
    if metric not in METRICS:
        raise GateSyntaxError(
            f"gate {expression!r}: unknown metric {metric!r}; known: {', '.join(METRICS)}"
        )
    value = float(match["value"]) / (100.0 if match["pct"] else 1.0)
    if not 0.0 <= value <= 1.0:
        raise GateSyntaxError(f"gate {expression!r}: threshold must be within 0..1 or 0%..100%")
    scope: dict[str, str] = {}
    for part in (match["scope"] or "").split(","):
        if not part.strip():
            continue
        key, eq, name = (s.strip() for s in part.partition("="))
        if not eq or key not in SCOPE_KEYS or not name:
            raise GateSyntaxError(
                f"gate {expression!r}: bad scope {part.strip()!r}; use category=NAME or attack=NAME"
            )
        scope[key] = name
    return Gate(
        metric=metric,
        op=match["op"],
        threshold=value,
        expression=expression.strip(),
        source=source,
        category=scope.get("category"),
        attack=scope.get("attack"),
        suite=suite,
    )


def evaluate_gates(gates: Sequence[Gate], records: Sequence[ProbeRecord]) -> list[GateResult]:
    """Checks every gate against the probe records of a run."""
    results = []
    for gate in gates:
        numerator, denominator = rate(gate.metric, [r for r in records if gate.selects(r)])
        value = numerator / denominator if denominator else None
        results.append(GateResult(gate, value, numerator, denominator))
    return results
