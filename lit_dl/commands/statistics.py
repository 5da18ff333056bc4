"""Small-sample statistics for runs that differ only by seed: mean, standard deviation, Student-t
confidence intervals and Welch's t-test, in plain Python (no scipy at run time).

The Student-t distribution function comes from the regularized incomplete beta function,
I_x(a, b), evaluated by its continued fraction (modified Lentz), as in Numerical Recipes 6.4:
for t >= 0, P(T <= t) = 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2. Its quantile is found by bisection.
tests/commands/test_statistics.py checks both against published tables and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TINY = 1e-300


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2))."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            fraction *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return fraction


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p (0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability {p} must be strictly between 0 and 1")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * max(1.0, high):
            break
    return (low + high) / 2.0


@dataclass(frozen=True)
class Estimate:
    """A metric over n runs: mean, sample standard deviation and the 95% Student-t interval."""

    n: int
    mean: float
    std: float | None  # None for one run
    low: float | None
    high: float | None

    def __str__(self) -> str:
        return f"{self.mean:.4g}" if self.std is None else f"{self.mean:.4g} ± {self.std:.2g}"

    @property
    def interval(self) -> str:
        return "-" if self.low is None else f"[{self.low:.4g}, {self.high:.4g}]"


def estimate(values: list[float], level: float = 0.95) -> Estimate:
    """Mean, standard deviation (n - 1) and the Student-t confidence interval of `values`."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(1, mean, None, None, None)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class WelchTest:
    t: float
    df: float
    p: float  # two-sided


def welch(a: list[float], b: list[float]) -> WelchTest:
    """Welch's unequal-variance t-test of the means of `a` and `b` (two runs each at least)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values in each group")
    first, second = estimate(a), estimate(b)
    va, vb = first.std**2 / first.n, second.std**2 / second.n
    difference = first.mean - second.mean
    if va + vb == 0.0:  # no spread at all: the means are equal or they are not
        return WelchTest(0.0 if difference == 0 else math.copysign(math.inf, difference), float(first.n + second.n - 2), 1.0 if difference == 0 else 0.0)
    t = difference / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (first.n - 1) + vb**2 / (second.n - 1))
    return WelchTest(t, df, min(1.0, 2.0 * (1.0 - t_cdf(abs(t), df))))
