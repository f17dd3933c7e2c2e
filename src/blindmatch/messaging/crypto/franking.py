"""Message franking (Facebook's scheme, formalised by Grubbs, Lu and Ristenpart, CRYPTO 2017).

Sender: picks a fresh 32-byte franking key ``nf``, puts it *inside* the encrypted payload, and sends the
commitment ``c = HMAC-SHA256(nf, framed(body, attachment SHA-256s, metadata))`` next to the ciphertext.
Relay: cannot read the message, but binds ``c`` to who sent it, to whom, and when, with its own tag
``t = HMAC-SHA256(K[kid], framed(c, sender, sender device, recipient, time))``; ``kid`` names the server key so the
keys can be rotated while old tags stay verifiable.
Recipient: after decrypting, recomputes ``c`` from the opened payload and rejects a mismatch (so what it could
later report is exactly what it was shown). Report: reveals payload (with ``nf``), ``c``, ``t``; the server
checks both, which proves the sender sent exactly this message, without the server having read any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from blindmatch.messaging.crypto.encoding import b64d, b64e, frame
from blindmatch.messaging.crypto.envelope import Payload
from blindmatch.messaging.errors import EncodingError, FrankingError

__all__ = [
    "FrankingKeyRing",
    "FrankingTag",
    "commitment",
    "new_franking_key",
    "verify_commitment",
]

COMMIT_DOMAIN = "blindmatch-frank-commit-v1"
TAG_DOMAIN = "blindmatch-frank-tag-v1"


def new_franking_key() -> bytes:
    return os.urandom(32)


def _committed(p: Payload) -> bytes:
    return frame(
        COMMIT_DOMAIN,
        p.message_id,
        p.conversation_id,
        p.sender,
        p.sender_device,
        p.recipient,
        str(p.sent_at_ms),
        p.kind,
        p.body,
        frame(*(a.sha256 for a in p.attachments)),
        frame(*(a.mime for a in p.attachments)),
    )


def commitment(p: Payload) -> bytes:
    """The franking commitment of a payload under its own ``nf``."""
    if len(p.nf) != 32:
        raise FrankingError("franking key must be 32 bytes")
    return hmac.new(p.nf, _committed(p), hashlib.sha256).digest()


def verify_commitment(p: Payload, c: bytes) -> None:
    """Recipient/moderator check: the opened payload is exactly what ``c`` committed to."""
    if not hmac.compare_digest(commitment(p), c):
        raise FrankingError(f"message {p.message_id} does not match its franking commitment")


@dataclass(frozen=True, slots=True)
class FrankingTag:
    kid: str
    tag: bytes


def _tag_input(c: bytes, sender: str, sender_device: str, recipient: str, ts_ms: int) -> bytes:
    if len(c) != 32:
        raise FrankingError("franking commitment must be 32 bytes")
    return frame(TAG_DOMAIN, c, sender, sender_device, recipient, str(ts_ms))


class FrankingKeyRing:
    """The relay's franking keys by id; ``current`` signs new tags, all of them verify."""

    def __init__(self, keys: dict[str, bytes], current: str) -> None:
        if current not in keys:
            raise FrankingError(f"current key id {current!r} is not in the ring")
        if any(len(k) < 32 for k in keys.values()):
            raise FrankingError("franking server keys must be at least 32 bytes")
        self.keys = dict(keys)
        self.current = current

    @classmethod
    def generate(cls) -> FrankingKeyRing:
        kid = cls._new_kid()
        return cls({kid: secrets.token_bytes(32)}, kid)

    @staticmethod
    def _new_kid() -> str:
        return datetime.now(UTC).strftime("%Y%m%d") + "-" + secrets.token_hex(4)

    def rotate(self) -> str:
        """Start signing with a fresh key; old keys remain for verifying old tags."""
        kid = self._new_kid()
        self.keys[kid] = secrets.token_bytes(32)
        self.current = kid
        return kid

    def tag(self, c: bytes, sender: str, sender_device: str, recipient: str, ts_ms: int) -> FrankingTag:
        data = _tag_input(c, sender, sender_device, recipient, ts_ms)
        return FrankingTag(self.current, hmac.new(self.keys[self.current], data, hashlib.sha256).digest())

    def verify(self, c: bytes, sender: str, sender_device: str, recipient: str, ts_ms: int, tag: FrankingTag) -> None:
        key = self.keys.get(tag.kid)
        if key is None:
            raise FrankingError(f"unknown franking key id {tag.kid!r}")
        expected = hmac.new(key, _tag_input(c, sender, sender_device, recipient, ts_ms), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, tag.tag):
            raise FrankingError("the relay's franking tag does not verify (altered sender, recipient or time?)")

    def to_json(self) -> str:
        return json.dumps({"current": self.current, "keys": {k: b64e(v) for k, v in self.keys.items()}})

    @classmethod
    def from_json(cls, text: str) -> FrankingKeyRing:
        try:
            obj = json.loads(text)
            keys = {str(k): b64d(v, field="franking key") for k, v in obj["keys"].items()}
            return cls(keys, str(obj["current"]))
        except (ValueError, KeyError, TypeError, AttributeError, EncodingError) as exc:
            raise FrankingError(f"cannot read the franking key ring: {exc}") from None
