"""The console in a real browser: Debian's chromium driven by Playwright through a whole case.

The app runs under uvicorn on a free loopback port (SQLite in tmp_path); cases are opened through the facade from
benign listed stand-in photos (a scan match and a private-matching threshold event); then a reviewer logs in,
works the queue, reveals, confirms and bans with a statement of reasons; the user appeals; a supervisor decides
the appeal and exports the CyberTipline report. Screenshots of each step go to ``test-artifacts/console/``.

Chromium comes from Debian (``make browser-deps``), never from Playwright's own download. Without it the test is
skipped locally with the reason, and fails under ``CI=true`` so CI cannot pass without running it.
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blindmatch.hashing.files import hash_bytes
from blindmatch.moderation.checkpoint import parse_checkpoint
from blindmatch.service.detection import ThresholdEventRow

from .conftest import PASSWORD, Console, build_console, listed_image, scan_matches
from .live import serve

CHROMIUM = Path(os.environ.get("BLINDMATCH_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
SCAN_IMAGE = "kodak-03.jpg"
THRESHOLD_IMAGES = ("bsds-train-100075.jpg", "bsds-train-100080.jpg")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"needs Debian's chromium at {CHROMIUM} (make browser-deps installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def add_threshold_event(console: Console, shared_data: Path, account: str) -> int:
    """Record a threshold event the way private detection does after verifying vouchers, then ingest it."""
    items = []
    for name in THRESHOLD_IMAGES:
        data = listed_image(shared_data, name)
        items.append(
            {"pdq": hash_bytes(data).pdq, "voucher_id": name.encode().hex(), "matches": scan_matches(data, exact=False)}
        )
    db: Any = console.app.state.blindmatch.services["db"]
    with db.session() as s:
        s.add(
            ThresholdEventRow(
                account_id=account,
                created_at=datetime.now(UTC),
                method="private-pdq",
                verified=len(items),
                collisions=0,
                synthetic=0,
                opened_total=len(items),
                matches=json.dumps(items),
            )
        )
    result = console.moderation.ingest()
    assert len(result.case_ids) == 1, result
    return result.case_ids[0]


@pytest.fixture
def seeded(tmp_path: Path, shared_data: Path) -> Iterator[tuple[Console, int, int]]:
    console = build_console(tmp_path / "var")
    scan_case = console.open_scan_case(listed_image(shared_data, SCAN_IMAGE), SCAN_IMAGE, exact=True, user="user-42")
    threshold_case = add_threshold_event(console, shared_data, "user-77/device-1")
    yield console, scan_case, threshold_case


def test_review_ban_appeal_export_in_chromium(
    chromium: Path, artifacts: Path, seeded: tuple[Console, int, int], shared_data: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    expect.set_options(timeout=20_000)  # the 5 s default is short for a loaded 2-core CI machine
    console, scan_case, threshold_case = seeded
    problems: list[str] = []

    def shot(page: Page, name: str) -> None:
        # caret="initial": hiding the caret would inject a style element, which our CSP (rightly) refuses
        page.screenshot(path=artifacts / f"{name}.png", full_page=True, caret="initial")

    def watch(page: Page) -> None:
        def on_console(msg: Any) -> None:
            # Expected HTTP refusals (401 wrong password, 403 audit for a reviewer) are logged by chromium as
            # "Failed to load resource"; anything else (a CSP violation, a script error) is a problem.
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                problems.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.append(str(exc)))

    def log_in(page: Page, base: str, username: str) -> None:
        page.goto(f"{base}/console/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    with serve(console.app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium))
        try:
            # ---- a reviewer: login, queue, reveal, confirm, ban
            rita = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            watch(rita)
            rita.goto(f"{base}/console/login")
            shot(rita, "01-login")
            rita.get_by_label("Username").fill("rita")
            rita.get_by_label("Password").fill("not the password")
            rita.get_by_role("button", name="Log in").click()
            expect(rita.get_by_role("alert")).to_contain_text("Wrong username or password")
            log_in(rita, base, "rita")
            rows = rita.locator("#queue-rows tr")
            expect(rows).to_have_count(2)
            # the exact-hash scan match (priority 1) comes before the threshold event (priority 2)
            expect(rows.nth(0)).to_have_id(f"case-{scan_case}")
            expect(rows.nth(1)).to_have_id(f"case-{threshold_case}")
            shot(rita, "02-queue")

            # htmx: a case opened meanwhile appears on Refresh without reloading the page
            late = console.open_scan_case(listed_image(shared_data, "kodak-04.jpg"), "kodak-04.jpg", exact=False)
            rita.evaluate("window.__sameDocument = true")
            rita.get_by_role("button", name="Refresh").click()
            expect(rows).to_have_count(3)
            expect(rita.locator(f"#case-{late}")).to_be_visible()
            assert rita.evaluate("window.__sameDocument === true"), "Refresh reloaded the page instead of a partial"

            rita.get_by_role("link", name=f"Case {scan_case}", exact=True).click()
            expect(rita.get_by_role("heading", name=f"Case {scan_case}")).to_be_visible()
            evidence = console.moderation.case(console.staff["ada"], scan_case).evidence[0]
            image = rita.locator(f"#ev-{evidence.id}")
            expect(image).to_have_class("preview")
            assert rita.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle())
            assert console.moderation.case(console.staff["ada"], scan_case).views == ()
            shot(rita, "03-case-blurred")

            rita.get_by_role("button", name="Reveal (recorded)").click()
            expect(image).to_have_class("clear")
            expect(rita.get_by_role("status").filter(has_text="Revealed")).to_be_visible()
            src = image.get_attribute("src") or ""
            assert src.startswith("blob:"), src  # the clear bytes never got a URL of their own
            assert image.evaluate("(img) => getComputedStyle(img).filter") == "grayscale(1)"
            views = console.moderation.case(console.staff["ada"], scan_case).views
            assert [(v.evidence_id, v.staff) for v in views] == [(evidence.id, "rita")]
            shot(rita, "04-case-revealed")
            rita.get_by_role("button", name="Show in colour").click()
            assert image.evaluate("(img) => getComputedStyle(img).filter") == "none"

            rita.get_by_label("Note (kept in the case history)").fill("Matches the listed stand-in exactly.")
            rita.get_by_role("button", name="Confirm: known material").click()
            expect(rita.locator("#case-status")).to_have_text("confirmed")
            expect(rita.get_by_role("status").filter(has_text="Decision recorded: confirmed.")).to_be_visible()
            shot(rita, "05-confirmed")

            rita.get_by_label("Facts and circumstances").fill("The account sent a file on a hotline's hash list.")
            rita.get_by_label("Ground relied on (law or terms of service clause)").fill("Terms of service, 4.2")
            rita.get_by_role("button", name="Apply action").click()
            expect(rita.get_by_role("status").filter(has_text="Enforcement recorded")).to_be_visible()
            expect(rita.get_by_role("heading", name="Ban of user-42 by rita", exact=False)).to_be_visible()
            assert console.moderation.is_blocked("user-42") == "banned"
            shot(rita, "06-banned")

            # a refusal comes back as the case page with the reason (htmx swaps 4xx pages in, not silently drops them):
            # here the page is stale because another reviewer dismissed the case meanwhile
            rita.goto(f"{base}/console/cases/{threshold_case}")
            expect(rita.get_by_text("voucher", exact=False).first).to_be_visible()  # hash evidence, no image
            console.moderation.decide(console.staff["rob"], threshold_case, "dismiss", "Not the listed item.")
            rita.get_by_role("button", name="Confirm: known material").click()
            expect(rita.get_by_role("alert")).to_contain_text("InvalidTransitionError")
            expect(rita.get_by_role("alert")).to_contain_text("dismissed")
            expect(rita.locator("#case-status")).to_have_text("dismissed")
            assert f"/console/cases/{threshold_case}" in rita.url and "/decide" not in rita.url  # POST URL not pushed
            shot(rita, "06b-refused")

            # a reviewer has no appeals page, no audit log and no export button
            expect(rita.get_by_role("link", name="Appeals")).to_have_count(0)
            expect(rita.get_by_role("button", name="Export report")).to_have_count(0)
            assert rita.goto(f"{base}/console/audit").status == 403  # type: ignore[union-attr]
            rita.goto(f"{base}/console/queue")
            rita.get_by_role("button", name="Log out").click()
            expect(rita.get_by_role("heading", name="Moderation console")).to_be_visible()

            # ---- the user appeals (through the facade, as the messenger would)
            notices = console.moderation.notices("user-42")
            assert len(notices) == 1 and notices[0].statement.grounds == "Terms of service, 4.2"
            console.moderation.appeal("user-42", notices[0].action_id, "That photo shows a house, nothing else.")

            # ---- a supervisor: appeal decided by someone else, then export
            sue = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
            watch(sue)
            log_in(sue, base, "sue")
            sue.get_by_role("link", name="Appeals").click()
            expect(sue.get_by_role("heading", name="Appeals", exact=True)).to_be_visible()
            expect(sue.locator("blockquote")).to_have_text("That photo shows a house, nothing else.")
            shot(sue, "07-appeal")
            sue.get_by_label("Reasons for the outcome").fill("Reviewed again: the ban stands.")
            sue.get_by_role("button", name="Uphold the action").click()
            expect(sue.get_by_role("status").filter(has_text="Appeal decided.")).to_be_visible()
            appeals = console.moderation.appeals(console.staff["ada"], pending_only=False)
            assert [(a.outcome and a.outcome.value, a.decided_by) for a in appeals] == [("uphold", "sue")]
            shot(sue, "08-appeal-decided")

            sue.goto(f"{base}/console/cases/{scan_case}")
            with sue.expect_download() as download_info:
                sue.get_by_role("button", name="Export report").click()
            download = download_info.value
            assert download.suggested_filename == f"cybertipline-case-{scan_case}.xml"
            report = ET.fromstring(Path(download.path()).read_bytes())
            download.save_as(artifacts / download.suggested_filename)
            assert report.tag == "report"
            assert report.findtext("personOrUserReported/espIdentifier") == "user-42"
            assert report.find("personOrUserReported/accountPermanentlyDisabled") is not None
            sue.get_by_label("Recipient").select_option("eu-centre")
            with sue.expect_download() as download_info:
                sue.get_by_role("button", name="Export report").click()
            eu = json.loads(Path(download_info.value.path()).read_bytes())
            download_info.value.save_as(artifacts / download_info.value.suggested_filename)
            # the reveal recorded in the browser is what the report says about the file
            assert [(f["hashes"]["sha256"], f["viewed_by_provider"]) for f in eu["files"]] == [(evidence.sha256, True)]
            shot(sue, "09-export")

            sue.goto(f"{base}/console/audit")
            expect(sue.locator("#audit-verify")).to_contain_text("Hash chain intact")
            shot(sue, "10-audit")
        finally:
            browser.close()
    assert problems == [], problems


def test_console_works_without_javascript(chromium: Path, artifacts: Path, seeded: tuple[Console, int, int]) -> None:
    """Plain forms and links: login, queue, case, reveal (the image opens on its own) and confirm, no script."""
    from playwright.sync_api import expect, sync_playwright

    console, scan_case, _ = seeded
    with serve(console.app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium))
        try:
            page = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{base}/console/login")
            page.get_by_label("Username").fill("rob")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
            page.get_by_role("link", name=f"Case {scan_case}", exact=True).click()
            expect(page.get_by_role("heading", name=f"Case {scan_case}")).to_be_visible()
            page.screenshot(path=artifacts / "11-no-js-case.png", full_page=True, caret="initial")
            with page.expect_navigation() as navigation:
                page.get_by_role("button", name="Reveal (recorded)").click()
            response = navigation.value
            assert response is not None and response.headers["content-type"] == "image/jpeg"
            assert response.headers["cache-control"] == "no-store"
            assert [v.staff for v in console.moderation.case(console.staff["ada"], scan_case).views] == ["rob"]
            page.go_back()
            page.get_by_role("button", name="Dismiss: false positive").click()
            expect(page.locator("#case-status")).to_have_text("dismissed")
            expect(page.get_by_role("status").filter(has_text="false positive")).to_be_visible()
        finally:
            browser.close()


def test_staff_hold_filing_transparency_in_chromium(
    chromium: Path, artifacts: Path, tmp_path: Path, shared_data: Path
) -> None:
    """An admin creates a reviewer; a supervisor places a legal hold, under which the admin's destruction is
    refused, and files the case with the (fake) CyberTipline up to "finished"; the admin opens the transparency
    page."""
    from playwright.sync_api import Page, expect, sync_playwright

    from blindmatch.reporting.fake_ncmec import FakeCyberTipline, run_fake_server

    problems: list[str] = []

    def watch(page: Page) -> None:
        def on_console(msg: Any) -> None:
            if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
                problems.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: problems.append(str(exc)))

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=artifacts / f"{name}.png", full_page=True, caret="initial")

    def log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
        page.goto(f"{base}/console/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    with run_fake_server(FakeCyberTipline(username="esp", password="secret")) as (fake, fake_url):
        extra = {"reporter_email": "trust-and-safety@example.org", "cybertip_url": fake_url,
                 "cybertip_username": "esp", "cybertip_password": "secret"}  # fmt: skip
        console = build_console(tmp_path / "var", extra=extra)
        case = console.open_scan_case(listed_image(shared_data, SCAN_IMAGE), SCAN_IMAGE, exact=True)
        console.moderation.decide(console.staff["rob"], case, "confirm", "Matches the listed stand-in.")
        with serve(console.app) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(chromium))
            try:
                # ---- an admin creates a reviewer with a generated password, shown once
                ada = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
                watch(ada)
                log_in(ada, base, "ada")
                ada.get_by_role("link", name="Staff").click()
                expect(ada.get_by_role("heading", name="Staff accounts")).to_be_visible()
                ada.get_by_label("Username").fill("nora")
                ada.get_by_label("Role").select_option("reviewer")
                ada.get_by_role("button", name="Create account").click()
                secret = ada.locator("#initial-password")
                expect(secret).to_be_visible()
                password = secret.inner_text().strip()
                expect(ada.locator("#staff-nora")).to_contain_text("reviewer")
                shot(ada, "12-staff-created")
                nora = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                watch(nora)
                log_in(nora, base, "nora", password)
                expect(nora.get_by_role("link", name="Staff")).to_have_count(0)
                nora.context.close()

                # ---- a supervisor places a legal hold; destruction is not theirs (no button)
                sue = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                watch(sue)
                log_in(sue, base, "sue")
                sue.goto(f"{base}/console/cases/{case}")
                expect(sue.get_by_role("button", name="Destroy evidence")).to_have_count(0)
                sue.get_by_label("Legal hold reason (complaint, court order, authority request)").fill(
                    "Complaint pending (ref. 2026-17)"
                )
                sue.get_by_role("button", name="Place legal hold").click()
                expect(sue.get_by_role("status").filter(has_text="Legal hold placed")).to_be_visible()
                expect(sue.locator("#hold-state")).to_contain_text("Under legal hold until lifted")
                assert console.moderation.case(console.staff["ada"], case).summary.legal_hold
                shot(sue, "13-legal-hold")

                # ---- the admin's destruction on request is refused under the hold, and the page says why
                ada.goto(f"{base}/console/cases/{case}")
                ada.get_by_label("Destroy evidence on request: who asked, on what basis").fill("user's erasure request")
                ada.get_by_role("button", name="Destroy evidence").click()
                expect(ada.get_by_role("alert")).to_contain_text("LegalHoldError")
                expect(ada.get_by_role("alert")).to_contain_text("Complaint pending")
                assert console.moderation.case(console.staff["ada"], case).evidence[0].available
                shot(ada, "14-destroy-refused")

                # ---- the supervisor files the case with the (fake) CyberTipline and sees it finished
                sue.get_by_role("button", name="File with CyberTipline").click()
                expect(sue.get_by_role("status").filter(has_text="Filed with the CyberTipline")).to_be_visible()
                expect(sue.locator("#cybertip-state")).to_contain_text("finished")
                ((report_id, report),) = fake.reports.items()
                assert report.finished and len(report.files) == 1
                expect(sue.locator("#cybertip-state")).to_contain_text(report_id)
                expect(sue.get_by_role("button", name="Retract the CyberTipline report")).to_have_count(0)
                shot(sue, "15-cybertip-finished")

                # ---- the admin opens the transparency report
                ada.get_by_role("link", name="Transparency").click()
                year = datetime.now(UTC).year
                expect(ada.get_by_role("heading", name=f"Transparency report {year}")).to_be_visible()
                expect(ada.locator("#transparency-technologies")).to_contain_text("pdq")
                expect(ada.locator("#transparency-reports")).to_contain_text("cybertipline: 1")
                shot(ada, "16-transparency")
                with ada.expect_download() as csv_download:
                    ada.get_by_role("link", name="Download CSV").click()
                assert csv_download.value.suggested_filename == f"transparency-{year}.csv"
                rows = Path(csv_download.value.path()).read_text("utf-8").splitlines()
                assert rows[0] == "section,item,metric,value" and len(rows) > 10
                with ada.expect_download() as html_download:
                    ada.get_by_role("link", name="Download HTML report (with charts)").click()
                html_download.value.save_as(artifacts / html_download.value.suggested_filename)
                assert "<svg" in (artifacts / f"transparency-{year}.html").read_text("utf-8")
                expect(ada.get_by_role("heading", name=f"Transparency report {year}")).to_be_visible()

                # ---- the admin signs an audit checkpoint to hand out; it verifies against the log
                ada.get_by_role("link", name="Audit log").click()
                ada.get_by_role("button", name="Sign a checkpoint now").click()
                expect(ada.get_by_role("status").filter(has_text="Checkpoint signed")).to_be_visible()
                held = parse_checkpoint(json.loads(ada.locator("#checkpoint-json").inner_text()))
                shot(ada, "17-audit-checkpoint")
                verified, found = console.moderation.audit_verify_checkpoints([held])
                assert verified.ok and found[0].seq is not None
            finally:
                browser.close()
    assert problems == [], problems
