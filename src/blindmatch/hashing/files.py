"""Hash a media file or its bytes: PDQ (with quality) and the exact hashes, in one call.

This is the entry point the CLI (``blindmatch hash``) and the HTTP API use. The file is read once, bounded by
:class:`~blindmatch.media.DecodeLimits`; the exact hashes are of those bytes, the PDQ of the decoded pixels.

Modes: by default PDQ is computed in ``exact`` mode (bit-identical to the reference tool on the same pixels);
``fast=True`` decodes large JPEGs at reduced size first (see :data:`FAST_MIN_SIDE` and the hashing benchmark
for its deviation). EXIF orientation is applied unless ``apply_exif=False`` (which reproduces the reference
tool on files carrying an orientation tag).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from blindmatch.hashing.exact import exact_hashes_of_bytes
from blindmatch.hashing.pdq import PdqMode, image_luma, pdq_dihedral_from_luma, pdq_from_luma
from blindmatch.media import DEFAULT_LIMITS, DecodeLimits, decode_image, read_media_bytes

__all__ = ["FAST_MIN_SIDE", "QUALITY_THRESHOLD", "FileHashes", "hash_bytes", "hash_file"]

#: Fast mode decodes JPEGs at the smallest 1/2, 1/4, 1/8 scale that keeps the short side at least this long.
#: 1024 keeps fast-mode hashes within ~1 bit (mean) of exact mode on 12 MP photos; 512 is faster but ~2.6 bits
# off.
FAST_MIN_SIDE = 1024
#: PDQ hashes below this quality are flagged; matching should discard them (reference advice).
QUALITY_THRESHOLD = 50


@dataclass(frozen=True, slots=True)
class FileHashes:
    """Every hash of one media file."""

    path: str | None  # None when hashed from bytes
    pdq: str
    quality: int
    md5: str
    sha1: str
    sha256: str
    size_bytes: int
    width: int  # of the decoded image as hashed (after orientation, before PDQ resizing)
    height: int
    format: str
    mode: PdqMode
    dihedral: tuple[str, ...] | None = None  # 8 hashes, reference order (see blindmatch.hashing.pdq)

    @property
    def low_quality(self) -> bool:
        """True if the PDQ hash is too unreliable to match on (quality < 50)."""
        return self.quality < QUALITY_THRESHOLD

    def as_dict(self) -> dict[str, object]:
        """Every field as JSON-ready data (the one place that spells them out for the CLI, API and scans)."""
        out: dict[str, object] = {
            "path": self.path,
            "pdq": self.pdq,
            "quality": self.quality,
            "low_quality": self.low_quality,
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "mode": self.mode,
        }
        if self.dihedral is not None:
            out["dihedral"] = list(self.dihedral)
        return out


def hash_bytes(
    data: bytes | bytearray | memoryview,
    *,
    fast: bool = False,
    dihedral: bool = False,
    limits: DecodeLimits = DEFAULT_LIMITS,
    apply_exif: bool = True,
    path: str | None = None,
) -> FileHashes:
    """Hash image bytes. Raises a :class:`~blindmatch.media.MediaError` subclass for unusable input."""
    data = read_media_bytes(data, limits)
    exact = exact_hashes_of_bytes(data)
    mode: PdqMode = "fast" if fast else "exact"
    min_side = FAST_MIN_SIDE if fast else None
    decoded = decode_image(data, limits=limits, apply_exif=apply_exif, min_side=min_side)
    luma = image_luma(decoded.image, mode)
    variants: tuple[str, ...] | None = None
    if dihedral:
        results = pdq_dihedral_from_luma(luma)
        variants = tuple(r.hash for r in results)
        # The reference's dihedral entry point blurs even a 64×64 input; its plain one does not.
        pdq = results[0] if luma.shape != (64, 64) else pdq_from_luma(luma)
    else:
        pdq = pdq_from_luma(luma)
    return FileHashes(
        path=path,
        pdq=pdq.hash,
        quality=pdq.quality,
        md5=exact.md5,
        sha1=exact.sha1,
        sha256=exact.sha256,
        size_bytes=exact.size,
        width=decoded.size[0],
        height=decoded.size[1],
        format=decoded.format,
        mode=mode,
        dihedral=variants,
    )


def hash_file(
    path: str | os.PathLike[str],
    *,
    fast: bool = False,
    dihedral: bool = False,
    limits: DecodeLimits = DEFAULT_LIMITS,
    apply_exif: bool = True,
) -> FileHashes:
    """Hash an image file (read once, within ``limits``)."""
    data = read_media_bytes(path, limits)
    return hash_bytes(data, fast=fast, dihedral=dihedral, limits=limits, apply_exif=apply_exif, path=str(Path(path)))
