"""The PDQ index must return exactly what a brute-force scan returns, for any data and any t in 0..64."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindmatch.index import PDQIndex
from blindmatch.index.pdq_index import SearchResult

from .helpers import clustered, flip_bits, reference

PLANS = [(11, 20), (13, 20), (16, 16), (12, 18), (10, 22)]


def _check(
    index: PDQIndex, hashes: np.ndarray, ids: np.ndarray, queries: np.ndarray, t: int, method: str, engine: str = "auto"
) -> None:
    results = index.search_batch(queries, t, method=method, batch=7, engine=engine)
    assert len(results) == queries.shape[0]
    for q, res in zip(queries, results, strict=True):
        want = reference(hashes, ids, q, t)
        got = dict(zip(res.ids.tolist(), res.distances.tolist(), strict=True))
        assert len(got) == res.ids.shape[0], "an entry was reported twice"
        assert got == want
        assert list(zip(res.distances.tolist(), res.ids.tolist(), strict=True)) == sorted(
            (d, i) for i, d in want.items()
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 250),
    centres=st.integers(1, 6),
    max_flips=st.integers(0, 40),
    t=st.integers(0, 64),
    plan=st.sampled_from(PLANS),
    delta_max=st.sampled_from([1, 16, 4096]),
    method=st.sampled_from(["probe", "auto"]),
    engine=st.sampled_from(["numpy", "compiled"]),
)
def test_matches_brute_force_on_clustered_data(
    seed: int,
    n: int,
    centres: int,
    max_flips: int,
    t: int,
    plan: tuple[int, int],
    delta_max: int,
    method: str,
    engine: str,
) -> None:
    rng = np.random.default_rng(seed)
    hashes = clustered(rng, n, centres, max_flips)
    ids = rng.permutation(10 * n + 1)[:n].astype(np.int64) - 5 * n  # negative ids too
    index = PDQIndex(chunks=plan[0], prefix_bits=plan[1], delta_max=delta_max)
    half = n // 2
    index.add(ids[:half], hashes[:half])
    index.add(ids[half:], hashes[half:])  # some of it may stay in the delta buffer
    base = hashes[rng.integers(0, n, size=6)] if n else np.zeros((0, 32), np.uint8)
    queries = [flip_bits(b, int(rng.integers(0, 45)), rng) for b in base]
    queries += [rng.integers(0, 256, 32, dtype=np.uint8), np.zeros(32, np.uint8)]
    _check(index, hashes, ids, np.array(queries, dtype=np.uint8), t, method, engine)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    t=st.integers(0, 64),
    plan=st.sampled_from(PLANS),
    engine=st.sampled_from(["numpy", "compiled"]),
)
def test_boundary_distances_t_and_t_plus_one(seed: int, t: int, plan: tuple[int, int], engine: str) -> None:
    """Entries at exactly t must be found and entries at t+1 must not, wherever the flipped bits fall."""
    rng = np.random.default_rng(seed)
    q = rng.integers(0, 256, 32, dtype=np.uint8)
    hashes = np.array([flip_bits(q, d, rng) for d in [t, t, t + 1, max(t - 1, 0), 0] for _ in range(3)])
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    index = PDQIndex(chunks=plan[0], prefix_bits=plan[1], delta_max=1)
    index.add(ids, hashes)
    _check(index, hashes, ids, q[None, :], t, "probe", engine)


def test_adversarial_chunk_concentrated_flips() -> None:
    """All differing bits packed into as few chunks as possible (the case pigeonhole bounds are tight for)."""
    rng = np.random.default_rng(7)
    index = PDQIndex(delta_max=1)
    q = rng.integers(0, 256, 32, dtype=np.uint8)
    qbits = np.unpackbits(q)
    hashes = []
    for d in range(0, 40):
        for start in (0, 23, 100, 200):
            b = qbits.copy()
            b[(start + np.arange(d)) % 256] ^= 1  # contiguous raw bits; plus scattered versions below
            hashes.append(np.packbits(b))
    hashes_arr = np.array(hashes, dtype=np.uint8)
    ids = np.arange(hashes_arr.shape[0], dtype=np.int64)
    index.add(ids, hashes_arr)
    for t in (0, 8, 15, 16, 31, 32, 39):
        for engine in ("numpy", "compiled"):
            _check(index, hashes_arr, ids, q[None, :], t, "probe", engine)


def test_many_identical_hashes_and_t_256() -> None:
    h = np.zeros((50, 32), np.uint8)
    h[25:] = 255
    ids = np.arange(50, dtype=np.int64)
    index = PDQIndex()
    index.add(ids, h)
    res: SearchResult = index.search(bytes(32), 0)
    assert sorted(res.ids.tolist()) == list(range(25))
    assert index.search(bytes(32), 255).ids.shape[0] == 25
    assert index.search(bytes(32), 256).ids.shape[0] == 50
    assert index.search_batch(h[:1], 31, method="scan")[0].ids.tolist() == list(range(25))


@pytest.mark.parametrize("t", [70, 100, 128, 200])
def test_large_thresholds_in_both_methods(t: int) -> None:
    """Probe radii beyond the suffix width (and huge probe sets) still give the brute-force answer."""
    rng = np.random.default_rng(t)
    hashes = clustered(rng, 400, 4, 40)
    ids = np.arange(400, dtype=np.int64)
    index = PDQIndex()
    index.add(ids, hashes)
    queries = np.array([flip_bits(hashes[0], 60, rng), rng.integers(0, 256, 32, dtype=np.uint8)])
    for method in ("probe", "scan", "auto"):
        for engine in ("numpy", "compiled"):
            _check(index, hashes, ids, queries, t, method, engine)
