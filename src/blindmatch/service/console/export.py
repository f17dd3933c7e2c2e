"""The export button's one call: the CyberTipline report of a case, as a file to download.

The report itself is built by :mod:`blindmatch.reporting` (and its audit record written by the facade); the
console only asks for it. This module is the thin adapter the brief allows while the facade's export method is
being written: it uses the facade's ``export_cybertipline`` when present and otherwise says precisely what is
missing instead of producing a fake document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blindmatch.moderation.views import Staff
from blindmatch.service.console.security import ConsoleSecurityError
from blindmatch.service.moderation import ModerationService

__all__ = ["ExportFile", "ExportUnavailableError", "export_cybertipline"]


class ExportUnavailableError(ConsoleSecurityError):
    """The running service offers no CyberTipline export (the reporting side is not wired in)."""


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes


def export_cybertipline(service: ModerationService, staff: Staff, case_id: int) -> ExportFile:
    """The case's CyberTipline report XML (the facade audits the export and checks the role)."""
    method: Any = getattr(service, "export_cybertipline", None)
    if method is None:
        raise ExportUnavailableError("this service has no CyberTipline export (ModerationService.export_cybertipline)")
    content = method(staff, case_id)
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes):
        raise ExportUnavailableError(f"the export returned {type(content).__name__}, not the XML document")
    return ExportFile(f"cybertipline-case-{case_id}.xml", "application/xml", content)
