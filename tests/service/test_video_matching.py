"""Videos in lists, the matcher and ``scan``: variants of a listed video match, other videos do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blindmatch.cli import app
from blindmatch.hashing.video_files import hash_video_file
from blindmatch.lists.errors import InvalidEntryError
from blindmatch.lists.model import make_entry
from blindmatch.service.matching import Matcher
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore


@pytest.fixture
def videos(shared_data: Path) -> Path:
    return shared_data / "video" / "sample-videos"


def test_vpdq_entries_match_variants_through_the_matcher(db_url: str, tmp_path: Path, videos: Path) -> None:
    db = Database(db_url)
    db.migrate()
    store = ListStore(db)
    store.create_list("videos")
    listed = hash_video_file(videos / "chair-orig-22-sd-bar.mp4")  # one frame per second, as lists hold them
    store.add_entries(
        "videos", [make_entry(list_name="videos", signal_type="vpdq", value=listed.vpdq.to_compact(), entry_id="chair")]
    )
    with pytest.raises(InvalidEntryError):
        make_entry(signal_type="vpdq", value="vpdq1;nonsense")
    matcher = Matcher(store, tmp_path / "idx")
    grey = hash_video_file(videos / "chair-22-sd-grey-bar.mp4", seconds_per_frame=0.1)
    res = matcher.lookup("vpdq", grey.vpdq.to_compact())
    assert [m.entry_id for m in res.matches] == ["chair"]
    assert res.matches[0].target_pct is not None and res.matches[0].target_pct >= 80
    other = hash_video_file(videos / "doorknob-hd-no-bar.mp4", seconds_per_frame=0.1)
    assert matcher.lookup("vpdq", other.vpdq.to_compact()).matches == ()
    matcher.save()
    reloaded = Matcher(store, tmp_path / "idx")  # from the snapshot
    assert [m.entry_id for m in reloaded.lookup("vpdq", grey.vpdq.to_compact()).matches] == ["chair"]
    store.remove_entries("videos", ["chair"])
    reloaded.refresh()
    assert reloaded.lookup("vpdq", grey.vpdq.to_compact()).matches == ()


def test_scan_matches_videos(tmp_path: Path, videos: Path) -> None:
    env = {"BLINDMATCH_DATA_DIR": str(tmp_path / "var")}
    listed = hash_video_file(videos / "pattern-sd-grey-bar.mp4")  # the HD portrait original never matches SD ones
    lst = tmp_path / "l.jsonl"
    lst.write_text(json.dumps({"signal_type": "vpdq", "value": listed.vpdq.to_compact(), "entry_id": "pattern"}) + "\n")
    runner = CliRunner()
    assert runner.invoke(app, ["lists", "import", "v", str(lst), "-f", "jsonl", "--create"], env=env).exit_code == 0
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("pattern-sd-with-small-logo-bar.mp4", "doorknob-hd-no-bar.mp4"):
        (folder / name).write_bytes((videos / name).read_bytes())
    r = runner.invoke(app, ["scan", str(folder), "--no-progress"], env=env)
    assert r.exit_code == 1, r.stderr
    rows = {Path(str(x["path"])).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert rows["pattern-sd-with-small-logo-bar.mp4"]["matched"] is True
    assert rows["pattern-sd-with-small-logo-bar.mp4"]["matches"][0]["entry_id"] == "pattern"
    assert rows["doorknob-hd-no-bar.mp4"]["matched"] is False


def test_hash_and_scan_take_fast_for_videos(tmp_path: Path, videos: Path) -> None:
    """``--fast`` reaches video hashing: the fast vPDQ is printed, and a fast scan still matches the listed video."""
    env = {"BLINDMATCH_DATA_DIR": str(tmp_path / "var")}
    runner = CliRunner()
    path = videos / "pattern-sd-with-small-logo-bar.mp4"
    exact = json.loads(runner.invoke(app, ["hash", str(path)], env=env).stdout)
    fast = json.loads(runner.invoke(app, ["hash", "--fast", str(path)], env=env).stdout)
    assert fast["vpdq"] == hash_video_file(path, fast=True).vpdq.to_compact() != exact["vpdq"]
    assert fast["sha256"] == exact["sha256"]
    listed = hash_video_file(videos / "pattern-sd-grey-bar.mp4")
    lst = tmp_path / "l.jsonl"
    lst.write_text(json.dumps({"signal_type": "vpdq", "value": listed.vpdq.to_compact(), "entry_id": "pattern"}) + "\n")
    assert runner.invoke(app, ["lists", "import", "v", str(lst), "-f", "jsonl", "--create"], env=env).exit_code == 0
    r = runner.invoke(app, ["scan", str(path), "--fast", "--no-progress"], env=env)
    assert r.exit_code == 1, r.stderr
    row = json.loads(r.stdout.splitlines()[0])
    assert row["matched"] is True and row["matches"][0]["entry_id"] == "pattern"
