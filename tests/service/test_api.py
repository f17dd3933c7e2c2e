"""The HTTP API: auth, hashing, matching uploads, list management, and HMA-compatible routes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from blindmatch.hashing.files import hash_file
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings

KEY = "test-key-1"
H = {"X-API-Key": KEY}


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "var", database_url=db_url, api_keys=(KEY,), max_upload_bytes=2_000_000)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def listed(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "images" / "listed").glob("*.jpg"))[:3]


@pytest.fixture
def innocent(shared_data: Path) -> Path:
    return sorted((shared_data / "images" / "innocent").glob("*.jpg"))[0]


def _jpeg(path: Path, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def test_health_needs_no_key_and_everything_else_does(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/v1/lists").status_code == 401
    assert client.get("/v1/lists", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/v1/lists", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/v1/lists", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/c/banks").status_code == 401


def test_hash_upload_matches_cli_hashes(client: TestClient, listed: list[Path]) -> None:
    r = client.post("/v1/hash", headers=H, files={"file": (listed[0].name, listed[0].read_bytes())})
    assert r.status_code == 200
    expected = hash_file(listed[0])
    body = r.json()
    assert (body["pdq"], body["quality"], body["sha256"]) == (expected.pdq, expected.quality, expected.sha256)


def test_bad_uploads_get_clear_errors(client: TestClient) -> None:
    r = client.post("/v1/hash", headers=H, files={"file": ("a.jpg", b"\xff\xd8\xff\xe0garbage")})
    assert r.status_code == 422 and r.json()["error"].endswith("Error")
    assert client.post("/v1/hash", headers=H, files={"file": ("a.jpg", b"")}).status_code == 422
    big = client.post("/v1/hash", headers=H, files={"file": ("a.png", b"\0" * 2_100_000)})
    assert big.status_code == 422 and big.json()["error"] == "MediaTooLargeError"


def test_list_lifecycle_and_match_of_reencoded_copy(client: TestClient, listed: list[Path], innocent: Path) -> None:
    assert client.post("/v1/lists", headers=H, json={"name": "hotline", "pdq_threshold": 31}).status_code == 201
    assert client.post("/v1/lists", headers=H, json={"name": "hotline"}).status_code == 409
    assert client.post("/v1/lists", headers=H, json={"name": "Bad Name!"}).status_code == 400
    entries = []
    for p in listed:
        h = hash_file(p)
        entries.append({"signal_type": "pdq", "value": h.pdq, "entry_id": p.stem, "classification_label": "A1"})
    r = client.post("/v1/lists/hotline/entries", headers=H, json={"entries": entries})
    assert r.json()["added"] == 3
    bad = client.post("/v1/lists/hotline/entries", headers=H, json={"entries": [{"signal_type": "pdq", "value": "xy"}]})
    assert bad.status_code == 400
    copy = _jpeg(listed[1], 40)
    r = client.post("/v1/match", headers=H, files={"file": ("copy.jpg", copy)})
    assert r.status_code == 200 and r.json()["matched"] is True
    pdq_matches = r.json()["results"][0]["matches"]
    assert [m["entry_id"] for m in pdq_matches] == [listed[1].stem]
    assert pdq_matches[0]["classification_label"] == "A1" and pdq_matches[0]["distance"] <= 31
    r = client.post("/v1/match", headers=H, files={"file": ("i.jpg", innocent.read_bytes())})
    assert r.json()["matched"] is False
    # disable: no match; enable again: match
    client.patch("/v1/lists/hotline", headers=H, json={"enabled": False})
    r = client.post("/v1/match", headers=H, files={"file": ("copy.jpg", copy)})
    assert r.json()["matched"] is False
    client.patch("/v1/lists/hotline", headers=H, json={"enabled": True})
    removed = client.post("/v1/lists/hotline/entries/remove", headers=H, json={"entry_ids": [listed[1].stem]})
    assert removed.json()["removed"] == 1
    r = client.post("/v1/match", headers=H, files={"file": ("copy.jpg", copy)})
    assert r.json()["matched"] is False
    assert client.get("/v1/lists/nope", headers=H).status_code == 404


def test_import_export_round_trip_over_http(client: TestClient) -> None:
    client.post("/v1/lists", headers=H, json={"name": "imp"})
    csv_text = (
        "signal_type,value,entry_id,classification_label\npdq," + "ab" * 32 + ",one,B1\nmd5," + "c" * 32 + ",two,\n"
    )
    r = client.post("/v1/lists/imp/import", headers=H, files={"file": ("l.csv", csv_text.encode())})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 2
    bad = "signal_type,value,entry_id\npdq,nothex,x\n"
    r = client.post("/v1/lists/imp/import", headers=H, files={"file": ("b.csv", bad.encode())})
    assert r.status_code == 400
    assert client.get("/v1/lists/imp", headers=H).json()["entries"] == 2
    out = client.get("/v1/lists/imp/export", headers=H, params={"format": "jsonl"}).text
    assert out.count("\n") == 2 and "B1" in out
    r = client.get("/v1/lookup", headers=H, params={"signal_type": "md5", "value": "C" * 32})
    assert [m["entry_id"] for m in r.json()["matches"]] == ["two"]


def test_hma_compatible_routes(client: TestClient, listed: list[Path]) -> None:
    assert client.post("/c/banks", headers=H, json={"name": "MY_BANK", "enabled": True}).status_code == 201
    assert [b["name"] for b in client.get("/c/banks", headers=H).json()] == ["MY_BANK"]
    r = client.post("/c/bank/MY_BANK/content", headers=H, files={"photo": (listed[0].name, listed[0].read_bytes())})
    assert r.status_code == 200, r.text
    content_id = r.json()["id"]
    h = client.post("/h/hash", headers=H, files={"photo": ("x.jpg", _jpeg(listed[0], 60))}).json()
    assert set(h) == {"pdq", "md5"}
    raw = client.get("/m/raw_lookup", headers=H, params={"signal": h["pdq"], "signal_type": "pdq"}).json()
    assert raw["matches"] == [f"{content_id}:pdq"]
    with_d = client.get(
        "/m/raw_lookup", headers=H, params={"signal": h["pdq"], "signal_type": "pdq", "include_distance": "true"}
    ).json()
    assert int(with_d["matches"][0]["distance"]) <= 31
    assert client.get("/m/lookup", headers=H, params={"signal": h["pdq"], "signal_type": "pdq"}).json() == ["MY_BANK"]
    post = client.post("/m/lookup", headers=H, files={"photo": ("x.jpg", listed[0].read_bytes())}).json()
    assert post == {"pdq": ["MY_BANK"], "md5": ["MY_BANK"]}
    assert client.get("/h/hash", headers=H, params={"url": "http://127.0.0.1/x.jpg"}).status_code == 400
    assert client.post("/h/hash", headers=H, files={"video": ("x.mp4", b"x")}).status_code == 400
    assert client.delete(f"/c/bank/MY_BANK/content/{content_id}", headers=H).json() == {"deleted": 2}
    assert client.get("/m/lookup", headers=H, params={"signal": h["pdq"], "signal_type": "pdq"}).json() == []
    assert client.delete("/c/bank/MY_BANK", headers=H).json() == {"message": "Done"}


def test_landing_page_points_to_the_docs(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and 'href="/docs"' in r.text and "benign" in r.text
