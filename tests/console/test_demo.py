"""``make run``'s console logins: three demo accounts with random passwords in a 0600 file, made once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.console.demo import DEMO_STAFF, LOGINS_FILE, ensure_demo_staff

from .conftest import Console, build_console


def read_logins(path: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, password, role = line.split()
            out[name] = (password, role)
    return out


def test_demo_staff_file_is_private_and_logins_work(tmp_path: Path) -> None:
    console: Console = build_console(tmp_path / "var")
    path = ensure_demo_staff(console.moderation, tmp_path / "var")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    logins = read_logins(path)
    assert {n: r for n, (_, r) in logins.items()} == dict(DEMO_STAFF)
    for name, (password, role) in logins.items():
        staff = console.moderation.authenticate(name, password)
        assert staff is not None and staff.role.value == role
    before = path.read_text()
    ensure_demo_staff(console.moderation, tmp_path / "var")  # a restart keeps the accounts and the file
    assert path.read_text() == before


def test_demo_mode_creates_the_console_logins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLINDMATCH_DEMO_IMAGES", str(tmp_path / "no-such-dir"))  # generated demo list: fast
    monkeypatch.setenv("BLINDMATCH_MODERATION_SCRYPT_N", str(2**10))
    data_dir = tmp_path / "var"
    app = create_app(Settings(data_dir=data_dir, demo=True))
    logins = read_logins(data_dir / LOGINS_FILE)
    assert set(logins) == {name for name, _ in DEMO_STAFF}
    assert len({password for password, _ in logins.values()}) == 3
    # one demo case, opened by scanning a demo stand-in against the demo list, and only once
    moderation = app.state.blindmatch.services["moderation"]
    admin = moderation.authenticate("demo-admin", logins["demo-admin"][0])
    assert admin is not None
    cases = moderation.queue(admin, None)
    assert len(cases) == 1 and cases[0].subject_user == "demo-user" and cases[0].priority == 1
    create_app(Settings(data_dir=data_dir, demo=True))
    assert len(moderation.queue(admin, None)) == 1
