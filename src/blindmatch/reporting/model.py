"""The reporting input: one confirmed case, as plain frozen dataclasses every recipient reads.

Why one model for all recipients: the CyberTipline XML, the EU Centre and UK NCA JSON exports must say the same
thing about the same case; building each from its own ad-hoc dict is how reports drift apart. The dataclasses check
what can be checked without I/O (required fields, lengths, hash formats, timezone-aware datetimes) when they are
built, so a bad field fails at the edge with :class:`InvalidReportInputError` naming it, never halfway through a
submission. Escaping for XML is the builder's job, not the model's: values are kept exactly as given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum

from blindmatch.reporting.errors import InvalidReportInputError

__all__ = [
    "MAX_FREE_TEXT",
    "AccountDisabled",
    "CaseReport",
    "ChatDetails",
    "Incident",
    "IncidentType",
    "IndustryClassification",
    "MatchDetails",
    "Person",
    "ReportFile",
    "ReportPolicy",
    "ReportedUser",
    "Reporter",
    "Technology",
]

#: Cap on free-text fields (additionalInfo, chat content). The API documents no limit; ours keeps a hostile user
#: report from producing a multi-megabyte XML document. Longer text is refused, never silently cut.
MAX_FREE_TEXT = 20_000


class Technology(StrEnum):
    """How a case was detected: the unit the EU Regulation 2021/1232 transparency report counts errors by."""

    PDQ = "pdq"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    VPDQ = "vpdq"
    PRIVATE_THRESHOLD = "private-threshold"
    USER_REPORT = "user-report"

    @property
    def known_hash(self) -> bool:
        """True when the detection is a match against a hotline hash list (not a user's report alone)."""
        return self is not Technology.USER_REPORT


class IncidentType(StrEnum):
    """The eight incident types of the CyberTipline Reporting API, spelled exactly as documented."""

    CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
    CHILD_SEX_TRAFFICKING = "Child Sex Trafficking"
    CHILD_SEX_TOURISM = "Child Sex Tourism"
    CHILD_SEXUAL_MOLESTATION = "Child Sexual Molestation"
    MISLEADING_DOMAIN_NAME = "Misleading Domain Name"
    MISLEADING_WORDS_OR_IMAGES = "Misleading Words or Digital Images on the Internet"
    ONLINE_ENTICEMENT = "Online Enticement of Children for Sexual Acts"
    UNSOLICITED_OBSCENE_MATERIAL = "Unsolicited Obscene Material Sent to a Child"


class IndustryClassification(StrEnum):
    """The industry categorisation scheme (A1/A2/B1/B2). Emitted only when the policy allows it."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HEX = {n: re.compile(rf"^[0-9a-fA-F]{{{n}}}$") for n in (32, 40, 64)}


def _text(path: str, value: str | None, limit: int, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise InvalidReportInputError(path, "is required")
        return
    if not isinstance(value, str):
        raise InvalidReportInputError(path, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidReportInputError(path, "must not be empty")
    if len(value) > limit:
        raise InvalidReportInputError(path, f"is {len(value):,} characters long; the limit is {limit:,}")


def _aware(path: str, value: dt.datetime | None, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise InvalidReportInputError(path, "is required")
        return
    if not isinstance(value, dt.datetime):
        raise InvalidReportInputError(path, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidReportInputError(path, "must be timezone-aware (the API needs an offset)")


def _hex(path: str, value: str | None, length: int, *, required: bool = True) -> None:
    if value is None:
        if required:
            raise InvalidReportInputError(path, "is required")
        return
    if not isinstance(value, str) or not _HEX[length].match(value):
        raise InvalidReportInputError(path, f"must be {length} hexadecimal digits")


@dataclass(frozen=True)
class Person:
    """A person at the reporting company (``reportingPerson`` / ``contactPerson``). Email is required by the API."""

    email: str
    first_name: str | None = None
    last_name: str | None = None

    def check(self, path: str) -> None:
        _text(f"{path}.email", self.email, 255, required=True)
        if not _EMAIL.match(self.email):
            raise InvalidReportInputError(f"{path}.email", "is not an email address")
        _text(f"{path}.first_name", self.first_name, 255)
        _text(f"{path}.last_name", self.last_name, 255)


@dataclass(frozen=True)
class Reporter:
    """The electronic service provider filing the report."""

    reporting_person: Person
    contact_person: Person | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None

    def __post_init__(self) -> None:
        self.reporting_person.check("reporter.reporting_person")
        if self.contact_person is not None:
            self.contact_person.check("reporter.contact_person")
        _text("reporter.company_template", self.company_template, 255)
        _text("reporter.terms_of_service", self.terms_of_service, MAX_FREE_TEXT)
        _text("reporter.legal_url", self.legal_url, 2083)


@dataclass(frozen=True)
class Incident:
    """What happened and when (``incidentSummary``). The API requires both the type and the date/time."""

    incident_type: IncidentType
    occurred_at: dt.datetime
    description: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.incident_type, IncidentType):
            raise InvalidReportInputError("incident.incident_type", f"unknown incident type {self.incident_type!r}")
        _aware("incident.occurred_at", self.occurred_at, required=True)
        _text("incident.description", self.description, 3000)


@dataclass(frozen=True)
class AccountDisabled:
    """When we disabled the reported account, and whether (and when) the user was told.

    ``reenabled_at`` exists only for a temporary suspension.
    """

    disabled_at: dt.datetime
    user_notified: bool = False
    user_notified_at: dt.datetime | None = None
    reenabled_at: dt.datetime | None = None

    def check(self, path: str, *, temporary: bool) -> None:
        _aware(f"{path}.disabled_at", self.disabled_at, required=True)
        _aware(f"{path}.user_notified_at", self.user_notified_at)
        _aware(f"{path}.reenabled_at", self.reenabled_at)
        if self.user_notified_at is not None and not self.user_notified:
            raise InvalidReportInputError(f"{path}.user_notified_at", "is set but user_notified is false")
        if self.reenabled_at is not None:
            if not temporary:
                raise InvalidReportInputError(f"{path}.reenabled_at", "a permanent disabling has no re-enable date")
            if self.reenabled_at < self.disabled_at:
                raise InvalidReportInputError(f"{path}.reenabled_at", "is before disabled_at")


@dataclass(frozen=True)
class ReportedUser:
    """The account the case is about (``personOrUserReported``)."""

    esp_identifier: str
    esp_service: str | None = None
    screen_name: str | None = None
    display_names: tuple[str, ...] = ()
    temporarily_disabled: AccountDisabled | None = None
    permanently_disabled: AccountDisabled | None = None
    additional_info: str | None = None

    def __post_init__(self) -> None:
        _text("reported_user.esp_identifier", self.esp_identifier, 255, required=True)
        _text("reported_user.esp_service", self.esp_service, 100)
        _text("reported_user.screen_name", self.screen_name, 255)
        if not isinstance(self.display_names, tuple):
            raise InvalidReportInputError("reported_user.display_names", "must be a tuple")
        for i, name in enumerate(self.display_names):
            _text(f"reported_user.display_names[{i}]", name, 255, required=True)
        if self.temporarily_disabled is not None:
            self.temporarily_disabled.check("reported_user.temporarily_disabled", temporary=True)
        if self.permanently_disabled is not None:
            self.permanently_disabled.check("reported_user.permanently_disabled", temporary=False)
        _text("reported_user.additional_info", self.additional_info, MAX_FREE_TEXT)


@dataclass(frozen=True)
class ChatDetails:
    """The chat/IM context (``internetDetails/chatImIncident``): which client, which conversation."""

    chat_client: str
    chat_room_name: str | None = None
    content: str | None = None
    additional_info: str | None = None

    def __post_init__(self) -> None:
        _text("chat.chat_client", self.chat_client, 255, required=True)
        _text("chat.chat_room_name", self.chat_room_name, 255)
        _text("chat.content", self.content, MAX_FREE_TEXT)
        _text("chat.additional_info", self.additional_info, MAX_FREE_TEXT)


@dataclass(frozen=True)
class MatchDetails:
    """Why a file is in the report: the list entry it matched and how close (or: a user reported it)."""

    technology: Technology
    list_name: str | None = None
    entry_id: str | None = None
    distance: int | None = None
    threshold: int | None = None
    source_organisation: str | None = None

    def check(self, path: str) -> None:
        if not isinstance(self.technology, Technology):
            raise InvalidReportInputError(f"{path}.technology", f"unknown technology {self.technology!r}")
        if self.technology.known_hash and not self.list_name:
            raise InvalidReportInputError(f"{path}.list_name", "a hash-list match must name its list")
        _text(f"{path}.list_name", self.list_name, 200)
        _text(f"{path}.entry_id", self.entry_id, 200)
        _text(f"{path}.source_organisation", self.source_organisation, 200)
        for name, value in (("distance", self.distance), ("threshold", self.threshold)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InvalidReportInputError(f"{path}.{name}", "must be a non-negative integer")

    def as_pairs(self) -> list[tuple[str, str]]:
        """The match as name/value pairs (the shape of the API's ``details`` element)."""
        pairs = [("matchTechnology", self.technology.value)]
        for name, value in (
            ("matchList", self.list_name),
            ("matchEntryId", self.entry_id),
            ("matchDistance", self.distance),
            ("matchThreshold", self.threshold),
            ("matchListSource", self.source_organisation),
        ):
            if value is not None:
                pairs.append((name, str(value)))
        return pairs


@dataclass(frozen=True)
class ReportFile:
    """One file of the case: original hashes, whether staff viewed it, where it was, and the matches."""

    file_name: str
    md5: str
    sha1: str
    sha256: str
    pdq: str | None = None
    viewed_by_esp: bool = False
    publicly_available: bool = False
    location: str | None = None
    uploaded_at: dt.datetime | None = None
    matches: tuple[MatchDetails, ...] = ()
    industry_classification: IndustryClassification | None = None
    additional_info: str | None = None

    def check(self, path: str) -> None:
        _text(f"{path}.file_name", self.file_name, 2056, required=True)
        _hex(f"{path}.md5", self.md5, 32)
        _hex(f"{path}.sha1", self.sha1, 40)
        _hex(f"{path}.sha256", self.sha256, 64)
        _hex(f"{path}.pdq", self.pdq, 64, required=False)
        for name in ("viewed_by_esp", "publicly_available"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidReportInputError(f"{path}.{name}", "must be a bool")
        _text(f"{path}.location", self.location, 2083)
        _aware(f"{path}.uploaded_at", self.uploaded_at)
        if not isinstance(self.matches, tuple):
            raise InvalidReportInputError(f"{path}.matches", "must be a tuple")
        for i, match in enumerate(self.matches):
            match.check(f"{path}.matches[{i}]")
        if self.industry_classification is not None and not isinstance(
            self.industry_classification, IndustryClassification
        ):
            raise InvalidReportInputError(f"{path}.industry_classification", "must be A1, A2, B1 or B2")
        _text(f"{path}.additional_info", self.additional_info, MAX_FREE_TEXT)

    @property
    def known_hash_match(self) -> bool:
        """True when at least one match is against a hash list (EU 2021/1232's "known" material)."""
        return any(m.technology.known_hash for m in self.matches)

    @classmethod
    def from_bytes(cls, file_name: str, data: bytes, **kwargs: object) -> ReportFile:
        """Build a file entry, computing the original MD5/SHA-1/SHA-256 from the bytes themselves."""
        return cls(
            file_name,
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            hashlib.sha256(data).hexdigest(),
            **kwargs,  # type: ignore[arg-type]
        )

    def __post_init__(self) -> None:
        self.check("file")


@dataclass(frozen=True)
class CaseReport:
    """A confirmed case ready for a recipient: who reports, what happened, who did it, which files.

    ``human_confirmed`` records that a reviewer confirmed the case (the console's *confirm* decision); it is what the
    EU exporter checks before sending anything that is not a known-hash match.
    """

    case_id: str
    reporter: Reporter
    incident: Incident
    reported_user: ReportedUser | None = None
    chat: ChatDetails | None = None
    files: tuple[ReportFile, ...] = field(default=())
    human_confirmed: bool = False
    additional_info: str | None = None

    def __post_init__(self) -> None:
        _text("case_id", self.case_id, 200, required=True)
        if not isinstance(self.files, tuple):
            raise InvalidReportInputError("files", "must be a tuple")
        for i, f in enumerate(self.files):
            if not isinstance(f, ReportFile):
                raise InvalidReportInputError(f"files[{i}]", "must be a ReportFile")
            f.check(f"files[{i}]")
        _text("additional_info", self.additional_info, MAX_FREE_TEXT)


@dataclass(frozen=True)
class ReportPolicy:
    """Settings that change what we emit.

    ``allow_industry_classification``: the A1–B2 categorisation says something about the depicted abuse; a provider
    only sends it when its legal review allows it, so it is off unless configured.
    """

    allow_industry_classification: bool = False
