"""Exactness on real PDQ hashes (benign photos' reference hashes) and a smoke run of the index benchmark."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from blindmatch.eval.bench_index import make_hashes, make_queries, run_index_bench
from blindmatch.index import PDQIndex, hex_to_hash_array

from .helpers import flip_bits, reference


def test_real_pdq_hashes_match_brute_force(shared_data: Path) -> None:
    with open(shared_data / "images" / "REFERENCE_PDQ.csv", newline="") as fh:
        values = [row["reference_cli_pdq"] for row in csv.DictReader(fh) if row["reference_cli_pdq"]]
    hashes = hex_to_hash_array(values)
    assert hashes.shape[0] > 500
    ids = np.arange(hashes.shape[0], dtype=np.int64)
    index = PDQIndex(delta_max=256)
    index.add(ids, hashes)
    rng = np.random.default_rng(11)
    queries = np.array([flip_bits(hashes[i], int(rng.integers(0, 40)), rng) for i in range(0, len(ids), 7)])
    for t in (10, 31, 48):
        for q, res in zip(queries, index.search_batch(queries, t, method="probe"), strict=True):
            assert dict(zip(res.ids.tolist(), res.distances.tolist(), strict=True)) == reference(hashes, ids, q, t)


def test_threads_do_not_change_results() -> None:
    hashes = make_hashes("clustered", 3000, seed=4)
    index = PDQIndex()
    index.add(np.arange(3000), hashes)
    qs = make_queries("clustered", hashes, 200)
    one = index.search_batch(qs, 31, batch=16, threads=1)
    two = index.search_batch(qs, 31, batch=16, threads=2)
    assert [r.ids.tolist() for r in one] == [r.ids.tolist() for r in two]
    assert sum(len(r) for r in one) >= 100  # the near half of the queries does match


def test_synthetic_generators() -> None:
    h = make_hashes("clustered", 2000, seed=1)
    bits = np.unpackbits(h, axis=1)
    assert abs(bits.mean() - 0.5) < 0.05
    assert np.unique(h, axis=0).shape[0] > 1500
    qs = make_queries("random", make_hashes("random", 100), 50)
    assert qs.shape == (50, 32)


def test_bench_quick_run(tmp_path: Path, capsys: object) -> None:
    out = tmp_path / "bench.json"
    report = run_index_bench(sizes=[4000], kinds=("random", "clustered"), queries=200, out=out, recall_sample=100)
    assert json.loads(out.read_text())["runs"][0]["n"] == 4000
    for run in report["runs"]:
        for name in ("blindmatch-mih", "blindmatch-mih-numpy", "hma-multihash"):
            assert run["indexes"][name]["recall"] == 1.0 and run["indexes"][name]["exact_sets"], name
        ours = run["indexes"]["blindmatch-mih"]
        assert ours["engine"] == "compiled" and run["indexes"]["blindmatch-mih-numpy"]["engine"] == "numpy"
        assert ours["qps"] > 0 and ours["cpu_us_per_query"] > 0 and ours["qps_2_threads"] > 0
