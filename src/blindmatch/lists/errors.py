"""Errors raised by the hash-list domain.

Every failure the list code can report derives from :class:`ListError`, so callers (CLI, service) can catch one
class and still tell the user precisely what was wrong: which file line, which entry, which field.
"""

from __future__ import annotations

__all__ = [
    "ImportFormatError",
    "InvalidEntryError",
    "InvalidListError",
    "ListError",
    "SyncError",
    "SyncHTTPError",
    "SyncProtocolError",
]


class ListError(Exception):
    """Base class of every error raised by :mod:`blindmatch.lists`."""


class InvalidListError(ListError, ValueError):
    """A list's attributes are invalid (bad name slug, threshold out of range, ...)."""


class InvalidEntryError(ListError, ValueError):
    """A list entry's fields are invalid (bad hash, empty id, wrong metadata type, ...)."""


class ImportFormatError(ListError, ValueError):
    """An import file is malformed; ``line`` is the 1-based physical line (or record) where it was found."""

    def __init__(self, message: str, *, line: int | None = None, source: str | None = None) -> None:
        self.line = line
        self.source = source
        self.reason = message
        where = ""
        if source:
            where += f"{source}:"
        if line is not None:
            where += f"line {line}: "
        elif where:
            where += " "
        super().__init__(f"{where}{message}")


class SyncError(ListError):
    """A sync adapter could not fetch a batch."""


class SyncHTTPError(SyncError):
    """The remote hash-sharing API answered with an error status (after retries, where retrying made sense)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class SyncProtocolError(SyncError):
    """The remote API (or a local delta source) sent something that does not follow its documented format."""
