"""The console's own exceptions (the facade's are :class:`~blindmatch.moderation.errors.ModerationError`)."""

from __future__ import annotations

__all__ = ["ConsoleError", "ExportError", "ExportUnavailableError", "FilingFailedError", "FilingStateError"]


class ConsoleError(Exception):
    """Base class of every refusal the console raises itself; turned into a page by ``ConsoleRoute``."""


class ExportUnavailableError(ConsoleError):
    """The service is not configured to export reports (no reporter email set outside demo mode)."""


class ExportError(ConsoleError):
    """The case cannot be turned into a valid report (e.g. not confirmed, or a field the recipient refuses)."""


class FilingFailedError(ConsoleError):
    """The CyberTipline refused a call or could not be reached; the stored state is unchanged, try again later."""


class FilingStateError(ConsoleError):
    """The stored CyberTipline report does not allow the action (ambiguous submit, finished report retracted)."""
