"""Upload receipts: the relay accepts an attachment only with a receipt it issued for a voucher.

Without this the relay took any upload from a consenting account, so a client built without the media check could
send images that never produced a voucher. A receipt closes that gap for unmodified clients, and it is built so the
relay cannot use it to tie an upload to the voucher that earned it (a blind token, as in Privacy Pass):

1. With each voucher the client sends ``B = r·H(t)`` for a fresh random 32-byte ``t`` and random scalar ``r``.
2. If the relay accepts the voucher it answers ``E = k·B`` and a DLEQ proof that ``E`` used the same ``k`` as its
   published receipt key ``K = k·G`` (so it cannot mark one client by using a key of its own for it).
3. The client unblinds ``Q = r⁻¹·E = k·H(t)``; the receipt is ``t ‖ Q`` (64 bytes).
4. ``POST /attachments`` carries the receipt. The relay checks ``Q = k·H(t)`` and stores the blob under an id
   derived from ``t``: the blob table's primary key makes each receipt single-use, with no table of its own.

The relay saw only the uniformly random ``B`` at voucher time, so at upload time it cannot tell which voucher the
receipt came from, beyond timing (an upload normally follows its voucher within a second). What a receipt does
*not* prove is that the voucher was made from the uploaded image: a modified client can voucher one image and upload
another. See docs/privacy.md ("Attachment receipts").
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from blindmatch.messaging.errors import MessagingError
from blindmatch.privacy.dleq import DleqProof, prove_batch, verify_batch
from blindmatch.privacy.errors import PrivacyError
from blindmatch.privacy.group import Point, Scalar, hash_to_point

__all__ = [
    "RECEIPT_BYTES",
    "RECEIPT_HEADER",
    "RECEIPT_REQUEST_HEADER",
    "BlindedReceipt",
    "ReceiptError",
    "ReceiptIssuer",
    "blind_receipt",
    "receipt_blob_id",
    "unblind_receipt",
]

RECEIPT_BYTES = 64
#: Header of ``POST /relay/v1/attachments`` carrying the receipt (base64 of 64 bytes).
RECEIPT_HEADER = "X-Blindmatch-Receipt"
#: Header of ``POST /relay/v1/detection/vouchers`` (and ``/unchecked``) carrying a blinded request (base64, 32 bytes).
RECEIPT_REQUEST_HEADER = "X-Blindmatch-Receipt-Request"
_DOMAIN = b"blindmatch/upload-receipt/v1"
_PROOF_CONTEXT = b"blindmatch/upload-receipt/dleq/v1"
_BLOB_DOMAIN = b"blindmatch/upload-receipt/blob-id/v1\x00"


class ReceiptError(MessagingError, ValueError):
    """A receipt, receipt request or receipt answer is malformed or does not verify."""


def _point(raw: bytes, what: str) -> Point:
    try:
        return Point.decode(raw)
    except PrivacyError as exc:
        raise ReceiptError(f"{what}: {exc}") from None


def receipt_blob_id(token: bytes) -> str:
    """The blob id an upload with receipt token ``t`` is stored under (192 bits, URL-safe, 32 characters).

    Only the client knows ``t`` before it uploads, so the id is still an unguessable capability."""
    digest = hashlib.sha256(_BLOB_DOMAIN + token).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class BlindedReceipt:
    """The client's secret half of a receipt request; ``request`` (32 bytes) is what goes to the relay."""

    token: bytes
    blind: Scalar
    request: bytes


def blind_receipt() -> BlindedReceipt:
    token = secrets.token_bytes(32)
    blind = Scalar.random()
    return BlindedReceipt(token, blind, hash_to_point(_DOMAIN, token).mul(blind).raw)


def unblind_receipt(pending: BlindedReceipt, answer: bytes, public_key: bytes) -> bytes:
    """Check the relay's answer (``E ‖ proof``, 96 bytes) against its receipt key and return the 64-byte receipt."""
    if len(answer) != 96:
        raise ReceiptError("a receipt answer is 96 bytes (point and DLEQ proof)")
    evaluated = _point(answer[:32], "receipt answer")
    key = _point(public_key, "receipt key")
    try:
        proof = DleqProof.decode(answer[32:])
        verify_batch(key, [Point(pending.request)], [evaluated], proof, _PROOF_CONTEXT)
    except PrivacyError as exc:
        raise ReceiptError(f"the relay's receipt does not verify against its receipt key: {exc}") from None
    unblinded = evaluated.mul(pending.blind.invert())
    return pending.token + unblinded.raw


class ReceiptIssuer:
    """The relay's side: the secret ``k``; issues blind receipts and checks presented ones."""

    def __init__(self, secret: bytes) -> None:
        try:
            self._k = Scalar.decode(secret)
        except PrivacyError as exc:
            raise ReceiptError(f"receipt key: {exc}") from None
        if self._k.is_zero():
            raise ReceiptError("receipt key must not be zero")
        self.public_key = Point.base_mul(self._k).raw

    @classmethod
    def generate(cls) -> ReceiptIssuer:
        return cls(Scalar.random().raw)

    @property
    def secret(self) -> bytes:
        return self._k.raw

    def issue(self, request: bytes) -> bytes:
        """``k·B`` and a proof, for a client's 32-byte blinded request."""
        blinded = _point(request, "receipt request")
        evaluated = blinded.mul(self._k)
        return evaluated.raw + prove_batch(self._k, [blinded], [evaluated], _PROOF_CONTEXT).encode()

    def check(self, receipt: bytes) -> str:
        """Verify a presented receipt; return the blob id it entitles to (single use is the caller's job)."""
        if len(receipt) != RECEIPT_BYTES:
            raise ReceiptError(f"a receipt is {RECEIPT_BYTES} bytes")
        token, presented = receipt[:32], receipt[32:]
        expected = hash_to_point(_DOMAIN, token).mul(self._k).raw
        if not secrets.compare_digest(expected, presented):
            raise ReceiptError("receipt was not issued by this relay")
        return receipt_blob_id(token)
