"""Errors of the messenger: one base class, one subclass per thing that can go wrong.

Callers (the relay routes, the client SDK, the CLI) map these to HTTP statuses or exit codes; nothing in
:mod:`blindmatch.messaging` lets a vodozemac, JSON or base64 exception escape unwrapped.
"""

from __future__ import annotations

__all__ = [
    "AttachmentError",
    "ConsentRequiredError",
    "CryptoError",
    "DecryptionError",
    "EncodingError",
    "EnvelopeError",
    "FrankingError",
    "HpkeError",
    "IdentityError",
    "MessagingError",
    "PrekeyError",
    "ReportError",
]


class MessagingError(Exception):
    """Base class of every error raised by :mod:`blindmatch.messaging`."""


class EncodingError(MessagingError, ValueError):
    """A field is not valid base64 / hex / the expected length."""


class CryptoError(MessagingError):
    """A cryptographic operation failed."""


class IdentityError(CryptoError, ValueError):
    """An identity key is malformed, or a signature by it does not verify."""


class PrekeyError(CryptoError, ValueError):
    """A one-time prekey is malformed or its signature by the identity key does not verify."""


class DecryptionError(CryptoError):
    """An Olm/Megolm/attachment ciphertext could not be decrypted (tampered, replayed, wrong key or session)."""


class EnvelopeError(MessagingError, ValueError):
    """A message envelope or payload is malformed, too large, of an unknown version, or has unexpected fields."""


class AttachmentError(CryptoError, ValueError):
    """An attachment is too large, or its decrypted bytes do not match the size/SHA-256 the message claims."""


class FrankingError(CryptoError, ValueError):
    """A franking commitment or the server's reporting tag does not verify."""


class HpkeError(CryptoError, ValueError):
    """An HPKE-sealed blob could not be opened (wrong key, tampered, truncated)."""


class ReportError(MessagingError, ValueError):
    """An abuse report is malformed or fails verification (forged or altered message, wrong sender)."""


class ConsentRequiredError(MessagingError, PermissionError):
    """The account has not consented to media scanning: images, videos and links cannot be sent."""
