"""Errors of the storage layer."""

from __future__ import annotations

__all__ = ["DatabaseURLError", "ListExistsError", "ListNotFoundError", "MigrationError", "StorageError"]


class StorageError(Exception):
    """Base class of every error raised by :mod:`blindmatch.service.storage`."""


class DatabaseURLError(StorageError, ValueError):
    """The database URL names a backend blindmatch does not support, or cannot be parsed."""


class MigrationError(StorageError):
    """The schema could not be brought to the current version."""


class ListNotFoundError(StorageError, LookupError):
    """No list has that name."""


class ListExistsError(StorageError, ValueError):
    """A list with that name already exists."""
