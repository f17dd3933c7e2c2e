"""Tiny synthetic (benign) test videos written with PyAV: moving gradients and shapes, nothing else."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def synthetic_frame(i: int, width: int, height: int) -> np.ndarray:
    """A smooth picture (low-frequency waves and a drifting blob) that changes over time, so it survives
    lossy coding and scaling while consecutive seconds still get different PDQ hashes."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / width, y / height
    phase = i / 15.0
    r = 128 + 100 * np.sin(2 * np.pi * (1.5 * u + 0.5 * v + phase))
    g = 128 + 100 * np.cos(2 * np.pi * (1.2 * v - 0.7 * u + 0.6 * phase))
    cx, cy = 0.5 + 0.3 * np.cos(phase * 2), 0.5 + 0.3 * np.sin(phase * 3)
    b = 30 + 200 * np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 0.02)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def write_video(
    path: Path,
    *,
    container: str | None = None,
    codec: str = "libx264",
    frames: int = 30,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    video: bool = True,
    gop: int | None = None,
) -> Path:
    width, height = size
    with av.open(str(path), mode="w", format=container) as out:
        if video:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if gop is not None:  # keyframe interval (x264 honours it; scene cuts may add keyframes)
                stream.codec_context.gop_size = gop
                stream.codec_context.options = {"sc_threshold": "0"} if codec == "libx264" else {}
        if audio:
            astream = out.add_stream("aac", rate=8000)
            samples = np.zeros((1, 1024), dtype=np.float32)
            for k in range(8):
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                af.sample_rate = 8000
                af.pts = k * 1024
                af.time_base = Fraction(1, 8000)
                for packet in astream.encode(af):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
        if video:
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(synthetic_frame(i, width, height), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path
