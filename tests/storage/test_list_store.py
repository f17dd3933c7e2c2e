"""ListStore on SQLite and PostgreSQL (``db_url`` runs each test on both)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from blindmatch.hashing.signals import SignalType
from blindmatch.lists import ImportFormatError, InvalidListError, ListEntry, make_entry
from blindmatch.lists.formats import FORMATS, get_format
from blindmatch.service.storage import (
    Database,
    DatabaseURLError,
    ListExistsError,
    ListNotFoundError,
    ListStore,
    VersionAheadError,
)

PDQ = ["%064x" % (i * 7919 + 1) for i in range(10)]
MD5 = "0123456789abcdef" * 2


@pytest.fixture
def store(db_url: str) -> Iterator[ListStore]:
    db = Database(db_url)
    db.migrate()
    yield ListStore(db)
    db.dispose()


def pdq(i: int, **kw: object) -> ListEntry:
    return make_entry(signal_type="pdq", value=PDQ[i], entry_id=f"e{i}", **kw)  # type: ignore[arg-type]


def test_migrate_is_idempotent_and_creates_tables(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    db.migrate()
    assert db.current_revision() == db.head_revision() is not None
    assert {"hash_lists", "list_entries", "list_sync_checkpoints"} <= set(db.table_names())
    db.dispose()


def test_sqlite_pragmas(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    db.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "postgresql+asyncpg://h/db"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(DatabaseURLError):
        Database(url)


def test_plain_postgresql_url_gets_psycopg_driver() -> None:
    assert Database("postgresql://u@127.0.0.1/x").url.drivername == "postgresql+psycopg"


def test_list_lifecycle_and_versions(store: ListStore) -> None:
    hl = store.create_list("ncmec", description="d", source="NCMEC", provenance="agreement 7")
    assert (hl.version, hl.enabled, hl.pdq_threshold, hl.source) == (1, True, 31, "NCMEC")
    assert hl.created_at is not None and hl.created_at.tzinfo is not None
    with pytest.raises(ListExistsError):
        store.create_list("ncmec")
    with pytest.raises(InvalidListError):
        store.create_list("Bad Name")
    with pytest.raises(ListNotFoundError):
        store.get_list("nope")
    assert store.set_enabled("ncmec", False).version == 2
    assert store.set_enabled("ncmec", False).version == 2  # no change, no edit
    assert store.set_threshold("ncmec", 20).version == 3
    with pytest.raises(InvalidListError):
        store.set_threshold("ncmec", 300)
    assert store.update_list("ncmec", description="new").version == 4
    assert store.add_entries("ncmec", [pdq(0), pdq(1)]).version == 5
    assert store.add_entries("ncmec", [pdq(0)]).version == 5  # identical content: not an edit
    assert store.add_entries("ncmec", [pdq(0, classification_label="A1")]).version == 6
    assert store.remove_entries("ncmec", ["e1"]).version == 7
    assert store.remove_entries("ncmec", ["e1", "unknown"]).version == 7
    got = store.get_list("ncmec")
    assert (got.version, got.enabled, got.pdq_threshold, got.description) == (7, False, 20, "new")
    store.create_list("iwf")
    assert [h.name for h in store.lists()] == ["iwf", "ncmec"]
    store.delete_list("ncmec")
    assert [h.name for h in store.lists()] == ["iwf"]
    with pytest.raises(ListNotFoundError):
        store.entries("ncmec")
    with pytest.raises(ListNotFoundError):
        store.add_entries("ncmec", [pdq(0)])


def test_upsert_counts_and_tombstones_keep_history(store: ListStore) -> None:
    store.create_list("l")
    r = store.add_entries("l", [pdq(0), pdq(1), pdq(2)])
    assert (r.added, r.updated, r.unchanged, r.version) == (3, 0, 0, 2)
    r = store.remove_entries("l", ["e1"])
    assert (r.removed, r.missing, r.version) == (1, 0, 3)
    live = store.entries("l")
    assert [e.entry_id for e in live] == ["e0", "e2"]
    everything = {e.entry_id: e for e in store.entries("l", include_removed=True)}
    tomb = everything["e1"]
    assert not tomb.live and tomb.removed_in_version == 3 and tomb.removed_at is not None
    assert tomb.added_in_version == 2 and tomb.value == PDQ[1]
    # re-adding a tombstoned entry resurrects it in a new version
    first_added = {e.entry_id: e.added_at for e in everything.values()}
    time.sleep(0.01)
    r = store.add_entries("l", [pdq(1), pdq(2, source_org="changed")])
    assert (r.added, r.updated, r.version) == (1, 1, 4)
    now_live = {e.entry_id: e for e in store.entries("l")}
    e1, e2 = now_live["e1"], now_live["e2"]
    assert e1.live and e1.added_in_version == 4
    assert e1.added_at is not None and first_added["e1"] is not None and e1.added_at > first_added["e1"]
    assert e2.added_in_version == 4 and e2.source_org == "changed" and e2.added_at == first_added["e2"]
    assert store.count_entries("l") == 3 and store.count_entries("l", include_removed=True) == 3


def test_duplicates_inside_one_call_last_wins(store: ListStore) -> None:
    store.create_list("l")
    r = store.add_entries("l", [pdq(0), pdq(0, classification_label="X"), pdq(1)])
    assert r.added == 2
    assert {e.entry_id: e.classification_label for e in store.entries("l")} == {"e0": "X", "e1": ""}


def test_classification_and_metadata_kept_verbatim(store: ListStore) -> None:
    store.create_list("l")
    labels = [("NCMEC", "A1"), ("NCMEC", "B2"), ("IWF", "A"), ("IWF", "C"), ("", "CSAM"), ("x", " weird ü ")]
    entries = [
        make_entry(
            signal_type="pdq",
            value=PDQ[i],
            classification_scheme=s,
            classification_label=lab,
            metadata={"nested": {"k": [1, "two", None]}, "unicode": "✓"},
        )
        for i, (s, lab) in enumerate(labels)
    ]
    store.add_entries("l", entries)
    got = store.entries("l")
    assert [(e.classification_scheme, e.classification_label) for e in got] == labels
    assert got[0].metadata == {"nested": {"k": [1, "two", None]}, "unicode": "✓"}
    assert [e.content_key() for e in got] == [e.content_key() for e in entries]


def test_changes_since(store: ListStore) -> None:
    store.create_list("l")
    store.add_entries("l", [pdq(0), pdq(1), pdq(2)])  # v2
    store.remove_entries("l", ["e0"])  # v3
    store.add_entries("l", [pdq(3), pdq(1, licence="CC0")])  # v4
    cs = store.changes_since("l", 2)
    assert (cs.from_version, cs.to_version) == (2, 4)
    assert [e.entry_id for e in cs.added] == ["e1", "e3"]
    assert [e.entry_id for e in cs.removed] == ["e0"]
    full = store.changes_since("l", 0)
    assert {e.entry_id for e in full.added} == {"e1", "e2", "e3"}
    assert store.changes_since("l", 4).added == ()
    with pytest.raises(VersionAheadError):
        store.changes_since("l", 5)
    # applying the change set to a snapshot at v2 gives the live state at v4
    snapshot = {"e0": PDQ[0], "e1": PDQ[1], "e2": PDQ[2]}
    for e in cs.removed:
        snapshot.pop(e.entry_id, None)
    for e in cs.added:
        snapshot[e.entry_id] = e.value
    assert snapshot == {e.entry_id: e.value for e in store.entries("l")}


def test_live_entries_by_signal_respects_enabled(store: ListStore) -> None:
    store.create_list("a")
    store.create_list("b")
    store.add_entries("a", [pdq(0), make_entry(signal_type="md5", value=MD5)])
    store.add_entries("b", [pdq(1), pdq(2)])
    store.remove_entries("b", ["e2"])
    got = store.live_entries_by_signal(SignalType.PDQ)
    assert sorted((e.list_name, e.entry_id) for e in got) == [("a", "e0"), ("b", "e1")]
    store.set_enabled("b", False)
    assert [(e.list_name, e.entry_id) for e in store.live_entries_by_signal("pdq")] == [("a", "e0")]
    assert len(store.live_entries_by_signal("pdq", enabled_only=False)) == 2
    assert [e.value for e in store.live_entries_by_signal("md5")] == [MD5]


BAD_CSV = "signal_type,value,entry_id\n" + "".join(f"pdq,{PDQ[i]},n{i}\n" for i in range(5)) + "pdq,123,bad\n"


def test_abort_mode_import_leaves_list_unchanged(store: ListStore) -> None:
    store.create_list("l")
    store.add_entries("l", [pdq(0)])
    before = (store.get_list("l").version, store.entries("l", include_removed=True))
    with pytest.raises(ImportFormatError) as info:
        store.import_stream("l", io.StringIO(BAD_CSV), "csv")
    assert info.value.line == 7
    assert (store.get_list("l").version, store.entries("l", include_removed=True)) == before


def test_abort_mode_rolls_back_even_after_many_chunks(store: ListStore) -> None:
    store.create_list("l")
    rows = "".join(f"md5,{i:032x}\n" for i in range(4500))  # more than two write chunks
    with pytest.raises(ImportFormatError, match="line 4502"):
        store.import_stream("l", io.StringIO("signal_type,value\n" + rows + "md5,xyz\n"), "csv")
    assert store.count_entries("l", include_removed=True) == 0 and store.get_list("l").version == 1


def test_skip_mode_import_applies_good_rows_and_reports_bad(store: ListStore) -> None:
    store.create_list("l")
    out = store.import_stream("l", io.StringIO(BAD_CSV), "csv", on_error="skip")
    assert out.result.added == 5 and out.result.version == 2
    assert [(e.line, "64 hex digits" in e.reason) for e in out.report.errors] == [(7, True)]


def test_bad_import_options(store: ListStore) -> None:
    from blindmatch.lists.formats import UnknownFormatError
    from blindmatch.service.storage.list_store import InvalidImportOptionError

    store.create_list("l")
    with pytest.raises(InvalidImportOptionError, match="abort' or 'skip"):
        store.import_stream("l", io.StringIO(BAD_CSV), "csv", on_error="ignore")
    with pytest.raises(UnknownFormatError):
        store.import_stream("l", io.StringIO(BAD_CSV), "xls")
    assert store.get_list("l").version == 1


def test_import_into_missing_list(store: ListStore) -> None:
    with pytest.raises(ListNotFoundError):
        store.import_stream("nope", io.StringIO(BAD_CSV), "csv")


def _rich_entries() -> list[ListEntry]:
    return [
        make_entry(
            signal_type="pdq",
            value=PDQ[0],
            source_org="Member A",
            classification_scheme="NCMEC",
            classification_label="A1",
            metadata={"ncmec_id": "img1", "ncmec_kind": "image"},
        ),
        make_entry(
            signal_type="md5",
            value=MD5,
            source_org="Member A",
            classification_scheme="NCMEC",
            classification_label="A1",
            metadata={"ncmec_id": "img1", "ncmec_kind": "image"},
        ),
        make_entry(signal_type="sha1", value="b" * 40, source_org="Collab", classification_label=""),
        make_entry(signal_type="video_md5", value="c" * 32, source_org="Collab"),
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_through_store(store: ListStore, fmt: str) -> None:
    """export -> import into a fresh list -> export again gives the same file (what the format can express)."""
    store.create_list("src")
    store.create_list("dst")
    # NCMEC ids are rewritten on import; round-trip from what a first import produced.
    buf0 = io.StringIO()
    get_format(fmt).write(_rich_entries(), buf0)
    store.import_stream("src", io.StringIO(buf0.getvalue()), fmt)
    first = io.StringIO()
    n = store.export_stream("src", first, fmt)
    assert n == store.count_entries("src") > 0
    store.import_stream("dst", io.StringIO(first.getvalue()), fmt)
    a = [e.content_key() for e in store.entries("src")]
    b = [e.content_key() for e in store.entries("dst")]
    assert a == b
    second = io.StringIO()
    store.export_stream("dst", second, fmt)
    strip = lambda text: [ln for ln in text.splitlines() if "added_at" not in ln]  # noqa: E731
    if fmt in ("csv", "jsonl"):
        assert [e.content_key() for e in store.entries("dst")] == [e.content_key() for e in _rich_entries()]
        assert len(strip(second.getvalue())) == len(strip(first.getvalue()))
    else:
        assert second.getvalue() == first.getvalue()


def test_export_excludes_tombstones(store: ListStore) -> None:
    store.create_list("l")
    store.add_entries("l", [pdq(0), pdq(1)])
    store.remove_entries("l", ["e0"])
    buf = io.StringIO()
    assert store.export_stream("l", buf, "jsonl") == 1
    assert "e1" in buf.getvalue() and '"e0"' not in buf.getvalue()


def test_import_file_and_export_file(store: ListStore, tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text(BAD_CSV.replace("pdq,123,bad\n", ""), encoding="utf-8")
    store.create_list("l")
    assert store.import_file("l", p, "csv").result.added == 5
    out = tmp_path / "out.jsonl"
    assert store.export_file("l", out, "jsonl") == 5
    assert len(out.read_text().splitlines()) == 5


def test_checkpoints(store: ListStore) -> None:
    store.create_list("l")
    assert store.get_checkpoint("l", "a") is None
    r = store.apply_records("l", [], checkpoint=("a", "cp1"))
    assert r.version == 1  # a checkpoint alone is not an edit of the list
    store.apply_records("l", [pdq(0)], checkpoint=("a", "cp2"))
    store.apply_records("l", [], checkpoint=("b", "other"))
    assert store.get_checkpoint("l", "a") == "cp2" and store.get_checkpoint("l", "b") == "other"


def test_concurrent_edits_get_distinct_versions(store: ListStore) -> None:
    store.create_list("l")
    errors: list[BaseException] = []
    versions: list[int] = []

    def work(k: int) -> None:
        try:
            for j in range(5):
                versions.append(
                    store.add_entries("l", [make_entry(signal_type="md5", value=f"{k * 100 + j:032x}")]).version
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(versions) == list(range(2, 17))
    assert store.get_list("l").version == 16 and store.count_entries("l") == 15


def _diff_table(diff: object) -> str | None:
    """Table name an Alembic autogenerate diff is about (formats differ per kind of diff)."""
    d = diff[0] if isinstance(diff, list) else diff
    assert isinstance(d, tuple)
    kind = d[0]
    if kind in ("add_table", "remove_table"):
        return str(d[1].name)
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return str(d[1].table.name)
    return str(d[2])


def test_migration_matches_models(db_url: str) -> None:
    """The shipped migration creates exactly what the ORM models declare (no drift between the two)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from blindmatch.service.storage import Base
    from blindmatch.service.storage import models as _models  # noqa: F401 - registers the tables

    db = Database(db_url)
    db.migrate()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        ours = {"hash_lists", "list_entries", "list_sync_checkpoints"}
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if _diff_table(d) in ours]
    db.dispose()
    assert diffs == []


def test_get_entries(store: ListStore) -> None:
    store.create_list("a")
    store.create_list("b")
    store.add_entries("a", [pdq(0), pdq(1), pdq(2)])
    store.add_entries("b", [pdq(3)])
    store.remove_entries("a", ["e1"])
    got = store.get_entries("a", ["e0", "e1", "e3", "nope", "e0"])
    assert sorted(got) == ["e0", "e1"]  # e3 is in another list
    assert got["e0"].live and not got["e1"].live and got["e1"].value == PDQ[1]
    many = store.get_entries("a", [f"x{i}" for i in range(5000)] + ["e2"])
    assert list(many) == ["e2"]
    with pytest.raises(ListNotFoundError):
        store.get_entries("zzz", ["e0"])


def test_live_hashes_by_signal(store: ListStore) -> None:
    store.create_list("a")
    store.add_entries("a", [pdq(0), pdq(1)])
    store.remove_entries("a", ["e0"])
    assert store.live_hashes_by_signal("pdq") == [("a", "e1", PDQ[1])]
    store.set_enabled("a", False)
    assert store.live_hashes_by_signal("pdq") == []
    assert store.live_hashes_by_signal("pdq", enabled_only=False) == [("a", "e1", PDQ[1])]


def test_bench_function_runs_small() -> None:
    from blindmatch.service.storage.bench import bench_lists

    r = bench_lists(None, n=300)
    assert r["backend"] == "sqlite" and r["n"] == 300
    assert all(isinstance(v, float) and v >= 0 for k, v in r.items() if k.endswith(("_s", "_cpu")))
    assert "add_entries_s_cpu" in r


def test_concurrent_migrations(db_url: str) -> None:
    """Several processes/threads migrating the same fresh database at once all succeed."""
    dbs = [Database(db_url) for _ in range(3)]
    errors: list[BaseException] = []

    def run(db: Database) -> None:
        try:
            db.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dbs[0].current_revision() == dbs[0].head_revision() is not None
    for db in dbs:
        db.dispose()
    assert not errors, errors
