from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.privacy.errors import ShamirError
from blindmatch.privacy.shamir import (
    PRIME,
    SharingPolynomial,
    berlekamp_welch,
    interpolate_at_zero,
    recover_secret,
)


def _synthetic(n: int) -> list[tuple[int, int]]:
    return [(secrets.randbelow(PRIME - 1) + 1, secrets.randbelow(PRIME)) for _ in range(n)]


@settings(max_examples=30, deadline=None)
@given(t=st.integers(min_value=1, max_value=12), extra=st.integers(min_value=0, max_value=4))
def test_any_t_real_shares_recover_the_secret(t: int, extra: int) -> None:
    f = SharingPolynomial.generate(t)
    shares = [f.share() for _ in range(t + extra)]
    assert interpolate_at_zero(shares[:t]) == f.secret
    assert interpolate_at_zero(shares[extra:]) == f.secret


@settings(max_examples=30, deadline=None)
@given(t=st.integers(min_value=2, max_value=12))
def test_t_minus_one_shares_are_consistent_with_every_secret(t: int) -> None:
    """Information-theoretic hiding: for any guessed secret a degree-(t-1) polynomial fits the t-1 shares."""
    f = SharingPolynomial.generate(t)
    shares = [f.share() for _ in range(t - 1)]
    guess = secrets.randbelow(PRIME)
    poly = berlekamp_welch([(0, guess), *shares], t)  # t points, zero errors: plain interpolation
    assert poly is not None and len(poly) == t and poly[0] == guess
    g = SharingPolynomial(poly)
    assert all(g(x) == y for x, y in shares)
    assert recover_secret(shares, t, lambda c: c == f.secret, search_budget=50) is None


@settings(max_examples=25, deadline=None)
@given(t=st.integers(min_value=1, max_value=10), s=st.integers(min_value=0, max_value=5), more=st.integers(0, 3))
def test_berlekamp_welch_recovers_whenever_real_is_at_least_t_plus_synthetic(t: int, s: int, more: int) -> None:
    f = SharingPolynomial.generate(t)
    points = [f.share() for _ in range(t + s + more)] + _synthetic(s)
    secrets.SystemRandom().shuffle(points)
    poly = berlekamp_welch(points, t)
    assert poly is not None and poly[0] == f.secret


@settings(max_examples=20, deadline=None)
@given(t=st.integers(min_value=2, max_value=8), s=st.integers(min_value=1, max_value=4))
def test_berlekamp_welch_never_returns_a_wrong_polynomial_beyond_its_bound(t: int, s: int) -> None:
    f = SharingPolynomial.generate(t)
    points = [f.share() for _ in range(t)] + _synthetic(s)  # r = t < t + s: beyond the unique-decoding bound
    poly = berlekamp_welch(points, t)
    assert poly is None or poly[0] == f.secret


def test_subset_search_recovers_with_exactly_t_real_shares_and_some_synthetic() -> None:
    t, s = 5, 3
    f = SharingPolynomial.generate(t)
    points = [f.share() for _ in range(t)] + _synthetic(s)
    result = recover_secret(points, t, lambda c: c == f.secret, search_budget=5000)
    assert result is not None and result.secret == f.secret and result.method == "subset-search"
    assert str(f.secret) not in repr(result)


def test_below_threshold_nothing_recovers_even_with_a_large_budget() -> None:
    t = 4
    f = SharingPolynomial.generate(t)
    points = [f.share() for _ in range(t - 1)] + _synthetic(6)
    assert recover_secret(points, t, lambda c: c == f.secret, search_budget=3000) is None


def test_bad_parameters() -> None:
    with pytest.raises(ShamirError):
        SharingPolynomial.generate(0)
    with pytest.raises(ShamirError):
        interpolate_at_zero([(1, 2), (1, 3)])
