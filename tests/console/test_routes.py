"""The console over the real moderation facade, through FastAPI's TestClient: login, CSRF, roles, evidence."""

from __future__ import annotations

import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from blindmatch.service.console.routes import evidence_delivery
from blindmatch.service.console.security import ConsoleConfig

from .conftest import (
    PASSWORD,
    Console,
    assert_no_inline_script,
    build_console,
    form_token,
    listed_image,
    login,
    squash,
)

IMAGE = "kodak-01.jpg"


@pytest.fixture
def case_id(console: Console, shared_data: Path) -> int:
    return console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)


def evidence_id(console: Console, case_id: int) -> str:
    view = console.moderation.case(console.staff["ada"], case_id)
    assert len(view.evidence) == 1
    return view.evidence[0].id


# ----------------------------------------------------------------------------------------------- login


def test_login_page_headers_and_double_submit_cookie(console: Console) -> None:
    r = console.client().get("/console/login")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    cookie = r.headers["set-cookie"]
    assert "bm_console_login_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert_no_inline_script(r.text)


def test_login_sets_a_strict_httponly_session_cookie(console: Console) -> None:
    client = console.client()
    login(client, "rita")
    session_cookie = client.cookies.get("bm_console")
    assert session_cookie
    assert console.moderation.session(session_cookie) is not None


def test_secure_mode_uses_host_prefix_and_secure_flag(tmp_path: Path) -> None:
    console = build_console(tmp_path / "var", ConsoleConfig(secure_cookies=True))
    client = console.client(base_url="https://testserver")
    page = client.get("/console/login")
    assert "__Host-bm_console_login_csrf=" in page.headers["set-cookie"]
    r = client.post(
        "/console/login",
        data={"username": "rita", "password": PASSWORD, "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    set_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("__Host-bm_console=")]
    assert len(set_cookie) == 1
    assert "Secure" in set_cookie[0] and "HttpOnly" in set_cookie[0] and "Path=/" in set_cookie[0]
    assert "Domain" not in set_cookie[0]


def test_wrong_password_is_refused_with_one_message(console: Console) -> None:
    client = console.client()
    page = client.get("/console/login")
    for user in ("rita", "nobody"):
        form = {"username": user, "password": "wrong password!", "csrf_token": form_token(page.text)}
        r = page = client.post("/console/login", data=form)
        assert r.status_code == 401
        assert "Wrong username or password" in r.text
        assert "bm_console=" not in r.headers.get("set-cookie", "")


def test_login_without_the_form_token_is_refused(console: Console) -> None:
    r = console.client().post("/console/login", data={"username": "rita", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    assert "bm_console=" not in r.headers.get("set-cookie", "")


def test_login_rate_limit_per_username(tmp_path: Path) -> None:
    console = build_console(tmp_path / "var", ConsoleConfig(login_failures_per_user=3))
    client = console.client()
    page = client.get("/console/login")
    statuses = []
    for _ in range(3):
        page = client.post(
            "/console/login",
            data={"username": "rita", "password": "not the password", "csrf_token": form_token(page.text)},
        )
        statuses.append(page.status_code)
    assert statuses == [401, 401, 401]
    form = {"username": "rita", "password": PASSWORD, "csrf_token": form_token(page.text)}
    limited = client.post("/console/login", data=form)
    assert limited.status_code == 429  # even the right password waits: the limit is checked first
    assert int(limited.headers["retry-after"]) > 0
    assert "too many failed logins" in limited.text


def test_pages_need_a_session(console: Console) -> None:
    client = console.client()
    r = client.get("/console/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    htmx = client.get("/console/queue/rows", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/console/login"
    forged = console.client()
    forged.cookies.set("bm_console", "made-up")
    assert forged.get("/console/queue", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(console: Console) -> None:
    client = console.client()
    csrf = login(client, "rita")
    token = client.cookies.get("bm_console")
    assert token is not None
    r = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert console.moderation.session(token) is None
    client.cookies.set("bm_console", token)  # even a copy of the old cookie is useless now
    assert client.get("/console/queue", follow_redirects=False).status_code == 303


# ----------------------------------------------------------------------------------------------- CSRF


def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(console: Console, case_id: int) -> None:
    client = console.client()
    login(client, "rita")
    other = console.client()
    other_csrf = login(other, "rob")  # a valid token, but of another session
    for data, headers in (
        ({"decision": "confirm"}, {}),
        ({"decision": "confirm", "csrf_token": "x" * 43}, {}),
        ({"decision": "confirm", "csrf_token": other_csrf}, {}),
        ({"decision": "confirm"}, {"X-CSRF-Token": other_csrf, "HX-Request": "true"}),
    ):
        r = client.post(f"/console/cases/{case_id}/decide", data=data, headers=headers)
        assert r.status_code == 403, data
        assert "CsrfError" in r.text
    assert console.moderation.case(console.staff["ada"], case_id).summary.status.value == "open"


def test_htmx_header_variant_of_the_csrf_token(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    r = client.post(
        f"/console/cases/{case_id}/decide",
        data={"decision": "escalate"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert console.moderation.case(console.staff["ada"], case_id).summary.status.value == "escalated"


# ----------------------------------------------------------------------------------------------- roles


def test_reviewer_cannot_open_audit_appeals_or_export(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/appeals").status_code == 403
    assert client.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf}).status_code == 403
    page = client.get("/console/queue").text
    assert "/console/audit" not in page and "/console/appeals" not in page


def test_supervisor_and_admin_see_the_audit_log(console: Console, case_id: int) -> None:
    for name in ("sue", "ada"):
        client = console.client()
        login(client, name)
        r = client.get("/console/audit")
        assert r.status_code == 200
        assert "Hash chain intact" in r.text
        assert f"case:{case_id}" in r.text and "staff_create" in r.text and "login" in r.text


def test_admin_signs_a_checkpoint_that_verifies_and_supervisors_only_see_the_key(
    console: Console, case_id: int
) -> None:
    from blindmatch.moderation.checkpoint import parse_checkpoint, public_key_from_hex

    sue = console.client()
    sue_csrf = login(sue, "sue")
    page = sue.get("/console/audit").text
    key = re.search(r'id="checkpoint-key">([0-9a-f]{64})<', page)
    assert key is not None and "Sign a checkpoint now" not in page
    assert sue.post("/console/audit/checkpoint", data={"csrf_token": sue_csrf}).status_code == 403
    ada = console.client()
    ada_csrf = login(ada, "ada")
    assert "Sign a checkpoint now" in ada.get("/console/audit").text
    assert ada.post("/console/audit/checkpoint", data={"csrf_token": "wrong"}).status_code == 403
    r = ada.post("/console/audit/checkpoint", data={"csrf_token": ada_csrf})
    assert r.status_code == 200, r.text
    shown = re.search(r'<pre class="mono" id="checkpoint-json">([^<]+)</pre>', r.text)
    assert shown is not None
    cp = parse_checkpoint(json.loads(shown.group(1).replace("&#34;", '"')))
    result, found = console.moderation.audit_verify_checkpoints([cp], public_key_from_hex(key.group(1)))
    assert result.ok and found[0].seq is not None
    last = console.moderation.audit_records(after=found[0].seq or 0)
    assert [(x.actor, x.action) for x in last] == [("ada", "audit.checkpoint")]


# ----------------------------------------------------------------------------------------------- queue


def test_queue_lists_cases_by_priority_with_an_htmx_partial(console: Console, shared_data: Path) -> None:
    later_but_urgent = "kodak-02.jpg"
    first = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=False)
    urgent = console.open_scan_case(listed_image(shared_data, later_but_urgent), later_but_urgent, exact=True)
    client = console.client()
    login(client, "rita")
    page = client.get("/console/queue").text
    assert page.index(f"case-{urgent}") < page.index(f"case-{first}")  # exact hash match first, though newer
    rows = client.get("/console/queue/rows", headers={"HX-Request": "true"})
    assert rows.status_code == 200
    assert "<html" not in rows.text and f'id="case-{urgent}"' in rows.text
    assert client.get("/console/queue?status=bogus").status_code == 400


# ----------------------------------------------------------------------------------------------- evidence


def _sharpness(img: Image.Image) -> float:
    edges = np.asarray(img.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges[2:-2, 2:-2].var())


def test_preview_is_blurred_greyscale_and_records_no_view(console: Console, case_id: int, shared_data: Path) -> None:
    client = console.client()
    login(client, "rita")
    eid = evidence_id(console, case_id)
    r = client.get(f"/console/cases/{case_id}/evidence/{eid}/preview")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "no-store"
    preview = Image.open(io.BytesIO(r.content))
    original = Image.open(io.BytesIO(listed_image(shared_data, IMAGE)))
    assert r.content != listed_image(shared_data, IMAGE)
    if preview.mode not in ("L", "LA"):
        rgb = np.asarray(preview.convert("RGB"), dtype=np.int16)
        assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 1
    same_size = original.convert("L").resize(preview.size)
    assert _sharpness(preview) < 0.2 * _sharpness(same_size)  # far less edge energy than the original
    assert console.moderation.case(console.staff["ada"], case_id).views == ()


def test_reveal_returns_the_file_records_the_view_and_is_not_cached(
    console: Console, case_id: int, shared_data: Path
) -> None:
    client = console.client()
    csrf = login(client, "rita")
    eid = evidence_id(console, case_id)
    assert client.get(f"/console/cases/{case_id}/evidence/{eid}/reveal").status_code == 405  # never by GET
    r = client.post(f"/console/cases/{case_id}/evidence/{eid}/reveal", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(listed_image(shared_data, IMAGE)).digest()
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    views = console.moderation.case(console.staff["ada"], case_id).views
    assert [(v.evidence_id, v.staff) for v in views] == [(eid, "rita")]
    page = client.get(f"/console/cases/{case_id}").text
    assert "You viewed this file." in page
    assert_no_inline_script(page)


def test_reveal_without_csrf_records_nothing(console: Console, case_id: int) -> None:
    client = console.client()
    login(client, "rita")
    eid = evidence_id(console, case_id)
    assert client.post(f"/console/cases/{case_id}/evidence/{eid}/reveal").status_code == 403
    assert console.moderation.case(console.staff["ada"], case_id).views == ()


def test_unknown_evidence_and_case_are_404(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    assert client.get("/console/cases/99999").status_code == 404
    assert client.post(f"/console/cases/{case_id}/evidence/nope/reveal", data={"csrf_token": csrf}).status_code == 404


@pytest.mark.parametrize(
    ("claimed", "expected"),
    [
        ("image/jpeg", ("image/jpeg", "inline")),
        ("IMAGE/PNG; charset=x", ("image/png", "inline")),
        ("text/plain", ("text/plain; charset=utf-8", "inline")),
        ("text/html", ("application/octet-stream", "attachment")),
        ("image/svg+xml", ("application/octet-stream", "attachment")),
        ("video/mp4", ("application/octet-stream", "attachment")),
        ("", ("application/octet-stream", "attachment")),
    ],
)
def test_only_raster_images_and_text_are_shown_inline(claimed: str, expected: tuple[str, str]) -> None:
    assert evidence_delivery(claimed) == expected


# ----------------------------------------------------------------------------------------------- decisions


def test_confirm_then_a_second_decision_is_refused_on_the_case_page(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    r = client.post(f"/console/cases/{case_id}/decide", data={"decision": "confirm", "csrf_token": csrf})
    assert r.status_code == 200 and "Decision recorded: confirmed." in r.text
    again = client.post(f"/console/cases/{case_id}/decide", data={"decision": "dismiss", "csrf_token": csrf})
    assert again.status_code == 409
    assert "InvalidTransitionError" in again.text and f"Case {case_id}" in again.text
    assert console.moderation.case(console.staff["ada"], case_id).summary.status.value == "confirmed"


def test_dismiss_is_a_false_positive(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    r = client.post(f"/console/cases/{case_id}/decide", data={"decision": "dismiss", "csrf_token": csrf})
    assert r.status_code == 200 and "false positive" in r.text
    view = console.moderation.case(console.staff["ada"], case_id)
    assert view.summary.status.value == "dismissed"
    assert [d.decision.value for d in view.decisions] == ["dismiss"]


def test_two_person_rule_in_the_console(tmp_path: Path, shared_data: Path) -> None:
    console = build_console(tmp_path / "var", two_person=True)
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    rita = console.client()
    csrf = login(rita, "rita")
    first = rita.post(f"/console/cases/{cid}/decide", data={"decision": "confirm", "csrf_token": csrf})
    assert "awaiting second" in first.text
    twice = rita.post(f"/console/cases/{cid}/decide", data={"decision": "confirm", "csrf_token": csrf})
    assert twice.status_code == 409 and "TwoPersonRuleError" in twice.text
    rob = console.client()
    csrf_rob = login(rob, "rob")
    second = rob.post(f"/console/cases/{cid}/decide", data={"decision": "confirm", "csrf_token": csrf_rob})
    assert second.status_code == 200
    assert console.moderation.case(console.staff["ada"], cid).summary.status.value == "confirmed"


def test_bad_form_field_is_a_clear_400(console: Console, case_id: int) -> None:
    client = console.client()
    csrf = login(client, "rita")
    r = client.post(f"/console/cases/{case_id}/decide", data={"decision": "approve", "csrf_token": csrf})
    assert r.status_code == 400 and "unknown decision" in r.text
    missing = client.post(f"/console/cases/{case_id}/decide", data={"csrf_token": csrf})
    assert missing.status_code == 400 and "decision" in missing.text


# ----------------------------------------------------------------------------------------------- enforcement


def _confirm(console: Console, case_id: int) -> None:
    console.moderation.decide(console.staff["rob"], case_id, "confirm")


def test_ban_needs_a_statement_of_reasons(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    client = console.client()
    csrf = login(client, "rita")
    form = {"csrf_token": csrf, "action": "ban", "facts": "", "grounds": "ToS 4.2", "notify": "now"}
    blank = client.post(f"/console/cases/{case_id}/enforce", data=form)
    assert blank.status_code == 400 and "facts" in blank.text
    assert console.moderation.is_blocked("user-42") is None
    ok = client.post(f"/console/cases/{case_id}/enforce", data=form | {"facts": "Shared a listed file."})
    assert ok.status_code == 200 and "Enforcement recorded" in ok.text
    assert console.moderation.is_blocked("user-42") == "banned"


def test_suspension_with_a_suppressed_notice(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    client = console.client()
    csrf = login(client, "rita")
    r = client.post(
        f"/console/cases/{case_id}/enforce",
        data={
            "csrf_token": csrf,
            "action": "suspend",
            "until": "2099-01-01T00:00",
            "facts": "Shared a listed file.",
            "grounds": "ToS 4.2",
            "notify": "suppress",
        },
    )
    assert r.status_code == 200
    assert (console.moderation.is_blocked("user-42") or "").startswith("suspended")
    assert console.moderation.notices("user-42") == []  # not tipped off
    bad_date = client.post(
        f"/console/cases/{case_id}/enforce",
        data={"csrf_token": csrf, "action": "suspend", "until": "next week", "facts": "f", "grounds": "g"},
    )
    assert bad_date.status_code == 400 and "until" in bad_date.text


def test_appeal_is_decided_by_someone_else(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    action = console.moderation.enforce(
        console.staff["sue"], case_id, "ban", facts="Shared a listed file.", grounds="ToS 4.2"
    )
    appeal = console.moderation.appeal("user-42", action.id, "That photo is a picture of a house.")
    sue = console.client()
    csrf = login(sue, "sue")
    page = sue.get("/console/appeals")
    assert page.status_code == 200 and "a picture of a house" in page.text
    own = sue.post(f"/console/appeals/{appeal.id}/decide", data={"outcome": "reverse", "csrf_token": csrf})
    assert own.status_code == 409 and "SameReviewerError" in own.text
    assert console.moderation.is_blocked("user-42") == "banned"
    ada = console.client()
    csrf_ada = login(ada, "ada")
    done = ada.post(
        f"/console/appeals/{appeal.id}/decide", data={"outcome": "reverse", "note": "benign", "csrf_token": csrf_ada}
    )
    assert done.status_code == 200 and "Appeal decided." in done.text
    assert console.moderation.is_blocked("user-42") is None


def test_a_supervisor_releases_a_suppressed_notice(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    action = console.moderation.enforce(
        console.staff["rob"], case_id, "ban", facts="Shared a listed file.", grounds="ToS 4.2", notify="suppress"
    )
    rita = console.client()
    csrf = login(rita, "rita")
    page = rita.get(f"/console/cases/{case_id}").text
    assert "suppressed (not released)" in page and "Release the notice now" not in page
    refused = rita.post(f"/console/actions/{action.id}/release", data={"csrf_token": csrf, "case_id": str(case_id)})
    assert refused.status_code == 403
    assert console.moderation.notices("user-42") == []
    sue = console.client()
    csrf_sue = login(sue, "sue")
    assert "Release the notice now" in sue.get(f"/console/cases/{case_id}").text
    done = sue.post(f"/console/actions/{action.id}/release", data={"csrf_token": csrf_sue, "case_id": str(case_id)})
    assert done.status_code == 200 and "The notice was released to the user." in done.text
    assert [n.action_id for n in console.moderation.notices("user-42")] == [action.id]


# ----------------------------------------------------------------------------------------------- export


def test_export_cybertipline_xml_and_eu_json_with_the_view_recorded(console: Console, case_id: int) -> None:
    eid = evidence_id(console, case_id)
    console.moderation.reveal(console.staff["rob"], case_id, eid)
    sue = console.client()
    csrf = login(sue, "sue")
    early = sue.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf})
    assert early.status_code == 422 and "only a confirmed case" in early.text
    _confirm(console, case_id)
    console.moderation.enforce(console.staff["rob"], case_id, "ban", facts="Shared a listed file.", grounds="ToS")
    r = sue.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert r.headers["content-disposition"] == f'attachment; filename="cybertipline-case-{case_id}.xml"'
    assert r.headers["cache-control"] == "no-store"
    root = ET.fromstring(r.content)
    assert root.tag == "report"
    assert root.findtext("reporter/reportingPerson/email") == "trust-and-safety@example.org"
    assert root.findtext("personOrUserReported/espIdentifier") == "user-42"
    assert root.find("personOrUserReported/accountPermanentlyDisabled") is not None
    eu = sue.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf, "recipient": "eu-centre"})
    assert eu.status_code == 200 and eu.headers["content-type"].startswith("application/json")
    document = json.loads(eu.content)
    sha = console.moderation.case(console.staff["ada"], case_id).evidence[0].sha256
    assert [(f["hashes"]["sha256"], f["viewed_by_provider"]) for f in document["files"]] == [(sha, True)]
    exports = [a for a in console.moderation.audit_records() if a.action == "export"]
    assert [(a.actor, a.subject, a.details["recipient"]) for a in exports] == [
        ("sue", f"case:{case_id}", "cybertipline"),
        ("sue", f"case:{case_id}", "eu-centre"),
    ]
    assert exports[0].details["sha256"] == hashlib.sha256(r.content).hexdigest()
    bad = sue.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf, "recipient": "interpol"})
    assert bad.status_code == 422 and "unknown recipient" in bad.text
    assert sue.post(f"/console/cases/{case_id}/export").status_code == 403  # CSRF applies to downloads too


def test_export_of_an_unviewed_file_says_so(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    ada = console.client()
    csrf = login(ada, "ada")
    eu = ada.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf, "recipient": "eu-centre"})
    assert [f["viewed_by_provider"] for f in json.loads(eu.content)["files"]] == [False]


def test_export_without_a_configured_reporter_says_so(tmp_path: Path, shared_data: Path) -> None:
    console = build_console(tmp_path / "var", extra={})
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    _confirm(console, cid)
    client = console.client()
    csrf = login(client, "ada")
    r = client.post(f"/console/cases/{cid}/export", data={"csrf_token": csrf})
    assert r.status_code == 501 and "BLINDMATCH_REPORTER_EMAIL" in r.text
    assert [a for a in console.moderation.audit_records() if a.action == "export"] == []


def test_review_flow_on_sqlite_and_postgresql(db_url: str, tmp_path: Path, shared_data: Path) -> None:
    """Login, queue, reveal, confirm and ban through the console on each database backend."""
    console = build_console(tmp_path / "var", database_url=db_url)
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    client = console.client()
    csrf = login(client, "rita")
    assert f'id="case-{cid}"' in client.get("/console/queue").text
    eid = evidence_id(console, cid)
    assert client.post(f"/console/cases/{cid}/evidence/{eid}/reveal", data={"csrf_token": csrf}).status_code == 200
    assert (
        client.post(f"/console/cases/{cid}/decide", data={"decision": "confirm", "csrf_token": csrf}).status_code == 200
    )
    form = {"csrf_token": csrf, "action": "ban", "facts": "Shared a listed file.", "grounds": "ToS 4.2"}
    assert client.post(f"/console/cases/{cid}/enforce", data=form).status_code == 200
    view = console.moderation.case(console.staff["ada"], cid)
    assert [v.staff for v in view.views] == ["rita"] and view.summary.status.value == "confirmed"
    assert console.moderation.is_blocked("user-42") == "banned"


def test_case_page_shows_the_cybertipline_submission_state(console: Console, case_id: int) -> None:
    from blindmatch.reporting.lifecycle import new_submission, submitted

    _confirm(console, case_id)
    sue = console.client()
    login(sue, "sue")
    assert "CyberTipline submission: not submitted." in squash(sue.get(f"/console/cases/{case_id}").text)
    console.moderation.cybertip_save(submitted(new_submission(str(case_id), 1), "8675309"))
    page = squash(sue.get(f"/console/cases/{case_id}").text)
    assert '<strong>submitted</strong>, report id <span class="mono">8675309</span>' in page
    assert "Legal hold</dt><dd>yes" in page  # reporting placed the hold; the console shows it
    rita = console.client()
    login(rita, "rita")
    assert "CyberTipline submission" not in rita.get(f"/console/cases/{case_id}").text  # reviewers cannot export


def test_an_escalated_case_offers_no_decision_to_a_reviewer(console: Console, case_id: int) -> None:
    console.moderation.decide(console.staff["rob"], case_id, "escalate")
    rita = console.client()
    csrf = login(rita, "rita")
    page = rita.get(f"/console/cases/{case_id}").text
    assert "waiting for a supervisor" in page and 'value="confirm"' not in page
    refused = rita.post(f"/console/cases/{case_id}/decide", data={"decision": "confirm", "csrf_token": csrf})
    assert refused.status_code == 409  # the facade refuses it too
    sue = console.client()
    csrf_sue = login(sue, "sue")
    assert 'value="confirm"' in sue.get(f"/console/cases/{case_id}").text
    assert (
        sue.post(f"/console/cases/{case_id}/decide", data={"decision": "confirm", "csrf_token": csrf_sue}).status_code
        == 200
    )
