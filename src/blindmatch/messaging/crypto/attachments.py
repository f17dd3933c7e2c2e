"""Attachment encryption: each blob gets a fresh AES-256-GCM key; the message carries key, size and SHA-256.

The relay stores only ``nonce ‖ ciphertext ‖ tag``. The receiver checks the decrypted size and the SHA-256 of the
plaintext against the (franked) message, so a relay that swaps blobs is detected, and a report can prove which
image was sent (the SHA-256 is inside the franking commitment).
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blindmatch.messaging.errors import AttachmentError, DecryptionError

__all__ = ["AAD", "DEFAULT_MAX_ATTACHMENT_BYTES", "EncryptedBlob", "decrypt_attachment", "encrypt_attachment"]

AAD = b"blindmatch-attachment-v1"
NONCE = 12
DEFAULT_MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024


class EncryptedBlob:
    __slots__ = ("blob", "key", "sha256", "size")

    def __init__(self, blob: bytes, key: bytes, sha256: str, size: int) -> None:
        self.blob = blob
        self.key = key
        self.sha256 = sha256
        self.size = size


def encrypt_attachment(data: bytes, *, max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> EncryptedBlob:
    if len(data) > max_bytes:
        raise AttachmentError(f"attachment is {len(data)} bytes, the limit is {max_bytes}")
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE)
    blob = nonce + AESGCM(key).encrypt(nonce, data, AAD)
    return EncryptedBlob(blob, key, hashlib.sha256(data).hexdigest(), len(data))


def decrypt_attachment(blob: bytes, key: bytes, *, size: int, sha256: str) -> bytes:
    if len(key) != 32:
        raise AttachmentError("attachment key must be 32 bytes")
    if len(blob) != NONCE + size + 16:
        raise AttachmentError(f"blob is {len(blob)} bytes, expected {NONCE + size + 16} for a {size}-byte attachment")
    try:
        data = AESGCM(key).decrypt(blob[:NONCE], blob[NONCE:], AAD)
    except InvalidTag:
        raise DecryptionError("attachment does not decrypt (wrong key or tampered blob)") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise AttachmentError("attachment SHA-256 does not match the message")
    return data
