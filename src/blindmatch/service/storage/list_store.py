"""``ListStore``: hash lists and their entries in SQL, versioned so indexes can follow edits incrementally.

Every edit of a list (entries added/changed/removed, settings changed) runs in one transaction and raises the
list's ``version`` by exactly one. Entries are never deleted, only tombstoned (``removed_in_version``), so
:meth:`ListStore.changes_since` can tell an index what to add and what to drop since the version it was built
at, and an audit can see what a list contained at any time.

Writes lock the list row first (a no-op UPDATE: a row lock on PostgreSQL, the write lock on SQLite), so two
concurrent edits of one list serialise and never hand out the same version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection, Row, Table, and_, bindparam, case, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from blindmatch.hashing.signals import SignalType, parse_signal_type
from blindmatch.lists.formats import Deletion, ImportRecord, ImportReport, OnError, get_format
from blindmatch.lists.model import (
    DEFAULT_PDQ_THRESHOLD,
    HashList,
    ListEntry,
    validate_list_name,
    validate_pdq_threshold,
)
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.errors import ListExistsError, ListNotFoundError, StorageError
from blindmatch.service.storage.models import HashListRow, ListEntryRow, SyncCheckpointRow, utcnow

__all__ = ["ChangeSet", "EditResult", "ImportOutcome", "InvalidImportOptionError", "ListStore", "VersionAheadError"]

_LISTS = cast(Table, HashListRow.__table__)
_ENTRIES = cast(Table, ListEntryRow.__table__)
_CHECKPOINTS = cast(Table, SyncCheckpointRow.__table__)
#: Records applied per round trip; also bounds the size of ``IN (...)`` lookups.
CHUNK = 2000


class InvalidImportOptionError(StorageError, ValueError):
    """An import was asked for with an option that does not exist."""


class VersionAheadError(StorageError, ValueError):
    """``changes_since`` was asked about a version the list has not reached (stale or foreign index)."""


@dataclass(frozen=True, slots=True)
class EditResult:
    """What one edit did. ``version`` is the list's version after it (unchanged if nothing changed)."""

    list_name: str
    version: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    missing: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Entries added or rewritten (live, newest content) and entries tombstoned after ``from_version``.

    Index updaters key entries by (list, entry_id): drop ``removed``, then upsert ``added``.
    """

    list_name: str
    from_version: int
    to_version: int
    added: tuple[ListEntry, ...]
    removed: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    result: EditResult
    report: ImportReport = field(default_factory=ImportReport)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _list_from_row(r: Any) -> HashList:
    return HashList(
        name=r.name,
        description=r.description,
        enabled=bool(r.enabled),
        version=r.version,
        pdq_threshold=r.pdq_threshold,
        created_at=_aware(r.created_at),
        updated_at=_aware(r.updated_at),
        source=r.source,
        provenance=r.provenance,
    )


def _entry_from_row(list_name: str, r: Any) -> ListEntry:
    return ListEntry(
        list_name=list_name,
        entry_id=r.entry_id,
        signal_type=SignalType(r.signal_type),
        value=r.value,
        source_org=r.source_org,
        classification_scheme=r.classification_scheme,
        classification_label=r.classification_label,
        licence=r.licence,
        added_at=_aware(r.added_at),
        removed_at=_aware(r.removed_at),
        added_in_version=r.added_in_version,
        removed_in_version=r.removed_in_version,
        metadata=dict(r.extra or {}),
    )


def _content(e: ListEntry) -> dict[str, Any]:
    return {
        "signal_type": e.signal_type.value,
        "value": e.value,
        "source_org": e.source_org,
        "classification_scheme": e.classification_scheme,
        "classification_label": e.classification_label,
        "licence": e.licence,
        "extra": dict(e.metadata),
    }


def _row_content(r: Row[Any]) -> dict[str, Any]:
    return {
        "signal_type": r.signal_type,
        "value": r.value,
        "source_org": r.source_org,
        "classification_scheme": r.classification_scheme,
        "classification_label": r.classification_label,
        "licence": r.licence,
        "extra": dict(r.extra or {}),
    }


class _Counts:
    __slots__ = ("added", "missing", "removed", "unchanged", "updated")

    def __init__(self) -> None:
        self.added = self.updated = self.unchanged = self.removed = self.missing = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class ListStore:
    """Hash lists on a :class:`Database` (call ``db.migrate()`` once before use)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---------------------------------------------------------------- lists

    def create_list(
        self,
        name: str,
        *,
        description: str = "",
        enabled: bool = True,
        pdq_threshold: int = DEFAULT_PDQ_THRESHOLD,
        source: str = "",
        provenance: str = "",
    ) -> HashList:
        validate_list_name(name)
        validate_pdq_threshold(pdq_threshold)
        now = utcnow()
        try:
            with self.db.engine.begin() as conn:
                conn.execute(
                    insert(_LISTS).values(
                        name=name,
                        description=description,
                        enabled=enabled,
                        version=1,
                        pdq_threshold=pdq_threshold,
                        source=source,
                        provenance=provenance,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            raise ListExistsError(f"a list named {name!r} already exists") from None
        return self.get_list(name)

    def get_list(self, name: str) -> HashList:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_LISTS).where(_LISTS.c.name == name)).first()
        if row is None:
            raise ListNotFoundError(f"no list named {name!r}")
        return _list_from_row(row)

    def lists(self) -> list[HashList]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_LISTS).order_by(_LISTS.c.name)).all()
        return [_list_from_row(r) for r in rows]

    def delete_list(self, name: str) -> None:
        """Delete a list with all its entries and checkpoints (history included: this is not a tombstone)."""
        with self.db.engine.begin() as conn:
            list_id, _ = self._lock(conn, name)
            conn.execute(delete(_CHECKPOINTS).where(_CHECKPOINTS.c.list_id == list_id))
            conn.execute(delete(_ENTRIES).where(_ENTRIES.c.list_id == list_id))
            conn.execute(delete(_LISTS).where(_LISTS.c.id == list_id))

    def set_enabled(self, name: str, enabled: bool) -> HashList:
        return self._update_list(name, enabled=bool(enabled))

    def set_threshold(self, name: str, pdq_threshold: int) -> HashList:
        return self._update_list(name, pdq_threshold=validate_pdq_threshold(pdq_threshold))

    def update_list(
        self,
        name: str,
        *,
        description: str | None = None,
        source: str | None = None,
        provenance: str | None = None,
    ) -> HashList:
        values = {
            k: v
            for k, v in {"description": description, "source": source, "provenance": provenance}.items()
            if v is not None
        }
        return self._update_list(name, **values)

    def _update_list(self, name: str, **values: Any) -> HashList:
        with self.db.engine.begin() as conn:
            list_id, version = self._lock(conn, name)
            current = conn.execute(select(_LISTS).where(_LISTS.c.id == list_id)).one()
            if all(getattr(current, k) == v for k, v in values.items()):
                return _list_from_row(current)
            conn.execute(
                update(_LISTS).where(_LISTS.c.id == list_id).values(version=version + 1, updated_at=utcnow(), **values)
            )
        return self.get_list(name)

    def _lock(self, conn: Connection, name: str) -> tuple[int, int]:
        """Take the list's write lock; return (id, version)."""
        res = conn.execute(update(_LISTS).where(_LISTS.c.name == name).values(version=_LISTS.c.version))
        if res.rowcount == 0:
            raise ListNotFoundError(f"no list named {name!r}")
        row = conn.execute(select(_LISTS.c.id, _LISTS.c.version).where(_LISTS.c.name == name)).one()
        return int(row.id), int(row.version)

    def _list_id(self, conn: Connection, name: str) -> tuple[int, int]:
        row = conn.execute(select(_LISTS.c.id, _LISTS.c.version).where(_LISTS.c.name == name)).first()
        if row is None:
            raise ListNotFoundError(f"no list named {name!r}")
        return int(row.id), int(row.version)

    # ---------------------------------------------------------------- entries

    def add_entries(self, name: str, entries: Iterable[ListEntry]) -> EditResult:
        """Upsert entries by ``entry_id`` (their ``list_name`` is ignored); one version bump if anything changed."""
        return self.apply_records(name, entries)

    def remove_entries(self, name: str, entry_ids: Iterable[str]) -> EditResult:
        """Tombstone live entries; unknown or already removed ids are counted as ``missing``."""
        return self.apply_records(name, (Deletion(e) for e in entry_ids))

    def apply_records(
        self,
        name: str,
        records: Iterable[ImportRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
    ) -> EditResult:
        """Apply upserts and deletions in order, all-or-nothing, in one transaction.

        If ``records`` raises (e.g. an importer in abort mode hitting a bad row), nothing is written. With
        ``checkpoint=(adapter, value)`` the sync checkpoint is stored in the same transaction.
        """
        with self.db.engine.begin() as conn:
            list_id, version = self._lock(conn, name)
            new_version = version + 1
            now = utcnow()
            counts = _Counts()
            if self.db.is_postgresql:
                # A table that grew inside this transaction has no statistics yet; the planner then picks a
                # sequential scan for the per-chunk id lookup, which makes a 100k import quadratic (measured:
                # 139 s instead of ~6 s). The unique (list_id, entry_id) index is always the right plan here.
                conn.execute(text("SET LOCAL enable_seqscan = off"))
            # For a list with no rows at all (the common first import) only ids written earlier in this
            # transaction can exist, so the lookup is skipped for every other id.
            seen: set[str] | None = None
            if conn.execute(select(_ENTRIES.c.id).where(_ENTRIES.c.list_id == list_id).limit(1)).first() is None:
                seen = set()
            chunk: list[ImportRecord] = []
            for record in records:
                chunk.append(record)
                if len(chunk) >= CHUNK:
                    self._apply_chunk(conn, list_id, new_version, now, chunk, counts, seen)
                    chunk = []
            if chunk:
                self._apply_chunk(conn, list_id, new_version, now, chunk, counts, seen)
            if counts.changed:
                conn.execute(update(_LISTS).where(_LISTS.c.id == list_id).values(version=new_version, updated_at=now))
            if checkpoint is not None:
                self._put_checkpoint(conn, list_id, checkpoint[0], checkpoint[1], now)
        return EditResult(
            list_name=name,
            version=new_version if counts.changed else version,
            added=counts.added,
            updated=counts.updated,
            unchanged=counts.unchanged,
            removed=counts.removed,
            missing=counts.missing,
        )

    def _apply_chunk(
        self,
        conn: Connection,
        list_id: int,
        version: int,
        now: datetime,
        chunk: Sequence[ImportRecord],
        counts: _Counts,
        seen: set[str] | None,
    ) -> None:
        final: dict[str, ImportRecord] = {}
        for rec in chunk:
            if not isinstance(rec, ListEntry | Deletion):
                raise TypeError(f"expected ListEntry or Deletion, got {type(rec).__name__}")
            final.pop(rec.entry_id, None)  # keep the order of the last occurrence
            final[rec.entry_id] = rec
        ids = list(final) if seen is None else [i for i in final if i in seen]
        if seen is not None:
            seen.update(final)
        existing = {
            r.entry_id: r
            for r in (
                conn.execute(
                    select(*_LOOKUP_COLUMNS).where(and_(_ENTRIES.c.list_id == list_id, _ENTRIES.c.entry_id.in_(ids)))
                )
                if ids
                else ()
            )
        }
        inserts: list[dict[str, Any]] = []
        rewrites: list[dict[str, Any]] = []
        tombstones: list[dict[str, Any]] = []
        for eid, rec in final.items():
            old = existing.get(eid)
            if isinstance(rec, Deletion):
                if old is None or old.removed_in_version is not None:
                    counts.missing += 1
                else:
                    tombstones.append({"_id": old.id})
                    counts.removed += 1
                continue
            content = _content(rec)
            if old is None:
                inserts.append(
                    {
                        "list_id": list_id,
                        "entry_id": eid,
                        "added_at": now,
                        "removed_at": None,
                        "added_in_version": version,
                        "removed_in_version": None,
                        **content,
                    }
                )
                counts.added += 1
            elif old.removed_in_version is None and _row_content(old) == content:
                counts.unchanged += 1
            else:
                resurrect = old.removed_in_version is not None
                rewrites.append({"_id": old.id, **_bind(content)})
                if resurrect:
                    counts.added += 1
                else:
                    counts.updated += 1
        if inserts:
            _bulk_insert(conn, inserts)
        if rewrites:
            conn.execute(
                update(_ENTRIES)
                .where(_ENTRIES.c.id == bindparam("_id"))
                .values(
                    # a changed live entry keeps its first-added time; a resurrected tombstone starts anew
                    added_at=case((_ENTRIES.c.removed_in_version.is_(None), _ENTRIES.c.added_at), else_=now),
                    added_in_version=version,
                    removed_at=None,
                    removed_in_version=None,
                    **{k: bindparam(f"b_{k}") for k in _CONTENT_KEYS},
                ),
                rewrites,
            )
        if tombstones:
            conn.execute(
                update(_ENTRIES)
                .where(_ENTRIES.c.id == bindparam("_id"))
                .values(removed_at=now, removed_in_version=version),
                tombstones,
            )

    def entries(self, name: str, *, include_removed: bool = False) -> list[ListEntry]:
        return list(self.iter_entries(name, include_removed=include_removed))

    def iter_entries(self, name: str, *, include_removed: bool = False) -> Iterator[ListEntry]:
        """Stream a list's entries in insertion order (for exports of large lists)."""
        with self.db.engine.connect() as conn:
            list_id, _ = self._list_id(conn, name)
            q = select(_ENTRIES).where(_ENTRIES.c.list_id == list_id)
            if not include_removed:
                q = q.where(_ENTRIES.c.removed_in_version.is_(None))
            for r in conn.execution_options(yield_per=CHUNK).execute(q.order_by(_ENTRIES.c.id)):
                yield _entry_from_row(name, r)

    def get_entries(self, name: str, entry_ids: Iterable[str]) -> dict[str, ListEntry]:
        """The named entries (live or tombstoned) by entry id; ids not in the list are absent from the result.

        The matcher calls this to attach provenance to a match, so it holds only integer keys in memory.
        """
        wanted = list(dict.fromkeys(entry_ids))
        found: dict[str, ListEntry] = {}
        with self.db.engine.connect() as conn:
            list_id, _ = self._list_id(conn, name)
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                q = select(_ENTRIES).where(and_(_ENTRIES.c.list_id == list_id, _ENTRIES.c.entry_id.in_(chunk)))
                for r in conn.execute(q):
                    found[r.entry_id] = _entry_from_row(name, r)
        return found

    def count_entries(self, name: str, *, include_removed: bool = False) -> int:
        from sqlalchemy import func

        with self.db.engine.connect() as conn:
            list_id, _ = self._list_id(conn, name)
            q = select(func.count()).select_from(_ENTRIES).where(_ENTRIES.c.list_id == list_id)
            if not include_removed:
                q = q.where(_ENTRIES.c.removed_in_version.is_(None))
            return int(conn.execute(q).scalar_one())

    def live_entries_by_signal(self, signal_type: SignalType | str, *, enabled_only: bool = True) -> list[ListEntry]:
        """Every live entry of one signal type across lists (enabled lists only by default)."""
        st = parse_signal_type(signal_type)
        q = (
            select(_ENTRIES, _LISTS.c.name.label("list_name"))
            .join(_LISTS, _LISTS.c.id == _ENTRIES.c.list_id)
            .where(and_(_ENTRIES.c.signal_type == st.value, _ENTRIES.c.removed_in_version.is_(None)))
        )
        if enabled_only:
            q = q.where(_LISTS.c.enabled.is_(True))
        with self.db.engine.connect() as conn:
            return [_entry_from_row(r.list_name, r) for r in conn.execute(q.order_by(_ENTRIES.c.id))]

    def live_hashes_by_signal(
        self, signal_type: SignalType | str, *, enabled_only: bool = True
    ) -> list[tuple[str, str, str]]:
        """``(list_name, entry_id, value)`` of every live entry of one type: the cheap form for building an index.

        Skips building full :class:`ListEntry` objects (timestamps, metadata JSON), which dominates
        :meth:`live_entries_by_signal` on large lists.
        """
        st = parse_signal_type(signal_type)
        q = (
            select(_LISTS.c.name, _ENTRIES.c.entry_id, _ENTRIES.c.value)
            .join(_LISTS, _LISTS.c.id == _ENTRIES.c.list_id)
            .where(and_(_ENTRIES.c.signal_type == st.value, _ENTRIES.c.removed_in_version.is_(None)))
        )
        if enabled_only:
            q = q.where(_LISTS.c.enabled.is_(True))
        with self.db.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(q.order_by(_ENTRIES.c.id))]

    def changes_since(self, name: str, version: int) -> ChangeSet:
        """What changed in the list after ``version`` (see :class:`ChangeSet`)."""
        with self.db.engine.connect() as conn:
            list_id, current = self._list_id(conn, name)
            if version > current:
                raise VersionAheadError(f"list {name!r} is at version {current}, asked for changes since {version}")
            added = conn.execute(
                select(_ENTRIES)
                .where(
                    and_(
                        _ENTRIES.c.list_id == list_id,
                        _ENTRIES.c.added_in_version > version,
                        _ENTRIES.c.removed_in_version.is_(None),
                    )
                )
                .order_by(_ENTRIES.c.id)
            ).all()
            removed = conn.execute(
                select(_ENTRIES)
                .where(and_(_ENTRIES.c.list_id == list_id, _ENTRIES.c.removed_in_version > version))
                .order_by(_ENTRIES.c.id)
            ).all()
        return ChangeSet(
            list_name=name,
            from_version=version,
            to_version=current,
            added=tuple(_entry_from_row(name, r) for r in added),
            removed=tuple(_entry_from_row(name, r) for r in removed),
        )

    # ---------------------------------------------------------------- import / export

    def import_stream(
        self,
        name: str,
        stream: Iterable[str],
        fmt: str,
        *,
        on_error: OnError | str = OnError.ABORT,
        source: str | None = None,
    ) -> ImportOutcome:
        """Import a file in ``fmt`` into the list in one transaction.

        ``on_error="abort"``: the first bad row raises :class:`ImportFormatError` and the list is unchanged.
        ``on_error="skip"``: bad rows are listed in the report and every good row is applied.
        Structural problems (no header, broken XML) always abort.
        """
        report = ImportReport()
        reader = get_format(fmt).read
        try:
            mode = OnError(on_error)
        except ValueError:
            raise InvalidImportOptionError(f"on_error must be 'abort' or 'skip', got {on_error!r}") from None
        records = reader(stream, on_error=mode, report=report, source=source)
        result = self.apply_records(name, records)
        return ImportOutcome(result, report)

    def import_file(
        self, name: str, path: str | Path, fmt: str, *, on_error: OnError | str = OnError.ABORT
    ) -> ImportOutcome:
        p = Path(path)
        with p.open(encoding="utf-8", newline="") as fh:
            return self.import_stream(name, fh, fmt, on_error=on_error, source=p.name)

    def export_stream(self, name: str, stream: IO[str], fmt: str, *, include_removed: bool = False) -> int:
        """Write the list's (live) entries in ``fmt``; returns the number of entries written."""
        writer = get_format(fmt).write
        return writer(self.iter_entries(name, include_removed=include_removed), stream)

    def export_file(self, name: str, path: str | Path, fmt: str) -> int:
        with Path(path).open("w", encoding="utf-8", newline="") as fh:
            return self.export_stream(name, fh, fmt)

    # ---------------------------------------------------------------- sync checkpoints

    def get_checkpoint(self, name: str, adapter: str) -> str | None:
        with self.db.engine.connect() as conn:
            list_id, _ = self._list_id(conn, name)
            return conn.execute(
                select(_CHECKPOINTS.c.checkpoint).where(
                    and_(_CHECKPOINTS.c.list_id == list_id, _CHECKPOINTS.c.adapter == adapter)
                )
            ).scalar_one_or_none()

    def _put_checkpoint(self, conn: Connection, list_id: int, adapter: str, value: str, now: datetime) -> None:
        res = conn.execute(
            update(_CHECKPOINTS)
            .where(and_(_CHECKPOINTS.c.list_id == list_id, _CHECKPOINTS.c.adapter == adapter))
            .values(checkpoint=value, updated_at=now)
        )
        if res.rowcount == 0:
            conn.execute(
                insert(_CHECKPOINTS).values(list_id=list_id, adapter=adapter, checkpoint=value, updated_at=now)
            )


#: What an upsert needs to know about existing rows (no timestamps: parsing them dominated re-imports).
_LOOKUP_COLUMNS = tuple(
    _ENTRIES.c[name]
    for name in (
        "id",
        "entry_id",
        "removed_in_version",
        "signal_type",
        "value",
        "source_org",
        "classification_scheme",
        "classification_label",
        "licence",
        "extra",
    )
)

_INSERT_COLUMNS = (
    "list_id",
    "entry_id",
    "signal_type",
    "value",
    "source_org",
    "classification_scheme",
    "classification_label",
    "licence",
    "added_at",
    "removed_at",
    "added_in_version",
    "removed_in_version",
    "extra",
)


def _bulk_insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new entry rows as fast as each backend allows.

    SQLAlchemy's per-row parameter processing costs about as much as SQLite's own insert work, so rows are
    converted once here with the column types' own bind processors (same stored form as the ORM writes) and
    handed to the driver: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. Both run on ``conn``'s connection,
    inside its transaction.
    """
    dialect = conn.dialect
    if dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        cols = ", ".join(_INSERT_COLUMNS)
        with raw.cursor() as cur, cur.copy(f"COPY list_entries ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    tuple(json.dumps(r[c], separators=(",", ":")) if c == "extra" else r[c] for c in _INSERT_COLUMNS)
                )
        return
    if dialect.name != "sqlite":
        conn.execute(insert(_ENTRIES), rows)
        return
    dt = _ENTRIES.c.added_at.type.bind_processor(dialect)
    js = _ENTRIES.c.extra.type.bind_processor(dialect)
    stamps: dict[datetime, Any] = {}
    empty = js({}) if js else "{}"
    params = []
    for r in rows:
        at = r["added_at"]
        if at not in stamps:
            stamps[at] = dt(at) if dt else at
        extra = r["extra"]
        params.append(
            (
                r["list_id"],
                r["entry_id"],
                r["signal_type"],
                r["value"],
                r["source_org"],
                r["classification_scheme"],
                r["classification_label"],
                r["licence"],
                stamps[at],
                None,
                r["added_in_version"],
                None,
                (js(extra) if js else json.dumps(extra)) if extra else empty,
            )
        )
    placeholders = ", ".join("?" for _ in _INSERT_COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO list_entries ({', '.join(_INSERT_COLUMNS)}) VALUES ({placeholders})", params)


_CONTENT_KEYS = (
    "signal_type",
    "value",
    "source_org",
    "classification_scheme",
    "classification_label",
    "licence",
    "extra",
)


def _bind(content: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{k}": v for k, v in content.items()}
