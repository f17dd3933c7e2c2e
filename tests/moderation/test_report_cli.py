"""``blindmatch report transparency|export`` and ``audit verify`` through the real CLI app."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import text
from typer.testing import CliRunner

from blindmatch.cli import app

from .conftest import PASSWORD, Env, gradient_png, match


@pytest.fixture
def cli_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("BLINDMATCH_DATA_DIR", str(env.data_dir))
    monkeypatch.setenv("BLINDMATCH_DATABASE_URL", env.db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BLINDMATCH_MODERATION_SCRYPT_N", "1024")
    monkeypatch.setenv("BLINDMATCH_STAFF_PASSWORD", PASSWORD)
    monkeypatch.setenv("BLINDMATCH_REPORTER_EMAIL", "trust-and-safety@example.org")
    return env


def _cases(env: Env) -> tuple[int, int]:
    rita, sam = env.staff("rita"), env.staff("sam", "supervisor")
    confirmed = env.svc.open_from_scan(gradient_png(1), "a.png", [match("e1")], subject_user="u1")
    dismissed = env.svc.open_from_scan(gradient_png(2), "b.png", [match("e2", distance=30)], subject_user="u2")
    view = env.svc.case(rita, confirmed)
    env.svc.reveal(rita, confirmed, view.evidence[0].id)
    env.svc.decide(rita, confirmed, "confirm", "matches the listed stand-in")
    env.svc.decide(sam, dismissed, "dismiss", "a different picture")
    return confirmed, dismissed


def test_export_and_transparency_report(cli_env: Env, tmp_path: Path) -> None:
    confirmed, dismissed = _cases(cli_env)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["report", "export", str(confirmed), "--user", "sam", "--out", str(out)])
    assert r.exit_code == 0, r.output
    path = Path(json.loads(r.stdout)["path"])
    assert path.stat().st_mode & 0o777 == 0o600
    root = etree.fromstring(path.read_bytes())
    assert root.tag == "report" and root.find(".//reporter") is not None
    # an unconfirmed case is refused, a reviewer without the export permission too, and a wrong password
    r = CliRunner().invoke(app, ["report", "export", str(dismissed), "--user", "sam", "--out", str(out)])
    assert r.exit_code == 2 and "only a confirmed case" in r.output
    r = CliRunner().invoke(app, ["report", "export", str(confirmed), "--user", "rita", "--out", str(out)])
    assert r.exit_code == 2
    r = CliRunner().invoke(
        app, ["report", "export", str(confirmed), "--user", "sam"], env={"BLINDMATCH_STAFF_PASSWORD": "wrong"}
    )
    assert r.exit_code == 2 and "wrong user name or password" in r.output
    # the transparency report counts the confirmation and the false positive under PDQ
    year = cli_env.clock.now.year
    r = CliRunner().invoke(app, ["report", "transparency", "--year", str(year), "--out", str(out)])
    assert r.exit_code == 0, r.output
    paths = json.loads(r.stdout)
    html = Path(paths["html"]).read_text()
    assert "<svg" in html and str(year) in html
    rows = list(csv.DictReader(io.StringIO(Path(paths["csv"]).read_text())))
    assert rows, "CSV has rows"
    flat = json.dumps(rows)
    assert "pdq" in flat.lower()
    key = json.loads(CliRunner().invoke(app, ["audit", "public-key"]).stdout)["public_key"]
    published = [row["value"] for row in rows if (row["section"], row["item"]) == ("audit", "checkpoint_key")]
    assert published == [key] and key in html
    bad = CliRunner().invoke(app, ["report", "transparency", "--year", "12"])
    assert bad.exit_code == 2


def test_audit_verify_detects_an_edited_record(cli_env: Env) -> None:
    _cases(cli_env)
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True
    with cli_env.db.engine.begin() as conn:
        conn.execute(text("UPDATE mod_audit SET actor = 'mallory' WHERE seq = 2"))
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["first_bad_seq"] == 2


def test_submit_files_the_case_with_the_fake_cybertipline_and_sets_the_legal_hold(
    cli_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blindmatch.reporting.fake_ncmec import FakeCyberTipline, run_fake_server

    confirmed, dismissed = _cases(cli_env)
    fake = FakeCyberTipline(username="esp", password="secret")
    with run_fake_server(fake) as (_, url):
        monkeypatch.setenv("BLINDMATCH_CYBERTIP_URL", url)
        monkeypatch.setenv("BLINDMATCH_CYBERTIP_USERNAME", "esp")
        monkeypatch.setenv("BLINDMATCH_CYBERTIP_PASSWORD", "secret")
        r = CliRunner().invoke(app, ["report", "submit", str(confirmed), "--user", "sam"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["state"] == "finished" and out["report_id"]
        report = fake.reports[out["report_id"]]
        assert report.finished and len(report.files) == 1
        assert next(iter(report.files.values())).md5 == __import__("hashlib").md5(gradient_png(1)).hexdigest()
        # the filing placed a legal hold on the case (seen through a service on the real clock, like the CLI's);
        # running again is a no-op on a finished report
        from blindmatch.cli_moderation import _service

        real = _service()
        staff = real.authenticate("sam", PASSWORD)
        assert staff is not None
        view = real.case(staff, confirmed)
        assert view.summary.legal_hold and view.legal_hold_until is not None
        again = CliRunner().invoke(app, ["report", "submit", str(confirmed), "--user", "sam"])
        assert again.exit_code == 0 and json.loads(again.stdout)["report_id"] == out["report_id"]
        assert len(fake.reports) == 1
        # a dismissed case is never filed
        r = CliRunner().invoke(app, ["report", "submit", str(dismissed), "--user", "sam"])
        assert r.exit_code == 2 and "only a confirmed case" in r.output
    # NCMEC's production host is refused without the explicit setting
    monkeypatch.setenv("BLINDMATCH_CYBERTIP_URL", "https://report.cybertip.org/ispws")
    r = CliRunner().invoke(app, ["report", "submit", str(confirmed), "--user", "sam"])
    assert r.exit_code == 2 and "production" in r.output
