"""Exact binomial statistics against closed forms and published values."""

from __future__ import annotations

import math

import pytest

from blindmatch.eval.errors import InvalidParameterError
from blindmatch.eval.stats import beta_quantile, betainc, clopper_pearson, log_binom_tail, prob_any_match


def test_betainc_closed_forms() -> None:
    # I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    for x in (0.0, 1e-9, 0.1, 0.5, 0.93, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-14)
        assert betainc(3.5, 1, x) == pytest.approx(x**3.5, rel=1e-10, abs=1e-300)
        assert betainc(1, 7, x) == pytest.approx(1 - (1 - x) ** 7, rel=1e-10, abs=1e-15)
        assert betainc(2.5, 4.0, x) == pytest.approx(1 - betainc(4.0, 2.5, 1 - x), abs=1e-13)


def test_beta_quantile_inverts_betainc() -> None:
    for a, b, q in ((1, 131712, 0.975), (5, 3, 0.2), (0.5, 0.5, 0.5), (30, 1e7, 0.025)):
        x = beta_quantile(q, a, b)
        assert betainc(a, b, x) == pytest.approx(q, rel=1e-9)


@pytest.mark.parametrize("n", [1, 10, 100, 131_712, 10_000_000])
def test_clopper_pearson_zero_and_all_successes_closed_form(n: int) -> None:
    lo, hi = clopper_pearson(0, n)
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    lo, hi = clopper_pearson(n, n)
    assert hi == 1.0
    assert lo == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    # one success: the lower bound is 1 - (1 - α/2)^(1/n)
    lo1, _ = clopper_pearson(1, n)
    assert lo1 == pytest.approx(1 - 0.975 ** (1 / n), rel=1e-9)


def test_clopper_pearson_known_values() -> None:
    # Standard textbook values (exact interval, 95 %).
    assert clopper_pearson(5, 10) == pytest.approx((0.187086, 0.812914), abs=1e-6)
    assert clopper_pearson(1, 100) == pytest.approx((0.000253, 0.054459), abs=1e-6)
    assert clopper_pearson(0, 10)[1] == pytest.approx(0.308497, abs=1e-6)
    # The "rule of three": one-sided 95 % bound with no events is 1 - 0.05^(1/n) ≈ -ln(0.05)/n ≈ 3/n.
    assert clopper_pearson(0, 1_000_000, one_sided=True)[1] == pytest.approx(-math.log(0.05) / 1e6, rel=1e-5)
    lo, hi = clopper_pearson(3, 50)
    assert lo < 3 / 50 < hi


def test_clopper_pearson_rejects_bad_input() -> None:
    for k, n in ((-1, 10), (11, 10), (0, 0)):
        with pytest.raises(InvalidParameterError):
            clopper_pearson(k, n)
    with pytest.raises(InvalidParameterError):
        clopper_pearson(1, 10, confidence=1.0)


def _naive_tail(n: int, p: float, t: int) -> float:
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(t, n + 1))


def test_log_binom_tail_matches_exact_sum_and_reaches_deep_tails() -> None:
    for n, p, t in ((20, 0.3, 5), (20, 0.3, 15), (50, 0.01, 1), (100, 0.5, 50), (30, 0.9, 30)):
        assert math.exp(log_binom_tail(n, p, t)) == pytest.approx(_naive_tail(n, p, t), rel=1e-10)
    # P[Bin(18250, 1e-6) >= 30] is about C(18250, 30) * 1e-180: far below double precision, finite in logs.
    deep = log_binom_tail(18_250, 1e-6, 30)
    first = math.lgamma(18251) - math.lgamma(31) - math.lgamma(18221) + 30 * math.log(1e-6) + 18220 * math.log1p(-1e-6)
    # later terms shrink by about n·p/31 ≈ 6e-4 each, so the tail exceeds its first term by ≈ 6e-4 in log.
    assert first < deep < first + 1e-3
    assert log_binom_tail(10, 0.5, 0) == 0.0
    assert log_binom_tail(10, 0.5, 11) == -math.inf
    assert log_binom_tail(10, 0.0, 1) == -math.inf


def test_prob_any_match_is_precise_for_tiny_rates() -> None:
    assert prob_any_match(1e-15, 1e6) == pytest.approx(1e-9, rel=1e-6)
    assert prob_any_match(0.5, 2) == pytest.approx(0.75)
    assert prob_any_match(0.0, 1e7) == 0.0
    with pytest.raises(InvalidParameterError):
        prob_any_match(1.5, 10)


def test_pairs_needed_and_tail_model() -> None:
    import numpy as np

    from blindmatch.eval.metrics import pairs_needed_for_bound, tail_model

    n = pairs_needed_for_bound(1e-6)
    assert clopper_pearson(0, n)[1] <= 1e-6 < clopper_pearson(0, n - 1)[1]
    # A distribution whose CDF falls by exactly 10× per bit below 100: the fit must recover slope 1/bit.
    counts = {100 - k: 10 ** (6 - k) for k in range(6)}
    d = np.repeat(np.array(list(counts), dtype=np.int64), list(counts.values()))
    d = np.concatenate([d, np.full(10**8 // 100, 128)])
    model = tail_model(d, 31, min_count=10, max_quantile=0.4)
    assert model is not None
    assert model.log10_slope_per_bit == pytest.approx(1.0, abs=0.06)
    assert tail_model(np.array([128, 128, 130]), 31) is None
