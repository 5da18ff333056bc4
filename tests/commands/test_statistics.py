"""Student t and Welch's test in plain Python, against published tables and scipy."""

from __future__ import annotations

import math
import random

import pytest
import scipy.stats

from lit_dl.commands.statistics import estimate, incomplete_beta, t_cdf, t_quantile, welch

# Two-sided 95% critical values of Student's t (any statistics textbook's table).
TABLE_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 29: 2.045, 120: 1.980}


@pytest.mark.parametrize(("df", "critical"), sorted(TABLE_975.items()))
def test_t_quantile_matches_the_table(df, critical):
    assert t_quantile(0.975, df) == pytest.approx(critical, abs=5e-4)
    assert t_quantile(0.025, df) == pytest.approx(-critical, abs=5e-4)


def test_t_distribution_matches_scipy_everywhere():
    rng = random.Random(0)
    for _ in range(500):
        df = rng.choice([1, 1.5, 2, 3, 5, 8.3, 30, 300, 1e5])
        t = rng.uniform(-60, 60)
        p = rng.uniform(1e-4, 1 - 1e-4)
        assert t_cdf(t, df) == pytest.approx(scipy.stats.t.cdf(t, df), abs=1e-10)
        assert t_quantile(p, df) == pytest.approx(scipy.stats.t.ppf(p, df), rel=1e-9)
    assert incomplete_beta(2.5, 0.5, 0.3) == pytest.approx(scipy.special.betainc(2.5, 0.5, 0.3), rel=1e-12)


def test_t_quantile_inverts_t_cdf_to_half_the_bisections_tolerance():
    """The quantile's bisection stops at an interval of 1e-13 (relative above 1) that brackets p;
    its middle is within half of that of the t where the distribution function crosses p."""
    rng = random.Random(2)
    for _ in range(300):
        p, df = rng.uniform(0.5, 0.97), rng.choice([1, 2, 3, 5, 10, 30])
        t = t_quantile(p, df)
        half = 5e-14 * max(1.0, abs(t))
        assert t_cdf(t - half, df) < p <= t_cdf(t + half, df)


def test_mean_std_and_confidence_interval():
    found = estimate([0.91, 0.93, 0.92, 0.95])
    half = scipy.stats.t.ppf(0.975, 3) * scipy.stats.tstd([0.91, 0.93, 0.92, 0.95]) / 2
    assert found.n == 4 and found.mean == pytest.approx(0.9275) and found.std == pytest.approx(0.017078, abs=1e-6)
    assert (found.low, found.high) == (pytest.approx(0.9275 - half), pytest.approx(0.9275 + half))
    assert str(found) == "0.9275 ± 0.017" and found.interval == f"[{0.9275 - half:.4g}, {0.9275 + half:.4g}]"
    one = estimate([0.5])
    assert one.std is None and one.interval == "-" and str(one) == "0.5"


def test_welch_matches_scipy():
    rng = random.Random(1)
    for _ in range(50):
        a = [rng.gauss(0, 1) for _ in range(rng.randint(2, 8))]
        b = [rng.gauss(0.5, 2) for _ in range(rng.randint(2, 8))]
        expected = scipy.stats.ttest_ind(a, b, equal_var=False)
        found = welch(a, b)
        assert found.t == pytest.approx(expected.statistic, rel=1e-9) and found.p == pytest.approx(expected.pvalue, rel=1e-7, abs=1e-12)
        assert found.df == pytest.approx(expected.df, rel=1e-9)


def test_welch_edge_cases():
    assert welch([1.0, 1.0], [1.0, 1.0]).p == 1.0
    assert welch([1.0, 1.0, 1.0], [1.0, 1.0]).df == 3.0  # no spread: the pooled test's n1 + n2 - 2
    assert welch([1.0, 1.0], [2.0, 2.0]).p == 0.0 and math.isinf(welch([1.0, 1.0], [2.0, 2.0]).t)
    with pytest.raises(ValueError, match="two values"):
        welch([1.0], [1.0, 2.0])


def test_the_ends_of_each_domain():
    assert incomplete_beta(2.0, 0.5, 0.0) == 0.0 and incomplete_beta(2.0, 0.5, 1.0) == 1.0
    assert incomplete_beta(2.0, 0.5, -0.1) == 0.0 and incomplete_beta(2.0, 0.5, 1.5) == 1.0  # clamped, not a math domain error
    assert t_cdf(math.inf, 3) == 1.0 and t_cdf(-math.inf, 3) == 0.0 and t_cdf(0.0, 3) == 0.5
    for p in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=f"probability {p} must be strictly between 0 and 1"):
            t_quantile(p, 3)
    assert t_quantile(0.5, 3) == pytest.approx(0.0, abs=1e-13)
    with pytest.raises(ValueError, match="no values"):
        estimate([])
