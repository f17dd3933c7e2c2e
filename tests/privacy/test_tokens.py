"""Fuzzy PDQ token schemes: bit order, determinism, list/query consistency, fuzziness, rejection of bad input."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.privacy.errors import PrivacyError
from blindmatch.privacy.scheme import TokenScheme
from blindmatch.privacy.tokens import (
    DEFAULT_COST_MODEL,
    FlipCostModel,
    InvalidTokenInputError,
    RankedFlipScheme,
    SubsetFlipScheme,
    TokenSchemeParamError,
    _flip_patterns,
    baseline_scheme,
    bits_to_hash,
    default_scheme,
    hash_to_bits,
)


def _random_image(rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """A hash and margins the way PDQ makes them: bits = coefficient > median, margin = |coefficient - median|."""
    c = rng.normal(size=256).astype(np.float32) * np.linspace(3, 1, 256, dtype=np.float32)
    med = np.median(c)
    return bits_to_hash((c > med).astype(np.uint8)), np.abs(c - med).astype(np.float32)


def test_bit_order_matches_reference_hex() -> None:
    # the reference's hex form puts bits 0..3 in the LAST hex digit
    bits = hash_to_bits(bytes.fromhex("00" * 31 + "01"))
    assert bits[0] == 1 and bits.sum() == 1
    bits = hash_to_bits(bytes.fromhex("80" + "00" * 31))
    assert bits[255] == 1 and bits.sum() == 1
    rng = np.random.default_rng(3)
    b = rng.integers(0, 2, 256).astype(np.uint8)
    assert np.array_equal(hash_to_bits(bits_to_hash(b)), b)
    x = int(bits_to_hash(b).hex(), 16)
    assert all((x >> k) & 1 == b[k] for k in range(256))


@pytest.mark.parametrize("scheme", [default_scheme(), baseline_scheme()], ids=["default", "baseline"])
def test_schemes_follow_the_protocol_and_are_deterministic(scheme: TokenScheme) -> None:
    assert isinstance(scheme, TokenScheme)
    rng = np.random.default_rng(1)
    h, m = _random_image(rng)
    again = type(scheme)(**{k: v for k, v in vars(scheme).items() if not k.startswith("_")})
    assert scheme.list_tokens(h) == again.list_tokens(h)
    assert scheme.query_tokens(h, m) == again.query_tokens(h, m)
    assert all(isinstance(t, bytes) and len(t) == 32 for t in scheme.query_tokens(h, m))
    json.dumps(scheme.params())  # goes into the signed manifest


def test_default_scheme_counts_and_self_match() -> None:
    s = default_scheme()
    rng = np.random.default_rng(2)
    for _ in range(20):
        h, m = _random_image(rng)
        lt = s.list_tokens(h)
        qt = s.query_tokens(h, m)
        assert len(lt) == s.subsets and len(set(lt)) == s.subsets
        assert len(qt) == s.budget and len(set(qt)) == s.budget
        # the unflipped patterns (cost 0) come first: an unmodified image always matches itself
        assert set(qt[: s.subsets]) == set(lt)


def test_seed_and_layout_change_tokens() -> None:
    rng = np.random.default_rng(4)
    h, _ = _random_image(rng)
    a, b = RankedFlipScheme(seed=1), RankedFlipScheme(seed=2)
    assert set(a.list_tokens(h)).isdisjoint(b.list_tokens(h))
    assert a.params()["layout"] != b.params()["layout"]
    assert set(a.list_tokens(h)).isdisjoint(RankedFlipScheme(k=30).list_tokens(h))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_flips=st.integers(1, 4))
def test_copy_with_low_margin_flips_matches(seed: int, n_flips: int) -> None:
    """Flip the weakest bits of a hash (what re-encoding does): the copy's tokens still meet the original's."""
    s = default_scheme()
    rng = np.random.default_rng(seed)
    h, m = _random_image(rng)
    bits = hash_to_bits(h)
    used = np.concatenate([s._groups[idx].ravel() for idx in s._subset_idx])  # positions that reach a token
    assert len(used) == s.k * s.subsets
    weakest = used[np.argsort(m[used])[:n_flips]]
    bits[weakest] ^= 1
    copy_margins = m.copy()
    copy_margins[weakest] *= 0.5  # after the edit these coefficients sit just across the median
    assert set(s.list_tokens(bits_to_hash(bits))) != set(s.list_tokens(h))  # an exact token would not match
    assert not set(s.list_tokens(h)).isdisjoint(s.query_tokens(bits_to_hash(bits), copy_margins))


def test_flipping_strong_bits_everywhere_does_not_match() -> None:
    s = default_scheme()
    rng = np.random.default_rng(5)
    h, m = _random_image(rng)
    bits = hash_to_bits(h)
    strongest = np.argsort(m)[-60:]  # high-margin bits spread over every subset
    bits[strongest] ^= 1
    assert set(s.list_tokens(h)).isdisjoint(s.query_tokens(bits_to_hash(bits), m))


@pytest.mark.parametrize("scheme", [default_scheme(), baseline_scheme()], ids=["default", "baseline"])
def test_random_hashes_do_not_match(scheme: TokenScheme) -> None:
    rng = np.random.default_rng(6)
    table = set()
    for _ in range(300):
        table.update(scheme.list_tokens(_random_image(rng)[0]))
    hits = sum(not table.isdisjoint(scheme.query_tokens(*_random_image(rng))) for _ in range(300))
    assert hits == 0


def test_baseline_token_count_and_self_match() -> None:
    s = SubsetFlipScheme(k=40, subsets=2, m=4)
    h, m = _random_image(np.random.default_rng(7))
    qt = s.query_tokens(h, m)
    assert len(qt) == 2 * 16 and len(set(qt)) == 32
    assert set(s.list_tokens(h)) <= set(qt)


def test_max_cost_limits_probing() -> None:
    h, m = _random_image(np.random.default_rng(8))
    few = RankedFlipScheme(max_cost=0.0).query_tokens(h, m)
    assert len(few) == 2  # only the unflipped patterns cost nothing
    assert len(RankedFlipScheme(max_cost=math.inf).query_tokens(h, m)) == RankedFlipScheme().budget


def test_vote_groups_self_match() -> None:
    s = RankedFlipScheme(group=3, k=28, subsets=3, positions="random")
    rng = np.random.default_rng(9)
    for _ in range(10):
        h, m = _random_image(rng)
        assert set(s.query_tokens(h, m)[:3]) == set(s.list_tokens(h))


@settings(max_examples=30, deadline=None)
@given(costs=st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=7), budget=st.integers(1, 200))
def test_flip_patterns_are_the_cheapest_in_order(costs: list[float], budget: int) -> None:
    arr = np.array(costs)
    got = _flip_patterns([arr], budget)
    every = sorted(sum(arr[list(c)]) for r in range(len(arr) + 1) for c in itertools.combinations(range(len(arr)), r))
    got_costs = [float(sum(arr[list(f)])) for _, f in got]
    assert len(got) == min(budget, 2 ** len(arr))
    assert len({f for _, f in got}) == len(got)
    assert got_costs == pytest.approx(every[: len(got)])


@pytest.mark.parametrize(
    ("pdq", "margins"),
    [
        ("ab" * 32, np.ones(256, np.float32)),
        (b"\x00" * 31, np.ones(256, np.float32)),
        (b"\x00" * 33, np.ones(256, np.float32)),
        (b"\x00" * 32, np.ones(255, np.float32)),
        (b"\x00" * 32, [1.0] * 256),
        (b"\x00" * 32, np.full(256, np.nan, np.float32)),
        (b"\x00" * 32, -np.ones(256, np.float32)),
        (b"\x00" * 32, np.array(["a"] * 256)),
    ],
)
def test_bad_input_is_rejected(pdq: object, margins: object) -> None:
    for s in (default_scheme(), baseline_scheme()):
        with pytest.raises(InvalidTokenInputError):
            s.query_tokens(pdq, margins)  # type: ignore[arg-type]
    if not isinstance(pdq, bytes) or len(pdq) != 32:
        with pytest.raises(InvalidTokenInputError):
            default_scheme().list_tokens(pdq)  # type: ignore[arg-type]


def test_errors_belong_to_the_privacy_hierarchy() -> None:
    assert issubclass(InvalidTokenInputError, PrivacyError)
    assert issubclass(TokenSchemeParamError, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [{"group": 2}, {"k": 0}, {"k": 200}, {"budget": 1}, {"positions": "middle"}, {"pool": 10}, {"max_cost": -1.0}],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(TokenSchemeParamError):
        RankedFlipScheme(**kwargs)  # type: ignore[arg-type]


def test_bad_cost_models_are_rejected() -> None:
    with pytest.raises(TokenSchemeParamError):
        FlipCostModel(knots=((0.0, 1.0),))
    with pytest.raises(TokenSchemeParamError):
        FlipCostModel(knots=((0.0, 2.0), (1.0, 1.0)))
    with pytest.raises(TokenSchemeParamError):
        FlipCostModel(knots=DEFAULT_COST_MODEL.knots, band_factors=(0.0,))
    with pytest.raises(TokenSchemeParamError):
        SubsetFlipScheme(m=20)


def test_cost_model_is_monotone_and_handles_flat_images() -> None:
    m = np.linspace(0, 5, 256)
    c = FlipCostModel(knots=DEFAULT_COST_MODEL.knots).costs(m)
    assert np.all(np.diff(c) >= 0)
    flat = DEFAULT_COST_MODEL.costs(np.zeros(256))
    assert np.isfinite(flat).all()
    # an all-zero-margin image still yields a full, deterministic token list
    assert len(default_scheme().query_tokens(b"\x00" * 32, np.zeros(256, np.float32))) == default_scheme().budget
