"""SQL storage for blindmatch (SQLAlchemy 2, Alembic migrations shipped in the package)."""

from blindmatch.service.storage.base import Base
from blindmatch.service.storage.database import Database, normalize_url
from blindmatch.service.storage.errors import (
    DatabaseURLError,
    ListExistsError,
    ListNotFoundError,
    MigrationError,
    StorageError,
)
from blindmatch.service.storage.list_store import ChangeSet, EditResult, ImportOutcome, ListStore, VersionAheadError

__all__ = [
    "Base",
    "ChangeSet",
    "Database",
    "DatabaseURLError",
    "EditResult",
    "ImportOutcome",
    "ListExistsError",
    "ListNotFoundError",
    "ListStore",
    "MigrationError",
    "StorageError",
    "VersionAheadError",
    "normalize_url",
]
