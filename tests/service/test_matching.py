"""The matcher stays in step with the database incrementally and survives restarts through its snapshots."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import pytest

from blindmatch.lists.model import make_entry
from blindmatch.service.matching import Matcher, UnknownListError
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore


def _flip(hex_hash: str, bits: list[int]) -> str:
    v = int(hex_hash, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:064x}"


@pytest.fixture
def store(db_url: str) -> ListStore:
    db = Database(db_url)
    db.migrate()
    return ListStore(db)


def _pdq_entries(name: str, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [
        make_entry(
            list_name=name,
            signal_type="pdq",
            value=bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex(),
            entry_id=f"e{i}",
            source_org="hotline-a",
            classification_scheme="demo",
            classification_label="B2",
        )
        for i in range(n)
    ]


def test_lookup_finds_near_copies_and_reports_provenance(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    entries = _pdq_entries("alpha", 50)
    store.add_entries("alpha", entries)
    matcher = Matcher(store, tmp_path / "idx")
    target = entries[7]
    near = _flip(target.value, [0, 9, 100, 200, 255])
    res = matcher.lookup("pdq", near, quality=90)
    assert [(m.entry_id, m.distance) for m in res.matches] == [("e7", 5)]
    m = res.matches[0]
    assert (m.source_org, m.classification_scheme, m.classification_label) == ("hotline-a", "demo", "B2")
    far = _flip(target.value, list(range(0, 64, 2)))  # 32 bits away: over the default threshold of 31
    assert matcher.lookup("pdq", far).matches == ()


def test_low_quality_queries_are_flagged_not_matched(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    entries = _pdq_entries("alpha", 3)
    store.add_entries("alpha", entries)
    matcher = Matcher(store, tmp_path / "idx")
    res = matcher.lookup("pdq", entries[0].value, quality=49)
    assert res.low_quality and res.matches == ()
    assert matcher.lookup("pdq", entries[0].value, quality=50).matches[0].entry_id == "e0"


def test_incremental_adds_and_removals_are_seen(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    matcher = Matcher(store, tmp_path / "idx")
    value = secrets.token_hex(32)
    assert matcher.lookup("pdq", value).matches == ()
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=value, entry_id="x")])
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="md5", value="a" * 32, entry_id="m")])
    matcher.refresh()
    assert [m.entry_id for m in matcher.lookup("pdq", value).matches] == ["x"]
    assert [m.entry_id for m in matcher.lookup("md5", "A" * 32).matches] == ["m"]
    store.remove_entries("alpha", ["x", "m"])
    matcher.refresh()
    assert matcher.lookup("pdq", value).matches == ()
    assert matcher.lookup("md5", "a" * 32).matches == ()


def test_rewritten_entry_replaces_old_hash(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=old, entry_id="x")])
    matcher = Matcher(store, tmp_path / "idx")
    assert matcher.lookup("pdq", old).matches
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=new, entry_id="x")])
    matcher.refresh()
    assert matcher.lookup("pdq", old).matches == ()
    assert [m.entry_id for m in matcher.lookup("pdq", new).matches] == ["x"]


def test_snapshot_reload_applies_only_newer_changes(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    entries = _pdq_entries("alpha", 200)
    store.add_entries("alpha", entries)
    first = Matcher(store, tmp_path / "idx")
    first.refresh()
    first.save()
    assert (tmp_path / "idx" / "alpha" / "meta.json").exists()
    extra = _pdq_entries("alpha", 1, seed=99)[0]
    extra = make_entry(list_name="alpha", signal_type="pdq", value=extra.value, entry_id="late")
    store.add_entries("alpha", [extra])
    store.remove_entries("alpha", ["e3"])
    second = Matcher(store, tmp_path / "idx")
    versions = second.refresh()
    assert versions["alpha"] == store.get_list("alpha").version
    assert second.stats()["alpha"]["entries"] == 200  # 200 + 1 added - 1 removed
    assert [m.entry_id for m in second.lookup("pdq", extra.value).matches] == ["late"]
    assert second.lookup("pdq", entries[3].value).matches == ()
    assert [m.entry_id for m in second.lookup("pdq", entries[4].value).matches] == ["e4"]


def test_corrupt_snapshot_falls_back_to_database(store: ListStore, tmp_path: Path) -> None:
    store.create_list("alpha")
    entries = _pdq_entries("alpha", 20)
    store.add_entries("alpha", entries)
    m1 = Matcher(store, tmp_path / "idx")
    m1.refresh()
    m1.save()
    for f in (tmp_path / "idx" / "alpha").glob("pdq-v*.idx"):
        f.write_bytes(f.read_bytes()[:100])
    m2 = Matcher(store, tmp_path / "idx")
    assert [m.entry_id for m in m2.lookup("pdq", entries[5].value).matches] == ["e5"]


def test_per_list_thresholds_disabled_lists_and_list_filter(store: ListStore, tmp_path: Path) -> None:
    value = secrets.token_hex(32)
    near = _flip(value, list(range(10)))  # distance 10
    store.create_list("strict", pdq_threshold=5)
    store.create_list("loose", pdq_threshold=31)
    store.create_list("off", enabled=False)
    for name in ("strict", "loose", "off"):
        store.add_entries(name, [make_entry(list_name=name, signal_type="pdq", value=value, entry_id="x")])
    matcher = Matcher(store, tmp_path / "idx")
    assert {m.list_name for m in matcher.lookup("pdq", near).matches} == {"loose"}
    assert {m.list_name for m in matcher.lookup("pdq", near, lists=["off", "strict"], threshold=10).matches} == {
        "off",
        "strict",
    }
    with pytest.raises(UnknownListError):
        matcher.lookup("pdq", near, lists=["nope"])
    store.delete_list("loose")
    matcher.refresh()
    assert matcher.lookup("pdq", near).matches == ()


def test_dihedral_variants_are_merged_with_smallest_distance(store: ListStore, tmp_path: Path) -> None:
    value = secrets.token_hex(32)
    store.create_list("alpha")
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=value, entry_id="x")])
    matcher = Matcher(store, tmp_path / "idx")
    unrelated = secrets.token_hex(32)
    res = matcher.lookup("pdq", unrelated, dihedral=[_flip(value, [1, 2]), _flip(value, [3])])
    assert [(m.entry_id, m.distance) for m in res.matches] == [("x", 1)]


def test_recreated_list_never_inherits_the_old_lists_entries(store: ListStore, tmp_path: Path) -> None:
    old_value, new_value = secrets.token_hex(32), secrets.token_hex(32)
    store.create_list("alpha")
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=old_value, entry_id="old")])
    matcher = Matcher(store, tmp_path / "idx")
    matcher.refresh()
    matcher.save()
    assert matcher.lookup("pdq", old_value).matches
    store.delete_list("alpha")
    store.create_list("alpha")
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="pdq", value=new_value, entry_id="new")])
    store.add_entries("alpha", [make_entry(list_name="alpha", signal_type="md5", value="b" * 32, entry_id="m")])
    # the re-created list has reached a version the old one had; neither the live matcher nor a restart from
    # the old snapshot may keep the old entry
    for m in (matcher, Matcher(store, tmp_path / "idx")):
        m.refresh()
        assert m.lookup("pdq", old_value).matches == ()
        assert [x.entry_id for x in m.lookup("pdq", new_value).matches] == ["new"]
