"""Exceptions raised by the matching indexes.

Every error the index raises derives from :class:`MatchIndexError`, so a caller (the service, the CLI) can catch one
class and still tell a malformed request apart from a damaged snapshot file.
"""

from __future__ import annotations

from blindmatch.hashing.signals import InvalidHashError

__all__ = [
    "CapacityError",
    "DuplicateIdError",
    "EngineUnavailableError",
    "InvalidIdError",
    "InvalidThresholdError",
    "MalformedHashError",
    "MatchIndexError",
    "ProbeArgumentError",
    "SnapshotCorruptError",
    "SnapshotError",
    "SnapshotVersionError",
    "UnknownEngineError",
    "UnknownIdError",
]


class MatchIndexError(Exception):
    """Base class of everything the index package raises."""


class MalformedHashError(MatchIndexError, InvalidHashError):
    """A hash (or query) has the wrong type, shape, dtype or length for the index."""


class InvalidIdError(MatchIndexError, ValueError):
    """Entry ids are not a 1-d sequence of int64 values matching the hashes."""


class DuplicateIdError(MatchIndexError, ValueError):
    """An id is added twice (within one call, or while already present): entry keys must be unique."""


class UnknownIdError(MatchIndexError, KeyError):
    """``remove`` was asked for ids the index does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable
        return str(self.args[0]) if self.args else "unknown id"


class InvalidThresholdError(MatchIndexError, ValueError):
    """The Hamming threshold is not an integer in 0..256."""


class CapacityError(MatchIndexError, ValueError):
    """The index would exceed the 2**32 - 1 entries its uint32 positions can address."""


class ProbeArgumentError(MatchIndexError, ValueError):
    """The compiled probe loop was handed arrays of the wrong dtype, shape or layout, or tables whose offsets or
    positions point outside the index (raised by the C extension itself, before or instead of any bad read)."""


class EngineUnavailableError(MatchIndexError, RuntimeError):
    """The compiled search engine was requested explicitly but its extension module is not importable."""


class UnknownEngineError(MatchIndexError, ValueError):
    """The requested search engine is not one of ``auto``, ``compiled`` or ``numpy``."""


class SnapshotError(MatchIndexError):
    """A snapshot cannot be written or read."""


class SnapshotCorruptError(SnapshotError):
    """The snapshot file is truncated, altered or not a snapshot at all (checksum or structure mismatch)."""


class SnapshotVersionError(SnapshotError):
    """The snapshot was written by an incompatible format version or for another index kind."""
