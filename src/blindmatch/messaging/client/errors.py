"""Client-side errors (all subclasses of :class:`blindmatch.messaging.errors.MessagingError`)."""

from __future__ import annotations

from blindmatch.messaging.errors import MessagingError

__all__ = ["ClientError", "ContactError", "IdentityChangedError", "RelayAPIError", "StateError"]


class ClientError(MessagingError):
    """Base class of client SDK errors."""


class RelayAPIError(ClientError):
    """The relay answered with an error status; ``status`` and the relay's message are kept."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"relay answered {status}: {message}")
        self.status = status
        self.detail = message


class StateError(ClientError):
    """The local state is missing, corrupt, or does not decrypt with the local key."""


class ContactError(ClientError, LookupError):
    """Unknown contact or message, or the contact has no device that can receive messages."""


class IdentityChangedError(ClientError):
    """A contact's identity keys differ from the ones pinned earlier (possible interception): re-verify."""
