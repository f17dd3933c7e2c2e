"""Exact binomial statistics without scipy: incomplete beta, Clopper–Pearson bounds, binomial tails in log space.

Why scipy-free: these few functions decide the headline claims of the reports ("the per-pair false-match rate is
below X with 95 % confidence", "Y innocent accounts a year would be flagged"), so they should be small enough to
read and check by hand, and the package should not pull in scipy for them.

* :func:`betainc` — the regularised incomplete beta I_x(a, b), by the classic continued fraction (modified Lentz),
  using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
* :func:`beta_quantile` — the inverse, by bisection (I_x is monotone in x), to 1e-15 relative.
* :func:`clopper_pearson` — the exact ("conservative") binomial confidence interval.
* :func:`log_binom_tail` — ln P[Binomial(n, p) ≥ t], summed term by term in log space so that 1e-300 is as
  representable as 0.5.
* :func:`prob_any_match` — 1 − (1 − p)^N computed with log1p/expm1 so that p = 1e-12 is not rounded away.
"""

from __future__ import annotations

import math

from blindmatch.eval.errors import InvalidParameterError

__all__ = [
    "beta_quantile",
    "betainc",
    "clopper_pearson",
    "log_binom_tail",
    "prob_any_match",
]

_TINY = 1e-300
_EPS = 1e-16


def _check_prob(name: str, p: float) -> None:
    if not (isinstance(p, (int, float)) and math.isfinite(p) and 0.0 <= p <= 1.0):
        raise InvalidParameterError(f"{name} must be a probability in [0, 1], got {p!r}")


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) (without the prefactor), modified Lentz; converges for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1."""
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise InvalidParameterError(f"betainc needs a > 0 and b > 0, got a={a!r}, b={b!r}")
    _check_prob("x", x)
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, math.exp(log_front) * _beta_cf(a, b, x) / a)
    return max(0.0, 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b)


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection on [0, 1] (I_x is monotone in x), to about 1e-15 relative."""
    _check_prob("q", q)
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    # Bracket first by halving (so a quantile of 1e-12 costs ~40 steps, not a precision loss), then bisect to a
    # relative width of 1e-15.
    hi = 1.0
    while hi > 1e-300 and betainc(a, b, 0.5 * hi) >= q:
        hi *= 0.5
    lo = 0.5 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


def clopper_pearson(k: int, n: int, confidence: float = 0.95, *, one_sided: bool = False) -> tuple[float, float]:
    """Exact binomial confidence interval (lower, upper) for k successes in n trials.

    Two-sided by default (each tail α/2). With ``one_sided=True`` the upper bound is the one-sided (1 − α) bound
    and the lower bound is 0. For k = 0 the two-sided upper bound is exactly 1 − (α/2)^(1/n).
    """
    if not (isinstance(k, int) and isinstance(n, int)) or n <= 0 or k < 0 or k > n:
        raise InvalidParameterError(f"need integers 0 ≤ k ≤ n and n > 0, got k={k!r}, n={n!r}")
    if not (0.0 < confidence < 1.0):
        raise InvalidParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    alpha = 1.0 - confidence
    tail = alpha if one_sided else alpha / 2.0
    lower = 0.0 if (k == 0 or one_sided) else beta_quantile(tail, k, n - k + 1)
    upper = 1.0 if k == n else beta_quantile(1.0 - tail, k + 1, n - k)
    return lower, upper


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def log_binom_tail(n: int, p: float, t: int) -> float:
    """ln P[Binomial(n, p) ≥ t], accurate far into the tail (returns −inf when the probability is exactly 0)."""
    if not isinstance(n, int) or n < 0:
        raise InvalidParameterError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(t, int):
        raise InvalidParameterError(f"t must be an integer, got {t!r}")
    _check_prob("p", p)
    if t <= 0:
        return 0.0
    if t > n or p == 0.0:
        return -math.inf
    if p == 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg_n1 = math.lgamma(n + 1)

    def log_pmf(k: int) -> float:
        return lg_n1 - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q

    mean = n * p
    if t > mean:
        # Upper tail: terms decrease from k = t onwards; stop when they no longer change the sum.
        total = -math.inf
        for k in range(t, n + 1):
            term = log_pmf(k)
            total = _logaddexp(total, term)
            if k > mean + 1 and term < total - 40.0:
                break
        return min(0.0, total)
    # t at or below the mean: the tail is ≥ ~1/2, so 1 − P[X ≤ t−1] loses no precision.
    lower = -math.inf
    for k in range(t - 1, -1, -1):
        term = log_pmf(k)
        lower = _logaddexp(lower, term)
        if term < lower - 40.0:
            break
    cdf = math.exp(lower)
    return math.log1p(-cdf) if cdf < 1.0 else -math.inf


def prob_any_match(p: float, n: int | float) -> float:
    """1 − (1 − p)^n: the chance that at least one of n independent comparisons, each with rate p, matches."""
    _check_prob("p", p)
    if n < 0:
        raise InvalidParameterError(f"n must be ≥ 0, got {n!r}")
    if p == 1.0:
        return 1.0 if n > 0 else 0.0
    return -math.expm1(n * math.log1p(-p))
