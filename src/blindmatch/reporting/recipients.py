"""Recipients of a case report behind one interface: the CyberTipline, the EU Centre, the UK NCA.

Why an adapter interface: the case is the same whoever receives it; what differs is the document and the rules
before sending. Each :class:`Recipient` turns a :class:`CaseReport` into the bytes that recipient takes. The EU and
UK formats are blindmatch's own, documented in docs/reporting.md and versioned (``format`` + ``version``): neither
authority publishes an intake API we could target today, so the export is a stable, complete JSON document an
operator can hand over, and a future API adapter can map from it.

Rules applied at export:

- EU Centre: Regulation (EU) 2021/1232 requires human confirmation before reporting material that is not a known
  hash; a case with any file lacking a hash-list match (or without files) must be ``human_confirmed``.
- The industry classification is included only when :class:`ReportPolicy` allows it (as for the CyberTipline).
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from blindmatch.reporting.cybertipline import build_report_xml, xml_datetime
from blindmatch.reporting.errors import HumanConfirmationRequiredError, UnknownRecipientError
from blindmatch.reporting.model import AccountDisabled, CaseReport, ReportFile, ReportPolicy

__all__ = [
    "EU_FORMAT",
    "FORMAT_VERSION",
    "UK_FORMAT",
    "CyberTiplineRecipient",
    "EuCentreRecipient",
    "Recipient",
    "UkNcaRecipient",
    "get_recipient",
    "recipient_names",
]

EU_FORMAT = "blindmatch.eu-centre.case-report"
UK_FORMAT = "blindmatch.uk-nca.case-report"
FORMAT_VERSION = 1


@runtime_checkable
class Recipient(Protocol):
    """Something a case can be reported to. ``export`` is pure: it returns bytes and sends nothing."""

    name: str
    media_type: str
    file_extension: str

    def export(self, case: CaseReport) -> bytes:
        """The document this recipient takes for ``case``; raises if the case may not be sent to it."""
        ...


class CyberTiplineRecipient:
    """NCMEC's CyberTipline: the ``<report>`` XML of ``POST /submit`` (files go through the submission driver)."""

    name = "cybertipline"
    media_type = "application/xml"
    file_extension = "xml"

    def __init__(self, policy: ReportPolicy | None = None) -> None:
        self.policy = policy or ReportPolicy()

    def export(self, case: CaseReport) -> bytes:
        return build_report_xml(case)


def _disabled(state: AccountDisabled | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "disabled_at": xml_datetime(state.disabled_at),
        "user_notified": state.user_notified,
        "user_notified_at": xml_datetime(state.user_notified_at) if state.user_notified_at else None,
        "reenabled_at": xml_datetime(state.reenabled_at) if state.reenabled_at else None,
    }


def _file(f: ReportFile, policy: ReportPolicy) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f.file_name,
        "hashes": {"md5": f.md5.lower(), "sha1": f.sha1.lower(), "sha256": f.sha256.lower()},
        "viewed_by_provider": f.viewed_by_esp,
        "publicly_available": f.publicly_available,
        "location": f.location,
        "uploaded_at": xml_datetime(f.uploaded_at) if f.uploaded_at else None,
        "known_hash_match": f.known_hash_match,
        "detections": [
            {
                "technology": m.technology.value,
                "list": m.list_name,
                "entry_id": m.entry_id,
                "distance": m.distance,
                "threshold": m.threshold,
                "list_source": m.source_organisation,
            }
            for m in f.matches
        ],
        "additional_info": f.additional_info,
    }
    if f.pdq is not None:
        entry["hashes"]["pdq"] = f.pdq.lower()
    if policy.allow_industry_classification and f.industry_classification is not None:
        entry["industry_classification"] = f.industry_classification.value
    return entry


def case_payload(case: CaseReport, policy: ReportPolicy) -> dict[str, Any]:
    """The recipient-neutral JSON body shared by the EU and UK exports."""
    user = case.reported_user
    return {
        "case_reference": case.case_id,
        "provider": {
            "name": case.reporter.company_template,
            "reporting_email": case.reporter.reporting_person.email,
            "contact_email": case.reporter.contact_person.email if case.reporter.contact_person else None,
            "legal_url": case.reporter.legal_url,
        },
        "incident": {
            "type": case.incident.incident_type.value,
            "occurred_at": xml_datetime(case.incident.occurred_at),
            "description": case.incident.description,
        },
        "service": (
            None
            if case.chat is None
            else {
                "kind": "chat",
                "client": case.chat.chat_client,
                "conversation": case.chat.chat_room_name,
                "content": case.chat.content,
                "additional_info": case.chat.additional_info,
            }
        ),
        "reported_account": (
            None
            if user is None
            else {
                "id": user.esp_identifier,
                "service": user.esp_service,
                "screen_name": user.screen_name,
                "display_names": list(user.display_names),
                "temporarily_disabled": _disabled(user.temporarily_disabled),
                "permanently_disabled": _disabled(user.permanently_disabled),
                "additional_info": user.additional_info,
            }
        ),
        "files": [_file(f, policy) for f in case.files],
        "human_confirmed": case.human_confirmed,
        "additional_info": case.additional_info,
    }


def _dump(document: dict[str, Any]) -> bytes:
    # ensure_ascii keeps control characters and lone surrogates as \\u escapes: valid JSON, nothing lost.
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


class EuCentreRecipient:
    """The EU Centre (CSA Regulation proposal) / national authorities under Regulation (EU) 2021/1232."""

    name = "eu-centre"
    media_type = "application/json"
    file_extension = "json"

    def __init__(self, policy: ReportPolicy | None = None) -> None:
        self.policy = policy or ReportPolicy()

    def export(self, case: CaseReport) -> bytes:
        unknown = [f.file_name for f in case.files if not f.known_hash_match]
        if (unknown or not case.files) and not case.human_confirmed:
            what = f"files {unknown}" if unknown else "a case without files"
            raise HumanConfirmationRequiredError(
                f"case {case.case_id}: {what} match no known hash; Regulation (EU) 2021/1232 requires a person to "
                "confirm before it is reported"
            )
        return _dump(
            {
                "format": EU_FORMAT,
                "version": FORMAT_VERSION,
                "legal_basis": "Regulation (EU) 2021/1232, Article 3(1)(g)(iv)",
                **case_payload(case, self.policy),
            }
        )


class UkNcaRecipient:
    """The UK National Crime Agency (Online Safety Act 2023, section 66 reports of CSEA content)."""

    name = "uk-nca"
    media_type = "application/json"
    file_extension = "json"

    def __init__(self, policy: ReportPolicy | None = None) -> None:
        self.policy = policy or ReportPolicy()

    def export(self, case: CaseReport) -> bytes:
        return _dump(
            {
                "format": UK_FORMAT,
                "version": FORMAT_VERSION,
                "legal_basis": "Online Safety Act 2023, section 66",
                **case_payload(case, self.policy),
            }
        )


_REGISTRY: dict[str, type[CyberTiplineRecipient] | type[EuCentreRecipient] | type[UkNcaRecipient]] = {
    CyberTiplineRecipient.name: CyberTiplineRecipient,
    EuCentreRecipient.name: EuCentreRecipient,
    UkNcaRecipient.name: UkNcaRecipient,
}


def recipient_names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def get_recipient(name: str, policy: ReportPolicy | None = None) -> Recipient:
    """The adapter registered under ``name`` (``cybertipline``, ``eu-centre``, ``uk-nca``)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise UnknownRecipientError(f"unknown recipient {name!r}; known: {', '.join(recipient_names())}") from None
    return cls(policy)
