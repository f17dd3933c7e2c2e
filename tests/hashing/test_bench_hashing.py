"""Smoke test of the hashing benchmark on a tiny sample (speed targets are judged from real runs, not here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blindmatch.eval.bench_hashing import BenchError, run_hashing_bench


def test_bench_runs_and_reports(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    results = run_hashing_bench(shared_data, big_count=1, dev_count=3, out=out, fast_min_sides=(1024,))
    assert json.loads(out.read_text())["dev"]["files"] == 3
    for corpus in ("dev", "big_12mp"):
        r = results[corpus]
        assert set(r["files_per_s"]) == {"hma", "exact", "fast"}
        assert all(v > 0 for v in r["files_per_s"].values())
        assert r["deviation"]["fast_vs_exact"]["max_bits"] <= 16
    # DEV images are small: fast == exact; both are the reference's 512x512 path, close to the HMA hash.
    assert results["dev"]["deviation"]["fast_vs_exact"]["max_bits"] == 0
    assert "big_12mp" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.jpg"))  # generated photos live in a removed temp dir


def test_bench_needs_the_data(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="DEV corpus not found"):
        run_hashing_bench(tmp_path)
