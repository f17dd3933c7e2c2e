"""Admin pages through TestClient over the real facade: staff accounts, purge on demand, transparency report."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from blindmatch.moderation.checkpoint import public_key_hex
from blindmatch.service.storage.moderation import EvidenceRow, StaffRow

from .conftest import PASSWORD, Console, assert_no_inline_script, form_token, listed_image, login, squash

IMAGE = "kodak-01.jpg"


def _db(console: Console) -> Any:
    return console.app.state.blindmatch.services["db"]


def _names(console: Console) -> dict[str, bool]:
    """username -> disabled, as the facade has them."""
    return {a.username: a.disabled for a in console.moderation.list_staff(console.staff["ada"])}


# ----------------------------------------------------------------------------------------------- staff


def test_admin_lists_staff_without_password_hashes(console: Console) -> None:
    ada = console.client()
    login(ada, "ada")
    r = ada.get("/console/staff")
    assert r.status_code == 200
    page = squash(r.text)
    for name, role in (("rita", "reviewer"), ("sue", "supervisor"), ("ada", "admin")):
        assert f'<tr id="staff-{name}"> <td class="mono">{name}</td> <td>{role}</td> <td>active</td>' in page
    with _db(console).session() as s:
        hashes = list(s.execute(select(StaffRow.password_hash)).scalars())
    assert len(hashes) == 4 and not any(h in r.text for h in hashes)
    assert_no_inline_script(r.text)


def test_create_with_a_generated_password_shown_once(console: Console) -> None:
    ada = console.client()
    csrf = login(ada, "ada")
    r = ada.post("/console/staff", data={"csrf_token": csrf, "username": "Vera", "role": "reviewer", "password": ""})
    assert r.status_code == 200
    shown = re.search(r'<code class="secret" id="initial-password">([^<]+)</code>', r.text)
    assert shown is not None
    password = shown.group(1)
    assert len(password) >= 12
    assert "Account vera created (reviewer)" in r.text  # usernames are lower-cased by the facade
    assert password not in ada.get("/console/staff").text  # shown once: never again
    vera = console.client()
    login(vera, "vera", password)  # the generated password works
    created = [a for a in console.moderation.audit_records() if a.action == "staff_create"]
    assert (created[-1].actor, created[-1].subject, created[-1].details) == ("ada", "staff:vera", {"role": "reviewer"})


def test_create_with_a_password_the_admin_sets_and_refusals(console: Console) -> None:
    ada = console.client()
    csrf = login(ada, "ada")
    form = {"csrf_token": csrf, "username": "walt", "role": "supervisor", "password": "a long chosen secret"}
    r = ada.post("/console/staff", data=form)
    assert r.status_code == 200 and "uses the password you set" in r.text and "initial-password" not in r.text
    walt = console.client()
    login(walt, "walt", "a long chosen secret")
    assert walt.get("/console/appeals").status_code == 200  # a supervisor
    dup = ada.post("/console/staff", data=form)
    assert dup.status_code == 409 and "StaffExistsError" in dup.text
    short = ada.post("/console/staff", data=form | {"username": "xena", "password": "short"})
    assert short.status_code == 400 and "12 to 1024" in short.text
    bad = ada.post("/console/staff", data=form | {"username": "x y", "password": ""})
    assert bad.status_code == 400 and "username" in bad.text
    role = ada.post("/console/staff", data=form | {"username": "yan", "role": "root"})
    assert role.status_code == 400 and "unknown role" in role.text
    assert set(_names(console)) == {"rita", "rob", "sue", "ada", "walt"}


def test_disable_ends_sessions_and_enable_restores_login(console: Console) -> None:
    rita = console.client()
    login(rita, "rita")
    ada = console.client()
    csrf = login(ada, "ada")
    r = ada.post("/console/staff/rita/disable", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Account disabled" in r.text
    assert '<tr id="staff-rita"> <td class="mono">rita</td> <td>reviewer</td> <td>disabled</td>' in squash(r.text)
    assert rita.get("/console/queue", follow_redirects=False).status_code == 303  # the open session is gone
    page = rita.get("/console/login")
    refused = rita.post(
        "/console/login", data={"username": "rita", "password": PASSWORD, "csrf_token": form_token(page.text)}
    )
    assert refused.status_code == 401
    back = ada.post("/console/staff/rita/enable", data={"csrf_token": csrf})
    assert back.status_code == 200 and "Account enabled again." in back.text
    login(rita, "rita")
    actions = [(a.action, a.subject) for a in console.moderation.audit_records() if a.actor == "ada"]
    assert ("staff_disable", "staff:rita") in actions and ("staff_enable", "staff:rita") in actions


def test_an_admin_cannot_disable_themselves_and_unknown_is_404(console: Console) -> None:
    ada = console.client()
    csrf = login(ada, "ada")
    own = ada.post("/console/staff/ada/disable", data={"csrf_token": csrf})
    assert own.status_code == 400 and "your own account" in own.text
    assert ada.get("/console/staff").status_code == 200  # still logged in
    assert ada.post("/console/staff/nobody/disable", data={"csrf_token": csrf}).status_code == 404


@pytest.mark.parametrize("who", ["rita", "sue"])
def test_only_admins_manage_staff(console: Console, who: str) -> None:
    client = console.client()
    csrf = login(client, who)
    assert client.get("/console/staff").status_code == 403
    assert "/console/staff" not in client.get("/console/queue").text
    form = {"csrf_token": csrf, "username": "mallory", "role": "admin", "password": "a long chosen secret"}
    assert client.post("/console/staff", data=form).status_code == 403
    assert client.post("/console/staff/ada/disable", data={"csrf_token": csrf}).status_code == 403
    assert "mallory" not in _names(console) and _names(console)["ada"] is False


def test_staff_forms_need_the_csrf_token(console: Console) -> None:
    ada = console.client()
    login(ada, "ada")
    form = {"username": "mallory", "role": "admin", "password": "a long chosen secret"}
    assert ada.post("/console/staff", data=form).status_code == 403
    assert ada.post("/console/staff/rita/disable").status_code == 403
    assert "mallory" not in _names(console) and _names(console)["rita"] is False


# ----------------------------------------------------------------------------------------------- purge


def test_purge_now_shows_the_result_and_keeps_held_evidence(console: Console, shared_data: Path) -> None:
    old_dismissed = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    old_held = console.open_scan_case(listed_image(shared_data, "kodak-02.jpg"), "kodak-02.jpg", exact=True)
    fresh = console.open_scan_case(listed_image(shared_data, "kodak-03.jpg"), "kodak-03.jpg", exact=True)
    console.moderation.decide(console.staff["rob"], old_dismissed, "dismiss")
    console.moderation.decide(console.staff["rob"], old_held, "dismiss")
    console.moderation.place_legal_hold(console.staff["sue"], old_held, "complaint pending")
    long_ago = datetime.now(UTC) - timedelta(days=60)  # past the 30 days a dismissed case's evidence is kept
    with _db(console).session() as s:
        s.execute(
            update(EvidenceRow).where(EvidenceRow.case_id.in_([old_dismissed, old_held])).values(created_at=long_ago)
        )
    ada = console.client()
    csrf = login(ada, "ada")
    form = ada.get("/console/purge")
    assert form.status_code == 200 and "Run purge now" in form.text
    assert_no_inline_script(form.text)
    r = ada.post("/console/purge", data={"csrf_token": csrf})
    assert r.status_code == 200
    page = squash(r.text)
    assert '<dd id="purge-checked">3</dd>' in page
    assert '<dd id="purge-purged">1</dd>' in page
    assert '<dd id="purge-held">1</dd>' in page
    ev = {c: console.moderation.case(console.staff["ada"], c).evidence[0] for c in (old_dismissed, old_held, fresh)}
    assert ev[old_dismissed].id in r.text and not ev[old_dismissed].available
    assert ev[old_held].available and ev[fresh].available
    runs = [a for a in console.moderation.audit_records() if a.action == "purge_run"]
    assert [(a.actor, a.details) for a in runs] == [("ada", {"purged": 1, "held": 1, "checked": 3})]
    history = console.moderation.case(console.staff["ada"], old_dismissed).history
    assert [h.actor for h in history if h.event == "purge"] == ["ada"]


def test_purge_is_admin_only_and_needs_csrf(console: Console) -> None:
    sue = console.client()
    csrf = login(sue, "sue")
    assert sue.get("/console/purge").status_code == 403
    assert sue.post("/console/purge", data={"csrf_token": csrf}).status_code == 403
    ada = console.client()
    login(ada, "ada")
    assert ada.post("/console/purge").status_code == 403
    assert [a for a in console.moderation.audit_records() if a.action == "purge_run"] == []


# ----------------------------------------------------------------------------------------------- transparency


def test_transparency_page_and_downloads(console: Console, shared_data: Path) -> None:
    confirmed = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    dismissed = console.open_scan_case(listed_image(shared_data, "kodak-02.jpg"), "kodak-02.jpg", exact=False)
    console.moderation.decide(console.staff["rob"], confirmed, "confirm")
    console.moderation.decide(console.staff["rob"], dismissed, "dismiss")
    console.moderation.enforce(console.staff["rob"], confirmed, "ban", facts="Shared a listed file.", grounds="ToS")
    year = datetime.now(UTC).year
    ada = console.client()
    login(ada, "ada")
    r = ada.get(f"/console/transparency?year={year}")
    assert r.status_code == 200
    assert_no_inline_script(r.text)
    page = squash(r.text)
    # pdq matched both cases (one confirmed, one dismissed); sha256 only the confirmed one
    assert "<td>pdq</td><td>2</td><td>2</td><td>1</td><td>1</td><td>0</td><td>50.0 %</td>" in page
    assert "<td>sha256</td><td>1</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0.0 %</td>" in page
    assert '<dd id="transparency-actions">ban: 1</dd>' in page
    html = ada.get(f"/console/transparency/report.html?year={year}")
    assert html.status_code == 200
    assert html.headers["content-disposition"] == f'attachment; filename="transparency-{year}.html"'
    assert html.text.startswith("<!DOCTYPE html>") and f"transparency report {year}" in html.text
    assert "<svg" in html.text  # the reporting package's page, with its charts
    csv_r = ada.get(f"/console/transparency/report.csv?year={year}")
    assert csv_r.headers["content-disposition"] == f'attachment; filename="transparency-{year}.csv"'
    rows = list(csv.reader(io.StringIO(csv_r.text)))
    assert rows[0] == ["section", "item", "metric", "value"]
    values = {(sec, item, metric): value for sec, item, metric, value in rows[1:]}
    assert values[("technology", "pdq", "false_positives")] == "1"
    # the published report carries the key that verifies the audit log's signed checkpoints
    key = public_key_hex(console.moderation.audit_checkpoint_key())
    assert values[("audit", "checkpoint_key", "ed25519")] == key and f"<code>{key}</code>" in html.text
    empty = ada.get(f"/console/transparency?year={year - 1}")
    assert empty.status_code == 200 and '<dd id="transparency-actions">none</dd>' in squash(empty.text)


def test_transparency_is_admin_only_and_checks_the_year(console: Console) -> None:
    sue = console.client()
    login(sue, "sue")
    assert sue.get("/console/transparency").status_code == 403
    assert sue.get("/console/transparency/report.csv").status_code == 403
    assert "/console/transparency" not in sue.get("/console/queue").text
    ada = console.client()
    login(ada, "ada")
    assert ada.get("/console/transparency").status_code == 200  # the current year by default
    assert ada.get("/console/transparency?year=20000").status_code == 400
    assert ada.get("/console/transparency?year=soon").status_code == 400
