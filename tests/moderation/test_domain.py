"""The pure moderation rules: transitions, statements of reasons, notices, appeals, retention, audit chain, sealing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from blindmatch.moderation.audit import (
    AuditProblem,
    AuditRecord,
    make_record,
    sign_anchor,
    verify_chain,
)
from blindmatch.moderation.cases import CaseSource, CaseStatus, Decision, PriorDecision, priority_for, transition
from blindmatch.moderation.enforcement import (
    ActionKind,
    NotifyMode,
    appeal_open,
    check_appeal_decider,
    notice_release_at,
    notice_visible,
    statement_for,
)
from blindmatch.moderation.errors import (
    EvidenceIntegrityError,
    InvalidTransitionError,
    ModerationInputError,
    PermissionDeniedError,
    SameReviewerError,
    TwoPersonRuleError,
)
from blindmatch.moderation.evidence import EvidenceKey, EvidenceKeyRing, open_evidence, seal_evidence
from blindmatch.moderation.retention import POLICIES, Jurisdiction, LegalHold, RetentionFacts, purge_due
from blindmatch.moderation.roles import Permission, Role, require

T0 = datetime(2026, 1, 10, tzinfo=UTC)


# -- cases ----------------------------------------------------------------------------------------------------


def test_single_reviewer_confirm_and_dismiss_are_final() -> None:
    t = transition(CaseStatus.OPEN, Decision.CONFIRM, staff="a", role=Role.REVIEWER)
    assert t.to_status is CaseStatus.CONFIRMED and t.final
    t = transition(CaseStatus.OPEN, Decision.DISMISS, staff="a", role=Role.REVIEWER)
    assert t.to_status is CaseStatus.DISMISSED and t.final
    for final in (CaseStatus.CONFIRMED, CaseStatus.DISMISSED):
        with pytest.raises(InvalidTransitionError):
            transition(final, Decision.DISMISS, staff="b", role=Role.ADMIN)


def test_two_person_rule_needs_a_second_distinct_reviewer() -> None:
    t = transition(CaseStatus.OPEN, Decision.CONFIRM, staff="a", role=Role.REVIEWER, two_person=True)
    assert t.to_status is CaseStatus.AWAITING_SECOND and not t.final
    prior = [PriorDecision("a", Decision.CONFIRM, CaseStatus.OPEN)]
    with pytest.raises(TwoPersonRuleError):
        transition(CaseStatus.AWAITING_SECOND, Decision.CONFIRM, staff="a", role=Role.REVIEWER, prior=prior)
    t = transition(CaseStatus.AWAITING_SECOND, Decision.CONFIRM, staff="b", role=Role.REVIEWER, prior=prior)
    assert t.to_status is CaseStatus.CONFIRMED and t.final
    # the second reviewer disagreeing sends the case to a supervisor
    t = transition(CaseStatus.AWAITING_SECOND, Decision.DISMISS, staff="b", role=Role.REVIEWER, prior=prior)
    assert t.to_status is CaseStatus.ESCALATED


def test_escalated_cases_are_settled_by_supervisors_only() -> None:
    t = transition(CaseStatus.OPEN, Decision.ESCALATE, staff="a", role=Role.REVIEWER)
    assert t.to_status is CaseStatus.ESCALATED
    with pytest.raises(InvalidTransitionError, match="supervisor"):
        transition(CaseStatus.ESCALATED, Decision.CONFIRM, staff="b", role=Role.REVIEWER)
    t = transition(CaseStatus.ESCALATED, Decision.DISMISS, staff="s", role=Role.SUPERVISOR)
    assert t.to_status is CaseStatus.DISMISSED


def test_priority_orders_exact_hashes_first_and_bare_reports_last() -> None:
    assert priority_for(CaseSource.SCAN, ["sha256"], [0]) == 1
    assert priority_for(CaseSource.THRESHOLD, ["pdq"], [20]) == 2
    assert priority_for(CaseSource.SCAN, ["pdq"], [25]) == 3
    assert priority_for(CaseSource.USER_REPORT, [], []) == 4


def test_roles_table() -> None:
    require(Role.ADMIN, Permission.DESTROY)
    with pytest.raises(PermissionDeniedError):
        require(Role.REVIEWER, Permission.DECIDE_APPEAL)
    with pytest.raises(PermissionDeniedError):
        require(Role.SUPERVISOR, Permission.MANAGE_STAFF)


# -- enforcement ------------------------------------------------------------------------------------------------


def test_statement_of_reasons_has_every_dsa_field() -> None:
    s = statement_for(ActionKind.BAN, facts="sent a listed file", grounds="terms §4", automated_detection=True)
    d = s.to_json()
    assert {"facts", "grounds", "automated_detection", "automated_decision", "redress"} <= d.keys()
    assert d["automated_decision"] is False and "appeal" in str(d["redress"])
    with pytest.raises(ModerationInputError, match="facts"):
        statement_for(ActionKind.BAN, facts="  ", grounds="g", automated_detection=False)
    with pytest.raises(ModerationInputError, match="end date"):
        statement_for(ActionKind.SUSPEND, facts="f", grounds="g", automated_detection=False)


def test_notice_release_now_delay_suppress() -> None:
    assert notice_release_at(NotifyMode.NOW, T0, None) == T0
    later = T0 + timedelta(days=30)
    assert notice_release_at(NotifyMode.DELAY, T0, later) == later
    assert notice_release_at(NotifyMode.SUPPRESS, T0, None) is None
    with pytest.raises(ModerationInputError):
        notice_release_at(NotifyMode.DELAY, T0, None)
    with pytest.raises(ModerationInputError):
        notice_release_at(NotifyMode.DELAY, T0, T0 - timedelta(seconds=1))
    assert not notice_visible(later, T0) and notice_visible(later, later) and not notice_visible(None, later)


def test_appeal_window_and_decider() -> None:
    assert appeal_open(T0, T0 + timedelta(days=182))
    assert not appeal_open(T0, T0 + timedelta(days=184))
    with pytest.raises(SameReviewerError):
        check_appeal_decider("bob", ["bob", "carol"])
    check_appeal_decider("dave", ["bob", "carol"])


# -- retention --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jurisdiction", [Jurisdiction.EU, Jurisdiction.US])
def test_purge_decisions(jurisdiction: Jurisdiction) -> None:
    policy = POLICIES[jurisdiction]
    young = RetentionFacts(T0, dismissed=False, hold=None)
    assert not purge_due(young, policy, T0 + timedelta(days=100)).purge
    assert purge_due(young, policy, T0 + timedelta(days=366)).purge
    dismissed = RetentionFacts(T0, dismissed=True, hold=None)
    assert purge_due(dismissed, policy, T0 + timedelta(days=31)).purge
    held = RetentionFacts(T0, dismissed=True, hold=LegalHold("CyberTipline report 1", T0, T0 + timedelta(days=700)))
    d = purge_due(held, policy, T0 + timedelta(days=500))
    assert not d.purge and d.reason.startswith("legal hold")
    assert purge_due(held, policy, T0 + timedelta(days=701)).purge  # the hold expired


# -- audit chain ------------------------------------------------------------------------------------------------

KEY = b"k" * 32


def _chain(n: int) -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for i in range(n):
        prev = (out[-1].seq, out[-1].hash) if out else None
        out.append(
            make_record(prev, at=f"2026-01-01T00:00:{i:02d}", actor="a", action="x", subject=f"s{i}", details={"i": i})
        )
    return out


def test_intact_chain_with_anchor_verifies() -> None:
    chain = _chain(5)
    r = verify_chain(chain, sign_anchor(KEY, 5, chain[-1].hash), KEY)
    assert r.ok and r.records == 5 and r.last_seq == 5


def test_each_tampering_is_named() -> None:
    chain = _chain(6)
    anchor = sign_anchor(KEY, 6, chain[-1].hash)
    edited = [*chain[:2], dataclasses.replace(chain[2], details={"i": 99}), *chain[3:]]
    r = verify_chain(edited, anchor, KEY)
    assert (r.ok, r.problem, r.first_bad_seq) == (False, AuditProblem.EDITED, 3)
    gap = chain[:3] + chain[4:]
    r = verify_chain(gap, anchor, KEY)
    assert (r.problem, r.first_bad_seq) == (AuditProblem.GAP, 4)
    # swap the contents of records 3 and 4 but keep their positions (seq numbers)
    swapped = [*chain[:2], dataclasses.replace(chain[3], seq=3), dataclasses.replace(chain[2], seq=4), *chain[4:]]
    r = verify_chain(swapped, anchor, KEY)
    assert (r.problem, r.first_bad_seq) == (AuditProblem.REORDERED, 3)
    r = verify_chain(chain[:4], anchor, KEY)
    assert (r.problem, r.first_bad_seq) == (AuditProblem.TRUNCATED, 5)
    r = verify_chain(chain, None, KEY)
    assert r.problem is AuditProblem.ANCHOR
    forged = sign_anchor(b"x" * 32, 6, chain[-1].hash)
    assert verify_chain(chain, forged, KEY).problem is AuditProblem.ANCHOR


def test_a_rewritten_chain_does_not_match_the_anchor() -> None:
    chain = _chain(4)
    anchor = sign_anchor(KEY, 4, chain[-1].hash)
    # an attacker recomputes every hash after editing record 2: links are consistent again, the anchor is not
    rewritten = chain[:1]
    for r in chain[1:]:
        rewritten.append(
            make_record((rewritten[-1].seq, rewritten[-1].hash), at=r.at, actor="attacker", action=r.action,
                        subject=r.subject, details=r.details)
        )  # fmt: skip
    res = verify_chain(rewritten, anchor, KEY)
    assert (res.problem, res.first_bad_seq) == (AuditProblem.EDITED, 4)


def test_floats_are_refused_in_audit_details() -> None:
    with pytest.raises(ModerationInputError):
        make_record(None, at="t", actor="a", action="x", subject="s", details={"ratio": 0.5})


# -- evidence ----------------------------------------------------------------------------------------------------


def test_evidence_is_bound_to_case_item_and_hash() -> None:
    key = EvidenceKey("k1", b"\x01" * 32)
    ring = EvidenceKeyRing(key, {})
    sealed = seal_evidence(key, 7, "ev1", b"benign bytes")
    assert b"benign bytes" not in sealed.blob
    assert open_evidence(ring, 7, "ev1", sealed) == b"benign bytes"
    with pytest.raises(EvidenceIntegrityError):
        open_evidence(ring, 8, "ev1", sealed)  # moved to another case
    with pytest.raises(EvidenceIntegrityError):
        open_evidence(ring, 7, "ev2", sealed)  # moved to another item
    with pytest.raises(EvidenceIntegrityError):
        open_evidence(ring, 7, "ev1", dataclasses.replace(sealed, sha256="00" * 32))  # claimed hash changed
    flipped = bytearray(sealed.blob)
    flipped[20] ^= 1
    with pytest.raises(EvidenceIntegrityError):
        open_evidence(ring, 7, "ev1", dataclasses.replace(sealed, blob=bytes(flipped)))
    with pytest.raises(EvidenceIntegrityError, match="unknown key"):
        open_evidence(ring, 7, "ev1", dataclasses.replace(sealed, key_id="k0"))
    rotated = EvidenceKeyRing(EvidenceKey("k2", b"\x02" * 32), {"k1": key})
    assert open_evidence(rotated, 7, "ev1", sealed) == b"benign bytes"
