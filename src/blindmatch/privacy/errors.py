"""Exception classes of the private-matching protocol.

Every rejection the protocol can make has its own class, so that callers (the service, the messenger) can
count and report *why* an input was refused without parsing messages. All derive from :class:`PrivacyError`.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "DuplicateShareError",
    "DuplicateVoucherError",
    "GroupError",
    "InvalidPointError",
    "InvalidScalarError",
    "ManifestError",
    "MerkleProofError",
    "PrivacyError",
    "RateLimitedError",
    "ShamirError",
    "SignatureError",
    "TableBuildError",
    "TableDeltaError",
    "TableMismatchError",
    "TableVerificationError",
    "VoucherError",
    "WrongTableError",
]


class PrivacyError(Exception):
    """Base class of every error raised by :mod:`blindmatch.privacy`."""


class GroupError(PrivacyError):
    """A group operation was asked for something undefined (e.g. multiplying the identity)."""


class InvalidPointError(GroupError):
    """Bytes that should encode a ristretto255 point are malformed, non-canonical or the identity."""


class InvalidScalarError(GroupError):
    """Bytes that should encode a scalar are malformed or not reduced modulo the group order."""


class DecodeError(PrivacyError):
    """A binary message (voucher, table, delta) is truncated, has the wrong version or trailing bytes."""


class VoucherError(PrivacyError):
    """A voucher is structurally invalid (wrong token count, wrong sizes, bad points)."""


class WrongTableError(VoucherError):
    """A voucher was made against a table version the server does not hold."""


class DuplicateVoucherError(VoucherError):
    """A voucher id was already received for this account (replay or duplicate submission)."""


class DuplicateShareError(VoucherError):
    """An opened voucher carries a Shamir share whose x-coordinate was already seen for this account."""


class ShamirError(PrivacyError):
    """Secret sharing was asked for something impossible (bad threshold, too few points, no decoding)."""


class TableBuildError(PrivacyError):
    """The cuckoo table could not be built (e.g. insertion failed after every allowed rehash)."""


class ManifestError(PrivacyError):
    """A manifest is malformed or inconsistent with the table it describes."""


class SignatureError(ManifestError):
    """Too few valid custodian signatures (k-of-n) on a manifest."""


class TableVerificationError(PrivacyError):
    """A published table does not match its signed manifest (Merkle root, size, L)."""


class TableMismatchError(TableVerificationError):
    """An audit found slots that are not alpha times the expected list token or dummy."""


class TableDeltaError(TableVerificationError):
    """An incremental update does not apply to the client's table or does not produce the signed root."""


class MerkleProofError(PrivacyError):
    """A Merkle inclusion proof is malformed or does not verify against the root."""


class RateLimitedError(PrivacyError):
    """An account exceeded its warn-before-send query budget."""
