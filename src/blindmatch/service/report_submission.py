"""Filing a confirmed case with the CyberTipline: the reporting driver over the moderation service's store.

The pieces exist separately — :class:`~blindmatch.reporting.submission.SubmissionDriver` runs the report's
lifecycle through the API client, persisting after every call; :meth:`ModerationService.submission_store` keeps
that state in the ``cybertip_reports`` table and places the legal hold (report time + 1 year, 18 U.S.C. §2258A(h)
as amended by the REPORT Act) in the same transaction as the first state that carries a report id. This module
joins them for one case, for the CLI (``blindmatch report submit``) and any job runner.

Production is never reached by accident: the client refuses NCMEC's production host unless
``cybertip_allow_production`` (``BLINDMATCH_CYBERTIP_ALLOW_PRODUCTION=true``) is set; the default URL is NCMEC's
test host.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from blindmatch.moderation.roles import Permission, require
from blindmatch.moderation.views import Staff
from blindmatch.reporting.client import CyberTiplineClient
from blindmatch.reporting.lifecycle import Submission
from blindmatch.reporting.model import ReportPolicy
from blindmatch.reporting.submission import SubmissionDriver
from blindmatch.service.console.errors import ExportUnavailableError
from blindmatch.service.console.export import ReportingSettings, confirmed_case_report
from blindmatch.service.moderation import ModerationService

__all__ = ["CYBERTIP_TEST_URL", "CyberTipSettings", "retract_case_report", "submit_case_report"]

CYBERTIP_TEST_URL = "https://exttest.cybertip.org/ispws"


@dataclass(frozen=True, slots=True)
class CyberTipSettings:
    """Where and as whom reports are filed (credentials are issued by NCMEC to a registered ESP)."""

    url: str
    username: str
    password: str
    allow_production: bool = False

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> CyberTipSettings:
        def get(name: str) -> str:
            return extra.get(name, os.environ.get("BLINDMATCH_" + name.upper(), "")).strip()

        username, password = get("cybertip_username"), get("cybertip_password")
        if not username or not password:
            raise ExportUnavailableError(
                "no CyberTipline credentials: set BLINDMATCH_CYBERTIP_USERNAME and BLINDMATCH_CYBERTIP_PASSWORD"
            )
        return cls(
            url=get("cybertip_url") or CYBERTIP_TEST_URL,
            username=username,
            password=password,
            allow_production=get("cybertip_allow_production").lower() in ("1", "true", "yes", "on"),
        )

    def client(self, transport: httpx.BaseTransport | None = None) -> CyberTiplineClient:
        """An API client for these settings (refuses NCMEC's production host unless ``allow_production``)."""
        return CyberTiplineClient(
            self.url, self.username, self.password, allow_production=self.allow_production, transport=transport
        )


def submit_case_report(
    service: ModerationService,
    staff: Staff,
    case_id: int,
    reporting: ReportingSettings,
    cybertip: CyberTipSettings,
    *,
    allow_resubmit: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> Submission:
    """Submit (or resume) the report of confirmed case ``case_id``, with its media files, up to ``finished``."""
    require(staff.role, Permission.EXPORT)
    view, report = confirmed_case_report(service, staff, case_id, reporting)
    media = [ev for ev in view.evidence if ev.kind == "media"]
    files = [service.export_evidence(staff, case_id, ev.id, recipient="cybertipline")[0] for ev in media]
    policy = ReportPolicy(reporting.allow_industry_classification)
    with cybertip.client(transport) as client:
        driver = SubmissionDriver(client, service.submission_store(actor=staff.username), policy)
        return driver.run(report, files, allow_resubmit=allow_resubmit)


def retract_case_report(
    service: ModerationService,
    staff: Staff,
    case_id: int,
    cybertip: CyberTipSettings,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Submission:
    """Retract the case's open (submitted, not finished) report; the state change is recorded under ``staff``."""
    require(staff.role, Permission.EXPORT)
    with cybertip.client(transport) as client:
        return SubmissionDriver(client, service.submission_store(actor=staff.username)).retract(str(case_id))
