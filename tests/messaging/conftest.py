"""Fixtures for the messenger tests: an app on a fresh database (SQLite and PostgreSQL) served in-process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from blindmatch.service.app import create_app
from blindmatch.service.config import Settings


@pytest.fixture
def relay_app(tmp_path: Path, db_url: str) -> FastAPI:
    # No hash list here, so no vouchers: attachment receipts are tested with private detection (tests/detection).
    return create_app(
        Settings(
            data_dir=tmp_path / "var",
            database_url=db_url,
            max_upload_bytes=1_000_000,
            api_keys=("mod-key",),
            extra={"relay_attachment_receipts": "off"},
        )
    )


@pytest.fixture
def transport(relay_app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=relay_app)
