"""Case operations through TestClient: legal holds, destruction on request, CyberTipline filing against the local
fake server (and retraction), appeals linked to their case, exports in the case history."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from blindmatch.reporting.fake_ncmec import FakeCyberTipline, Fault, run_fake_server

from .conftest import REPORTER, Console, assert_no_inline_script, build_console, listed_image, login, squash

IMAGE = "kodak-01.jpg"


@pytest.fixture
def case_id(console: Console, shared_data: Path) -> int:
    return console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)


def _confirm(console: Console, case_id: int) -> None:
    console.moderation.decide(console.staff["rob"], case_id, "confirm")


# ----------------------------------------------------------------------------------------------- legal hold


def test_supervisor_places_and_lifts_a_legal_hold(console: Console, case_id: int) -> None:
    sue = console.client()
    csrf = login(sue, "sue")
    page = sue.get(f"/console/cases/{case_id}")
    assert "No legal hold" in page.text and "Place legal hold" in page.text and "Destroy evidence" not in page.text
    assert_no_inline_script(page.text)
    blank = sue.post(f"/console/cases/{case_id}/hold", data={"csrf_token": csrf, "reason": "  "})
    assert blank.status_code == 400 and "needs a reason" in blank.text
    past = sue.post(
        f"/console/cases/{case_id}/hold",
        data={"csrf_token": csrf, "reason": "court order", "until": "2001-01-01T00:00"},
    )
    assert past.status_code == 400 and "future" in past.text
    r = sue.post(
        f"/console/cases/{case_id}/hold",
        data={"csrf_token": csrf, "reason": "court order 12/345", "until": "2099-06-01T12:00"},
    )
    assert r.status_code == 200 and "Legal hold placed" in r.text
    assert "Under legal hold until 2099-06-01 12:00 UTC: court order 12/345." in squash(r.text)
    view = console.moderation.case(console.staff["ada"], case_id)
    assert view.summary.legal_hold and view.legal_hold_reason == "court order 12/345"
    assert [(h.actor, h.details["reason"]) for h in view.history if h.event == "legal_hold"] == [
        ("sue", "court order 12/345")
    ]
    no_reason = sue.post(f"/console/cases/{case_id}/hold/lift", data={"csrf_token": csrf, "reason": ""})
    assert no_reason.status_code == 400 and console.moderation.case(console.staff["ada"], case_id).summary.legal_hold
    lifted = sue.post(f"/console/cases/{case_id}/hold/lift", data={"csrf_token": csrf, "reason": "order quashed"})
    assert lifted.status_code == 200 and "Legal hold lifted" in lifted.text and "No legal hold" in lifted.text
    history = console.moderation.case(console.staff["ada"], case_id).history
    assert [(h.actor, h.details) for h in history if h.event == "legal_hold_lifted"] == [
        ("sue", {"reason": "order quashed"})
    ]


def test_reviewers_cannot_hold_and_holds_need_csrf(console: Console, case_id: int) -> None:
    rita = console.client()
    csrf = login(rita, "rita")
    assert "Place legal hold" not in rita.get(f"/console/cases/{case_id}").text
    assert rita.post(f"/console/cases/{case_id}/hold", data={"csrf_token": csrf, "reason": "x"}).status_code == 403
    sue = console.client()
    login(sue, "sue")
    assert sue.post(f"/console/cases/{case_id}/hold", data={"reason": "no token"}).status_code == 403
    assert not console.moderation.case(console.staff["ada"], case_id).summary.legal_hold


def test_destroy_is_refused_under_hold_and_works_after_lifting(console: Console, case_id: int) -> None:
    console.moderation.place_legal_hold(console.staff["sue"], case_id, "complaint pending")
    sue = console.client()
    csrf_sue = login(sue, "sue")
    # destruction on request is an admin's (roles table); a supervisor gets a 403 and no button
    assert (
        sue.post(f"/console/cases/{case_id}/destroy", data={"csrf_token": csrf_sue, "reason": "x"}).status_code == 403
    )
    ada = console.client()
    csrf = login(ada, "ada")
    assert "Destroy evidence" in ada.get(f"/console/cases/{case_id}").text
    refused = ada.post(f"/console/cases/{case_id}/destroy", data={"csrf_token": csrf, "reason": "user's request"})
    assert refused.status_code == 409
    assert "LegalHoldError" in refused.text and "complaint pending" in refused.text
    assert f"Case {case_id}" in refused.text  # shown on the case page
    assert console.moderation.case(console.staff["ada"], case_id).evidence[0].available
    console.moderation.lift_legal_hold(console.staff["sue"], case_id, "complaint withdrawn")
    assert ada.post(f"/console/cases/{case_id}/destroy", data={"csrf_token": csrf, "reason": ""}).status_code == 400
    done = ada.post(f"/console/cases/{case_id}/destroy", data={"csrf_token": csrf, "reason": "GDPR erasure #7"})
    assert done.status_code == 200 and "Evidence destroyed on request" in done.text
    assert "Evidence no longer held: destroyed on request: GDPR erasure #7" in squash(done.text)
    view = console.moderation.case(console.staff["ada"], case_id)
    assert not view.evidence[0].available and view.evidence[0].sha256  # the hash stays
    assert [(h.actor, h.details) for h in view.history if h.event == "destroy"] == [
        ("ada", {"items": 1, "reason": "GDPR erasure #7"})
    ]
    assert ada.post(f"/console/cases/{case_id}/destroy", data={"reason": "no token"}).status_code == 403


# ----------------------------------------------------------------------------------------------- CyberTipline


@pytest.fixture
def fake() -> Iterator[tuple[FakeCyberTipline, str]]:
    with run_fake_server(FakeCyberTipline(username="esp", password="secret")) as served:
        yield served


def _filing_console(tmp_path: Path, url: str, password: str = "secret") -> Console:
    extra = REPORTER | {"cybertip_url": url, "cybertip_username": "esp", "cybertip_password": password}
    return build_console(tmp_path / "var", extra=extra)


def test_file_with_the_fake_cybertipline_up_to_finished(
    tmp_path: Path, shared_data: Path, fake: tuple[FakeCyberTipline, str]
) -> None:
    server, url = fake
    console = _filing_console(tmp_path, url)
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    sue = console.client()
    csrf = login(sue, "sue")
    early = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert early.status_code == 422 and "only a confirmed case" in early.text and server.reports == {}
    _confirm(console, cid)
    page = sue.get(f"/console/cases/{cid}").text
    assert "File with CyberTipline" in page and "Filing is not configured" not in page
    r = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Filed with the CyberTipline" in r.text
    assert len(server.reports) == 1
    ((report_id, report),) = server.reports.items()
    assert report.finished and not report.retracted
    ((file_id, sent),) = report.files.items()
    assert sent.sha256 == hashlib.sha256(listed_image(shared_data, IMAGE)).hexdigest()
    page = squash(r.text)
    assert f'<strong>finished</strong>, report id <span class="mono">{report_id}</span>' in page
    assert f'<span class="mono">{file_id}</span> (details sent)' in page
    assert "File with CyberTipline" not in page and "Retract" not in page  # finished: nothing more to do
    view = console.moderation.case(console.staff["ada"], cid)
    assert view.summary.legal_hold and report_id in (view.legal_hold_reason or "")
    states = [(h.actor, h.details["to"]) for h in view.history if h.event == "report_state"]
    assert states[-1] == ("sue", "finished") and {a for a, _ in states} == {"sue"}
    again = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert again.status_code == 200 and len(server.reports) == 1  # a finished report is never filed twice


def test_retract_an_interrupted_report(tmp_path: Path, shared_data: Path, fake: tuple[FakeCyberTipline, str]) -> None:
    server, url = fake
    console = _filing_console(tmp_path, url)
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    _confirm(console, cid)
    server.inject("upload", Fault(http_status=503))  # the upload is lost: not retried (not idempotent)
    sue = console.client()
    csrf = login(sue, "sue")
    r = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert r.status_code == 502 and "FilingFailedError" in r.text
    ((report_id, report),) = server.reports.items()
    page = squash(r.text)
    assert f'<strong>submitted</strong>, report id <span class="mono">{report_id}</span>' in page
    assert "Resume CyberTipline filing" in page and "Retract the CyberTipline report" in page
    rita = console.client()
    csrf_rita = login(rita, "rita")
    assert rita.post(f"/console/cases/{cid}/cybertip/retract", data={"csrf_token": csrf_rita}).status_code == 403
    assert sue.post(f"/console/cases/{cid}/cybertip/retract").status_code == 403  # no CSRF token
    assert not report.retracted
    done = sue.post(f"/console/cases/{cid}/cybertip/retract", data={"csrf_token": csrf})
    assert done.status_code == 200 and "The CyberTipline report was retracted." in done.text
    assert report.retracted and "<strong>retracted</strong>" in done.text
    assert "Retract the CyberTipline report" not in done.text and "Resume CyberTipline filing" not in done.text
    twice = sue.post(f"/console/cases/{cid}/cybertip/retract", data={"csrf_token": csrf})
    assert twice.status_code == 200  # retracting a retracted report changes nothing
    assert console.moderation.cybertip_load(str(cid)).state.value == "retracted"  # type: ignore[union-attr]


def test_a_finished_report_cannot_be_retracted(
    tmp_path: Path, shared_data: Path, fake: tuple[FakeCyberTipline, str]
) -> None:
    server, url = fake
    console = _filing_console(tmp_path, url)
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    _confirm(console, cid)
    sue = console.client()
    csrf = login(sue, "sue")
    assert sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf}).status_code == 200
    r = sue.post(f"/console/cases/{cid}/cybertip/retract", data={"csrf_token": csrf})
    assert r.status_code == 409 and "FilingStateError" in r.text and "cannot be retracted" in r.text
    assert not next(iter(server.reports.values())).retracted


def test_wrong_credentials_are_a_clear_refusal(
    tmp_path: Path, shared_data: Path, fake: tuple[FakeCyberTipline, str]
) -> None:
    server, url = fake
    console = _filing_console(tmp_path, url, password="not the password")
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    _confirm(console, cid)
    sue = console.client()
    csrf = login(sue, "sue")
    r = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert r.status_code == 502 and "credentials" in r.text
    assert server.reports == {}


def test_filing_without_credentials_explains_what_to_set(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    sue = console.client()
    csrf = login(sue, "sue")
    page = sue.get(f"/console/cases/{case_id}").text
    assert "Filing is not configured" in page and "BLINDMATCH_CYBERTIP_USERNAME" in page
    r = sue.post(f"/console/cases/{case_id}/cybertip/submit", data={"csrf_token": csrf})
    assert r.status_code == 501 and "BLINDMATCH_CYBERTIP_PASSWORD" in r.text
    assert console.moderation.cybertip_load(str(case_id)) is None
    assert sue.post(f"/console/cases/{case_id}/cybertip/retract", data={"csrf_token": csrf}).status_code == 501


def test_the_production_host_needs_the_explicit_setting(tmp_path: Path, shared_data: Path) -> None:
    console = _filing_console(tmp_path, "https://report.cybertip.org/ispws")
    cid = console.open_scan_case(listed_image(shared_data, IMAGE), IMAGE, exact=True)
    _confirm(console, cid)
    sue = console.client()
    csrf = login(sue, "sue")
    r = sue.post(f"/console/cases/{cid}/cybertip/submit", data={"csrf_token": csrf})
    assert r.status_code == 501 and "BLINDMATCH_CYBERTIP_ALLOW_PRODUCTION" in r.text
    assert console.moderation.cybertip_load(str(cid)) is None


# ----------------------------------------------------------------------------------------------- appeals, export


def test_appeals_page_links_the_case_and_shows_the_statement(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    action = console.moderation.enforce(
        console.staff["rob"], case_id, "ban", facts="Sent a file on a hotline list.", grounds="Terms 4.2"
    )
    appeal = console.moderation.appeal("user-42", action.id, "It was a photo of my garden.")
    assert (appeal.case_id, appeal.statement and appeal.statement.grounds) == (case_id, "Terms 4.2")
    sue = console.client()
    login(sue, "sue")
    page = squash(sue.get("/console/appeals").text)
    assert f'<a href="/console/cases/{case_id}">Case {case_id}</a>' in page
    assert "<dt>Facts (as told to the user)</dt><dd>Sent a file on a hotline list.</dd>" in page
    assert "<dt>Grounds</dt><dd>Terms 4.2</dd>" in page and "decided by a person" in page
    listed = console.moderation.appeals(console.staff["sue"])
    assert [(a.id, a.case_id) for a in listed] == [(appeal.id, case_id)]


def test_an_export_is_in_the_case_history(console: Console, case_id: int) -> None:
    _confirm(console, case_id)
    sue = console.client()
    csrf = login(sue, "sue")
    r = sue.post(f"/console/cases/{case_id}/export", data={"csrf_token": csrf, "recipient": "uk-nca"})
    assert r.status_code == 200
    history = console.moderation.case(console.staff["ada"], case_id).history
    exports = [(h.actor, h.details) for h in history if h.event == "export"]
    assert exports == [
        ("sue", {"recipient": "uk-nca", "sha256": hashlib.sha256(r.content).hexdigest(), "bytes": len(r.content)})
    ]
    page = sue.get(f"/console/cases/{case_id}").text
    assert "· sue · export" in page


def test_the_facade_checks_export_records_and_holds_itself(console: Console, case_id: int) -> None:
    """The console checks roles first, but the facade refuses on its own too (CLI or another caller)."""
    from blindmatch.moderation.errors import ModerationInputError, NotFoundError, PermissionDeniedError

    sha = hashlib.sha256(b"document").hexdigest()
    with pytest.raises(PermissionDeniedError):
        console.moderation.record_export(console.staff["rita"], case_id, "cybertipline", sha, 8)
    with pytest.raises(ModerationInputError):
        console.moderation.record_export(console.staff["sue"], case_id, "cybertipline", "not-a-hash", 8)
    with pytest.raises(NotFoundError):
        console.moderation.record_export(console.staff["sue"], 99999, "cybertipline", sha, 8)
    with pytest.raises(PermissionDeniedError):
        console.moderation.place_legal_hold(console.staff["rita"], case_id, "a reason")
    with pytest.raises(PermissionDeniedError):
        console.moderation.purge(staff=console.staff["sue"])
    with pytest.raises(PermissionDeniedError):
        console.moderation.create_staff("eve", "a long chosen secret", "admin", by=console.staff["sue"])
    history = console.moderation.case(console.staff["ada"], case_id).history
    assert [h.event for h in history] == ["detection"]  # nothing was recorded by the refused calls
