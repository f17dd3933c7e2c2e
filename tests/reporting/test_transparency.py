"""Transparency figures on a hand-made year, checked against numbers worked out by hand; HTML and CSV outputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from blindmatch.reporting.commands import write_transparency_report
from blindmatch.reporting.errors import TransparencyInputError
from blindmatch.reporting.model import Technology
from blindmatch.reporting.transparency import (
    ActionRecord,
    AppealOutcome,
    AppealRecord,
    Decision,
    DetectionRecord,
    ReportRecord,
    TransparencyRecords,
    compute_figures,
    wilson_interval,
)

UTC = dt.UTC
D = dt.datetime(2026, 6, 1, 12, tzinfo=UTC)
C, FP, ESC = Decision.CONFIRMED, Decision.FALSE_POSITIVE, Decision.ESCALATED


def _det(case: str, tech: Technology, decision: Decision | None, *, when: dt.datetime = D, reviewed: bool = True):
    return DetectionRecord(case, tech, when, reviewed=reviewed if decision is None else True, decision=decision)


def records() -> TransparencyRecords:
    late_local = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 2027 in UTC
    early_local = dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 2026 in UTC
    detections = (
        _det("p1", Technology.PDQ, C),
        _det("p2", Technology.PDQ, C),
        _det("p3", Technology.PDQ, C, when=early_local),
        _det("p4", Technology.PDQ, FP),
        _det("p5", Technology.PDQ, None, reviewed=False),
        _det("p6", Technology.PDQ, FP, when=dt.datetime(2025, 12, 31, 23, tzinfo=UTC)),  # other year
        _det("p7", Technology.PDQ, FP, when=late_local),  # other year once in UTC
        _det("m1", Technology.MD5, C),
        _det("m2", Technology.MD5, C),
        _det("s1", Technology.SHA256, ESC),
        _det("t1", Technology.PRIVATE_THRESHOLD, C),
        _det("t2", Technology.PRIVATE_THRESHOLD, FP),
        _det("t3", Technology.PRIVATE_THRESHOLD, FP),
        _det("t4", Technology.PRIVATE_THRESHOLD, FP),
        _det("u1", Technology.USER_REPORT, FP),
        _det("u2", Technology.USER_REPORT, C),
        _det("u3", Technology.USER_REPORT, None, reviewed=True),
    )
    reports = (
        ReportRecord("p1", "cybertipline", D),
        ReportRecord("p2", "cybertipline", D),
        ReportRecord("m1", "cybertipline", D),
        ReportRecord("m1", "eu-centre", D),
        ReportRecord("u2", "uk-nca", D),
        ReportRecord("old", "cybertipline", dt.datetime(2025, 3, 1, tzinfo=UTC)),
    )
    actions = (ActionRecord("p1", "ban", D), ActionRecord("m1", "ban", D), ActionRecord("u2", "suspend", D))
    later = D + dt.timedelta(days=3)
    appeals = (
        AppealRecord("a1", "p1", D, AppealOutcome.REVERSED, later),
        AppealRecord("a2", "m1", D, AppealOutcome.UPHELD, later),
        AppealRecord("a3", "u2", D, AppealOutcome.UPHELD, later),
        AppealRecord("a4", "p2", D),
        AppealRecord("a0", "old", dt.datetime(2025, 5, 1, tzinfo=UTC), AppealOutcome.REVERSED, later),
    )
    return TransparencyRecords(
        2026, detections, reports, actions, appeals, retention_policy="Kept 1 year; purged after."
    )


def _wilson_by_quadratic(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    # The Wilson bounds are the roots of (k/n - p)^2 = z^2 p (1 - p) / n, solved as a quadratic in p.
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_wilson_interval_matches_the_quadratic_and_published_values() -> None:
    for k, n in [(0, 10), (1, 2), (3, 4), (1, 4), (7, 1000), (50, 50)]:
        got = wilson_interval(k, n)
        assert got is not None
        lo, hi = _wilson_by_quadratic(k, n)
        assert got[0] == pytest.approx(max(0.0, lo), abs=1e-12) and got[1] == pytest.approx(min(1.0, hi), abs=1e-12)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=5e-5)
    assert wilson_interval(1, 2) == pytest.approx((0.09453, 0.90547), abs=5e-5)
    assert wilson_interval(0, 3)[0] == 0.0 and wilson_interval(3, 3)[1] == 1.0  # type: ignore[index]
    assert wilson_interval(0, 0) is None
    with pytest.raises(TransparencyInputError):
        wilson_interval(3, 2)


def test_figures_per_technology_match_the_hand_count() -> None:
    f = compute_figures(records())
    by = {t.label: t for t in f.technologies}
    assert list(by) == ["pdq", "md5", "sha1", "sha256", "vpdq", "private-threshold", "user-report"]
    expected = {  # detections, reviewed, confirmed, fp, escalated, undecided
        "pdq": (5, 4, 3, 1, 0, 1),
        "md5": (2, 2, 2, 0, 0, 0),
        "sha1": (0, 0, 0, 0, 0, 0),
        "sha256": (1, 1, 0, 0, 1, 0),
        "vpdq": (0, 0, 0, 0, 0, 0),
        "private-threshold": (4, 4, 1, 3, 0, 0),
        "user-report": (3, 3, 1, 1, 0, 1),
    }
    for label, (n, reviewed, confirmed, fps, esc, undecided) in expected.items():
        t = by[label]
        assert (t.detections, t.reviewed, t.confirmed, t.false_positives, t.escalated, t.undecided) == (
            n,
            reviewed,
            confirmed,
            fps,
            esc,
            undecided,
        ), label
        if confirmed + fps:
            assert t.fp_ratio == pytest.approx(fps / (confirmed + fps))
            lo, hi = _wilson_by_quadratic(fps, confirmed + fps)
            assert (t.fp_ci_low, t.fp_ci_high) == pytest.approx((max(lo, 0.0), min(hi, 1.0)))
        else:
            assert t.fp_ratio is None and t.fp_ci_low is None
    assert by["pdq"].fp_ratio == pytest.approx(0.25) and by["private-threshold"].fp_ratio == pytest.approx(0.75)
    assert (f.total.detections, f.total.confirmed, f.total.false_positives) == (15, 7, 5)
    assert f.reports_per_recipient == (("cybertipline", 3), ("eu-centre", 1), ("uk-nca", 1))
    assert f.actions == (("ban", 2), ("suspend", 1))
    assert (f.appeals.filed, f.appeals.upheld, f.appeals.reversed, f.appeals.pending) == (4, 2, 1, 1)
    assert f.appeals.reversal_ratio == pytest.approx(1 / 3)
    assert f.excluded_records == 4  # p6, p7, the 2025 report, the 2025 appeal


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_and_csv_are_written_and_parse(tmp_path: Path) -> None:
    out = write_transparency_report(2026, records(), tmp_path / "reports")
    assert out.html.name == "transparency-2026.html" and out.csv.name == "transparency-2026.csv"
    assert out.html.stat().st_mode & 0o777 == 0o644  # public document
    page = _Collector()
    page.feed(out.html.read_text("utf-8"))
    page.close()
    assert page.tags.count("svg") == 4 and "script" not in page.tags and "img" not in page.tags
    external = [v for k, v in page.attrs if k in ("src", "href") and v and not v.startswith("#")]
    assert external == []
    text = " ".join(page.text)
    assert "75.0 %" in text and "25.0 %" in text and "Kept 1 year; purged after." in text
    assert "private-threshold" in text and "cybertipline" in text

    rows = list(csv.DictReader(io.StringIO(out.csv.read_text("utf-8"))))
    values = {(r["section"], r["item"], r["metric"]): r["value"] for r in rows}
    assert values[("technology", "pdq", "false_positives")] == "1"
    assert float(values[("technology", "private-threshold", "fp_ratio")]) == pytest.approx(0.75)
    assert values[("technology", "vpdq", "fp_ratio")] == ""
    assert values[("reports", "cybertipline", "count")] == "3"
    assert values[("appeals", "all", "reversed")] == "1"
    assert values[("retention", "policy", "text")] == "Kept 1 year; purged after."


def test_empty_year_still_renders(tmp_path: Path) -> None:
    out = write_transparency_report(2027, TransparencyRecords(2027), tmp_path)
    assert "No reports were made in 2027" in out.html.read_text("utf-8")
    assert out.figures.total.detections == 0 and out.figures.total.fp_ratio is None


def test_bad_records_are_refused() -> None:
    with pytest.raises(TransparencyInputError, match="timezone"):
        DetectionRecord("c", Technology.PDQ, dt.datetime(2026, 1, 1))
    with pytest.raises(TransparencyInputError, match="not reviewed"):
        DetectionRecord("c", Technology.PDQ, D, reviewed=False, decision=Decision.CONFIRMED)
    with pytest.raises(TransparencyInputError, match="plain label"):
        ReportRecord("c", "<script>alert(1)</script>", D)
    with pytest.raises(TransparencyInputError, match="decided before"):
        AppealRecord("a", "c", D, AppealOutcome.UPHELD, D - dt.timedelta(days=1))
    with pytest.raises(TransparencyInputError):
        AppealRecord("a", "c", D, AppealOutcome.REVERSED)  # decided without a date
    with pytest.raises(TransparencyInputError, match="year"):
        TransparencyRecords(26)
    with pytest.raises(TransparencyInputError, match="asked for 2025"):
        write_transparency_report(2025, records(), Path("/nonexistent-never-written"))
