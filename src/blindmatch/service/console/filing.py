"""The case page's CyberTipline buttons: file a confirmed case (or resume its filing) and retract an open report.

Filing is :func:`blindmatch.service.report_submission.submit_case_report` (the reporting driver over the
moderation store, which places the legal hold when the report id arrives); retracting is the driver's
:meth:`~blindmatch.reporting.submission.SubmissionDriver.retract`. This module only reads the settings, checks the
role, and turns the reporting package's errors into console refusals that say what happened, because a report to
an authority is a legal act and a supervisor must know whether it went out:

* not configured (no credentials, the production host without the explicit setting, an unusable URL) → 501;
* the service refused or could not be reached (credentials, API error code, transport) → 502, state kept, retry;
* the stored report does not allow it (ambiguous ``/submit``, retracting a finished report) → 409;
* the case cannot be turned into a valid report → 422.

The calls run inside the request (a sync route, so in FastAPI's thread pool); the client's own timeout and retry
limits bound how long a click can wait.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from blindmatch.moderation.roles import Permission, require
from blindmatch.moderation.views import Staff
from blindmatch.reporting.errors import (
    AmbiguousSubmissionError,
    CyberTiplineAPIError,
    CyberTiplineAuthError,
    CyberTiplineTransportError,
    IllegalTransitionError,
    ProductionNotAllowedError,
    ReportingError,
    ResponseParseError,
    SubmissionStateError,
)
from blindmatch.reporting.lifecycle import ReportState, Submission
from blindmatch.service.console.errors import ExportError, ExportUnavailableError, FilingFailedError, FilingStateError
from blindmatch.service.console.export import ReportingSettings
from blindmatch.service.moderation import ModerationService
from blindmatch.service.report_submission import CyberTipSettings, retract_case_report, submit_case_report

__all__ = ["RETRACTABLE", "cybertip_problem", "file_case", "retract_case"]

#: States in which an open report can still be retracted (it has a report id and is not finished).
RETRACTABLE = frozenset({ReportState.SUBMITTED, ReportState.FILES_UPLOADED})


def cybertip_problem(extra: Mapping[str, str]) -> str | None:
    """Why filing is not possible with this configuration (what to set), or None when credentials are set."""
    try:
        CyberTipSettings.from_extra(extra)
    except ExportUnavailableError as exc:
        return str(exc)
    return None


def _console_error(case_id: int, exc: ReportingError) -> Exception:
    if isinstance(exc, ProductionNotAllowedError):
        return ExportUnavailableError(f"{exc}; set BLINDMATCH_CYBERTIP_ALLOW_PRODUCTION=true to file for real")
    if isinstance(exc, CyberTiplineAuthError | CyberTiplineAPIError | CyberTiplineTransportError | ResponseParseError):
        return FilingFailedError(f"case {case_id}: the CyberTipline did not accept the call ({exc}); try again")
    if isinstance(exc, AmbiguousSubmissionError | IllegalTransitionError | SubmissionStateError):
        return FilingStateError(f"case {case_id}: {exc}")
    return ExportError(f"case {case_id} cannot be filed: {exc}")


def file_case(
    service: ModerationService,
    staff: Staff,
    case_id: int,
    reporting: ReportingSettings,
    extra: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
) -> Submission:
    """Submit (or resume) the CyberTipline report of a confirmed case up to ``finished``."""
    require(staff.role, Permission.EXPORT)
    cybertip = CyberTipSettings.from_extra(extra)
    try:
        return submit_case_report(service, staff, case_id, reporting, cybertip, transport=transport)
    except ReportingError as exc:
        raise _console_error(case_id, exc) from exc
    except ValueError as exc:  # the client refuses a URL it must not use (plain http off loopback, no host)
        raise ExportUnavailableError(f"BLINDMATCH_CYBERTIP_URL is not usable: {exc}") from exc


def retract_case(
    service: ModerationService,
    staff: Staff,
    case_id: int,
    extra: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
) -> Submission:
    """Retract the case's open (submitted, not finished) CyberTipline report; the state change is recorded."""
    require(staff.role, Permission.EXPORT)
    cybertip = CyberTipSettings.from_extra(extra)
    try:
        return retract_case_report(service, staff, case_id, cybertip, transport=transport)
    except ReportingError as exc:
        raise _console_error(case_id, exc) from exc
    except ValueError as exc:
        raise ExportUnavailableError(f"BLINDMATCH_CYBERTIP_URL is not usable: {exc}") from exc
