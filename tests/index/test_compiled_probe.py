"""The compiled probe loop must return exactly what the NumPy path returns (ids and distances), in every state.

These tests import the extension directly: a build without it fails here instead of silently testing NumPy twice
(``make test`` installs the package, which compiles it).
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindmatch.eval.bench_index import make_hashes, make_queries
from blindmatch.index import PDQIndex, SearchResult, hex_to_hash_array
from blindmatch.index import _mihprobe as compiled_module
from blindmatch.index.bits import permute_to_cols, prefix_probes, radii_for_threshold

from .helpers import clustered, flip_bits, reference

PLANS = [(11, 20), (13, 20), (16, 16), (12, 18), (10, 22)]


def _assert_same(a: list[SearchResult], b: list[SearchResult]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ra.ids, rb.ids)
        np.testing.assert_array_equal(ra.distances, rb.distances)
        assert ra.ids.dtype == rb.ids.dtype and ra.distances.dtype == rb.distances.dtype


def _both(index: PDQIndex, queries: np.ndarray, t: int, method: str = "probe", batch: int = 5) -> list[SearchResult]:
    """Search with both engines, check they agree, return the compiled results."""
    fast = index.search_batch(queries, t, method=method, batch=batch, engine="compiled", threads=1)
    slow = index.search_batch(queries, t, method=method, batch=batch, engine="numpy", threads=1)
    _assert_same(fast, slow)
    return fast


def _live_reference(
    hashes: np.ndarray, ids: np.ndarray, live: np.ndarray, queries: np.ndarray, t: int
) -> list[dict[int, int]]:
    return [reference(hashes[live], ids[live], q, t) for q in queries]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    kind=st.sampled_from(["random", "clustered"]),
    max_flips=st.integers(0, 40),
    t=st.integers(0, 64),
    plan=st.sampled_from(PLANS),
    delta_max=st.sampled_from([1, 32, 4096]),
    remove_share=st.floats(0.0, 0.5),
    pending=st.integers(0, 30),
    method=st.sampled_from(["probe", "auto", "scan"]),
)
def test_compiled_equals_numpy_with_tombstones_and_pending_adds(
    seed: int,
    n: int,
    kind: str,
    max_flips: int,
    t: int,
    plan: tuple[int, int],
    delta_max: int,
    remove_share: float,
    pending: int,
    method: str,
) -> None:
    rng = np.random.default_rng(seed)
    total = n + pending
    if kind == "random":
        hashes = rng.integers(0, 256, size=(total, 32), dtype=np.uint8)
    else:
        hashes = clustered(rng, total, int(rng.integers(1, 6)), max_flips)
    ids = rng.permutation(10 * total + 1)[:total].astype(np.int64) - 5 * total
    index = PDQIndex(chunks=plan[0], prefix_bits=plan[1], delta_max=delta_max)
    index.add(ids[:n], hashes[:n])
    live = np.zeros(total, dtype=bool)
    live[:n] = True
    gone = rng.choice(n, size=int(n * remove_share), replace=False) if n else np.empty(0, np.int64)
    index.remove(ids[gone])  # < 25 % dead keeps tombstones, more compacts: both states occur
    live[gone] = False
    if pending:  # added after the removals: they stay in the delta buffer unless it overflows
        index.add(ids[n:], hashes[n:])
        live[n:] = True
    base = hashes[rng.integers(0, total, size=6)] if total else np.zeros((0, 32), np.uint8)
    queries = [flip_bits(b, int(rng.integers(0, 45)), rng) for b in base]
    queries += [rng.integers(0, 256, 32, dtype=np.uint8), np.zeros(32, np.uint8)]
    qa = np.array(queries, dtype=np.uint8)
    got = _both(index, qa, t, method)
    want = _live_reference(hashes, ids, live, qa, t)
    assert [dict(zip(r.ids.tolist(), r.distances.tolist(), strict=True)) for r in got] == want


def test_tombstones_and_pending_adds_together() -> None:
    """A fixed case that certainly has dead main entries *and* an unmerged delta at search time."""
    rng = np.random.default_rng(5)
    hashes = clustered(rng, 3000, 12, 36)
    ids = np.arange(3000, dtype=np.int64)
    index = PDQIndex(delta_max=2048)
    index.add(ids[:2500], hashes[:2500])
    index.remove(ids[:2500:9])
    index.add(ids[2500:], hashes[2500:])
    index.remove(ids[2500::7])  # removals from the delta buffer too
    assert index._n_dead > 0 and index.pending > 0
    live = np.ones(3000, dtype=bool)
    live[:2500:9] = False
    live[2500::7] = False
    qa = np.array([flip_bits(hashes[i], int(rng.integers(0, 32)), rng) for i in range(0, 3000, 37)])
    for t in (0, 8, 31, 32, 47, 64):
        got = _both(index, qa, t)
        assert [dict(zip(r.ids.tolist(), r.distances.tolist(), strict=True)) for r in got] == _live_reference(
            hashes, ids, live, qa, t
        )


def test_out_of_order_ids_and_reload(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    hashes = clustered(rng, 1500, 8, 30)
    ids = rng.permutation(1500).astype(np.int64) * 1000 - 700_000
    index = PDQIndex(delta_max=300)
    index.add(ids, hashes)
    index.remove(ids[::11])
    qa = np.array([flip_bits(hashes[i], 20, rng) for i in range(0, 1500, 50)])
    before = _both(index, qa, 31)
    index.save(tmp_path / "idx.snap")
    loaded = PDQIndex.load(tmp_path / "idx.snap")
    _assert_same(_both(loaded, qa, 31), before)


def test_real_pdq_hashes_compiled_equals_numpy(shared_data: Path) -> None:
    with open(shared_data / "images" / "REFERENCE_PDQ.csv", newline="") as fh:
        values = [row["reference_cli_pdq"] for row in csv.DictReader(fh) if row["reference_cli_pdq"]]
    hashes = hex_to_hash_array(values)
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    index = PDQIndex(delta_max=256)
    index.add(ids[:700], hashes[:700])
    index.remove(ids[:700:13])
    index.add(ids[700:], hashes[700:])  # some of the rest stays pending
    live = np.ones(ids.shape[0], dtype=bool)
    live[:700:13] = False
    rng = np.random.default_rng(12)
    qa = np.array([flip_bits(hashes[i], int(rng.integers(0, 40)), rng) for i in range(0, len(ids), 5)])
    for t in (0, 10, 31, 48, 64):
        got = _both(index, qa, t, batch=64)
        assert [dict(zip(r.ids.tolist(), r.distances.tolist(), strict=True)) for r in got] == _live_reference(
            hashes, ids, live, qa, t
        )


@pytest.mark.parametrize("kind", ["random", "clustered", "clustered-heavy"])
def test_benchmark_data_compiled_equals_numpy(kind: str) -> None:
    """The benchmark's generators at a size with multi-entry buckets (16-bit prefixes), all threads."""
    hashes = make_hashes(kind, 60_000, seed=3)
    index = PDQIndex(chunks=16, prefix_bits=16)
    index.add(np.arange(60_000), hashes)
    qs = make_queries(kind, hashes, 300, seed=4)
    fast = index.search_batch(qs, 31, engine="compiled", threads=2, batch=32)
    _assert_same(fast, index.search_batch(qs, 31, engine="numpy", threads=1))
    assert sum(len(r) for r in fast) >= 150  # the near half of the queries matches


def test_probe_releases_the_gil() -> None:
    """While one thread is inside one long compiled call, another thread keeps running Python code.

    With the GIL held for the whole call, the counting loop could only run before the call starts (at most one
    5 ms switch interval); released, it runs for most of the call's duration.
    """
    hashes = make_hashes("random", 50_000, seed=8)
    index = PDQIndex(chunks=16, prefix_bits=16)
    index.add(np.arange(50_000), hashes)
    qc = permute_to_cols(make_queries("random", hashes, 12_000, seed=9), index._perm)
    radii = radii_for_threshold(40, 16)
    chunks = index._chunks()
    masks = tuple(prefix_probes(p, r)[0] for (_, _, p), r in zip(chunks, radii, strict=True))
    plan = tuple((s, w, p, r) for (s, w, p), r in zip(chunks, radii, strict=True))

    def call() -> None:
        compiled_module.probe(qc, 40, index._cols, None, tuple(index._tables), tuple(index._offsets), masks, plan)

    started = time.perf_counter()
    call()
    single = time.perf_counter() - started
    assert single > 0.1, f"the call ({single:.3f} s) is too short to observe anything"
    counter, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        counter += 1
    rate = counter / 0.05  # loop iterations per second with the GIL to itself
    counter = 0
    worker = threading.Thread(target=call)
    worker.start()
    while worker.is_alive():
        counter += 1
    worker.join()
    # Holding the GIL would allow at most one switch interval (5 ms) of loop: 0.005 * rate. A 0.02 bar keeps 4x
    # above that while leaving room for a loaded CI machine that gives this thread a small share of a core.
    assert counter > rate * 0.02, f"{counter} iterations during a {single:.2f} s call (alone: {rate:.0f}/s)"
