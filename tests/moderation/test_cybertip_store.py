"""The database-backed CyberTipline submission store: state round trip, automatic legal hold on submission."""

from __future__ import annotations

from datetime import timedelta

import pytest

from blindmatch.moderation.errors import LegalHoldError, ModerationInputError
from blindmatch.reporting.lifecycle import (
    begin_call,
    file_info_sent,
    file_uploaded,
    files_complete,
    finished,
    new_submission,
    submitted,
)

from .conftest import Env, gradient_png, match


def test_submission_round_trip_and_hold_from_the_moment_of_reporting(env: Env) -> None:
    admin, sup = env.staff("root", "admin"), env.staff("sam", "supervisor")
    cid = env.svc.open_from_scan(gradient_png(4), "x.png", [match()], subject_user="mallory")
    env.svc.decide(sup, cid, "confirm")
    store = env.svc.submission_store()
    assert store.load(str(cid)) is None
    sub = new_submission(str(cid), 1)
    store.save(sub)
    assert store.load(str(cid)) == sub
    assert not env.svc.case(sup, cid).summary.legal_hold  # a draft is not a report yet
    sub = begin_call(sub, "submit")
    store.save(sub)
    env.clock.advance(days=100)  # reported 100 days after detection
    sub = submitted(sub, "R-1001", "<report/>")
    store.save(sub)
    assert store.load(str(cid)) == sub
    view = env.svc.case(sup, cid)
    assert view.summary.legal_hold and view.legal_hold_reason == "CyberTipline report R-1001 submitted"
    assert view.legal_hold_until == env.clock.now + timedelta(days=365)
    with pytest.raises(LegalHoldError):
        env.svc.destroy(admin, cid, "user asked")
    for step in (lambda s: file_uploaded(s, 0, "F-1"), lambda s: file_info_sent(s, 0), files_complete):
        sub = step(sub)
        store.save(sub)
    sub = finished(sub, ("F-1",))
    store.save(sub)
    assert store.load(str(cid)) == sub
    env.clock.advance(days=270)  # 370 days after detection: past the EU 12-month cap, but preserved after reporting
    r = env.svc.purge()
    assert r.purged == () and r.kept_on_hold == 1
    env.clock.advance(days=96)  # the preservation year after the report is over
    assert len(env.svc.purge().purged) == 1
    states = [r.details["to"] for r in env.svc.audit_records(limit=10_000) if r.action == "report_state"]
    assert states == ["draft", "submitted", "files_uploaded", "finished"]
    assert env.svc.year_stats(2026).reports_by_recipient == {"cybertipline": 1}
    assert env.svc.audit_verify().ok


def test_bad_case_ids_refused(env: Env) -> None:
    store = env.svc.submission_store()
    with pytest.raises(ModerationInputError):
        store.load("not-a-number")
    with pytest.raises(ModerationInputError):
        store.save(new_submission("0", 0))
