"""Fixtures for the moderation tests: a service on a fresh database (SQLite and PostgreSQL) with a settable clock."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import MetaData, select

from blindmatch.moderation.views import Staff
from blindmatch.service.moderation import ModerationConfig, ModerationService
from blindmatch.service.storage.database import Database

PASSWORD = "correct horse battery staple"
FAST_SCRYPT = 2**10  # tests only: the production default is 2**15


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Env:
    db: Database
    data_dir: Path
    clock: Clock
    svc: ModerationService

    def service(self, **config: object) -> ModerationService:
        """Another service instance on the same database and keys (another worker process, or new settings)."""
        cfg = ModerationConfig(scrypt_n=FAST_SCRYPT, **config)  # type: ignore[arg-type]
        return ModerationService(Database(self.db.url), self.data_dir, cfg, clock=self.clock)

    def staff(self, name: str, role: str = "reviewer") -> Staff:
        return self.svc.create_staff(name, PASSWORD, role)


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    db = Database(db_url)
    db.migrate()
    clock = Clock()
    data_dir = tmp_path / "var"
    svc = ModerationService(db, data_dir, ModerationConfig(scrypt_n=FAST_SCRYPT), clock=clock)
    yield Env(db, data_dir, clock, svc)
    db.dispose()


def gradient_png(seed: int = 0) -> bytes:
    """A benign generated picture (gradient with a shape), distinct per seed."""
    img = Image.new("RGB", (160, 120))
    px = img.load()
    assert px is not None
    for y in range(120):
        for x in range(160):
            px[x, y] = ((x * 3 + seed * 40) % 256, (y * 2 + seed * 17) % 256, (x + y + seed * 5) % 256)
    ImageDraw.Draw(img).ellipse((30 + seed, 20, 90 + seed, 80), fill=(250, 250, 250))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def match(entry: str = "entry-1", signal: str = "pdq", distance: int = 6) -> dict[str, object]:
    return {
        "list": "standins",
        "entry_id": entry,
        "signal_type": signal,
        "value": "ab" * 32,
        "distance": distance,
        "source_org": "tests",
        "classification_scheme": "",
        "classification_label": "",
        "licence": "",
    }


def dump_database(db: Database) -> bytes:
    """Every value of every table (bytes raw, text UTF-8): what a database thief would get."""
    meta = MetaData()
    meta.reflect(db.engine)
    out = bytearray()
    with db.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for v in row:
                    out += v if isinstance(v, bytes) else str(v).encode()
                    out += b"\x00"
    return bytes(out)


def files_under(path: Path) -> bytes:
    """The bytes of every file under ``path`` (the data directory: keys, anchor, SQLite file and its WAL)."""
    out = bytearray()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            out += p.read_bytes()
    return bytes(out)
