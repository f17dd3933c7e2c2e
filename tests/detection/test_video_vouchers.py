"""Private matching of videos: one voucher per video from its representative frames, verified frame by frame
against listed videos (vPDQ entries), counting once toward the threshold. Uses the benign sample videos."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from blindmatch.hashing.pdq import hamming_distance
from blindmatch.hashing.video_files import hash_video_file
from blindmatch.hashing.vpdq import VpdqHash, representative_frames, voucher_frames
from blindmatch.lists.model import make_entry
from blindmatch.privacy.api import verify_table
from blindmatch.privacy.client import ClientAccount, VoucherClient
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.detection import DEFAULT_VIDEO_FRAMES, DetectionService, account_name, detection_config
from blindmatch.service.matching import Matcher
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore

VIDEOS = "video/sample-videos"


@pytest.fixture(scope="module")
def vpdq(shared_data: Path) -> dict[str, VpdqHash]:
    names = ["chair-orig-22-sd-bar", "chair-22-sd-grey-bar", "chair-19-sd-bar", "pattern-hd-no-bar"]
    names += ["pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar", "doorknob-hd-no-bar"]
    return {n: hash_video_file(shared_data / VIDEOS / f"{n}.mp4").vpdq for n in names}


def _service(tmp_path: Path, db_url: str, listed: dict[str, VpdqHash]) -> tuple[FastAPI, DetectionService]:
    extra = {"detection_threshold": "3", "detection_synthetic_probability": "0"}
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url, api_keys=("k",), extra=extra))
    services = app.state.blindmatch.services
    store, matcher, db = services["store"], services["matcher"], services["db"]
    assert isinstance(store, ListStore) and isinstance(matcher, Matcher) and isinstance(db, Database)
    store.create_list("videos", description="benign sample videos standing in for listed videos")
    store.add_entries(
        "videos",
        [
            make_entry(list_name="videos", signal_type="vpdq", value=v.to_compact(), entry_id=n, source_org="tests")
            for n, v in listed.items()
        ],
    )
    matcher.refresh()
    svc = DetectionService(db, store, matcher, tmp_path / "data" / "detection", detection_config(extra))
    return app, svc


def test_video_vouchers_match_listed_videos_once_each(
    tmp_path: Path, db_url: str, vpdq: dict[str, VpdqHash], shared_data: Path
) -> None:
    listed = {n: vpdq[n] for n in ("chair-orig-22-sd-bar", "pattern-sd-grey-bar")}
    _, svc = _service(tmp_path, db_url, listed)
    assert svc.config.item_hashes == DEFAULT_VIDEO_FRAMES
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(svc.trust()["public_key"]))
    table = verify_table(svc.table.table_bytes, [key])
    account = account_name("alice", "phone")
    client = VoucherClient(table, svc.scheme, ClientAccount.create(account, 3), svc.config)

    def voucher(name: str) -> bytes:
        path = shared_data / VIDEOS / f"{name}.mp4"
        frames = voucher_frames(path, svc.config.item_hashes)  # the client's fast hashing
        exact = voucher_frames(path, svc.config.item_hashes, fast=False)
        assert [f.hash for f in exact] == representative_frames(vpdq[name], svc.config.item_hashes)
        assert 1 <= len(frames) == len(exact) <= svc.config.item_hashes
        # Fast hashing takes the same frames (no deblocking, luma plane): within a few bits (measured ≤ 12).
        assert all(hamming_distance(f.hash, e.hash) <= 16 for f, e in zip(frames, exact, strict=True))
        return client.make_item_voucher([(f.hash_bytes, f.margins) for f in frames])

    # unlisted videos never open; chair-19 (another cut, only 1 of 4 sampled frames near the listed chair: the
    # plaintext vPDQ rule says no match too) opens its voucher but does not verify, so it is counted as a collision
    assert not svc.receive(account, voucher("doorknob-hd-no-bar")).opened
    assert not svc.receive(account, voucher("pattern-hd-no-bar")).opened
    chair19 = svc.receive(account, voucher("chair-19-sd-bar"))
    assert chair19.opened and chair19.event is None  # a frame at distance 32 shares a token (measured)
    # the greyscale copy of a listed video opens; one video = one share, so still below t = 3
    first = svc.receive(account, voucher("chair-22-sd-grey-bar"))
    assert first.opened and first.event is None
    out = svc.receive(account, voucher("pattern-sd-with-small-logo-bar"))
    assert out.event is not None
    events = svc.events()
    assert len(events) == 1
    found = {m["matches"][0]["entry_id"] for m in events[0]["matches"]}
    assert found == {"chair-orig-22-sd-bar", "pattern-sd-grey-bar"}
    assert events[0]["verified"] == 2 and events[0]["collisions"] == 1
    assert all(m["kind"] == "video" and len(m["item_hashes"]) == DEFAULT_VIDEO_FRAMES for m in events[0]["matches"])
    assert all(m["matches"][0]["signal_type"] == "vpdq" for m in events[0]["matches"])


def test_representative_frames_are_spread_distinct_and_deterministic(vpdq: dict[str, VpdqHash]) -> None:
    video = vpdq["pattern-hd-no-bar"]
    picks = representative_frames(video, 4)
    assert picks == representative_frames(video, 4) and len(set(picks)) == len(picks) == 4
    good = [f.pdq for f in video.frames if f.quality >= 50]
    assert picks[0] == good[0] and picks[-1] in good
    assert representative_frames(video, 1000) == list(dict.fromkeys(good))
    with pytest.raises(ValueError):
        representative_frames(video, 0)
