"""Review, enforcement, appeals, retention and the evidence store on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from blindmatch.moderation.cases import CaseStatus
from blindmatch.moderation.errors import (
    AppealError,
    AuthenticationError,
    EvidencePurgedError,
    InvalidTransitionError,
    LegalHoldError,
    ModerationInputError,
    PermissionDeniedError,
    SameReviewerError,
    StaffExistsError,
    TwoPersonRuleError,
)

from .conftest import PASSWORD, Env, dump_database, files_under, gradient_png, match


def _case(env: Env, seed: int = 0, user: str = "mallory") -> int:
    return env.svc.open_from_scan(gradient_png(seed), f"upload-{seed}.png", [match()], subject_user=user)


def test_staff_login_sessions_and_audit(env: Env) -> None:
    env.staff("alice")
    with pytest.raises(StaffExistsError):
        env.staff("alice")
    with pytest.raises(ModerationInputError, match="password"):
        env.svc.create_staff("bob", "short", "reviewer")
    with pytest.raises(ModerationInputError, match="role"):
        env.svc.create_staff("bob", PASSWORD, "janitor")
    assert env.svc.authenticate("alice", "wrong password!") is None
    assert env.svc.authenticate("nobody", PASSWORD) is None
    alice = env.svc.authenticate("alice", PASSWORD)
    assert alice is not None and alice.role.value == "reviewer"
    token, csrf = env.svc.start_session(alice)
    sess = env.svc.session(token)
    assert sess is not None and sess.staff.username == "alice" and sess.csrf_token == csrf
    assert env.svc.session(token + "x") is None
    env.clock.advance(hours=9)  # past the 8-hour session
    assert env.svc.session(token) is None
    token2, _ = env.svc.start_session(alice)
    env.svc.end_session(token2)
    assert env.svc.session(token2) is None
    actions = [(r.actor, r.action) for r in env.svc.audit_records()]
    assert ("alice", "login_failed") in actions and ("nobody", "login_failed") in actions
    assert ("alice", "login") in actions
    # a disabled account cannot log in or act, even with an old Staff object
    admin = env.staff("root", "admin")
    env.svc.set_staff_disabled(admin, "alice", True)
    assert env.svc.authenticate("alice", PASSWORD) is None
    with pytest.raises(AuthenticationError):
        env.svc.queue(alice)


def test_queue_order_review_reveal_and_views(env: Env) -> None:
    alice = env.staff("alice")
    low = env.svc.open_from_scan(gradient_png(1), "far.png", [match(distance=25)], subject_user="u1")
    exact = env.svc.open_from_scan(
        gradient_png(2), "exact.png", [match(signal="sha256", distance=0)], subject_user="u2"
    )
    env.clock.advance(minutes=1)
    close = env.svc.open_from_scan(gradient_png(3), "close.png", [match(distance=3)], subject_user="u3")
    assert [c.id for c in env.svc.queue(alice)] == [exact, close, low]
    view = env.svc.case(alice, close)
    [ev] = view.evidence
    assert ev.kind == "media" and ev.mime == "image/png" and ev.available and "pdq" in ev.hashes
    assert view.matches[0].list_name == "standins" and view.matches[0].technology == "pdq"
    assert view.views == ()
    preview = env.svc.preview(alice, close, ev.id)
    img = Image.open(io.BytesIO(preview))
    assert img.mode == "L" and max(img.size) <= 96
    assert env.svc.case(alice, close).views == ()  # a preview is not a view
    data, mime = env.svc.reveal(alice, close, ev.id)
    assert data == gradient_png(3) and mime == "image/png"
    env.svc.reveal(alice, close, ev.id)
    views = env.svc.case(alice, close).views
    assert [(v.evidence_id, v.staff) for v in views] == [(ev.id, "alice"), (ev.id, "alice")]
    assert [r.action for r in env.svc.audit_records()].count("view") == 2
    env.svc.decide(alice, close, "dismiss", "a landscape, not the listed item")
    assert close not in [c.id for c in env.svc.queue(alice)]
    assert [c.id for c in env.svc.queue(alice, "dismissed")] == [close]
    with pytest.raises(InvalidTransitionError):
        env.svc.decide(alice, close, "confirm")


def test_two_person_rule(env: Env) -> None:
    svc = env.service(two_person=True)
    a, b = env.staff("alice"), env.staff("bob")
    cid = _case(env)
    assert svc.decide(a, cid, "confirm").status is CaseStatus.AWAITING_SECOND
    with pytest.raises(TwoPersonRuleError):
        svc.decide(a, cid, "confirm")
    with pytest.raises(InvalidTransitionError):  # cannot act on a case that is not confirmed yet
        svc.enforce(a, cid, "ban", facts="f", grounds="g")
    assert svc.decide(b, cid, "confirm").status is CaseStatus.CONFIRMED
    decisions = svc.case(a, cid).decisions
    assert [(d.staff, d.to_status.value) for d in decisions] == [("alice", "awaiting_second"), ("bob", "confirmed")]
    svc.db.dispose()


def test_ban_blocks_and_reversal_on_appeal_unblocks(env: Env) -> None:
    rev, sup, other = env.staff("alice"), env.staff("sam", "supervisor"), env.staff("tess", "supervisor")
    cid = _case(env)
    env.svc.decide(rev, cid, "confirm")
    assert env.svc.is_blocked("mallory") is None
    act = env.svc.enforce(sup, cid, "ban", facts="shared a file on the list", grounds="terms §4.2")
    assert env.svc.is_blocked("mallory") == "banned" and env.svc.is_blocked("someone-else") is None
    [notice] = env.svc.notices("mallory")
    assert notice.statement.automated_detection and not notice.statement.automated_decision
    assert notice.statement.facts == "shared a file on the list" and notice.active
    with pytest.raises(AppealError):
        env.svc.appeal("someone-else", act.id, "not mine")
    appeal = env.svc.appeal("mallory", act.id, "this was a holiday photo")
    with pytest.raises(AppealError, match="pending"):
        env.svc.appeal("mallory", act.id, "again")
    with pytest.raises(PermissionDeniedError):
        env.svc.decide_appeal(rev, appeal.id, "reverse")  # reviewers do not decide appeals
    with pytest.raises(SameReviewerError):
        env.svc.decide_appeal(sup, appeal.id, "reverse")  # sam enforced
    decided = env.svc.decide_appeal(other, appeal.id, "reverse", "the match was a near-duplicate landscape")
    assert decided.outcome is not None and decided.outcome.value == "reverse" and decided.decided_by == "tess"
    assert env.svc.is_blocked("mallory") is None
    [notice] = env.svc.notices("mallory")
    assert not notice.active and notice.appeals[0].outcome is not None
    with pytest.raises(AppealError, match="already decided"):
        env.svc.decide_appeal(other, appeal.id, "uphold")
    stats = env.svc.year_stats(2026)
    assert stats.actions_by_kind == {"ban": 1} and stats.appeals == 1 and stats.reversals == 1


def test_confirming_reviewer_cannot_decide_the_appeal(env: Env) -> None:
    sup, sup2 = env.staff("sam", "supervisor"), env.staff("tess", "supervisor")
    cid = _case(env)
    env.svc.decide(sup, cid, "confirm")
    act = env.svc.enforce(sup2, cid, "ban", facts="f", grounds="g")
    appeal = env.svc.appeal("mallory", act.id, "wrong")
    for s in (sup, sup2):
        with pytest.raises(SameReviewerError):
            env.svc.decide_appeal(s, appeal.id, "uphold")
    admin = env.staff("root", "admin")
    assert env.svc.decide_appeal(admin, appeal.id, "uphold").outcome is not None
    assert env.svc.is_blocked("mallory") == "banned"  # upheld: still blocked


def test_appeal_window_closes_after_six_months(env: Env) -> None:
    sup = env.staff("sam", "supervisor")
    cid = _case(env)
    env.svc.decide(sup, cid, "confirm")
    act = env.svc.enforce(sup, cid, "ban", facts="f", grounds="g")
    env.clock.advance(days=184)
    with pytest.raises(AppealError, match="window"):
        env.svc.appeal("mallory", act.id, "late")


def test_suspension_ends_by_itself(env: Env) -> None:
    sup = env.staff("sam", "supervisor")
    cid = _case(env)
    env.svc.decide(sup, cid, "confirm")
    with pytest.raises(ModerationInputError, match="end date"):
        env.svc.enforce(sup, cid, "suspend", facts="f", grounds="g")
    env.svc.enforce(sup, cid, "suspend", facts="f", grounds="g", until=env.clock.now + timedelta(days=7))
    blocked = env.svc.is_blocked("mallory")
    assert blocked is not None and blocked.startswith("suspended until 2026-03-08")
    env.clock.advance(days=8)
    assert env.svc.is_blocked("mallory") is None


def test_notification_delay_and_suppression(env: Env) -> None:
    sup = env.staff("sam", "supervisor")
    c1, c2 = _case(env, 1, "u1"), _case(env, 2, "u2")
    for c in (c1, c2):
        env.svc.decide(sup, c, "confirm")
    later = env.clock.now + timedelta(days=30)
    env.svc.enforce(sup, c1, "ban", facts="f", grounds="g", notify="delay", delay_until=later)
    act2 = env.svc.enforce(sup, c2, "ban", facts="f", grounds="g", notify="suppress")
    # the action takes effect at once; only the notice waits
    assert env.svc.is_blocked("u1") == "banned" and env.svc.is_blocked("u2") == "banned"
    assert env.svc.notices("u1") == [] and env.svc.notices("u2") == []
    env.clock.advance(days=31)
    assert len(env.svc.notices("u1")) == 1
    assert env.svc.notices("u2") == []  # suppressed stays hidden however long it waits
    with pytest.raises(PermissionDeniedError):
        env.svc.release_notice(env.staff("alice"), act2.id)
    env.svc.release_notice(sup, act2.id)
    assert len(env.svc.notices("u2")) == 1
    with pytest.raises(ModerationInputError):
        env.svc.enforce(sup, c1, "ban", facts="f", grounds="g", notify="delay")  # no date
    stats = env.svc.year_stats(2026)
    assert stats.notices_delayed == 1 and stats.notices_suppressed == 1


def test_retention_purge_with_and_without_legal_hold(env: Env) -> None:
    rev = env.staff("alice")
    kept, held, dismissed = _case(env, 1), _case(env, 2), _case(env, 3)
    env.svc.decide(rev, dismissed, "dismiss")
    env.svc.legal_hold(held, "CyberTipline report submitted", until=env.clock.now + timedelta(days=365 + 90))
    assert env.svc.purge().purged == ()
    env.clock.advance(days=31)
    r = env.svc.purge()
    [gone] = r.purged
    assert env.svc.case(rev, dismissed).evidence[0].id == gone  # the false positive went after 30 days
    env.clock.advance(days=340)  # 371 days: past the EU 12-month cap
    r = env.svc.purge()
    assert len(r.purged) == 1 and r.kept_on_hold == 1
    assert not env.svc.case(rev, kept).evidence[0].available
    held_view = env.svc.case(rev, held)
    assert held_view.evidence[0].available and held_view.summary.legal_hold
    with pytest.raises(EvidencePurgedError):
        env.svc.reveal(rev, kept, env.svc.case(rev, kept).evidence[0].id)
    env.clock.advance(days=90)  # the hold (report + 1 year + 90 days) has expired
    assert len(env.svc.purge().purged) == 1
    events = [r.action for r in env.svc.audit_records(limit=10_000)]
    assert events.count("purge") == 3 and events.count("legal_hold") == 1
    assert env.svc.audit_verify().ok


def test_destroy_on_request_refused_under_hold(env: Env) -> None:
    admin, rev = env.staff("root", "admin"), env.staff("alice")
    cid = _case(env)
    with pytest.raises(PermissionDeniedError):
        env.svc.destroy(rev, cid, "user request")
    env.svc.legal_hold(cid, "preservation request from an authority")
    with pytest.raises(LegalHoldError):
        env.svc.destroy(admin, cid, "user request")
    env.svc.lift_legal_hold(env.staff("sam", "supervisor"), cid, "authority withdrew the request")
    assert env.svc.destroy(admin, cid, "erasure request of the account holder") == 1
    view = env.svc.case(admin, cid)
    assert not view.evidence[0].available and view.evidence[0].sha256  # the hash stays as a record
    assert [h.event for h in view.history][-1] == "destroy"
    rec = next(r for r in env.svc.audit_records() if r.action == "destroy")
    assert rec.actor == "root" and rec.details["items"] == 1


def test_evidence_never_in_plaintext_on_disk(env: Env) -> None:
    image = gradient_png(7)
    cid = env.svc.open_from_scan(image, "holiday.png", [match()], subject_user="mallory")
    alice = env.staff("alice")
    ev = env.svc.case(alice, cid).evidence[0]
    assert env.svc.reveal(alice, cid, ev.id)[0] == image
    needle = image[100:164]  # 64 bytes from the middle of the PNG stream
    assert needle not in dump_database(env.db)
    assert needle not in files_under(env.data_dir.parent)  # data dir, SQLite file and its WAL
    keyfile = env.data_dir / "moderation" / "evidence.key"
    assert keyfile.stat().st_mode & 0o777 == 0o600


def test_audit_reading_is_limited_to_supervisors(env: Env) -> None:
    rev, sup = env.staff("alice"), env.staff("sam", "supervisor")
    with pytest.raises(PermissionDeniedError):
        env.svc.audit_records(staff=rev)
    with pytest.raises(PermissionDeniedError):
        env.svc.audit_verify(rev)
    assert env.svc.audit_verify(sup).ok and len(env.svc.audit_records(staff=sup)) == 2
