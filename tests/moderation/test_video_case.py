"""Video evidence in moderation: a scanned video matched by vPDQ opens a case whose key frames are shown blurred
and greyscale until revealed (then as a clear still sheet, never the video), with the view recorded."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from blindmatch.hashing.video_files import hash_video_file
from blindmatch.lists.model import make_entry
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.moderation import ModerationService
from blindmatch.service.storage.list_store import ListStore

from .conftest import PASSWORD

VIDEOS = "video/sample-videos"
KEY = "mod-key"


def test_scanned_video_case_shows_key_frames(tmp_path: Path, db_url: str, shared_data: Path) -> None:
    listed = hash_video_file(shared_data / VIDEOS / "chair-orig-22-sd-bar.mp4").vpdq
    extra = {"moderation_scrypt_n": "1024"}
    app = create_app(Settings(data_dir=tmp_path / "var", database_url=db_url, api_keys=(KEY,), extra=extra))
    services = app.state.blindmatch.services
    store, moderation = services["store"], services["moderation"]
    assert isinstance(store, ListStore) and isinstance(moderation, ModerationService)
    store.create_list("videos", description="benign sample video standing in for a listed video")
    entry = make_entry(list_name="videos", signal_type="vpdq", value=listed.to_compact(), entry_id="chair")
    store.add_entries("videos", [entry])
    services["matcher"].refresh()
    client = TestClient(app)
    copy = (shared_data / VIDEOS / "chair-22-sd-grey-bar.mp4").read_bytes()
    r = client.post(
        "/v1/moderation/scan-case",
        headers={"X-API-Key": KEY},
        files={"file": ("grey.mp4", copy, "application/octet-stream")},
        data={"subject_user": "u1"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched"] and body["matches"][0]["signal_type"] == "vpdq"
    assert body["matches"][0]["entry_id"] == "chair" and body["matches"][0]["target_pct"] >= 80
    other = (shared_data / VIDEOS / "doorknob-hd-no-bar.mp4").read_bytes()
    r = client.post("/v1/moderation/scan-case", headers={"X-API-Key": KEY}, files={"file": ("d.mp4", other)})
    assert r.status_code == 200 and r.json() == {"matched": False, "case_id": None}

    rita = moderation.create_staff("rita", PASSWORD, "reviewer")
    cid = body["case_id"]
    view = moderation.case(rita, cid)
    ev = view.evidence[0]
    assert ev.mime == "video/mp4" and [m.technology for m in view.matches] == ["vpdq"]
    preview = Image.open(io.BytesIO(moderation.preview(rita, cid, ev.id)))
    assert preview.mode == "L" and preview.size == (192, 192)  # 2 x 2 key frames of 96 px
    assert not moderation.case(rita, cid).views  # looking at the preview is not a view
    data, mime = moderation.reveal(rita, cid, ev.id)
    clear = Image.open(io.BytesIO(data))
    assert mime == "image/png" and clear.mode == "RGB" and clear.size == (640, 640)
    # the preview is the clear sheet, greyscale and blurred: far less edge detail than the revealed stills
    grey = clear.convert("L").resize(preview.size)
    edges = lambda im: float(np.asarray(im.filter(ImageFilter.FIND_EDGES), dtype=np.float64).var())  # noqa: E731
    assert edges(preview) < edges(grey) / 5
    after = moderation.case(rita, cid)
    assert [v.evidence_id for v in after.views] == [ev.id]
    assert any(h.event == "view" and h.details.get("key_frames") for h in after.history)
