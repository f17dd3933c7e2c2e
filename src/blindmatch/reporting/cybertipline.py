"""CyberTipline XML: the ``<report>`` and ``<fileDetails>`` documents we send, and the answers we read.

Built with ``xml.etree`` (never by string concatenation, so a screen name cannot inject elements), in the element
order the API documents, and validated against ``schemas/cybertipline.xsd`` before being returned: no caller ever
holds an invalid document. Mapping from the case (see docs/reporting.md for the full table):

- ``incidentSummary``: incident type and date/time;
- ``internetDetails/chatImIncident``: the messenger (client name, conversation);
- ``reporter``: the reporting person (email required), contact, company template, terms, legal URL;
- ``personOrUserReported``: our account id, service, screen/display names, and whether and when we disabled the
  account (``accountTemporarilyDisabled`` / ``accountPermanentlyDisabled`` with their date attributes);
- per file a ``<fileDetails>``: original name, upload time, location, ``fileViewedByEsp`` (did staff open it),
  ``publiclyAvailable``, relevance, the original MD5/SHA-1/SHA-256 as ``originalFileHash``, each match (list,
  entry, distance, technology) and the PDQ hash as ``details`` name/value pairs, and ``industryClassification``
  only when :class:`ReportPolicy` allows it.

Characters XML 1.0 cannot carry (NUL and other control characters, lone surrogates) are written as a visible
``[U+001B]``-style marker (the code point in hex) instead of being dropped, so nothing a user typed is lost
or able to corrupt the document.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from lxml import etree

from blindmatch.reporting.errors import ResponseParseError, SchemaValidationError
from blindmatch.reporting.model import AccountDisabled, CaseReport, Person, ReportFile, ReportPolicy
from blindmatch.reporting.schema import validate

__all__ = [
    "AUTH_REQUIRED",
    "NO_SUBMISSION_AUTHORIZATION",
    "REPORT_ALREADY_FINISHED",
    "REPORT_NOT_FOUND",
    "SERVER_ERROR",
    "SUCCESS",
    "VALIDATION_FAILED",
    "ApiResponse",
    "build_done_response_xml",
    "build_file_details_xml",
    "build_report_xml",
    "build_response_xml",
    "clean_text",
    "parse_response",
    "xml_datetime",
]

# Response codes named in the API documentation.
SUCCESS = 0
SERVER_ERROR = 1000
AUTH_REQUIRED = 2000
NO_SUBMISSION_AUTHORIZATION = 3100
VALIDATION_FAILED = 4100
REPORT_NOT_FOUND = 5001
REPORT_ALREADY_FINISHED = 5102

_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_text(value: str) -> str:
    """Make ``value`` representable in XML 1.0 without losing information (see module docstring)."""
    return _NOT_XML.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)


def xml_datetime(value: dt.datetime) -> str:
    """An ``xs:dateTime`` in UTC with an explicit offset (the API wants the offset)."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _add(parent: ET.Element, tag: str, text: str | None) -> ET.Element | None:
    if text is None:
        return None
    child = ET.SubElement(parent, tag)
    child.text = clean_text(text)
    return child


def _serialise(root: ET.Element) -> bytes:
    # ElementTree writes a carriage return raw, and every XML parser turns it into a line feed: escape it so a
    # user's text arrives exactly as typed. (ElementTree itself never emits one, so all of them are content.)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)).replace(b"\r", b"&#13;")


def _person(parent: ET.Element, tag: str, person: Person) -> None:
    el = ET.SubElement(parent, tag)
    _add(el, "firstName", person.first_name)
    _add(el, "lastName", person.last_name)
    _add(el, "email", person.email)


def _disabled(parent: ET.Element, tag: str, state: AccountDisabled) -> None:
    el = ET.SubElement(parent, tag)
    el.text = "true"
    el.set("disabledDate", xml_datetime(state.disabled_at))
    el.set("userNotified", _bool(state.user_notified))
    if state.user_notified_at is not None:
        el.set("userNotifiedDate", xml_datetime(state.user_notified_at))
    if state.reenabled_at is not None:
        el.set("reenabledDate", xml_datetime(state.reenabled_at))


def report_element(case: CaseReport) -> ET.Element:
    """The ``<report>`` tree for a case (unvalidated; :func:`build_report_xml` is the public entry point)."""
    root = ET.Element("report")
    summary = ET.SubElement(root, "incidentSummary")
    _add(summary, "incidentType", case.incident.incident_type.value)
    _add(summary, "incidentDateTime", xml_datetime(case.incident.occurred_at))
    _add(summary, "incidentDateTimeDescription", case.incident.description)

    if case.chat is not None:
        chat = ET.SubElement(ET.SubElement(root, "internetDetails"), "chatImIncident")
        _add(chat, "chatClient", case.chat.chat_client)
        _add(chat, "chatRoomName", case.chat.chat_room_name)
        _add(chat, "content", case.chat.content)
        _add(chat, "additionalInfo", case.chat.additional_info)

    reporter = ET.SubElement(root, "reporter")
    _person(reporter, "reportingPerson", case.reporter.reporting_person)
    if case.reporter.contact_person is not None:
        _person(reporter, "contactPerson", case.reporter.contact_person)
    _add(reporter, "companyTemplate", case.reporter.company_template)
    _add(reporter, "termsOfService", case.reporter.terms_of_service)
    _add(reporter, "legalURL", case.reporter.legal_url)

    user = case.reported_user
    if user is not None:
        reported = ET.SubElement(root, "personOrUserReported")
        _add(reported, "espIdentifier", user.esp_identifier)
        _add(reported, "espService", user.esp_service)
        _add(reported, "screenName", user.screen_name)
        for name in user.display_names:
            _add(reported, "displayName", name)
        if user.temporarily_disabled is not None:
            _disabled(reported, "accountTemporarilyDisabled", user.temporarily_disabled)
        if user.permanently_disabled is not None:
            _disabled(reported, "accountPermanentlyDisabled", user.permanently_disabled)
        _add(reported, "additionalInfo", user.additional_info)

    info = [f"Reporter's case reference: {case.case_id}."]
    if case.additional_info:
        info.append(case.additional_info)
    _add(root, "additionalInfo", "\n".join(info))
    return root


def build_report_xml(case: CaseReport) -> bytes:
    """The ``<report>`` document for ``POST /submit``, validated against the XSD."""
    data = _serialise(report_element(case))
    validate(data, "report")
    return data


def build_file_details_xml(report_id: str, file_id: str, file: ReportFile, policy: ReportPolicy) -> bytes:
    """The ``<fileDetails>`` document for ``POST /fileinfo`` of one uploaded file, validated against the XSD."""
    root = ET.Element("fileDetails")
    _add(root, "reportId", report_id)
    _add(root, "fileId", file_id)
    _add(root, "originalFileName", file.file_name)
    if file.uploaded_at is not None:
        _add(root, "uploadedToEspTimestamp", xml_datetime(file.uploaded_at))
    _add(root, "locationOfFile", file.location)
    _add(root, "fileViewedByEsp", _bool(file.viewed_by_esp))
    _add(root, "publiclyAvailable", _bool(file.publicly_available))
    _add(root, "fileRelevance", "Reported")
    if policy.allow_industry_classification and file.industry_classification is not None:
        _add(root, "industryClassification", file.industry_classification.value)
    for hash_type, value in (("MD5", file.md5), ("SHA1", file.sha1), ("SHA256", file.sha256)):
        el = _add(root, "originalFileHash", value.lower())
        assert el is not None
        el.set("hashType", hash_type)
    for match in file.matches:
        details = ET.SubElement(root, "details")
        for name, value in match.as_pairs():
            pair = ET.SubElement(details, "nameValuePair")
            _add(pair, "name", name)
            _add(pair, "value", value)
    if file.pdq is not None:
        pair = ET.SubElement(ET.SubElement(root, "details"), "nameValuePair")
        _add(pair, "name", "PDQ")
        _add(pair, "value", file.pdq.lower())
    _add(root, "additionalInfo", file.additional_info)
    data = _serialise(root)
    validate(data, "fileDetails")
    return data


@dataclass(frozen=True)
class ApiResponse:
    """A parsed ``<reportResponse>`` or ``<reportDoneResponse>``.

    ``file_ids`` is filled only by ``/finish`` (the files the report holds); ``file_id``/``hash`` only by ``/upload``.
    """

    code: int
    description: str
    report_id: str | None = None
    file_id: str | None = None
    hash: str | None = None
    file_ids: tuple[str, ...] = ()
    done: bool = False

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS


def _child_text(root: etree._Element, tag: str) -> str | None:
    el = root.find(tag)
    return None if el is None else (el.text or "")


def parse_response(data: bytes) -> ApiResponse:
    """Parse and validate an API answer; anything else raises :class:`ResponseParseError`."""
    root_tag = "reportDoneResponse" if b"<reportDoneResponse" in data[:512] else "reportResponse"
    try:
        root = validate(data, root_tag)
    except SchemaValidationError as exc:
        raise ResponseParseError(f"unexpected API answer: {exc}") from exc
    code = int(_child_text(root, "responseCode") or "0")
    files = root.find("files")
    return ApiResponse(
        code=code,
        description=_child_text(root, "responseDescription") or "",
        report_id=_child_text(root, "reportId"),
        file_id=_child_text(root, "fileId"),
        hash=_child_text(root, "hash"),
        file_ids=tuple(el.text or "" for el in files.findall("fileId")) if files is not None else (),
        done=root_tag == "reportDoneResponse",
    )


def build_response_xml(
    code: int, description: str, *, report_id: str | None = None, file_id: str | None = None, hash: str | None = None
) -> bytes:
    """A ``<reportResponse>`` (what the server answers; used by the fake server and tests)."""
    root = ET.Element("reportResponse")
    _add(root, "responseCode", str(code))
    _add(root, "responseDescription", description)
    _add(root, "reportId", report_id)
    _add(root, "fileId", file_id)
    _add(root, "hash", hash)
    return _serialise(root)


def build_done_response_xml(report_id: str, file_ids: list[str]) -> bytes:
    """A successful ``<reportDoneResponse>`` for ``/finish``."""
    root = ET.Element("reportDoneResponse")
    _add(root, "responseCode", str(SUCCESS))
    _add(root, "reportId", report_id)
    files = ET.SubElement(root, "files")
    for file_id in file_ids:
        _add(files, "fileId", file_id)
    return _serialise(root)
