"""blindmatch.lists: hash lists as plain data, their file formats and their sync adapters.

Pure domain code: no database here (the store is ``blindmatch.service.storage.ListStore``).
"""

from blindmatch.lists.errors import (
    ImportFormatError,
    InvalidEntryError,
    InvalidListError,
    ListError,
    SyncError,
    SyncHTTPError,
    SyncProtocolError,
)
from blindmatch.lists.model import (
    DEFAULT_PDQ_THRESHOLD,
    HashList,
    ListEntry,
    make_entry,
    stable_entry_id,
    validate_list_name,
)

__all__ = [
    "DEFAULT_PDQ_THRESHOLD",
    "HashList",
    "ImportFormatError",
    "InvalidEntryError",
    "InvalidListError",
    "ListEntry",
    "ListError",
    "SyncError",
    "SyncHTTPError",
    "SyncProtocolError",
    "make_entry",
    "stable_entry_id",
    "validate_list_name",
]
