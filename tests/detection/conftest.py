"""Fixtures for private detection: a relay app (SQLite and PostgreSQL) whose list holds benign listed stand-ins."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from blindmatch.hashing.pdq import PdqResult, pdq_from_image
from blindmatch.lists.model import make_entry
from blindmatch.media import decode_image
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.detection import DetectionKeys
from blindmatch.service.storage.list_store import ListStore

LIST = "standins"
MOD_KEY = "mod-key"
THRESHOLD = 3


@dataclass
class Listed:
    path: Path
    pdq: str


def recompress(path: Path, quality: int = 70) -> bytes:
    """A JPEG re-encode of a benign stand-in: what a sender's copy of a listed image plausibly looks like."""
    buf = io.BytesIO()
    decode_image(path).image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def pdq_from_image_path(data: bytes | Path) -> PdqResult:
    return pdq_from_image(decode_image(data).image.convert("RGB"))


def pdq_of(data: bytes | Path) -> str:
    return pdq_from_image_path(data).hash


@pytest.fixture(scope="session")
def listed(shared_data: Path) -> list[Listed]:
    paths = sorted((shared_data / "images" / "listed").glob("*.jpg"))[:12]
    return [Listed(p, pdq_of(p)) for p in paths]


@pytest.fixture(scope="session")
def innocent(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "images" / "innocent").glob("*.jpg"))[:5]


def make_app(data_dir: Path, db_url: str) -> FastAPI:
    settings = Settings(
        data_dir=data_dir,
        database_url=db_url,
        api_keys=(MOD_KEY,),
        extra={"detection_threshold": str(THRESHOLD), "detection_synthetic_probability": "0"},
    )
    return create_app(settings)


def fill_list(app: FastAPI, listed: list[Listed]) -> None:
    store = app.state.blindmatch.services["store"]
    assert isinstance(store, ListStore)
    store.create_list(LIST, description="benign stand-ins for a hotline list (tests)")
    store.add_entries(
        LIST,
        [
            make_entry(list_name=LIST, signal_type="pdq", value=x.pdq, entry_id=x.path.name, source_org="tests")
            for x in listed
        ],
    )
    app.state.blindmatch.services["matcher"].refresh()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def app(data_dir: Path, db_url: str, listed: list[Listed]) -> FastAPI:
    a = make_app(data_dir, db_url)
    fill_list(a, listed)
    return a


@pytest.fixture
def transport(app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app)


@pytest.fixture
def pinned_key(data_dir: Path) -> str:
    """The custodian key as an operator would hand it out of band (read from its key file, not the API)."""
    return DetectionKeys.load_or_create(data_dir / "detection").public_hex


def blank_image() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def blank_video(path: Path) -> bytes:
    """A benign video of one flat colour: every frame has PDQ quality 0, so no frame can ever match a list (the
    client sends it with an ``/unchecked`` receipt)."""
    import av
    import numpy as np

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()
