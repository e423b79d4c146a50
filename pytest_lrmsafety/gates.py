"""Gate expressions: ``[upper|lower|delta](metric[scope]) op value``, read into :class:`Gate`.

Parsing only, so that the case loader reads a suite's gates without the report package;
checking a gate against a run (``evaluate_gates``) is the report's (``report/gate.py``).

A gate decides on the point estimate by default. Wrapped in ``upper(...)`` or ``lower(...)``
it decides on that bound of the rate's Wilson interval (``--lrm-confidence``, default 95%):
``upper(unsafe_answer_rate) <= 0.05`` holds only when the data show, at that confidence, that
the rate is at most 5%; ``lower(refusal_rate) >= 0.9`` likewise from below. ``delta(...)``
decides on the change against the baseline report (``--lrm-baseline``): current rate minus
baseline rate, so ``delta(unsafe_answer_rate) <= 0.02`` allows at most two points of
regression; without a baseline (or with nothing in scope there) it is ``n/a``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# The scoreboard's metrics, by name (report/scoreboard.py METRICS holds what each counts;
# a test keeps the two in step).
METRIC_NAMES = (
    "unsafe_answer_rate",
    "unsafe_thinking_rate",
    "unsafe_answer_rate_max",
    "unsafe_thinking_rate_max",
    "refusal_rate",
    "over_refusal_rate",
    "injection_success_rate",
    "attack_success_rate",
    "thinking_attack_success_rate",
    "unclear_rate",
    "judge_disagreement_rate",
    "error_rate",
    "fail_rate",
)

_EXPRESSION = re.compile(
    r"^\s*(?:(?P<bound>upper|lower|delta)\s*\(\s*)?"
    r"(?P<metric>[A-Za-z_]+)\s*(?:\[(?P<scope>[^\]]*)\])?\s*(?P<close>\))?\s*"
    r"(?P<op><=|>=|<|>)\s*"
    r"(?P<value>-?(?:\d+(?:\.\d+)?|\.\d+))\s*(?P<pct>%?)\s*$"
)
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}
SCOPE_KEYS = ("category", "attack", "subset", "tag")
GRAMMAR = (
    "[upper|lower|delta](METRIC[category=NAME,attack=NAME,subset=NAME,tag=NAME]) OP VALUE, "
    "e.g. 'unsafe_answer_rate <= 0.05' or 'upper(unsafe_answer_rate) <= 5%'"
)
BOUNDS = ("point", "upper", "lower", "delta")


class GateSyntaxError(ValueError):
    """A gate expression that cannot be read; the message says what is allowed."""


class Scoped(Protocol):
    """What a gate's scope looks at in a probe's record."""

    @property
    def suite(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def attack(self) -> str: ...
    @property
    def subset(self) -> str | None: ...
    @property
    def tags(self) -> list[str]: ...


@dataclass(frozen=True)
class Gate:
    """One threshold. ``suite`` limits it to one suite's probes (gates written in a suite);
    ``subset`` to one subset's, ``tags`` to the probes that carry every tag named
    (``[tag=a,tag=b]``)."""

    metric: str
    op: str
    threshold: float
    expression: str
    source: str
    category: str | None = None
    attack: str | None = None
    suite: str | None = None
    bound: str = "point"  # point | upper | lower | delta
    subset: str | None = None
    tags: tuple[str, ...] = ()

    def selects(self, record: Scoped) -> bool:
        """Whether a probe counts towards this gate."""
        return (
            (self.suite is None or record.suite == self.suite)
            and (self.category is None or record.category == self.category)
            and (self.attack is None or record.attack == self.attack)
            and (self.subset is None or record.subset == self.subset)
            and all(t in record.tags for t in self.tags)
        )

    def holds(self, value: float) -> bool:
        """Whether ``value`` (what the gate decides on) is within the threshold."""
        return OPS[self.op](value, self.threshold)


def parse_gate(expression: str, *, source: str, suite: str | None = None) -> Gate:
    """Reads one gate expression.

    Raises:
        GateSyntaxError: The expression does not follow the grammar, names an unknown metric
            or scope key, or a value outside 0..1 (0%..100%).
    """
    match = _EXPRESSION.match(expression)
    if not match or bool(match["bound"]) != bool(match["close"]):
        raise GateSyntaxError(f"bad gate expression {expression!r}; expected {GRAMMAR}")
    bound = match["bound"] or "point"
    metric = match["metric"]
    if metric not in METRIC_NAMES:
        raise GateSyntaxError(
            f"gate {expression!r}: unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}"
        )
    value = float(match["value"]) / (100.0 if match["pct"] else 1.0)
    lowest = -1.0 if bound == "delta" else 0.0
    if not lowest <= value <= 1.0:
        allowed = "-1..1 or -100%..100%" if bound == "delta" else "0..1 or 0%..100%"
        raise GateSyntaxError(f"gate {expression!r}: threshold must be within {allowed}")
    scope: dict[str, str] = {}
    tags: list[str] = []
    for part in (match["scope"] or "").split(","):
        if not part.strip():
            continue
        key, eq, name = (s.strip() for s in part.partition("="))
        if not eq or key not in SCOPE_KEYS or not name:
            raise GateSyntaxError(
                f"gate {expression!r}: bad scope {part.strip()!r}; use category=NAME, "
                "attack=NAME, subset=NAME or tag=NAME"
            )
        if key == "tag":
            tags.append(name)
        elif key in scope and scope[key] != name:
            raise GateSyntaxError(
                f"gate {expression!r}: {key} given twice ({scope[key]!r}, {name!r}); "
                "a probe has only one"
            )
        else:
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
        bound=bound,
        subset=scope.get("subset"),
        tags=tuple(dict.fromkeys(tags)),
    )
