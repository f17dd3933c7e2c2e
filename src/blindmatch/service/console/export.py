"""The export button: a confirmed case as a recipient's report document, downloaded by a supervisor.

Recipients are the reporting package's adapters: ``cybertipline`` (the ``<report>`` XML of ``POST /submit``; the
per-file ``<fileDetails>`` need the report id NCMEC assigns, so they are made by the submission driver, not here),
``eu-centre`` and ``uk-nca`` (JSON documents that carry the files, their hashes and the viewed flags).

A thin adapter: it reads the case through the facade (which checks the staff member can see it), maps it with the
reporting package (:func:`~blindmatch.reporting.from_moderation.case_report_from_view`, which marks a file
``fileViewedByEsp`` when a reveal of it was recorded and the account as disabled when it was banned or suspended),
builds the document with the recipient adapter (the CyberTipline XML is validated against the XSD in the
repository), and has the facade record the export (:meth:`ModerationService.record_export`: permission check, case
history and audit record with the document's SHA-256). Nothing is sent anywhere: submission is the reporting
client's job (:mod:`blindmatch.service.report_submission`, the case page's *File with CyberTipline* button).

Who reports is configuration, not code: ``reporter_email`` (and optionally ``reporter_first_name``,
``reporter_last_name``, ``reporting_chat_client``, ``reporting_esp_service``,
``reporting_allow_industry_classification``) from ``Settings.extra`` or ``BLINDMATCH_<NAME>``. In demo mode a
placeholder address under the reserved ``.invalid`` domain is used so ``make run`` can show the export.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from blindmatch.moderation.cases import CaseStatus
from blindmatch.moderation.roles import Permission, require
from blindmatch.moderation.views import CaseView, Staff
from blindmatch.reporting.errors import ReportingError
from blindmatch.reporting.from_moderation import case_report_from_view
from blindmatch.reporting.model import CaseReport, Person, Reporter, ReportPolicy
from blindmatch.reporting.recipients import get_recipient, recipient_names
from blindmatch.service.console.errors import ExportError, ExportUnavailableError
from blindmatch.service.moderation import ModerationService

__all__ = [
    "DEMO_REPORTER_EMAIL",
    "RECIPIENTS",
    "ExportFile",
    "ReportingSettings",
    "confirmed_case_report",
    "export_case_report",
]

DEMO_REPORTER_EMAIL = "demo-reporter@blindmatch.invalid"
#: Recipients offered by the export form, CyberTipline first (the default).
RECIPIENTS: tuple[str, ...] = ("cybertipline", *(n for n in recipient_names() if n != "cybertipline"))


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ReportingSettings:
    """Who files the report and how the service is named in it."""

    reporter_email: str
    reporter_first_name: str | None = None
    reporter_last_name: str | None = None
    chat_client: str = "blindmatch messenger"
    esp_service: str | None = None
    allow_industry_classification: bool = False

    @classmethod
    def from_extra(cls, extra: Mapping[str, str], *, demo: bool) -> ReportingSettings:
        def get(name: str) -> str:
            return extra.get(name, os.environ.get("BLINDMATCH_" + name.upper(), "")).strip()

        email = get("reporter_email") or (DEMO_REPORTER_EMAIL if demo else "")
        if not email:
            raise ExportUnavailableError(
                "no reporter is configured: set BLINDMATCH_REPORTER_EMAIL (the person filing reports) to export"
            )
        return cls(
            reporter_email=email,
            reporter_first_name=get("reporter_first_name") or None,
            reporter_last_name=get("reporter_last_name") or None,
            chat_client=get("reporting_chat_client") or "blindmatch messenger",
            esp_service=get("reporting_esp_service") or None,
            allow_industry_classification=get("reporting_allow_industry_classification").lower()
            in ("1", "true", "yes", "on"),
        )


def confirmed_case_report(
    service: ModerationService, staff: Staff, case_id: int, settings: ReportingSettings
) -> tuple[CaseView, CaseReport]:
    """The case (read through the facade, which checks the staff member may see it) and its report input; refused
    (:class:`ExportError`) unless the case is confirmed. Shared by the export button and CyberTipline filing."""
    view = service.case(staff, case_id)
    if view.summary.status is not CaseStatus.CONFIRMED:
        raise ExportError(f"case {case_id} is {view.summary.status.value}; only a confirmed case is reported")
    reporter = Reporter(Person(settings.reporter_email, settings.reporter_first_name, settings.reporter_last_name))
    report = case_report_from_view(
        view, reporter=reporter, chat_client=settings.chat_client, esp_service=settings.esp_service
    )
    return view, report


def export_case_report(
    service: ModerationService, staff: Staff, case_id: int, recipient_name: str, settings: ReportingSettings
) -> ExportFile:
    """The case's report for ``recipient_name``; refused unless ``staff`` may export and the case is confirmed."""
    require(staff.role, Permission.EXPORT)
    if recipient_name not in RECIPIENTS:
        raise ExportError(f"unknown recipient {recipient_name!r}; expected one of {', '.join(RECIPIENTS)}")
    try:
        _, report = confirmed_case_report(service, staff, case_id, settings)
        recipient = get_recipient(recipient_name, ReportPolicy(settings.allow_industry_classification))
        content = recipient.export(report)
    except ReportingError as exc:
        raise ExportError(f"case {case_id} cannot be exported to {recipient_name}: {exc}") from exc
    service.record_export(staff, case_id, recipient.name, hashlib.sha256(content).hexdigest(), len(content))
    return ExportFile(f"{recipient.name}-case-{case_id}.{recipient.file_extension}", recipient.media_type, content)
