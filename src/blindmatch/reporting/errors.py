"""Exceptions raised by ``blindmatch.reporting``.

A report to an authority is a legal act: when something is wrong the caller must learn *what* (an input field too
long, a schema violation, a refused production URL, an API error code) and nothing may be half-sent silently.
Every failure therefore has its own class under :class:`ReportingError`; the API errors carry the documented
response code so the driver can tell a permanent rejection from a transient outage.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSubmissionError",
    "CyberTiplineAPIError",
    "CyberTiplineAuthError",
    "CyberTiplineTransportError",
    "HumanConfirmationRequiredError",
    "IllegalTransitionError",
    "InvalidReportInputError",
    "ProductionNotAllowedError",
    "ReportingError",
    "ResponseParseError",
    "SchemaValidationError",
    "SubmissionStateError",
    "TransparencyInputError",
    "UnknownRecipientError",
]


class ReportingError(Exception):
    """Base class of every error raised by ``blindmatch.reporting``."""


class InvalidReportInputError(ReportingError, ValueError):
    """A report input field that is missing, malformed or longer than the field allows.

    ``field`` names the offending field (dotted path, e.g. ``reported_user.screen_name``) so a console can point at it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SchemaValidationError(ReportingError):
    """An XML document that does not validate against the repository's CyberTipline XSD.

    Raised by every build (we never hand out an invalid document) and by the fake server on submission.
    """

    def __init__(self, document: str, problems: list[str]) -> None:
        joined = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
        super().__init__(f"{document} does not validate against cybertipline.xsd: {joined}")
        self.document = document
        self.problems = problems


class IllegalTransitionError(ReportingError):
    """A lifecycle step that the report's current state does not allow (e.g. finishing a retracted report)."""


class ProductionNotAllowedError(ReportingError):
    """The production CyberTipline URL was given without ``allow_production=True``."""


class CyberTiplineTransportError(ReportingError):
    """The API could not be reached (connection, timeout, HTTP 5xx) after the retries that were safe to make."""


class CyberTiplineAuthError(ReportingError):
    """The API refused our credentials (HTTP 401 / response code 2000)."""


class CyberTiplineAPIError(ReportingError):
    """The API answered with a non-zero ``responseCode``.

    ``code`` and ``description`` are what the server said; ``endpoint`` is the call that failed.
    """

    def __init__(self, endpoint: str, code: int, description: str) -> None:
        super().__init__(f"CyberTipline {endpoint} failed: responseCode {code} ({description or 'no description'})")
        self.endpoint = endpoint
        self.code = code
        self.description = description


class ResponseParseError(ReportingError):
    """A response body that is not the XML document the API documents (or is hostile: DTDs, entities, huge)."""


class AmbiguousSubmissionError(ReportingError):
    """A crash happened after ``/submit`` was sent but before its report id was stored.

    Sending again could open a second report; a person must check (an unfinished report is deleted by NCMEC after
    24 hours) and then resume with ``allow_resubmit=True``.
    """


class SubmissionStateError(ReportingError):
    """The stored submission does not fit the request (other case, other number of files, already terminal...)."""


class HumanConfirmationRequiredError(ReportingError):
    """EU Regulation 2021/1232 art. 3(1)(g)(iv): material that is not a known hash needs human confirmation first."""


class UnknownRecipientError(ReportingError, KeyError):
    """A recipient name that no adapter is registered for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown recipient"


class TransparencyInputError(ReportingError, ValueError):
    """Transparency records that cannot be counted honestly (naive datetimes, impossible outcomes, bad year)."""
