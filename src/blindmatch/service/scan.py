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
from blindmatch.media import DEFAULT_LIMITS, DecodeLimits, MediaError
from blindmatch.service.matching import Matcher

__all__ = ["ScanResult", "iter_files", "scan_file", "scan_paths"]


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
    record: dict[str, object] = {
        "path": str(path),
        "pdq": h.pdq,
        "quality": h.quality,
        "low_quality": h.low_quality,
        "md5": h.md5,
        "sha256": h.sha256,
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
