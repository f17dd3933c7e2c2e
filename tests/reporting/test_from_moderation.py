"""Moderation records → report inputs: a reviewed case to a CaseReport, YearStats to transparency figures."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from blindmatch.moderation.cases import CaseSource, CaseStatus, Decision
from blindmatch.moderation.enforcement import ActionKind, NotifyMode, StatementOfReasons
from blindmatch.moderation.views import (
    ActionRecord,
    CaseSummary,
    CaseView,
    DecisionRecord,
    EvidenceInfo,
    FileViewRecord,
    MatchProvenance,
    TechnologyStats,
    YearStats,
)
from blindmatch.reporting.commands import write_transparency_report
from blindmatch.reporting.cybertipline import build_file_details_xml, build_report_xml
from blindmatch.reporting.errors import InvalidReportInputError
from blindmatch.reporting.from_moderation import case_report_from_view, figures_from_year_stats, technology_from_label
from blindmatch.reporting.model import ReportPolicy, Technology
from blindmatch.reporting.schema import validate

from .helpers import gradient_png, reporter

T = dt.datetime(2026, 4, 2, 10, tzinfo=dt.UTC)


def _evidence(eid: str, blob: bytes) -> EvidenceInfo:
    return EvidenceInfo(
        id=eid,
        kind="media",
        mime="image/png",
        size=len(blob),
        sha256=hashlib.sha256(blob).hexdigest(),
        label=f"{eid}.png",
        created_at=T,
        available=True,
        hashes={
            "md5": hashlib.md5(blob).hexdigest(),
            "sha1": hashlib.sha1(blob).hexdigest(),
            "sha256": hashlib.sha256(blob).hexdigest(),
        },
    )


def _view(actions: tuple[ActionRecord, ...] = ()) -> CaseView:
    a, b = gradient_png(40), gradient_png(41)
    summary = CaseSummary(17, CaseSource.SCAN, CaseStatus.CONFIRMED, 1, "user-99", T, ("pdq", "md5"), 3, True)
    return CaseView(
        summary=summary,
        subject_device="dev-1",
        jurisdiction="eu",
        evidence=(
            _evidence("e1", a),
            _evidence("e2", b),
            EvidenceInfo("e3", "message", "text/plain", 5, "0" * 64, "msg-1", T, True),
        ),
        matches=(
            MatchProvenance("hotline", "h-1", "pdq", "ab" * 32, 9, "pdq", "Example Hotline", evidence_id="e1"),
            MatchProvenance("hotline", "h-2", "md5", "cd" * 16, 0, "md5", evidence_id="e2"),
            MatchProvenance("hotline", "h-3", "pdq", "ef" * 32, 20, "private-pdq"),
        ),
        history=(),
        views=(FileViewRecord("e2", "alice", T + dt.timedelta(minutes=3)),),
        decisions=(
            DecisionRecord(1, "alice", Decision.CONFIRM, CaseStatus.OPEN, CaseStatus.CONFIRMED, "", T, ("pdq",)),
        ),
        actions=actions,
        legal_hold_reason=None,
        legal_hold_until=None,
        source_details={},
    )


def _action(kind: ActionKind, notify: NotifyMode, *, until: dt.datetime | None = None) -> ActionRecord:
    statement = StatementOfReasons(kind, "facts", "terms 4.2", True, False, "appeal in the app", until)
    return ActionRecord(1, 17, "user-99", kind, "bob", statement, notify, None, T + dt.timedelta(hours=1), None, True)


def test_case_view_maps_to_a_valid_report() -> None:
    view = _view((_action(ActionKind.BAN, NotifyMode.SUPPRESS),))
    case = case_report_from_view(view, reporter=reporter(), chat_client="Example Messenger", esp_service="Chat")
    assert case.case_id == "17" and case.human_confirmed
    assert [f.file_name for f in case.files] == ["e1.png", "e2.png"]  # the message evidence is not a file
    assert [f.viewed_by_esp for f in case.files] == [False, True]
    assert case.files[0].matches[0].technology is Technology.PDQ and case.files[0].matches[0].distance == 9
    assert case.files[1].matches[0].technology is Technology.MD5
    assert "h-3" in (case.additional_info or "")  # the match tied to no file is still reported
    user = case.reported_user
    assert user is not None and user.permanently_disabled is not None and user.temporarily_disabled is None
    assert user.permanently_disabled.user_notified is False  # suppressed at an authority's request
    root = validate(build_report_xml(case), "report")
    assert root.find("personOrUserReported/accountPermanentlyDisabled") is not None
    details = validate(build_file_details_xml("1", "f", case.files[1], ReportPolicy()), "fileDetails")
    assert details.findtext("fileViewedByEsp") == "true"


def test_suspension_maps_to_temporarily_disabled_with_its_end() -> None:
    until = T + dt.timedelta(days=7)
    case = case_report_from_view(
        _view((_action(ActionKind.SUSPEND, NotifyMode.NOW, until=until),)), reporter=reporter(), chat_client="X"
    )
    user = case.reported_user
    assert user is not None and user.temporarily_disabled is not None
    assert user.temporarily_disabled.reenabled_at == until and user.temporarily_disabled.user_notified


def test_media_without_original_hashes_is_refused() -> None:
    view = _view()
    bare = EvidenceInfo("e9", "media", "image/png", 1, "0" * 64, "x.png", T, True)
    broken = CaseView(**{**{f: getattr(view, f) for f in view.__dataclass_fields__}, "evidence": (bare,)})
    with pytest.raises(InvalidReportInputError, match="e9"):
        case_report_from_view(broken, reporter=reporter(), chat_client="X")


def test_technology_labels() -> None:
    assert technology_from_label("private-pdq") is Technology.PRIVATE_THRESHOLD
    assert technology_from_label("user-report") is Technology.USER_REPORT
    assert technology_from_label("SHA256") is Technology.SHA256
    with pytest.raises(InvalidReportInputError):
        technology_from_label("telepathy")


def test_year_stats_to_figures(tmp_path: Path) -> None:
    stats = YearStats(
        year=2026,
        cases_by_source={"scan": 9, "threshold": 4},
        technologies=(
            TechnologyStats("md5", 3, 3, 3, 0),
            TechnologyStats("pdq", 6, 5, 4, 1),
            TechnologyStats("private-pdq", 3, 2, 1, 1),
            TechnologyStats("private-vpdq", 1, 1, 0, 1),
            TechnologyStats("unknown", 1, 0, 0, 0),
        ),
        actions_by_kind={"ban": 2, "suspend": 1},
        notices_delayed=1,
        notices_suppressed=1,
        appeals=3,
        appeals_decided=2,
        reversals=1,
        evidence_purged=5,
        evidence_destroyed=1,
        retention_policy={"jurisdiction": "eu", "max_retention_days": 365},
    )
    f = figures_from_year_stats(stats, {"cybertipline": 4})
    by = {t.label: t for t in f.technologies}
    assert by["pdq"].fp_ratio == pytest.approx(1 / 5) and by["pdq"].undecided == 1
    priv = by["private-threshold"]  # private-pdq and private-vpdq add up
    assert (priv.detections, priv.confirmed, priv.false_positives) == (4, 1, 2)
    assert by["unknown"].detections == 1 and by["vpdq"].detections == 0
    assert (f.total.detections, f.total.confirmed, f.total.false_positives) == (14, 8, 3)
    assert (f.appeals.upheld, f.appeals.reversed, f.appeals.pending) == (1, 1, 1)
    assert "max retention days: 365" in f.retention_policy
    out = write_transparency_report(2026, f, tmp_path)
    html = out.html.read_text("utf-8")
    assert "destroyed on request: 1" in html and "private-threshold" in html
