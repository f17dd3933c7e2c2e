"""Drive one case's CyberTipline report through its lifecycle, persisting after every step.

Why persist after every call: a report is a sequence of five or more HTTP calls and any of them can be cut off
by a crash, a deploy or a network outage. The driver stores the :class:`Submission` (state, report id, file ids,
and the call about to be sent) through a :class:`SubmissionStore` before and after each call, and on the next
run continues from what is stored:

- the report is never submitted twice: a crash after ``/submit`` left the server but before its report id was
  stored raises :class:`AmbiguousSubmissionError` instead of guessing (``allow_resubmit=True`` after a person
  checked; an unfinished duplicate is deleted by NCMEC after 24 hours);
- a file whose upload answer was lost is uploaded again into the *same* report (at worst a duplicate file in that
  report, never a second report);
- ``/fileinfo``, ``/finish`` and ``/retract`` are repeated safely; "already finished" after a lost ``/finish``
  answer means the report is filed.

Transient failures (transport, HTTP 5xx, response code 1000, bad credentials) leave the stored state as it is and
re-raise, to be resumed later. A permanent rejection (e.g. 4100 validation failed) retracts the open report when
possible, stores ``failed`` with the reason, and re-raises.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Protocol

from blindmatch.reporting.client import CyberTiplineClient
from blindmatch.reporting.cybertipline import (
    REPORT_ALREADY_FINISHED,
    REPORT_NOT_FOUND,
    SERVER_ERROR,
    build_file_details_xml,
    build_report_xml,
)
from blindmatch.reporting.errors import (
    AmbiguousSubmissionError,
    CyberTiplineAPIError,
    IllegalTransitionError,
    ReportingError,
    SubmissionStateError,
)
from blindmatch.reporting.lifecycle import (
    ReportState,
    Submission,
    begin_call,
    fail,
    file_info_sent,
    file_uploaded,
    files_complete,
    finished,
    new_submission,
    retracted,
    submitted,
)
from blindmatch.reporting.model import CaseReport, ReportPolicy

__all__ = ["InMemorySubmissionStore", "SubmissionDriver", "SubmissionStore"]


class SubmissionStore(Protocol):
    """Where submissions live between steps (the service provides a database-backed one)."""

    def load(self, case_id: str) -> Submission | None:
        """The stored submission of a case, or ``None``."""
        ...

    def save(self, submission: Submission) -> None:
        """Store ``submission`` durably (replacing the case's previous one) before returning."""
        ...


class InMemorySubmissionStore:
    """A dict-backed store for tests and demos (submissions are immutable, so no copies are needed)."""

    def __init__(self) -> None:
        self._items: dict[str, Submission] = {}
        self._lock = threading.Lock()
        self.history: list[Submission] = []

    def load(self, case_id: str) -> Submission | None:
        with self._lock:
            return self._items.get(case_id)

    def save(self, submission: Submission) -> None:
        with self._lock:
            self._items[submission.case_id] = submission
            self.history.append(submission)


class SubmissionDriver:
    """Runs the lifecycle of reports through a :class:`CyberTiplineClient`, one call at a time."""

    def __init__(self, client: CyberTiplineClient, store: SubmissionStore, policy: ReportPolicy | None = None) -> None:
        self.client = client
        self.store = store
        self.policy = policy or ReportPolicy()

    def _save(self, sub: Submission) -> Submission:
        self.store.save(sub)
        return sub

    def run(
        self,
        case: CaseReport,
        files: Sequence[bytes],
        *,
        allow_resubmit: bool = False,
        restart_failed: bool = False,
    ) -> Submission:
        """Submit (or resume) the report of ``case`` with the bytes of its files, up to ``finished``.

        ``files[i]`` must be the bytes of ``case.files[i]`` (checked against its SHA-256 before anything is sent).
        """
        if len(files) != len(case.files):
            raise SubmissionStateError(f"case {case.case_id} lists {len(case.files)} files, got {len(files)}")
        for i, (data, entry) in enumerate(zip(files, case.files, strict=True)):
            if hashlib.sha256(data).hexdigest() != entry.sha256.lower():
                raise SubmissionStateError(f"file {i} of case {case.case_id} does not match its SHA-256")
        report_xml = build_report_xml(case)  # validated before any call: an invalid report never leaves

        sub = self.store.load(case.case_id)
        if sub is None or (restart_failed and sub.state is ReportState.FAILED):
            sub = self._save(new_submission(case.case_id, len(case.files)))
        if len(sub.files) != len(case.files):
            raise SubmissionStateError(f"stored report of case {case.case_id} has {len(sub.files)} files")
        if sub.state.terminal:
            return sub
        previously_pending = sub.pending
        try:
            return self._advance(sub, case, files, report_xml, previously_pending, allow_resubmit)
        except CyberTiplineAPIError as exc:
            if exc.code == SERVER_ERROR:
                raise
            current = self.store.load(case.case_id) or sub
            self._give_up(current, f"{exc.endpoint} rejected: {exc.code} {exc.description}")
            raise

    def _advance(
        self,
        sub: Submission,
        case: CaseReport,
        files: Sequence[bytes],
        report_xml: bytes,
        previously_pending: str | None,
        allow_resubmit: bool,
    ) -> Submission:
        if sub.state is ReportState.DRAFT:
            if previously_pending == "submit" and not allow_resubmit:
                raise AmbiguousSubmissionError(
                    f"case {case.case_id}: a /submit was sent but its answer was never stored; check for an open "
                    "report (unfinished ones are deleted after 24 h) and resume with allow_resubmit=True"
                )
            sub = self._save(begin_call(sub, "submit"))
            new_id = self.client.submit(report_xml)
            sub = self._save(submitted(sub, new_id, report_xml.decode("utf-8")))

        if sub.state is ReportState.SUBMITTED:
            report_id = sub.report_id
            assert report_id is not None
            for progress in sub.files:
                i = progress.index
                if progress.file_id is None:
                    sub = self._save(begin_call(sub, f"upload:{i}"))
                    result = self.client.upload(report_id, case.files[i].file_name, files[i])
                    sub = self._save(file_uploaded(sub, i, result.file_id))
                current = sub.files[i]
                if not current.info_sent:
                    assert current.file_id is not None
                    details = build_file_details_xml(report_id, current.file_id, case.files[i], self.policy)
                    sub = self._save(begin_call(sub, f"fileinfo:{i}"))
                    self.client.fileinfo(details)
                    sub = self._save(file_info_sent(sub, i))
            sub = self._save(files_complete(sub))

        if sub.state is ReportState.FILES_UPLOADED:
            report_id = sub.report_id
            assert report_id is not None
            sub = self._save(begin_call(sub, "finish"))
            try:
                file_ids = self.client.finish(report_id)
            except CyberTiplineAPIError as exc:
                if exc.code != REPORT_ALREADY_FINISHED:
                    raise
                file_ids = ()  # an earlier /finish went through and its answer was lost: the report is filed
            sub = self._save(finished(sub, file_ids))
        return sub

    def _give_up(self, sub: Submission, reason: str) -> None:
        """Permanent rejection: retract the open report if there is one, then store ``failed``."""
        if sub.state.terminal:
            return
        if sub.report_id is not None and sub.state in (ReportState.SUBMITTED, ReportState.FILES_UPLOADED):
            try:
                self.client.retract(sub.report_id)
                reason += f"; report {sub.report_id} retracted"
            except ReportingError as exc:
                reason += f"; retracting report {sub.report_id} failed ({exc}); NCMEC deletes it after 24 h"
        self.store.save(fail(sub, reason))

    def retract(self, case_id: str) -> Submission:
        """Retract the case's open report (allowed only before it is finished)."""
        sub = self.store.load(case_id)
        if sub is None:
            raise SubmissionStateError(f"case {case_id} has no CyberTipline report")
        if sub.state is ReportState.RETRACTED:
            return sub
        if sub.state is ReportState.DRAFT and sub.pending == "submit":
            raise AmbiguousSubmissionError(f"case {case_id}: a /submit may be open on the server with an unknown id")
        if sub.report_id is None or sub.state not in (ReportState.SUBMITTED, ReportState.FILES_UPLOADED):
            raise IllegalTransitionError(f"case {case_id}: a {sub.state} report cannot be retracted")
        previously_pending, report_id = sub.pending, sub.report_id
        sub = self._save(begin_call(sub, "retract"))
        try:
            self.client.retract(report_id)
        except CyberTiplineAPIError as exc:
            if not (exc.code == REPORT_NOT_FOUND and previously_pending == "retract"):
                raise
        return self._save(retracted(sub))
