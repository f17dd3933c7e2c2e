"""Benchmark of the PDQ index against faiss brute force and the index HMA uses, on synthetic hash sets.

Why synthetic: list sizes of 10 million hashes are the target and there is no such benign data set. Two kinds:

* ``random`` — uniform 256-bit hashes (the easy case for multi-index hashing: buckets are balanced);
* ``clustered`` — hashes shaped like real PDQ: each is the sign pattern of a smooth low-dimensional latent vector
  plus noise (correlated bits, exactly 128 ones like PDQ's median threshold; calibrated on real PDQ hashes of the
  benign photos to be somewhat more correlated than they are), and entries come in clusters of near-duplicates,
  0..40 bit flips around a centre (re-encodes, crops and edits of one picture);
* ``clustered-heavy`` — the same with far stronger bit correlation than real PDQ (unrelated pairs as close as
  42 bits): a stress case where every bucket-based index degrades.

Queries: half are list entries with 0..31 bits flipped (should match), half are fresh hashes of the same kind
(ordinary traffic). Every index answers the same t = 31 range query; recall is checked against faiss
``IndexBinaryFlat`` on a sample (the result sets must be identical, which also catches false positives).

Comparators, both called directly through faiss:
* ``faiss-flat``: ``IndexBinaryFlat.range_search`` (exhaustive);
* ``hma-multihash``: python-threatexchange's ``PDQMultiHashIndex`` configuration, i.e.
  ``IndexBinaryIDMap2(IndexBinaryMultiHash(256, nhash=16, b=16))`` with ``nflip = t // 16`` and
  ``range_search(q, t + 1)`` (faiss radii are exclusive). HMA's extra Python-side reverse id map is not built.
faiss uses all cores (OpenMP). Our index is timed with each query engine (``compiled``, the C probe loop that is
the default, and its ``numpy`` fallback) on the same built index: single-threaded CPU time per query
(``time.process_time``, comparable on a loaded machine) and wall-clock queries/s with 2 threads.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blindmatch.index import PDQIndex
from blindmatch.index.engine import compiled_available

__all__ = ["make_hashes", "make_queries", "run_index_bench"]

_BLOCK = 1 << 17
#: correlation noise of the clustered kinds (see ``_correlated``)
_NOISE = {"clustered": 4.0, "clustered-heavy": 0.6}


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _proc_status(key: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; 0 where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def build_rss_child(hashes_file: str) -> dict[str, int]:
    """In this (fresh) process: load hashes, build a :class:`PDQIndex`, report resident memory.

    ``rss_bytes`` is the growth of VmRSS over the build (what the index keeps resident), ``peak_bytes`` the growth
    of the high-water mark (what building it needs at once). Run in a child process because in the benchmark
    process freed arrays of the comparators and earlier runs make RSS deltas meaningless (they even go negative).
    """
    hashes = np.load(hashes_file)
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    gc.collect()
    rss0, hwm0 = _proc_status("VmRSS"), _proc_status("VmHWM")
    index = PDQIndex()
    index.add(ids, hashes)
    gc.collect()
    return {
        "rss_bytes": _proc_status("VmRSS") - rss0,
        "peak_bytes": max(0, _proc_status("VmHWM") - max(hwm0, rss0)),
        "index_bytes": index.nbytes(),
    }


def _rss_in_fresh_process(hashes: np.ndarray) -> dict[str, int]:
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hashes.npy")
        np.save(path, hashes)
        code = (
            "import json, sys; from blindmatch.eval.bench_index import build_rss_child as f; "
            "print(json.dumps(f(sys.argv[1])))"
        )
        out = subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True, text=True)
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _correlated(rng: np.random.Generator, n: int, noise: float, latent: int = 24) -> np.ndarray:
    """``n`` PDQ-like hashes: median-thresholded projections of a latent Gaussian through a smooth basis.

    ``noise`` sets how correlated the bits are. Calibration against the reference PDQ hashes of the 812 benign
    photos in the shared data (unrelated pairs: mean distance 128.0, sd 8.0, mean |bit correlation| 0.030, i.e.
    nearly uniform): ``noise=4`` gives sd 10.4 and |corr| 0.045 (somewhat *more* correlated than real PDQ, so
    conservative); ``noise=0.6`` gives sd 30 and |corr| 0.17, a deliberately pathological stress case.
    """
    grid = np.arange(16, dtype=np.float32)
    basis = np.empty((latent, 256), dtype=np.float32)
    brng = np.random.default_rng(12345)  # fixed basis: every call draws from the same "image distribution"
    for k in range(latent):
        fu, fv = brng.integers(0, 4, size=2)
        phase = brng.uniform(0, np.pi, size=2)
        basis[k] = np.outer(np.cos(fu * grid / 5 + phase[0]), np.cos(fv * grid / 5 + phase[1])).ravel()
    out = np.empty((n, 32), dtype=np.uint8)
    for lo in range(0, n, _BLOCK):
        b = min(_BLOCK, n - lo)
        x = rng.standard_normal((b, latent), dtype=np.float32) @ basis
        x += noise * rng.standard_normal((b, 256), dtype=np.float32)
        bits = x > np.median(x, axis=1, keepdims=True)
        out[lo : lo + b] = np.packbits(bits, axis=1)
    return out


def _flip(rng: np.random.Generator, base: np.ndarray, max_flips: int) -> np.ndarray:
    """Copy of ``base`` rows with 0..max_flips random bits flipped per row (exactly that many distinct bits)."""
    out = np.empty_like(base)
    for lo in range(0, base.shape[0], _BLOCK):
        rows = base[lo : lo + _BLOCK]
        b = rows.shape[0]
        k: np.ndarray = np.asarray(rng.integers(0, max_flips + 1, size=b))
        keys = rng.random((b, 256), dtype=np.float32)  # flip the k bits with the smallest random keys
        rank = np.argpartition(keys, max_flips, axis=1)[:, :max_flips] if max_flips else np.zeros((b, 0), int)
        flips = np.zeros((b, 256), dtype=np.uint8)
        take = np.arange(max_flips)[None, :] < k[:, None]
        flips[np.repeat(np.arange(b), take.sum(axis=1)), rank[take]] = 1
        out[lo : lo + b] = rows ^ np.packbits(flips, axis=1)
    return out


def make_hashes(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` synthetic list hashes of ``kind`` (``random`` or ``clustered``) as an ``(n, 32)`` uint8 array."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    if kind in _NOISE:
        centres = _correlated(rng, max(1, n // 8), _NOISE[kind])
        return _flip(rng, centres[rng.integers(0, centres.shape[0], size=n)], 40)
    raise ValueError(f"unknown kind {kind!r} (random, {', '.join(_NOISE)})")


def make_queries(kind: str, hashes: np.ndarray, q: int, seed: int = 1) -> np.ndarray:
    """Half near entries (0..31 flips), half fresh hashes of the same kind."""
    rng = np.random.default_rng(seed)
    near = _flip(rng, hashes[rng.integers(0, hashes.shape[0], size=q // 2)], 31)
    fresh = make_hashes(kind, q - q // 2, seed=seed + 1000)
    return np.concatenate([near, fresh])


class _Timer:
    """Wall and process-CPU seconds of a block; CPU time makes numbers comparable on a shared, loaded machine."""

    def __enter__(self) -> _Timer:
        self._c0, self._t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.cpu = time.process_time() - self._c0


def _as_sets(lims: np.ndarray, labels: np.ndarray) -> list[set[int]]:
    return [set(labels[lims[i] : lims[i + 1]].tolist()) for i in range(lims.shape[0] - 1)]


def _bench_one(kind: str, n: int, queries: int, t: int, recall_sample: int, seed: int) -> dict[str, Any]:
    import faiss

    hashes = make_hashes(kind, n, seed)
    ids = np.arange(n, dtype=np.int64)
    qs = make_queries(kind, hashes, queries, seed + 1)
    sample = np.random.default_rng(seed + 2).choice(queries, size=min(recall_sample, queries), replace=False)
    rows: dict[str, Any] = {}

    # faiss flat: the exhaustive reference (also the recall ground truth on the sample)
    gc.collect()
    rss0 = _rss_bytes()
    flat = faiss.IndexBinaryFlat(256)
    with _Timer() as build:
        flat.add(hashes)
    rss_flat = _rss_bytes() - rss0
    with _Timer() as search:
        lims, _, labels = flat.range_search(qs[sample], t + 1)
    truth = _as_sets(lims, labels)
    rows["faiss-flat"] = {
        "build_s": build.wall,
        "qps": len(sample) / search.wall,
        "qps_per_cpu_s": len(sample) / search.cpu,
        "recall": 1.0,
        "exact_sets": True,
        "index_bytes": int(flat.ntotal) * 32,
        "rss_delta_bytes": rss_flat,
    }
    del flat
    gc.collect()

    # blindmatch PDQIndex
    rss0 = _rss_bytes()
    index = PDQIndex()
    with _Timer() as build:
        index.add(ids, hashes)
    rss_ours = _rss_bytes() - rss0
    engines = _time_engines(index, qs, t, sample)
    results = engines.pop("results")
    matches = float(np.mean([len(r) for r in results]))
    extra = make_hashes(kind, 4096, seed + 7)
    with _Timer() as add_flush:  # incremental update: one delta buffer's worth of adds, merged into the tables
        index.add(np.arange(n, n + 4096), extra)
        index.flush()
    with _Timer() as remove:
        index.remove(np.arange(0, n, max(1, n // 1000))[:1000])
    del results
    gc.collect()
    fresh = _rss_in_fresh_process(hashes)
    shared = {
        "build_s": build.wall,
        "build_cpu_s": build.cpu,
        "index_bytes": index.nbytes(),
        "bytes_per_entry": index.nbytes() / n,
        "rss_delta_bytes_in_process": rss_ours,
        "rss_delta_bytes": fresh["rss_bytes"],
        "build_peak_bytes": fresh["peak_bytes"],
        "matches_per_query": matches,
    }
    for engine, timing in engines.items():
        name = "blindmatch-mih" if engine == index.engine else f"blindmatch-mih-{engine}"
        got = timing.pop("sample_sets")
        rows[name] = {**shared, **timing, **_recall(truth, got)}
    rows["blindmatch-mih"].update({"add_4096_and_flush_s": add_flush.wall, "remove_1000_s": remove.wall})
    del index
    gc.collect()

    # HMA's configuration of faiss multi-index hashing
    rss0 = _rss_bytes()
    mih = faiss.IndexBinaryMultiHash(256, 16, 16)
    hma = faiss.IndexBinaryIDMap2(mih)
    with _Timer() as build:
        hma.add_with_ids(hashes, ids)
    rss_hma = _rss_bytes() - rss0
    mih.nflip = t // 16
    with _Timer() as search:
        lims, _, labels = hma.range_search(qs, t + 1)
    all_sets = _as_sets(lims, labels)
    rows["hma-multihash"] = {
        "build_s": build.wall,
        "build_cpu_s": build.cpu,
        "qps": queries / search.wall,
        "qps_per_cpu_s": queries / search.cpu,
        **_recall(truth, [all_sets[i] for i in sample]),
        "index_bytes": None,
        "rss_delta_bytes": rss_hma,
    }
    del hma, mih
    gc.collect()
    return {"kind": kind, "n": n, "queries": queries, "t": t, "recall_sample": len(sample), "indexes": rows}


def _time_engines(index: PDQIndex, qs: np.ndarray, t: int, sample: np.ndarray) -> dict[str, Any]:
    """Time each available query engine on the same index: CPU per query on 1 thread, wall q/s on 1 and 2.

    The index's own engine comes first (its results are returned under ``"results"``); the NumPy fallback is
    always measured too, so every run shows what the compiled loop buys.
    """
    order = [index.engine] + [e for e in ("compiled", "numpy") if e != index.engine]
    out: dict[str, Any] = {}
    for engine in order:
        if engine == "compiled" and not compiled_available():
            continue
        index.search_batch(qs[:200], t, threads=1, engine=engine)  # warm-up: a matcher is long-lived
        with _Timer() as one:
            results = index.search_batch(qs, t, threads=1, engine=engine)
        with _Timer() as two:
            index.search_batch(qs, t, threads=2, engine=engine)
        out[engine] = {
            "engine": engine,
            "qps": len(qs) / one.wall,
            "qps_per_cpu_s": len(qs) / one.cpu,
            "cpu_us_per_query": one.cpu / len(qs) * 1e6,
            "qps_2_threads": len(qs) / two.wall,
            "sample_sets": [set(results[i].ids.tolist()) for i in sample],
        }
        out.setdefault("results", results)
    return out


def _recall(truth: list[set[int]], got: list[set[int]]) -> dict[str, Any]:
    found = sum(len(a & b) for a, b in zip(truth, got, strict=True))
    total = sum(len(a) for a in truth)
    return {
        "recall": found / total if total else 1.0,
        "exact_sets": all(a == b for a, b in zip(truth, got, strict=True)),
    }


def _table(runs: list[dict[str, Any]]) -> str:
    head = f"{'kind':<10}{'n':>11} {'index':<22}{'build s':>9}{'qps':>9}{'qps/cpu':>9}{'cpu us/q':>9}{'recall':>8}"
    head += f"{'exact':>7}{'index MB':>10}{'RSS+ MB':>9}{'qps 2 thr':>11}{'peak MB':>9}"
    lines = [head, "-" * len(head)]
    for run in runs:
        for name, r in run["indexes"].items():
            ib = "-" if r["index_bytes"] is None else f"{r['index_bytes'] / 1e6:.0f}"
            q2 = f"{r['qps_2_threads']:,.0f}" if "qps_2_threads" in r else "-"
            peak = f"{r['build_peak_bytes'] / 1e6:,.0f}" if "build_peak_bytes" in r else "-"
            lines.append(
                f"{run['kind']:<10}{run['n']:>11,} {name:<22}{r['build_s']:>9.1f}{r['qps']:>9,.0f}"
                f"{r['qps_per_cpu_s']:>9,.0f}{1e6 / r['qps_per_cpu_s']:>9,.1f}"
                f"{r['recall']:>8.4f}{'yes' if r['exact_sets'] else 'NO':>7}{ib:>10}"
                f"{r['rss_delta_bytes'] / 1e6:>9.0f}{q2:>11}{peak:>9}"
            )
    return "\n".join(lines)


def run_index_bench(
    sizes: Sequence[int] = (100_000,),
    kinds: Sequence[str] = ("random", "clustered"),
    queries: int = 2000,
    out: Path | None = None,
    t: int = 31,
    recall_sample: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Build each index on each (kind, size), measure build time, qps, recall and memory; print a table.

    ``sizes=(100_000,)`` is the quick smoke run; the target run is ``sizes=(10_000_000,)``. With ``out`` the
    results are also written there as JSON.
    """
    runs = [_bench_one(kind, int(n), queries, t, recall_sample, seed) for n in sizes for kind in kinds]
    import faiss

    report = {
        "t": t,
        "note": "qps: wall clock on a shared machine; qps_per_cpu_s: queries per CPU-second (load-independent)",
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "numpy": np.__version__,
        "compiled_engine_available": compiled_available(),
        "runs": runs,
    }
    print(_table(runs))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":  # pragma: no cover - manual runs: python -m blindmatch.eval.bench_index 10000000
    import sys

    run_index_bench(sizes=[int(a) for a in sys.argv[1:]] or [100_000], out=Path("reports/bench_index.json"))
