"""Relay logic that needs no database: request validation, server keys, franking tags, consent policy.

The relay (``blindmatch.service.routes_relay``) is a store-and-forward queue that only ever sees envelopes
(ciphertext), franking commitments and routing metadata. This module holds the parts of it that are pure:
parsing and bounding client requests, the server's franking key ring and moderation key (kept in one file,
mode 0600, under the service's data directory), and the tags the relay attaches to each delivery.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.crypto.envelope import decode_envelope
from blindmatch.messaging.crypto.franking import FrankingKeyRing, FrankingTag
from blindmatch.messaging.crypto.hpke import ModerationKey
from blindmatch.messaging.crypto.identity import DeviceKeys, SignedPrekey, validate_name
from blindmatch.messaging.errors import EncodingError, EnvelopeError, IdentityError, MessagingError

__all__ = [
    "CONSENT_POLICY_VERSION",
    "MAX_PREKEYS_PER_UPLOAD",
    "MAX_RECIPIENTS",
    "Delivery",
    "RecipientCopy",
    "RelayKeys",
    "RelayRequestError",
    "SendRequest",
    "parse_prekeys",
    "parse_send_request",
    "tag_for",
]

#: The media-scanning policy users consent to; bump it when the policy changes (consent is per version).
CONSENT_POLICY_VERSION = "2026-11"
MAX_RECIPIENTS = 256
MAX_PREKEYS_PER_UPLOAD = 100
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9+/=_-]{1,64}$")


class RelayRequestError(MessagingError, ValueError):
    """A client request to the relay is malformed (HTTP 400/422)."""


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RelayRequestError(f"{what} must be a JSON object")
    return value


def _id(value: object, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise RelayRequestError(f"{what} must be 1-128 characters of [A-Za-z0-9._:-]")
    return value


@dataclass(frozen=True, slots=True)
class RecipientCopy:
    user_id: str
    device_id: str
    envelope: bytes


@dataclass(frozen=True, slots=True)
class SendRequest:
    message_id: str
    conversation_id: str
    commitment: bytes
    recipients: tuple[RecipientCopy, ...]


def parse_send_request(body: object) -> SendRequest:
    """Validate a send request: ids, a 32-byte commitment, and one well-formed envelope per recipient device."""
    obj = _obj(body, "request")
    try:
        commitment = b64d(obj.get("commitment"), field="commitment", length=32)
        raw = obj.get("recipients")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_RECIPIENTS:
            raise RelayRequestError(f"recipients must be a list of 1..{MAX_RECIPIENTS} device copies")
        copies = []
        seen = set()
        for r in raw:
            r = _obj(r, "recipient")
            user = validate_name(r.get("user_id"), "recipient user id")
            device = validate_name(r.get("device_id"), "recipient device id")
            if (user, device) in seen:
                raise RelayRequestError(f"recipient {user}/{device} is listed twice")
            seen.add((user, device))
            env = b64d(r.get("envelope"), field="envelope", max_len=256 * 1024)
            decode_envelope(env)
            copies.append(RecipientCopy(user, device, env))
    except (EncodingError, EnvelopeError, IdentityError) as exc:
        raise RelayRequestError(str(exc)) from None
    return SendRequest(
        _id(obj.get("message_id"), "message_id"),
        _id(obj.get("conversation_id"), "conversation_id"),
        commitment,
        tuple(copies),
    )


def parse_device_keys(body: object) -> tuple[DeviceKeys, str]:
    """Registration body -> (validated device keys, registration signature)."""
    obj = _obj(body, "request")
    try:
        keys = DeviceKeys(
            obj.get("user_id"),  # type: ignore[arg-type]
            obj.get("device_id"),  # type: ignore[arg-type]
            obj.get("ed25519"),  # type: ignore[arg-type]
            obj.get("curve25519"),  # type: ignore[arg-type]
        ).validate()
    except (EncodingError, IdentityError) as exc:
        raise RelayRequestError(str(exc)) from None
    sig = obj.get("signature")
    if not isinstance(sig, str):
        raise RelayRequestError("signature is required")
    return keys, sig


def parse_prekeys(body: object) -> list[SignedPrekey]:
    obj = _obj(body, "request")
    raw = obj.get("prekeys")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PREKEYS_PER_UPLOAD:
        raise RelayRequestError(f"prekeys must be a list of 1..{MAX_PREKEYS_PER_UPLOAD}")
    out = []
    for p in raw:
        p = _obj(p, "prekey")
        kid, key, sig = p.get("key_id"), p.get("key"), p.get("signature")
        if not isinstance(kid, str) or not _KEY_ID.match(kid):
            raise RelayRequestError("prekey key_id must be 1-64 base64 characters")
        try:
            b64d(key, field="prekey key", length=32)
            b64d(sig, field="prekey signature", length=64)
        except EncodingError as exc:
            raise RelayRequestError(str(exc)) from None
        out.append(SignedPrekey(kid, str(key), str(sig)))
    return out


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued envelope for one device, with the relay's franking binding."""

    delivery_id: int
    message_id: str
    conversation_id: str
    seq: int
    sender: str
    sender_device: str
    recipient: str
    server_ts_ms: int
    commitment: bytes
    tag: FrankingTag
    envelope: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "sender": self.sender,
            "sender_device": self.sender_device,
            "recipient": self.recipient,
            "server_ts": self.server_ts_ms,
            "commitment": b64e(self.commitment),
            "kid": self.tag.kid,
            "tag": b64e(self.tag.tag),
            "envelope": b64e(self.envelope),
        }

    @classmethod
    def from_json(cls, obj: object) -> Delivery:
        o = _obj(obj, "delivery")
        try:
            return cls(
                int(o["delivery_id"]),
                str(o["message_id"]),
                str(o["conversation_id"]),
                int(o["seq"]),
                str(o["sender"]),
                str(o["sender_device"]),
                str(o["recipient"]),
                int(o["server_ts"]),
                b64d(o["commitment"], field="commitment", length=32),
                FrankingTag(str(o["kid"]), b64d(o["tag"], field="tag", length=32)),
                b64d(o["envelope"], field="envelope"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RelayRequestError(f"malformed delivery: {exc}") from None


def tag_for(
    ring: FrankingKeyRing, commitment: bytes, sender: str, sender_device: str, recipient: str, ts: int
) -> FrankingTag:
    return ring.tag(commitment, sender, sender_device, recipient, ts)


class RelayKeys:
    """The relay's secrets: franking key ring and the moderation key reports are sealed to.

    In production the moderation private key belongs to the moderation team's system, not the relay; the
    reference relay holds it so that it can verify franking before accepting a report (see docs/messenger.md).
    """

    def __init__(self, ring: FrankingKeyRing, moderation: ModerationKey) -> None:
        self.ring = ring
        self.moderation = moderation

    @classmethod
    def load_or_create(cls, path: Path) -> RelayKeys:
        if path.exists():
            try:
                obj = json.loads(path.read_text(encoding="utf-8"))
                ring = FrankingKeyRing.from_json(json.dumps(obj["franking"]))
                mod = ModerationKey.from_private_bytes(b64d(obj["moderation"], field="moderation key", length=32))
            except (ValueError, KeyError, TypeError) as exc:
                raise RelayRequestError(f"cannot read relay keys from {path}: {exc}") from None
            return cls(ring, mod)
        keys = cls(FrankingKeyRing.generate(), ModerationKey.generate())
        keys.save(path)
        return keys

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(
            {"franking": json.loads(self.ring.to_json()), "moderation": b64e(self.moderation.private_bytes())}
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
