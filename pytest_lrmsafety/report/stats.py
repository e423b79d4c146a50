"""Intervals and tests for the rates: Wilson score intervals, two-proportion z-tests.

Only the standard library (``statistics.NormalDist``). The formulas are the textbook ones:

* Wilson (1927) score interval for ``k`` successes in ``n`` trials at confidence ``c``, with
  ``z`` the ``(1 + c) / 2`` normal quantile::

      centre = (p + z²/2n) / (1 + z²/n)
      half   = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²)

  It stays inside [0, 1] and behaves at 0/n and n/n, where the normal (Wald) interval
  collapses to a point.
* Two-proportion z-test with the pooled proportion, two-sided p-value.
* McNemar's exact test (McNemar 1947) for paired pass/fail outcomes: of the ``n = b + c``
  discordant pairs (``b`` got worse, ``c`` got better), ``b`` is Binomial(n, 1/2) when
  nothing changed. One-sided ``P(X >= b)`` (the run is worse) and two-sided
  ``min(1, 2 * P(X <= min(b, c)))``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.95


def z_value(confidence: float) -> float:
    """The two-sided normal quantile: 1.96 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def wilson(
    successes: int, trials: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)``; ``(0.0, 1.0)`` with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    z = z_value(confidence)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # At 0/n and n/n the bound is exactly 0 or 1 (rounding must not move it).
    return (0.0 if successes == 0 else low), (1.0 if successes == trials else high)


def two_proportion(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, float | None]:
    """``(delta, p_value)`` for ``k2/n2 - k1/n1`` (baseline 1, current 2), pooled z-test;
    ``(None, None)`` when a side has no trials; ``p_value`` 1.0 when both are 0% or 100%."""
    if n1 <= 0 or n2 <= 0:
        return None, None
    p1, p2 = k1 / n1, k2 / n2
    delta = p2 - p1
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return delta, 1.0
    z = delta / se
    return delta, 2.0 * (1.0 - NormalDist().cdf(abs(z)))


def binomial_tail(k: int, n: int) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, 1/2)``, exact (integers until the one division)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / (1 << n)


def mcnemar(worse: int, better: int) -> tuple[float, float]:
    """``(p_two_sided, p_worse)`` of McNemar's exact test on the discordant pairs: ``worse``
    passed before and fail now, ``better`` the other way; both 1.0 with no discordant pair."""
    if worse < 0 or better < 0:
        raise ValueError(f"pair counts must be 0 or more, got {worse} and {better}")
    n = worse + better
    if n == 0:
        return 1.0, 1.0
    # P(X <= m) = P(X >= n - m) by symmetry: summed directly, exact for small p-values too.
    two_sided = min(1.0, 2.0 * binomial_tail(n - min(worse, better), n))
    return two_sided, binomial_tail(worse, n)
