"""The report lifecycle: every allowed path works, every other step raises, stored ids survive a round trip."""

from __future__ import annotations

import itertools

import pytest

from blindmatch.reporting.errors import IllegalTransitionError, SubmissionStateError
from blindmatch.reporting.lifecycle import (
    ALLOWED,
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


def _uploaded(n: int = 2) -> Submission:
    sub = submitted(new_submission("c1", n), "4564654", "<report/>")
    for i in range(n):
        sub = file_info_sent(file_uploaded(sub, i, f"f{i}"), i)
    return sub


def test_happy_path_keeps_the_ids() -> None:
    sub = new_submission("c1", 2)
    assert sub.state is ReportState.DRAFT and sub.report_id is None
    sub = submitted(begin_call(sub, "submit"), "4564654", "<report/>")
    assert sub.state is ReportState.SUBMITTED and sub.report_id == "4564654" and sub.pending is None
    sub = file_uploaded(sub, 1, "fb")
    sub = file_uploaded(sub, 0, "fa")
    sub = file_info_sent(file_info_sent(sub, 0), 1)
    sub = files_complete(sub)
    assert sub.state is ReportState.FILES_UPLOADED
    sub = finished(sub, ("fa", "fb"))
    assert sub.state is ReportState.FINISHED and sub.finished_file_ids == ("fa", "fb")
    assert [f.file_id for f in sub.files] == ["fa", "fb"]
    assert Submission.from_dict(sub.to_dict()) == sub


def test_report_without_files_goes_straight_to_files_uploaded() -> None:
    sub = files_complete(submitted(new_submission("c", 0), "1"))
    assert finished(sub).state is ReportState.FINISHED


@pytest.mark.parametrize("state", [ReportState.SUBMITTED, ReportState.FILES_UPLOADED])
def test_retract_before_finishing(state: ReportState) -> None:
    sub = _uploaded() if state is ReportState.FILES_UPLOADED else submitted(new_submission("c", 1), "9")
    if state is ReportState.FILES_UPLOADED:
        sub = files_complete(sub)
    assert sub.state is state
    assert retracted(sub).state is ReportState.RETRACTED


def test_illegal_steps_raise() -> None:
    draft = new_submission("c1", 1)
    with pytest.raises(IllegalTransitionError):
        finished(draft)
    with pytest.raises(IllegalTransitionError):
        retracted(draft)  # nothing on the server yet
    with pytest.raises(IllegalTransitionError):
        file_uploaded(draft, 0, "f")
    sub = submitted(draft, "1")
    with pytest.raises(IllegalTransitionError):
        submitted(sub, "2")  # never twice
    with pytest.raises(IllegalTransitionError):
        files_complete(sub)  # file 0 missing
    with pytest.raises(IllegalTransitionError):
        file_info_sent(sub, 0)  # not uploaded yet
    sub = file_uploaded(sub, 0, "f")
    with pytest.raises(IllegalTransitionError):
        file_uploaded(sub, 0, "g")  # a second id for the same file
    with pytest.raises(SubmissionStateError):
        file_uploaded(sub, 5, "g")
    with pytest.raises(IllegalTransitionError):
        finished(sub)  # files not described
    done = finished(files_complete(file_info_sent(sub, 0)))
    for step in (retracted, lambda s: fail(s, "x"), lambda s: begin_call(s, "finish"), finished):
        with pytest.raises(IllegalTransitionError):
            step(done)
    gone = retracted(file_info_sent(sub, 0))
    with pytest.raises(IllegalTransitionError):
        finished(gone)
    with pytest.raises(IllegalTransitionError):
        submitted(fail(new_submission("c", 0), "rejected"), "1")


def test_transition_table_is_closed_and_terminal_states_are_final() -> None:
    for state, targets in ALLOWED.items():
        assert targets <= set(ReportState)
        assert (not targets) == state.terminal
    # exhaustively: only the table's pairs are reachable through _move-based steps
    assert {(a, b) for a, b in itertools.product(ReportState, ReportState) if b in ALLOWED[a]} >= {
        (ReportState.DRAFT, ReportState.SUBMITTED),
        (ReportState.SUBMITTED, ReportState.FILES_UPLOADED),
        (ReportState.FILES_UPLOADED, ReportState.FINISHED),
        (ReportState.SUBMITTED, ReportState.RETRACTED),
        (ReportState.FILES_UPLOADED, ReportState.RETRACTED),
    }
    assert ReportState.RETRACTED not in ALLOWED[ReportState.FINISHED]


def test_malformed_stored_submission_is_a_clear_error() -> None:
    with pytest.raises(SubmissionStateError):
        Submission.from_dict({"case_id": "c", "state": "nonsense", "files": []})
