"""Video hashing benchmark: our vPDQ against the reference-style path, in frames/s and × real time.

What is timed, per video: open, decode, sample, convert and PDQ-hash, i.e. a whole :func:`hash_video` call, in
CPU seconds of this process (``time.process_time``, every thread counted) and wall seconds. "× real time" is
seconds of video hashed per CPU second. Configurations:

* ``every_frame``: every frame decoded and hashed (the reference sample hashes' setting);
* ``1fps``: one frame per second by timestamp, full decode, banded PDQ (our default);
* ``1fps_fast``: as ``1fps`` with ``fast=True`` (no deblocking, non-reference frames and the packets no sample
  needs skipped, PDQ from the decoder's luma plane); ``1fps_fast_rgb``: the same decoding, PDQ from RGB frames;
* ``decode_1fps_fast``: only the decoding ``1fps_fast`` does (its frames are fetched, not hashed): its floor;
* ``1fps_exact_pdq``: as ``1fps`` with the bit-exact (row-by-row float32) PDQ;
* ``decode_only`` / ``decode_only_fast``: decoding every frame alone (no conversion or hashing, one thread),
  the floor of any path that decodes every frame;
* comparator ``ref_1fps`` / ``ref_every_frame``: the reference's approach from Python — FFmpeg (PyAV) decodes
  every frame at full size to RGB, the reference frame rule ``frame_number % int(fps × seconds) == 0`` picks
  frames and the ``pdqhash`` binding (the reference C++ PDQ) hashes each (what HMA's vPDQ does through the
  ``vpdq`` C++ library).

Corpora: the sample videos in ``video/sample-videos`` (mostly 720×480 and 720×1280 phone clips, 30 fps) and a
generated benign 1280×720 clip: a sample video re-encoded and upscaled with PyAV (libx264, 30 fps) in a temporary
directory that is removed afterwards. ``pdqhash`` is a test/benchmark-only comparator, not a runtime dependency.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from blindmatch.hashing.pdq import hamming_distance
from blindmatch.hashing.vpdq import VpdqFrame, VpdqHash, hash_video, match_vpdq
from blindmatch.media.video import open_video

__all__ = ["BenchError", "make_720p_clip", "run_video_bench", "sample_videos"]

CLIP_SOURCE = "chair-orig-22-sd-bar.mp4"
CLIP_SIZE = (1280, 720)


class BenchError(RuntimeError):
    """The benchmark cannot run (missing data or comparator)."""


def sample_videos(data_dir: Path) -> list[Path]:
    folder = Path(data_dir) / "video" / "sample-videos"
    if not folder.is_dir():
        raise BenchError(f"sample videos not found: {folder}")
    return sorted(folder.glob("*.mp4"))


def make_720p_clip(
    source: Path, target: Path, *, seconds: float | None = None, keyframe_interval: int | None = None
) -> Path:
    """Re-encode ``source`` as 1280×720 H.264 (libx264, preset 'fast', 30 fps, yuv420p), optionally cut to
    its first ``seconds``; the upscale is bicubic, picture content unchanged apart from the aspect ratio.

    By default the source's keyframes are kept (every 2 s in the bench clip's source). ``keyframe_interval``
    instead puts a keyframe exactly every that many frames and nowhere else (x264's scene-cut detection off)."""
    width, height = CLIP_SIZE
    options = {"preset": "fast", "crf": "23"}
    if keyframe_interval is not None:
        options["sc_threshold"] = "0"
    with av.open(str(source)) as src, av.open(str(target), mode="w") as dst:
        stream = dst.add_stream("libx264", rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if keyframe_interval is not None:
            stream.codec_context.gop_size = keyframe_interval
        for i, frame in enumerate(src.decode(video=0)):
            if seconds is not None and i >= seconds * 30:
                break
            out = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            out.pts = i
            out.time_base = Fraction(1, 30)
            if keyframe_interval is not None:
                out.pict_type = av.video.frame.PictureType.NONE  # the decoder marks the source's keyframes
            for packet in stream.encode(out):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return target


def _reference_path(seconds_per_frame: float | None) -> Callable[[Path], VpdqHash]:
    try:
        import pdqhash
    except ImportError as exc:  # pragma: no cover - pdqhash is installed in the dev venv
        raise BenchError("the comparator needs the pdqhash package") from exc

    def run(path: Path) -> VpdqHash:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 30)
            mod = 1 if seconds_per_frame is None else max(1, int(seconds_per_frame * fps))
            frames = []
            for n, frame in enumerate(container.decode(stream)):
                if n % mod:
                    continue
                rgb = frame.to_ndarray(format="rgb24", interpolation="AREA")
                vec, quality = pdqhash.compute(rgb)
                bits = np.asarray(vec, dtype=np.uint8)
                pdq = np.packbits(bits).tobytes().hex()
                frames.append(VpdqFrame(n, int(quality), pdq, n / fps))
        return VpdqHash(tuple(frames))

    return run


def _decode_only(fast: bool) -> Callable[[Path], VpdqHash]:
    """Decode every frame (no conversion, no hashing): the floor any full-decode vPDQ pays."""

    def run(path: Path) -> VpdqHash:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # as every other row: CPU time without threading overhead
            if fast:
                stream.codec_context.options = {"skip_loop_filter": "all"}
                stream.codec_context.skip_frame = "NONREF"
            for _ in container.decode(stream):
                pass
        return VpdqHash(())

    return run


def _decode_sampled_fast(path: Path) -> VpdqHash:
    """Fetch the frames ``1fps_fast`` hashes (same decoder settings and packet skipping), hash nothing."""
    with open_video(path) as reader:
        for _ in reader.luma_frames(seconds_per_frame=1.0, fast=True):
            pass
    return VpdqHash(())


def _ours(**kwargs: Any) -> Callable[[Path], VpdqHash]:
    return lambda path: hash_video(path, **kwargs)


def _time(paths: Sequence[Path], method: Callable[[Path], VpdqHash]) -> tuple[dict[str, float], list[VpdqHash]]:
    hashes = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for p in paths:
        hashes.append(method(p))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_s": cpu, "wall_s": wall, "frames_hashed": float(sum(len(h) for h in hashes))}, hashes


def _durations(paths: Sequence[Path]) -> tuple[float, int]:
    seconds, frames = 0.0, 0
    for p in paths:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            n = sum(1 for _ in c.demux(s) if _.size)  # packets = frames for these codecs, no decoding
            rate = float(s.average_rate or 30)
            seconds += n / rate
            frames += n
    return seconds, frames


def _deviation(a: list[VpdqHash], b: list[VpdqHash]) -> dict[str, float]:
    """Bits between frames with the same number in two runs (frames of quality >= 50 in ``b`` only)."""
    d = []
    for x, y in zip(a, b, strict=True):
        ref = {f.index: f for f in y.frames if f.quality >= 50}
        d += [hamming_distance(f.pdq, ref[f.index].pdq) for f in x.frames if f.index in ref]
    if not d:
        return {"frames": 0, "mean_bits": float("nan"), "max_bits": float("nan")}
    arr = np.array(d)
    return {"frames": float(arr.size), "mean_bits": float(arr.mean()), "max_bits": float(arr.max())}


def _bench_corpus(paths: Sequence[Path], configs: dict[str, Callable[[Path], VpdqHash]]) -> dict[str, Any]:
    seconds, frames = _durations(paths)
    out: dict[str, Any] = {"videos": len(paths), "video_seconds": seconds, "video_frames": frames, "runs": {}}
    hashes: dict[str, list[VpdqHash]] = {}
    for name, method in configs.items():
        stats, hashes[name] = _time(paths, method)
        stats["x_realtime_cpu"] = seconds / stats["cpu_s"] if stats["cpu_s"] > 0 else float("inf")
        stats["frames_decoded_per_cpu_s"] = frames / stats["cpu_s"] if stats["cpu_s"] > 0 else float("inf")
        stats["hashed_frames_per_cpu_s"] = stats["frames_hashed"] / stats["cpu_s"] if stats["cpu_s"] > 0 else 0.0
        out["runs"][name] = stats
    dev = {}
    for ours, ref in (
        ("1fps", "ref_1fps"),
        ("1fps_fast", "ref_1fps"),
        ("1fps_fast_rgb", "ref_1fps"),
        ("1fps_fast512", "ref_1fps"),
        ("every_frame", "ref_every_frame"),
    ):
        if ours in hashes and ref in hashes:
            dev[f"{ours}_vs_{ref}"] = _deviation(hashes[ours], hashes[ref])
    out["deviation"] = dev
    # Does a cheaper sampling still match the reference-style 1 frame/s hash of the same video (80 % rule)?
    matched = {}
    for ours in ("1fps_fast", "1fps_fast_rgb", "1fps_fast512", "keyframes"):
        if ours in hashes and "ref_1fps" in hashes:
            pairs = zip(hashes[ours], hashes["ref_1fps"], strict=True)
            matched[ours] = sum(match_vpdq(q, t).matched for q, t in pairs)
    out["self_match_vs_ref_1fps"] = matched
    return out


def _table(results: dict[str, Any]) -> str:
    lines = []
    for corpus in ("samples", "clip_720p"):
        r = results[corpus]
        lines.append(f"{corpus}: {r['videos']} video(s), {r['video_seconds']:.1f} s, {r['video_frames']} frames")
        lines.append(
            f"  {'config':16s} {'cpu s':>7s} {'wall s':>7s} {'hashed':>7s} {'x real time':>11s} {'hash/s':>8s}"
        )
        for name, s in r["runs"].items():
            lines.append(
                f"  {name:16s} {s['cpu_s']:7.2f} {s['wall_s']:7.2f} {int(s['frames_hashed']):7d}"
                f" {s['x_realtime_cpu']:10.1f}x {s['hashed_frames_per_cpu_s']:8.1f}"
            )
        for name, d in r["deviation"].items():
            summary = f"{d['mean_bits']:.2f} bits mean, {d['max_bits']:.0f} max ({d['frames']:.0f} frames)"
            lines.append(f"  deviation {name}: {summary}")
        for name, n in r.get("self_match_vs_ref_1fps", {}).items():
            lines.append(f"  {name} matches the ref_1fps hash of the same video (80 % rule): {n} of {r['videos']}")
    return "\n".join(lines)


#: Keyframe intervals (frames, at 30 fps) of the sweep: 1 s, 2 s (the bench clip's) and x264's default 250.
KEYFRAME_SWEEP = (30, 60, 250)


def _keyframe_sweep(source: Path, tmp: Path, clip_seconds: float | None, intervals: Sequence[int]) -> dict[str, Any]:
    """1 frame/s hashing of the same 720p picture encoded with different keyframe intervals.

    Why: sampling one frame per second means decoding, for every sample, the reference frames from the keyframe
    before it; how many that is depends on the encoder's keyframe interval, not on us. The floor row
    (``decode_1fps_fast``) shows what the decoding alone costs at each interval."""
    configs: dict[str, Callable[[Path], VpdqHash]] = {
        "1fps_fast": _ours(seconds_per_frame=1.0, fast=True),
        "1fps_fast_rgb": _ours(seconds_per_frame=1.0, fast=True, luma_plane=False),
        "decode_1fps_fast": _decode_sampled_fast,
        "1fps": _ours(seconds_per_frame=1.0),
        "ref_1fps": _reference_path(1.0),
    }
    sweep: dict[str, Any] = {}
    for interval in intervals:
        clip = make_720p_clip(
            source, tmp / f"clip-720p-k{interval}.mp4", seconds=clip_seconds, keyframe_interval=interval
        )
        with av.open(str(clip)) as container:
            keyframes = sum(1 for p in container.demux(video=0) if p.is_keyframe and p.size)
        result = _bench_corpus([clip], configs)
        result["keyframes"] = keyframes
        sweep[str(interval)] = result
    return sweep


def _sweep_table(sweep: dict[str, Any]) -> str:
    names = ("1fps_fast", "1fps_fast_rgb", "decode_1fps_fast", "1fps", "ref_1fps")
    lines = [
        "keyframe sweep (720p clip, x real time per CPU second):",
        "  interval  keyframes " + " ".join(f"{n:>16s}" for n in names),
    ]
    for interval, r in sweep.items():
        cells = " ".join(f"{r['runs'][n]['x_realtime_cpu']:15.1f}x" for n in names)
        lines.append(f"  {interval:>8s}  {r['keyframes']:9d} {cells}")
    return "\n".join(lines)


def run_video_bench(
    data_dir: Path,
    out: Path | None = None,
    *,
    videos: int | None = None,
    clip_seconds: float | None = None,
    every_frame: bool = True,
    keyframe_sweep: Sequence[int] = KEYFRAME_SWEEP,
) -> dict[str, Any]:
    """Benchmark vPDQ hashing on the sample videos and a generated 720p clip, with the reference-style
    comparator in the same run. ``videos`` limits the sample videos (to the N smallest files), ``clip_seconds``
    cuts the 720p clips (None: the whole 22 s source), ``every_frame=False`` skips the costly every-frame runs,
    ``keyframe_sweep`` lists the keyframe intervals (frames) of the sweep (empty: no sweep).
    Prints a table, writes JSON to ``out`` if given, and returns the results."""
    paths = sample_videos(Path(data_dir))
    if videos is not None:
        paths = sorted(sorted(paths, key=lambda p: p.stat().st_size)[:videos])
    source = Path(data_dir) / "video" / "sample-videos" / CLIP_SOURCE
    if not paths or not source.is_file():
        raise BenchError(f"need the sample videos, including {CLIP_SOURCE}")
    configs: dict[str, Callable[[Path], VpdqHash]] = {
        "1fps": _ours(seconds_per_frame=1.0),
        "1fps_fast": _ours(seconds_per_frame=1.0, fast=True),
        "1fps_fast_rgb": _ours(seconds_per_frame=1.0, fast=True, luma_plane=False),
        "decode_1fps_fast": _decode_sampled_fast,
        "1fps_fast512": _ours(seconds_per_frame=1.0, fast=True, max_side=512),
        "keyframes": _ours(seconds_per_frame=1.0, keyframes=True),
        "1fps_exact_pdq": _ours(seconds_per_frame=1.0, frame_pdq="exact"),
        "ref_1fps": _reference_path(1.0),
        "decode_only": _decode_only(False),
        "decode_only_fast": _decode_only(True),
    }
    if every_frame:
        configs["every_frame"] = _ours(seconds_per_frame=None)
        configs["ref_every_frame"] = _reference_path(None)
    results: dict[str, Any] = {"settings": {"clip_size": list(CLIP_SIZE), "clip_source": CLIP_SOURCE}}
    results["samples"] = _bench_corpus(paths, configs)
    with tempfile.TemporaryDirectory(prefix="blindmatch-video-bench-") as tmp:
        clip = make_720p_clip(source, Path(tmp) / "clip-720p.mp4", seconds=clip_seconds)
        results["clip_720p"] = _bench_corpus([clip], configs)
        if keyframe_sweep:
            results["keyframe_sweep"] = _keyframe_sweep(source, Path(tmp), clip_seconds, keyframe_sweep)
    table = _table(results)
    if keyframe_sweep:
        table += "\n" + _sweep_table(results["keyframe_sweep"])
    results["table"] = table
    print(table)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    return results
