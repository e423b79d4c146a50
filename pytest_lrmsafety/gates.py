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
``trend(unsafe_answer_rate, budget) <= 0`` decides on the rate's least-squares slope over the
run's thinking budgets, per budget level (``report/trend.py``; ``n/a`` under two budgets).

A few metrics are values rather than rates (``MEASURES``): ``reasoning_tokens_ratio <= 3``
(the median, over cases, of an overthinking attack's reasoning tokens over the same case's
direct probe), ``harm_score_mean[category=X] <= 0.5`` (the ``reward`` judge's mean harm
score on the refuse probes' answers), ``phishing_score_mean <= 1`` (spear phishing's overall
0-5 score) and ``paired_worse_p >= 0.05`` (McNemar's exact test on the probes matched
with the baseline: the one-sided p-value that this run is worse). They take no bound.
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
    "aware_complied_rate",
)
# Metrics that are values, not shares of probes (report/measures.py ``measure`` computes
# them), with the thresholds they allow. A measure has no Wilson interval: it is gated on
# its point value only.
MEASURES: dict[str, tuple[float, float]] = {
    "reasoning_tokens_ratio": (0.0, 1e6),  # median over cases, attacked / direct
    "reasoning_tokens_ratio_mean": (0.0, 1e6),
    "paired_worse_p": (0.0, 1.0),  # McNemar, one-sided, against --lrm-baseline
    # The reward judge's mean harm score on refuse probes' answers (the model's own scale,
    # larger = more harmful) and the spear-phishing overall score, 0-5 (report/phishing.py).
    "harm_score_mean": (-1e6, 1e6),
    "phishing_score_mean": (0.0, 5.0),
}

_EXPRESSION = re.compile(
    r"^\s*(?:(?P<bound>upper|lower|delta|trend)\s*\(\s*)?"
    r"(?P<metric>[A-Za-z_]+)\s*(?:\[(?P<scope>[^\]]*)\])?\s*"
    r"(?:,\s*(?P<over>[A-Za-z_]+)\s*)?(?P<close>\))?\s*"
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
    "e.g. 'unsafe_answer_rate <= 0.05' or 'upper(unsafe_answer_rate) <= 5%', or "
    "trend(METRIC[...], budget) OP VALUE"
)
BOUNDS = ("point", "upper", "lower", "delta", "trend")
# trend(METRIC, DIMENSION): the dimensions a trend runs over (report/trend.py).
TREND_OVER = ("budget",)


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
    if (bound == "trend") != bool(match["over"]) or (
        match["over"] and match["over"] not in TREND_OVER
    ):
        raise GateSyntaxError(
            f"bad gate expression {expression!r}: a trend is written "
            "'trend(METRIC, budget) OP VALUE', e.g. 'trend(unsafe_answer_rate, budget) <= 0'"
        )
    if metric not in METRIC_NAMES and metric not in MEASURES:
        known = ", ".join((*METRIC_NAMES, *MEASURES))
        raise GateSyntaxError(f"gate {expression!r}: unknown metric {metric!r}; known: {known}")
    value = float(match["value"]) / (100.0 if match["pct"] else 1.0)
    if metric in MEASURES:
        if bound != "point":
            raise GateSyntaxError(
                f"gate {expression!r}: {metric} is a value, not a rate: {bound}() does not "
                f"apply; write e.g. '{metric} {match['op']} {match['value']}'"
            )
        lowest, highest = MEASURES[metric]
        if not lowest <= value <= highest:
            raise GateSyntaxError(
                f"gate {expression!r}: threshold must be within {lowest:g}..{highest:g}"
            )
    else:
        lowest = -1.0 if bound in ("delta", "trend") else 0.0
        if not lowest <= value <= 1.0:
            allowed = "-1..1 or -100%..100%" if lowest < 0 else "0..1 or 0%..100%"
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
