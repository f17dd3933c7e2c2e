"""The life of one CyberTipline report as a pure state machine with the ids the API gave us.

::

    draft ──submit──▶ submitted ──(every file uploaded + fileinfo)──▶ files_uploaded ──finish──▶ finished
                          │                                               │
                          └──────────────── retract ──────────────────────┴──▶ retracted
    draft / submitted / files_uploaded ──permanent API rejection──▶ failed

Why a pure machine: the submission driver persists a :class:`Submission` after every step, so after a crash it can
tell exactly what the server already has (report id, which files have a file id, which have their fileinfo) and
carry on from there instead of starting over. ``pending`` records a call that was sent but whose answer was not
stored yet; it is what lets the driver refuse to guess after a crash during ``/submit``. Every function returns a
new value and raises :class:`IllegalTransitionError` for a step the current state does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from blindmatch.reporting.errors import IllegalTransitionError, SubmissionStateError

__all__ = [
    "ALLOWED",
    "FileProgress",
    "ReportState",
    "Submission",
    "begin_call",
    "fail",
    "file_info_sent",
    "file_uploaded",
    "files_complete",
    "finished",
    "new_submission",
    "retracted",
    "submitted",
]


class ReportState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    FILES_UPLOADED = "files_uploaded"
    FINISHED = "finished"
    RETRACTED = "retracted"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ReportState.FINISHED, ReportState.RETRACTED, ReportState.FAILED)


#: The allowed state changes. Staying in ``submitted`` while files are uploaded one by one is a self-loop.
ALLOWED: dict[ReportState, frozenset[ReportState]] = {
    ReportState.DRAFT: frozenset({ReportState.SUBMITTED, ReportState.FAILED}),
    ReportState.SUBMITTED: frozenset(
        {ReportState.SUBMITTED, ReportState.FILES_UPLOADED, ReportState.RETRACTED, ReportState.FAILED}
    ),
    ReportState.FILES_UPLOADED: frozenset({ReportState.FINISHED, ReportState.RETRACTED, ReportState.FAILED}),
    ReportState.FINISHED: frozenset(),
    ReportState.RETRACTED: frozenset(),
    ReportState.FAILED: frozenset(),
}


@dataclass(frozen=True)
class FileProgress:
    """What the server has of one of the case's files (by its index in ``CaseReport.files``)."""

    index: int
    file_id: str | None = None
    info_sent: bool = False


@dataclass(frozen=True)
class Submission:
    """The stored state of one case's CyberTipline report."""

    case_id: str
    state: ReportState
    files: tuple[FileProgress, ...]
    report_id: str | None = None
    pending: str | None = None
    error: str | None = None
    finished_file_ids: tuple[str, ...] = ()
    report_xml: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form for stores (the moderation ``cybertip_reports`` table keeps it as JSON)."""
        return {
            "case_id": self.case_id,
            "state": self.state.value,
            "report_id": self.report_id,
            "pending": self.pending,
            "error": self.error,
            "files": [{"index": f.index, "file_id": f.file_id, "info_sent": f.info_sent} for f in self.files],
            "finished_file_ids": list(self.finished_file_ids),
            "report_xml": self.report_xml,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submission:
        try:
            return cls(
                case_id=str(data["case_id"]),
                state=ReportState(data["state"]),
                report_id=data.get("report_id"),
                pending=data.get("pending"),
                error=data.get("error"),
                files=tuple(
                    FileProgress(int(f["index"]), f.get("file_id"), bool(f.get("info_sent", False)))
                    for f in data["files"]
                ),
                finished_file_ids=tuple(str(x) for x in data.get("finished_file_ids", ())),
                report_xml=data.get("report_xml"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SubmissionStateError(f"stored submission is malformed: {exc!r}") from exc


def new_submission(case_id: str, file_count: int) -> Submission:
    """A draft for a case with ``file_count`` files."""
    if file_count < 0:
        raise SubmissionStateError("file_count must be >= 0")
    return Submission(case_id, ReportState.DRAFT, tuple(FileProgress(i) for i in range(file_count)))


def _move(sub: Submission, to: ReportState, **changes: Any) -> Submission:
    if to not in ALLOWED[sub.state]:
        raise IllegalTransitionError(f"report for case {sub.case_id}: {sub.state} → {to} is not allowed")
    return replace(sub, state=to, pending=None, **changes)


def begin_call(sub: Submission, call: str) -> Submission:
    """Record that ``call`` is about to be sent (stored before sending; cleared by the step that records its answer)."""
    if sub.state.terminal:
        raise IllegalTransitionError(f"report for case {sub.case_id} is {sub.state}; no more calls")
    return replace(sub, pending=call)


def submitted(sub: Submission, report_id: str, report_xml: str | None = None) -> Submission:
    """``/submit`` answered with ``report_id``; ``report_xml`` is the document sent (kept: §2258A(h) preservation)."""
    if sub.state is not ReportState.DRAFT:
        raise IllegalTransitionError(f"report for case {sub.case_id} is {sub.state}; it is submitted only once")
    if not report_id:
        raise SubmissionStateError("the server gave no report id")
    return _move(sub, ReportState.SUBMITTED, report_id=report_id, report_xml=report_xml, error=None)


def _file(sub: Submission, index: int) -> FileProgress:
    if not 0 <= index < len(sub.files):
        raise SubmissionStateError(f"report for case {sub.case_id} has no file {index}")
    return sub.files[index]


def _with_file(sub: Submission, progress: FileProgress) -> tuple[FileProgress, ...]:
    return tuple(progress if f.index == progress.index else f for f in sub.files)


def file_uploaded(sub: Submission, index: int, file_id: str) -> Submission:
    if sub.state is not ReportState.SUBMITTED:
        raise IllegalTransitionError(f"report for case {sub.case_id}: cannot upload files when {sub.state}")
    current = _file(sub, index)
    if current.file_id is not None:
        raise IllegalTransitionError(f"file {index} of case {sub.case_id} already has file id {current.file_id}")
    if not file_id:
        raise SubmissionStateError("the server gave no file id")
    return _move(sub, ReportState.SUBMITTED, files=_with_file(sub, FileProgress(index, file_id, False)))


def file_info_sent(sub: Submission, index: int) -> Submission:
    if sub.state is not ReportState.SUBMITTED:
        raise IllegalTransitionError(f"report for case {sub.case_id}: cannot send file details when {sub.state}")
    current = _file(sub, index)
    if current.file_id is None:
        raise IllegalTransitionError(f"file {index} of case {sub.case_id} has not been uploaded")
    return _move(sub, ReportState.SUBMITTED, files=_with_file(sub, replace(current, info_sent=True)))


def files_complete(sub: Submission) -> Submission:
    """All files uploaded and described (trivially true for a report without files)."""
    missing = [f.index for f in sub.files if f.file_id is None or not f.info_sent]
    if missing:
        raise IllegalTransitionError(f"report for case {sub.case_id}: files {missing} are not uploaded and described")
    return _move(sub, ReportState.FILES_UPLOADED)


def finished(sub: Submission, file_ids: tuple[str, ...] = ()) -> Submission:
    return _move(sub, ReportState.FINISHED, finished_file_ids=file_ids, error=None)


def retracted(sub: Submission) -> Submission:
    if sub.report_id is None:
        raise IllegalTransitionError(f"report for case {sub.case_id} was never submitted; nothing to retract")
    return _move(sub, ReportState.RETRACTED)


def fail(sub: Submission, reason: str) -> Submission:
    return _move(sub, ReportState.FAILED, error=reason)
