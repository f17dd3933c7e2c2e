"""Smoke test of the video benchmark on a tiny sample (speed targets are judged from real runs, not here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blindmatch.eval.bench_video import BenchError, run_video_bench


def test_bench_runs_and_reports(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    results = run_video_bench(shared_data, out, videos=1, clip_seconds=2.0, every_frame=False, keyframe_sweep=(15,))
    assert json.loads(out.read_text())["samples"]["videos"] == 1
    clip = results["clip_720p"]
    assert clip["video_frames"] == 60 and clip["video_seconds"] == pytest.approx(2.0)
    sweep = results["keyframe_sweep"]["15"]
    assert sweep["keyframes"] == 4  # exactly every 15th frame, none from the source
    assert set(sweep["runs"]) == {"1fps_fast", "1fps_fast_rgb", "decode_1fps_fast", "1fps", "ref_1fps"}
    assert sweep["runs"]["1fps_fast"]["frames_hashed"] == sweep["runs"]["ref_1fps"]["frames_hashed"] == 2
    for corpus in ("samples", "clip_720p"):
        runs = results[corpus]["runs"]
        assert set(runs) == {
            "1fps",
            "1fps_fast",
            "1fps_fast_rgb",
            "decode_1fps_fast",
            "1fps_fast512",
            "keyframes",
            "1fps_exact_pdq",
            "ref_1fps",
            "decode_only",
            "decode_only_fast",
        }
        assert set(results[corpus]["self_match_vs_ref_1fps"]) == {
            "1fps_fast",
            "1fps_fast_rgb",
            "1fps_fast512",
            "keyframes",
        }
        assert runs["decode_1fps_fast"]["frames_hashed"] == 0
        assert 0 < runs["keyframes"]["frames_hashed"] <= runs["1fps"]["frames_hashed"]
        assert all(r["cpu_s"] > 0 and r["x_realtime_cpu"] > 0 for r in runs.values())
        # one frame per second of video on every path
        assert runs["1fps"]["frames_hashed"] == runs["ref_1fps"]["frames_hashed"]
        # same frames as the reference-style path, hashes within a few bits (different decode/PDQ rounding)
        assert results[corpus]["deviation"]["1fps_vs_ref_1fps"]["max_bits"] <= 8
    printed = capsys.readouterr().out
    assert "clip_720p" in printed and "keyframe sweep" in printed


def test_bench_needs_the_data(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="sample videos not found"):
        run_video_bench(tmp_path)
