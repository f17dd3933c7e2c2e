"""HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, for abuse reports.

``cryptography`` 50 ships ``cryptography.hazmat.primitives.hpke`` (single-shot seal/open, empty AAD), so we use
it rather than composing primitives ourselves; ``tests/messaging/test_hpke.py`` checks it against the RFC's
test vector (A.2.1) through an independent key schedule. Sealed blobs are ``enc (32 bytes) ‖ ciphertext``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from blindmatch.messaging.errors import HpkeError

__all__ = ["SUITE", "ModerationKey", "hpke_open", "hpke_seal", "load_public_key"]

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
ENC_LEN = 32
TAG_LEN = 16


def load_public_key(raw: bytes) -> X25519PublicKey:
    if len(raw) != 32:
        raise HpkeError("an X25519 public key is 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def hpke_seal(public_key: bytes, plaintext: bytes, info: bytes) -> bytes:
    return SUITE.encrypt(plaintext, load_public_key(public_key), info=info)


def hpke_open(private_key: X25519PrivateKey, sealed: bytes, info: bytes) -> bytes:
    if len(sealed) < ENC_LEN + TAG_LEN:
        raise HpkeError(f"sealed blob is too short ({len(sealed)} bytes)")
    try:
        return SUITE.decrypt(sealed, private_key, info=info)
    except (InvalidTag, ValueError) as exc:
        raise HpkeError(f"cannot open the sealed blob (wrong key, wrong context or tampered): {exc!r}") from None


class ModerationKey:
    """The moderation team's X25519 key pair; reports are sealed to its public half."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self.private_key = private_key

    @classmethod
    def generate(cls) -> ModerationKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def private_bytes(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> ModerationKey:
        if len(raw) != 32:
            raise HpkeError("an X25519 private key is 32 bytes")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def open(self, sealed: bytes, info: bytes) -> bytes:
        return hpke_open(self.private_key, sealed, info)
