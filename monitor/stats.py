"""The honest statistics of a probe run: Wilson intervals and quantiles with censored values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.results import Interval

__all__ = ["wilson_interval", "binomial_upper_tail", "CensoredQuantile", "censored_quantile"]

_Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = _Z95) -> Interval | None:
    """Wilson score interval for a binomial proportion; None when nothing was sampled.

    Chosen over the normal approximation because our proportions sit near 0
    (0.5% drift budgets) and samples are small, where the normal interval
    collapses to zero width or goes negative.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact ends at 0 and n (floating error would otherwise leave 1e-17 above 0).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def binomial_upper_tail(successes: int, n: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(n, p): how likely this many (or more) out-of-budget
    records in ``n`` would be if the true share were exactly ``p``.

    Summed in log space from ``successes`` upwards, stopping once the terms no longer
    count, so it stays exact and cheap for the long streaks (tens of thousands of
    samples) where ``math.comb`` would overflow a float.
    """
    if not 0 <= p <= 1:
        raise ValueError("p must be between 0 and 1")
    if successes <= 0:
        return 1.0
    if successes > n:
        return 0.0
    if p == 0:
        return 0.0
    if p == 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n_fact = math.lgamma(n + 1)
    total = 0.0
    for i in range(successes, n + 1):
        term = math.exp(log_n_fact - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        total += term
        if i > n * p and term < 1e-17 * total:
            break
    return min(1.0, total)


@dataclass(frozen=True, slots=True)
class CensoredQuantile:
    value: float
    lower_bound: bool  # a censored value decided it: the true quantile is at least ``value``


def censored_quantile(
    exact: Iterable[float], censored: Iterable[float], q: float
) -> CensoredQuantile | None:
    """The q-quantile of lag samples where some are only known to be at least a value.

    Open divergences have lasted ``age`` so far: their lag is at least that. We
    place each at its age (nearest-rank quantile). The true quantile can only be
    higher, and it is unchanged if every censored value lies above the chosen
    rank, since growing them cannot reorder the values below; otherwise the
    result is a lower bound and is flagged so.
    """
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    values = sorted([(float(v), False) for v in exact] + [(float(v), True) for v in censored])
    if not values:
        return None
    rank = max(1, math.ceil(q * len(values)))  # nearest-rank: 1-based
    value = values[rank - 1][0]
    lower_bound = any(is_censored for _, is_censored in values[:rank])
    return CensoredQuantile(value, lower_bound)
