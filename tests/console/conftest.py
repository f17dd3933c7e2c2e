"""Console fixtures: a real app (SQLite in tmp_path) whose moderation facade has cheap scrypt, seeded staff and
cases opened from benign listed stand-in photos, and helpers that log in the way a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blindmatch.hashing.files import hash_bytes
from blindmatch.moderation.views import Staff
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.console.runtime import ConsoleRuntime
from blindmatch.service.console.security import ConsoleConfig, LoginRateLimiter
from blindmatch.service.matching import Match
from blindmatch.service.moderation import ModerationConfig, ModerationService

PASSWORD = "correct horse battery"
#: username -> role of the staff every console test starts with.
STAFF = {"rita": "reviewer", "rob": "reviewer", "sue": "supervisor", "ada": "admin"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def listed_image(shared_data: Path, name: str) -> bytes:
    return (shared_data / "images" / "listed" / name).read_bytes()


def scan_matches(data: bytes, *, exact: bool) -> list[dict[str, object]]:
    """What the matcher reports for a listed stand-in: its PDQ entry (distance 0) and, if ``exact``, its SHA-256."""
    h = hash_bytes(data)
    common = {"source_org": "test hotline (benign stand-ins)", "classification_scheme": "test"}
    found = [Match("standins", "item:pdq", "pdq", h.pdq, 0, classification_label="stand-in", **common)]
    if exact:
        found.append(Match("standins", "item:sha256", "sha256", h.sha256, 0, classification_label="stand-in", **common))
    return [m.as_dict() for m in found]


@dataclass
class Console:
    app: FastAPI
    moderation: ModerationService
    staff: dict[str, Staff] = field(default_factory=dict)

    def client(self, *, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url)

    def open_scan_case(self, data: bytes, filename: str, *, exact: bool, user: str = "user-42") -> int:
        return self.moderation.open_from_scan(data, filename, scan_matches(data, exact=exact), subject_user=user)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form (with its double-submit token); return the session's CSRF token."""
    page = client.get("/console/login")
    token = CSRF_FIELD.search(page.text)
    assert token is not None
    r = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    queue = client.get("/console/queue")
    assert queue.status_code == 200
    csrf = CSRF_FIELD.search(queue.text)
    assert csrf is not None
    return csrf.group(1)


#: Who files reports in tests (the export needs a reporter; example.org is reserved for documentation).
REPORTER = {"reporter_email": "trust-and-safety@example.org"}


def build_console(
    data_dir: Path,
    config: ConsoleConfig | None = None,
    *,
    two_person: bool = False,
    extra: dict[str, str] | None = None,
    database_url: str | None = None,
) -> Console:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url or f"sqlite:///{data_dir / 'bm.sqlite3'}",
        extra=dict(REPORTER if extra is None else extra),
    )
    app = create_app(settings)
    services = app.state.blindmatch.services
    # The same facade create_app registers, with a cheap scrypt so logging in many times stays fast in tests.
    moderation = ModerationService(
        services["db"], settings.data_dir, ModerationConfig(scrypt_n=2**10, two_person=two_person)
    )
    services["moderation"] = moderation
    if config is not None:
        app.state.console = ConsoleRuntime(config=config, limiter=LoginRateLimiter(config))
    console = Console(app, moderation)
    for name, role in STAFF.items():
        console.staff[name] = moderation.create_staff(name, PASSWORD, role)
    return console


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    yield build_console(tmp_path / "var")


def squash(html: str) -> str:
    """The page with runs of white space made one space (templates indent freely)."""
    return re.sub(r"\s+", " ", html)


def form_token(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found is not None
    return found.group(1)


def assert_no_inline_script(html: str) -> None:
    """Every script is an external file of ours, and no element carries an inline event handler."""
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts, "the page loads htmx and console.js"
    for attrs, body in scripts:
        assert re.search(r'src="/console/static/[a-z.]+\.js"', attrs) and not body.strip()
    assert re.search(r"\son[a-z]+\s*=", html, flags=re.I) is None
    assert "javascript:" not in html.lower()
