"""The moderation CLI commands against a configured data directory and database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from blindmatch.cli_moderation import moderation_app, staff_app

from .conftest import PASSWORD, Env, gradient_png, match


@pytest.fixture
def cli_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("BLINDMATCH_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("BLINDMATCH_DATABASE_URL", env.db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BLINDMATCH_MODERATION_SCRYPT_N", "1024")
    return env


def test_staff_create_reads_the_password_from_the_environment(cli_env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLINDMATCH_STAFF_PASSWORD", PASSWORD)
    r = CliRunner().invoke(staff_app, ["create", "sam", "--role", "supervisor"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"id": 1, "username": "sam", "role": "supervisor"}
    assert cli_env.svc.authenticate("sam", PASSWORD) is not None
    again = CliRunner().invoke(staff_app, ["create", "sam"])
    assert again.exit_code == 2 and "StaffExistsError" in again.output
    bad = CliRunner().invoke(staff_app, ["create", "rita", "--role", "boss"])
    assert bad.exit_code == 2 and "unknown role" in bad.output


def test_ingest_and_purge_commands(cli_env: Env) -> None:
    r = CliRunner().invoke(moderation_app, ["ingest"])
    assert r.exit_code == 0 and json.loads(r.stdout)["opened"] == []
    cid = cli_env.svc.open_from_scan(gradient_png(5), "f.png", [match()], subject_user="u")
    r = CliRunner().invoke(moderation_app, ["purge"])
    assert r.exit_code == 0 and json.loads(r.stdout) == {"purged": [], "kept_on_hold": 0, "checked": 1}
    later = (cli_env.clock.now.replace(year=cli_env.clock.now.year + 2)).isoformat()
    r = CliRunner().invoke(moderation_app, ["purge", "--now", later])
    assert r.exit_code == 0 and len(json.loads(r.stdout)["purged"]) == 1
    rev = cli_env.staff("rita")
    assert not cli_env.svc.case(rev, cid).evidence[0].available
    bad = CliRunner().invoke(moderation_app, ["purge", "--now", "yesterday"])
    assert bad.exit_code == 2
