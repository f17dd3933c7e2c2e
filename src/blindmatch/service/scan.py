"""Scan files and folders against the lists: what ``blindmatch scan`` runs.

Every file gets one result line; a file that cannot be read or decoded is reported with its error and the scan goes
on (one corrupt upload must not hide matches in the rest of a folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from blindmatch.hashing.files import hash_file
from blindmatch.hashing.signals import SignalType
from blindmatch.hashing.video_files import hash_video_file, is_video_file
from blindmatch.media import DEFAULT_LIMITS, DecodeLimits, MediaError
from blindmatch.service.matching import Matcher

__all__ = ["VIDEO_SECONDS_PER_FRAME", "ScanResult", "iter_files", "scan_file", "scan_paths"]

#: Scanned videos are sampled 10 times a second: list entries hold one frame per second, and handheld footage
#: changes so fast between frames that both sides sampled once a second rarely land on matching frames
#: (docs/video.md measures it: a trimmed copy scores 4 % instead of 85 %).
VIDEO_SECONDS_PER_FRAME = 0.1


@dataclass(frozen=True, slots=True)
class ScanResult:
    path: str
    record: dict[str, object]
    matched: bool
    error: bool


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Regular files under ``paths`` (recursively, sorted, symlinked folders not followed)."""
    for p in paths:
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    yield Path(root) / name
        else:
            yield p


def scan_file(
    path: Path,
    matcher: Matcher,
    *,
    lists: list[str] | None = None,
    fast: bool = False,
    dihedral: bool = False,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> ScanResult:
    if is_video_file(path):
        return _scan_video(path, matcher, lists, fast=fast)
    try:
        h = hash_file(path, fast=fast, dihedral=dihedral, limits=limits)
    except MediaError as exc:
        return ScanResult(str(path), {"path": str(path), "error": f"{type(exc).__name__}: {exc}"}, False, True)
    results = [
        matcher.lookup(
            SignalType.PDQ,
            h.pdq,
            lists=lists,
            quality=h.quality,
            dihedral=(h.dihedral or ())[1:] if dihedral else (),
        ),
        matcher.lookup(SignalType.MD5, h.md5, lists=lists),
        matcher.lookup(SignalType.SHA256, h.sha256, lists=lists),
    ]
    matches = [m.as_dict() for r in results for m in r.matches]
    full = h.as_dict()
    record = {k: full[k] for k in ("path", "pdq", "quality", "low_quality", "md5", "sha256")}
    record |= {"matched": bool(matches), "matches": matches}
    return ScanResult(str(path), record, bool(matches), False)


def _scan_video(path: Path, matcher: Matcher, lists: list[str] | None, *, fast: bool = False) -> ScanResult:
    try:
        v = hash_video_file(path, seconds_per_frame=VIDEO_SECONDS_PER_FRAME, fast=fast)
    except MediaError as exc:
        return ScanResult(str(path), {"path": str(path), "error": f"{type(exc).__name__}: {exc}"}, False, True)
    results = [
        matcher.lookup(SignalType.MD5, v.md5, lists=lists),
        matcher.lookup(SignalType.SHA256, v.sha256, lists=lists),
    ]
    if v.vpdq.frames:
        results.insert(0, matcher.lookup(SignalType.VPDQ, v.vpdq.to_compact(), lists=lists))
    matches = [m.as_dict() for r in results for m in r.matches]
    for m in matches:
        if m["signal_type"] == SignalType.VPDQ.value:
            m["value"] = f"<vpdq, {str(m['value']).count(';')} frames>"  # the full frame list is in the list
    record: dict[str, object] = {
        "path": str(path),
        "kind": "video",
        "frames": len(v.vpdq.frames),
        "md5": v.md5,
        "sha256": v.sha256,
        "matched": bool(matches),
        "matches": matches,
    }
    return ScanResult(str(path), record, bool(matches), False)


def scan_paths(
    files: Iterable[Path],
    matcher: Matcher,
    *,
    lists: list[str] | None = None,
    fast: bool = False,
    dihedral: bool = False,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> Iterator[ScanResult]:
    for path in files:
        yield scan_file(path, matcher, lists=lists, fast=fast, dihedral=dihedral, limits=limits)
