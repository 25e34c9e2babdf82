"""Welch's t-test with the Student-t CDF from a regularised incomplete beta (no scipy).

``welch(a, b)`` compares two samples of test accuracies (one per seed) and returns the
difference of means, Welch's t, the Welch–Satterthwaite degrees of freedom and the two-sided
p-value. The incomplete beta is evaluated with the continued fraction of Numerical Recipes
(Lentz's method), accurate to ~1e-12 in the range used here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["WelchResult", "mean_std", "regularized_beta", "student_t_sf", "welch"]


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError(f"regularized_beta: a and b must be > 0, got a={a!r}, b={b!r}")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"regularized_beta: x must be in [0, 1], got {x!r}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (> 0, not necessarily integer) degrees of freedom."""
    if not df > 0:
        raise ValueError(f"student_t_sf: df must be > 0, got {df!r}")
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; NaN for one value)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


@dataclass(frozen=True)
class WelchResult:
    """Welch's test of mean(a) - mean(b).

    Attributes:
        diff: mean(a) - mean(b).
        t: Welch's t statistic.
        df: Welch–Satterthwaite degrees of freedom.
        p: Two-sided p-value.
    """

    diff: float
    t: float
    df: float
    p: float


def welch(a: Sequence[float], b: Sequence[float]) -> WelchResult:
    """Welch's unequal-variance t-test of two samples (each with at least two values).

    Raises:
        ValueError: A sample has fewer than two values.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch: each sample needs at least 2 values, got {len(a)} and {len(b)}")
    ma, sa = mean_std(a)
    mb, sb = mean_std(b)
    va, vb = sa * sa / len(a), sb * sb / len(b)
    diff = ma - mb
    if va + vb == 0.0:
        return WelchResult(
            diff, math.copysign(math.inf, diff) if diff else 0.0, math.nan, 0.0 if diff else 1.0
        )
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va * va / (len(a) - 1) + vb * vb / (len(b) - 1))
    p = 2.0 * student_t_sf(abs(t), df)
    return WelchResult(diff, t, df, min(1.0, p))
