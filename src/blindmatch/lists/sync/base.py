"""The sync contract: adapters fetch checkpointed batches, :func:`sync_list` applies them to a store.

An adapter is told the last checkpoint it handed out (``None`` the first time) and returns a :class:`SyncBatch`:
entries to add or replace, entry ids to tombstone, the checkpoint to resume from, and whether more is waiting.
The store applies a batch and stores its checkpoint in the *same* transaction, so a crash at any point resumes
from the last fully applied batch: nothing is skipped and re-applying a batch is harmless (upserts by entry id).

Checkpoints are opaque strings (the adapters use small JSON objects) so any store can keep them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from blindmatch.lists.errors import SyncProtocolError
from blindmatch.lists.formats.common import Deletion, ImportRecord, RowError
from blindmatch.lists.model import ListEntry

__all__ = [
    "EditOutcome",
    "SyncAdapter",
    "SyncBatch",
    "SyncReport",
    "SyncTarget",
    "collapse",
    "load_checkpoint",
    "sync_list",
]


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """One fetched batch. ``upserts`` and ``deletions`` never share an entry id (see :func:`collapse`)."""

    upserts: tuple[ListEntry, ...]
    deletions: tuple[str, ...]
    next_checkpoint: str
    more: bool
    ignored: tuple[RowError, ...] = ()

    def __post_init__(self) -> None:
        clash = {e.entry_id for e in self.upserts} & set(self.deletions)
        if clash:
            raise SyncProtocolError(f"batch both upserts and deletes {sorted(clash)[:3]}")

    def records(self) -> list[ImportRecord]:
        out: list[ImportRecord] = [Deletion(d) for d in self.deletions]
        out.extend(self.upserts)
        return out


def load_checkpoint(checkpoint: str | None, what: str) -> dict[str, Any]:
    """Parse an adapter's JSON checkpoint; ``{}`` for none. A corrupt one is a :class:`SyncProtocolError`."""
    if checkpoint is None or checkpoint == "":
        return {}
    try:
        obj = json.loads(checkpoint)
    except json.JSONDecodeError:
        raise SyncProtocolError(f"{what} checkpoint is not JSON: {checkpoint[:80]!r}") from None
    if not isinstance(obj, dict):
        raise SyncProtocolError(f"{what} checkpoint must be a JSON object")
    return obj


def collapse(records: Iterable[ImportRecord]) -> tuple[tuple[ListEntry, ...], tuple[str, ...]]:
    """Reduce an ordered stream of records to the final state per entry id (last record wins)."""
    final: dict[str, ImportRecord] = {}
    for r in records:
        final.pop(r.entry_id, None)
        final[r.entry_id] = r
    ups = tuple(r for r in final.values() if isinstance(r, ListEntry))
    dels = tuple(r.entry_id for r in final.values() if isinstance(r, Deletion))
    return ups, dels


@runtime_checkable
class SyncAdapter(Protocol):
    """A source of list updates. ``name`` keys its checkpoint in the store (one per list and adapter)."""

    @property
    def name(self) -> str: ...

    def fetch(self, checkpoint: str | None) -> SyncBatch: ...


class EditOutcome(Protocol):
    @property
    def version(self) -> int: ...
    @property
    def added(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def removed(self) -> int: ...


class SyncTarget(Protocol):
    """What :func:`sync_list` needs from a store (``ListStore`` implements it)."""

    def get_checkpoint(self, name: str, adapter: str) -> str | None: ...

    def apply_records(
        self, name: str, records: Iterable[ImportRecord], *, checkpoint: tuple[str, str] | None = None
    ) -> EditOutcome: ...


@dataclass
class SyncReport:
    list_name: str
    adapter: str
    batches: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    version: int | None = None
    checkpoint: str | None = None
    complete: bool = False
    ignored: list[RowError] = field(default_factory=list)


def sync_list(store: SyncTarget, list_name: str, adapter: SyncAdapter, *, max_batches: int | None = None) -> SyncReport:
    """Fetch and apply batches until the adapter has no more (or ``max_batches`` were applied).

    Each batch is committed together with its checkpoint; an exception (network, bad data) leaves the list at
    the last committed batch and is re-raised, and the next call resumes from there.
    """
    report = SyncReport(list_name, adapter.name)
    report.checkpoint = store.get_checkpoint(list_name, adapter.name)
    while max_batches is None or report.batches < max_batches:
        batch = adapter.fetch(report.checkpoint)
        outcome = store.apply_records(list_name, batch.records(), checkpoint=(adapter.name, batch.next_checkpoint))
        report.batches += 1
        report.added += outcome.added
        report.updated += outcome.updated
        report.removed += outcome.removed
        report.version = outcome.version
        report.checkpoint = batch.next_checkpoint
        report.ignored.extend(batch.ignored)
        if not batch.more:
            report.complete = True
            break
    return report
