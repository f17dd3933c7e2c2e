"""Sync adapters: incremental, checkpointed, resumable list updates from files and hash-sharing APIs."""

from blindmatch.lists.sync.base import SyncAdapter, SyncBatch, SyncReport, SyncTarget, collapse, sync_list
from blindmatch.lists.sync.http import RetryPolicy
from blindmatch.lists.sync.local import LocalDeltaDirAdapter, LocalJsonlAdapter
from blindmatch.lists.sync.ncmec import NcmecAdapter
from blindmatch.lists.sync.stopncii import StopNciiAdapter

__all__ = [
    "LocalDeltaDirAdapter",
    "LocalJsonlAdapter",
    "NcmecAdapter",
    "RetryPolicy",
    "StopNciiAdapter",
    "SyncAdapter",
    "SyncBatch",
    "SyncReport",
    "SyncTarget",
    "collapse",
    "sync_list",
]
