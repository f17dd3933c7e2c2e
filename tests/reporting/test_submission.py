"""The submission driver: full run, resume after a crash at every step, lost answers, rejections, retract."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from blindmatch.reporting.client import CyberTiplineClient
from blindmatch.reporting.errors import (
    AmbiguousSubmissionError,
    CyberTiplineAPIError,
    CyberTiplineTransportError,
    IllegalTransitionError,
    SubmissionStateError,
)
from blindmatch.reporting.fake_ncmec import FakeCyberTipline, Fault
from blindmatch.reporting.lifecycle import ReportState, Submission
from blindmatch.reporting.submission import InMemorySubmissionStore, SubmissionDriver

from .helpers import gradient_png, make_case

BLOBS = [gradient_png(10), gradient_png(11)]


class Crash(Exception):
    """Stands for the process dying: raised by the store instead of saving."""


class CrashingStore(InMemorySubmissionStore):
    """Saves normally until ``crash_at`` saves have happened, then dies once on the next save."""

    def __init__(self, crash_at: int) -> None:
        super().__init__()
        self.crash_at = crash_at
        self.saves = 0

    def save(self, submission: Submission) -> None:
        if self.saves == self.crash_at:
            self.saves += 1
            raise Crash(f"crash before save {self.crash_at}")
        self.saves += 1
        super().save(submission)


def _finished_reports(fake: FakeCyberTipline) -> list[str]:
    return [r.report_id for r in fake.reports.values() if r.finished]


def test_full_run_files_the_report_once(fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient) -> None:
    fake, _ = fake_server
    store = InMemorySubmissionStore()
    case = make_case(BLOBS, viewed=(True, False))
    sub = SubmissionDriver(client, store).run(case, BLOBS)
    assert sub.state is ReportState.FINISHED and sub.report_id is not None and sub.pending is None
    assert sub.report_xml is not None and "<personOrUserReported>" in sub.report_xml
    report = fake.reports[sub.report_id]
    assert report.finished and set(report.files) == {f.file_id for f in sub.files} == set(sub.finished_file_ids)
    viewed = {
        f.name: b"<fileViewedByEsp>true</fileViewedByEsp>" in (f.details_xml or b"") for f in report.files.values()
    }
    assert viewed == {"photo-0.png": True, "photo-1.png": False}
    states = [s.state for s in store.history]
    assert states[0] is ReportState.DRAFT and states[-1] is ReportState.FINISHED
    assert ReportState.FILES_UPLOADED in states
    # running again does nothing: the report is filed
    calls = len(fake.calls)
    assert SubmissionDriver(client, store).run(case, BLOBS) == sub
    assert len(fake.calls) == calls


def test_resume_after_a_crash_at_every_step_never_files_twice(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    total_saves = len(_run_counting(client, make_case(BLOBS, case_id="count"), BLOBS))
    assert total_saves == 14  # draft + (pending, result) for submit, 2 uploads, 2 fileinfos, complete, finish
    ambiguous: list[int] = []
    for k in range(total_saves):
        case = make_case(BLOBS, case_id=f"crash-{k}")
        store = CrashingStore(crash_at=k)
        driver = SubmissionDriver(client, store)
        with pytest.raises(Crash):
            driver.run(case, BLOBS)
        try:
            sub = driver.run(case, BLOBS)
        except AmbiguousSubmissionError:
            ambiguous.append(k)
            sub = driver.run(case, BLOBS, allow_resubmit=True)
        assert sub.state is ReportState.FINISHED, k
        mine = [r for r in fake.reports.values() if r.report_id == sub.report_id]
        assert len(mine) == 1 and mine[0].finished
    # exactly one crash point (after /submit answered, before its id was stored) is ambiguous
    assert ambiguous == [2]  # saves: 0 draft, 1 'submit in flight', 2 report id stored
    finished = _finished_reports(fake)
    assert len(finished) == len(set(finished)) == total_saves + 1  # one filed report per case, none twice


def _run_counting(client: CyberTiplineClient, case: object, blobs: list[bytes]) -> list[Submission]:
    store = InMemorySubmissionStore()
    SubmissionDriver(client, store).run(case, blobs)  # type: ignore[arg-type]
    return store.history


def test_lost_finish_answer_is_recognised_as_filed(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    fake.inject("finish", Fault(http_status=500, after_processing=True))
    sub = SubmissionDriver(client, InMemorySubmissionStore()).run(make_case(BLOBS), BLOBS)
    assert sub.state is ReportState.FINISHED
    assert fake.count("finish") == 2 and _finished_reports(fake) == [sub.report_id]


def test_transient_upload_failure_resumes_in_the_same_report(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    store = InMemorySubmissionStore()
    driver = SubmissionDriver(client, store)
    fake.inject("upload", Fault(http_status=503))
    with pytest.raises(CyberTiplineTransportError):
        driver.run(make_case(BLOBS), BLOBS)
    stored = store.load("case-0001")
    assert stored is not None and stored.state is ReportState.SUBMITTED and stored.pending == "upload:0"
    sub = driver.run(make_case(BLOBS), BLOBS)
    assert sub.state is ReportState.FINISHED and len(fake.reports) == 1
    assert len(fake.reports[sub.report_id or ""].files) == 2


def test_lost_upload_answer_reuploads_into_the_same_report(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    # Documented limit: the first copy reached the server, so the report ends with a duplicate of that file,
    # still in one report and never a second report.
    fake, _ = fake_server
    driver = SubmissionDriver(client, InMemorySubmissionStore())
    fake.inject("upload", Fault(http_status=502, after_processing=True))
    with pytest.raises(CyberTiplineTransportError):
        driver.run(make_case(BLOBS), BLOBS)
    sub = driver.run(make_case(BLOBS), BLOBS)
    assert sub.state is ReportState.FINISHED and len(fake.reports) == 1
    assert len(fake.reports[sub.report_id or ""].files) == 3


def test_permanent_rejection_retracts_and_stores_failed(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    store = InMemorySubmissionStore()
    fake.inject("fileinfo", Fault(code=4100))
    with pytest.raises(CyberTiplineAPIError) as err:
        SubmissionDriver(client, store).run(make_case(BLOBS), BLOBS)
    assert err.value.code == 4100
    sub = store.load("case-0001")
    assert sub is not None and sub.state is ReportState.FAILED
    assert "4100" in (sub.error or "") and "retracted" in (sub.error or "")
    assert fake.reports[sub.report_id or ""].retracted
    # a failed report stays failed unless a restart is asked for
    assert SubmissionDriver(client, store).run(make_case(BLOBS), BLOBS).state is ReportState.FAILED
    again = SubmissionDriver(client, store).run(make_case(BLOBS), BLOBS, restart_failed=True)
    assert again.state is ReportState.FINISHED and again.report_id != sub.report_id


def test_server_error_code_is_transient(fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient) -> None:
    fake, _ = fake_server
    store = InMemorySubmissionStore()
    fake.inject("submit", Fault(code=1000))
    with pytest.raises(CyberTiplineAPIError):
        SubmissionDriver(client, store).run(make_case(BLOBS), BLOBS)
    stored = store.load("case-0001")
    assert stored is not None and stored.state is ReportState.DRAFT


def test_retract_an_open_report_and_not_a_finished_one(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    store = CrashingStore(crash_at=6)  # dies in the middle of the uploads
    driver = SubmissionDriver(client, store)
    with pytest.raises(Crash):
        driver.run(make_case(BLOBS), BLOBS)
    sub = driver.retract("case-0001")
    assert sub.state is ReportState.RETRACTED and fake.reports[sub.report_id or ""].retracted
    assert driver.retract("case-0001") == sub
    assert driver.run(make_case(BLOBS), BLOBS).state is ReportState.RETRACTED  # terminal: nothing resent
    done = SubmissionDriver(client, InMemorySubmissionStore())
    done.run(make_case(BLOBS, case_id="other"), BLOBS)
    with pytest.raises(IllegalTransitionError):
        done.retract("other")
    with pytest.raises(SubmissionStateError):
        done.retract("never-seen")


def test_wrong_bytes_are_refused_before_any_call(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    with pytest.raises(SubmissionStateError, match="SHA-256"):
        SubmissionDriver(client, InMemorySubmissionStore()).run(make_case(BLOBS), [BLOBS[1], BLOBS[0]])
    with pytest.raises(SubmissionStateError):
        SubmissionDriver(client, InMemorySubmissionStore()).run(make_case(BLOBS), BLOBS[:1])
    assert fake.calls == []


def test_benign_photos_from_the_shared_set_go_through_end_to_end(
    shared_data: Path, fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    # Two "listed" stand-ins (benign photographs), read in place, hashed by our own hashing package.
    from blindmatch.hashing.files import hash_bytes
    from blindmatch.reporting.model import MatchDetails, ReportFile, Technology

    fake, _ = fake_server
    paths = sorted((shared_data / "images" / "listed").glob("kodak-*.jpg"))[:2]
    blobs = [p.read_bytes() for p in paths]
    hashed = [hash_bytes(b) for b in blobs]
    base = make_case([], case_id="shared-photos")
    files = tuple(
        ReportFile(
            p.name, h.md5, h.sha1, h.sha256, pdq=h.pdq, viewed_by_esp=True,
            matches=(MatchDetails(Technology.PDQ, "benign-stand-ins", p.stem, 0, 31),),
        )
        for p, h in zip(paths, hashed, strict=True)
    )  # fmt: skip
    case = dataclasses.replace(base, files=files)
    sub = SubmissionDriver(client, InMemorySubmissionStore()).run(case, blobs)
    assert sub.state is ReportState.FINISHED
    stored = {f.name: f for f in fake.reports[sub.report_id or ""].files.values()}
    for p, blob, h in zip(paths, blobs, hashed, strict=True):
        assert stored[p.name].sha256 == hashlib.sha256(blob).hexdigest() == h.sha256
        assert f"<value>{h.pdq}</value>".encode() in (stored[p.name].details_xml or b"")
