"""Exact (cryptographic) hashes of file bytes: MD5, SHA-1 and SHA-256.

Hotline lists carry these alongside PDQ; they only match byte-identical files but cost nothing to check. All
three are computed in one pass over the data, streamed in chunks so a large file never has to sit in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ExactHashError",
    "ExactHashes",
    "exact_hashes_of_bytes",
    "exact_hashes_of_chunks",
    "exact_hashes_of_file",
]

_CHUNK = 1 << 20


class ExactHashError(OSError):
    """The file could not be read to hash it."""


@dataclass(frozen=True, slots=True)
class ExactHashes:
    """Lower-case hex digests of the same bytes, plus how many bytes that was."""

    md5: str
    sha1: str
    sha256: str
    size: int


def exact_hashes_of_chunks(chunks: Iterable[bytes]) -> ExactHashes:
    """Hash a stream of byte chunks with all three algorithms in a single pass."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    for chunk in chunks:
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return ExactHashes(md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest(), size)


def exact_hashes_of_bytes(data: bytes | bytearray | memoryview) -> ExactHashes:
    """Exact hashes of in-memory bytes."""
    return exact_hashes_of_chunks([bytes(data)])


def exact_hashes_of_file(path: str | os.PathLike[str], *, chunk_size: int = _CHUNK) -> ExactHashes:
    """Exact hashes of a file, read in ``chunk_size`` pieces."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return exact_hashes_of_chunks(iter(lambda: fh.read(chunk_size), b""))
    except OSError as exc:
        raise ExactHashError(f"cannot read {p}: {exc.strerror or exc}") from exc
