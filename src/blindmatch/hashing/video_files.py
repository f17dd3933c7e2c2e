"""Hash a video file: vPDQ (frame hashes) and the exact digests of its bytes, in one call.

What ``blindmatch hash`` and ``scan`` use for videos. The container is recognised from the file's first bytes,
never its name; animated GIFs stay images here (their first frame is hashed with PDQ, as lists of images expect).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from blindmatch.hashing.exact import exact_hashes_of_file
from blindmatch.hashing.vpdq import VpdqHash, hash_video
from blindmatch.media.video import DEFAULT_VIDEO_LIMITS, VideoLimits, sniff_video_container

__all__ = ["VideoFileHashes", "hash_video_file", "is_video_file"]


@dataclass(frozen=True, slots=True)
class VideoFileHashes:
    path: str
    vpdq: VpdqHash
    md5: str
    sha1: str
    sha256: str
    size_bytes: int

    def as_dict(self) -> dict[str, object]:
        good = [f for f in self.vpdq.frames if f.quality >= 50]
        return {
            "path": self.path,
            "kind": "video",
            "vpdq": self.vpdq.to_compact(),
            "frames": len(self.vpdq.frames),
            "good_frames": len(good),
            "duration": self.vpdq.duration,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
        }


def is_video_file(path: str | os.PathLike[str]) -> bool:
    """True for MP4/MOV, Matroska/WebM and AVI content (GIFs count as images)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    container = sniff_video_container(head)
    return container is not None and container != "gif"


def hash_video_file(
    path: str | os.PathLike[str],
    *,
    seconds_per_frame: float | None = 1.0,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
    fast: bool = False,
) -> VideoFileHashes:
    """vPDQ (one frame per second by default; ``None`` = every frame) and MD5/SHA-1/SHA-256 of the bytes.

    ``fast`` uses :func:`hash_video`'s fast path (the same frames without deblocking, from the luma plane;
    ~2 bits from the exact hashes) — for uploads and scans, not for building list entries."""
    vpdq = hash_video(Path(path), seconds_per_frame=seconds_per_frame, limits=limits, fast=fast)
    exact = exact_hashes_of_file(path)
    return VideoFileHashes(str(path), vpdq, exact.md5, exact.sha1, exact.sha256, exact.size)
