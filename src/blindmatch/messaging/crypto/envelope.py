"""The wire envelope: the only thing the relay stores per recipient device, and the payload inside it.

Envelope (cleartext to the relay, compact JSON, versioned)::

    {"v": 1, "alg": "olm",    "sk": <sender curve25519>, "type": 0|1, "ct": <base64>}
    {"v": 1, "alg": "megolm", "sk": <sender curve25519>, "sid": <megolm session id>, "ct": <base64>}

Payload (the plaintext inside ``ct``; never seen by the relay)::

    {"v": 1, "id", "conv", "from", "dev", "to", "ts", "kind", "body", "att": [...], "nf": <franking key>}

JSON was chosen over CBOR because the standard library parses it and it is easy to audit; hostile inputs are
bounded (size cap before parsing, duplicate keys rejected, exact key sets, types and lengths checked), and every
failure is an :class:`EnvelopeError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.errors import EncodingError, EnvelopeError

__all__ = [
    "KINDS",
    "MAX_BODY_CHARS",
    "MAX_ENVELOPE_BYTES",
    "AttachmentRef",
    "Envelope",
    "Payload",
    "decode_envelope",
    "decode_payload",
    "encode_envelope",
    "encode_payload",
]

VERSION = 1
MAX_ENVELOPE_BYTES = 256 * 1024
MAX_BODY_CHARS = 64 * 1024
MAX_ATTACHMENTS = 10
KINDS = ("text", "image", "video", "link", "room_key")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MIME = re.compile(r"^[a-z0-9.+-]{1,40}/[a-z0-9.+-]{1,80}$")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise EnvelopeError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse(raw: bytes | str, what: str) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes | bytearray):
        raise EnvelopeError(f"{what} must be bytes")
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"{what} is too large ({len(raw)} > {MAX_ENVELOPE_BYTES} bytes)")
    try:
        obj = json.loads(raw, object_pairs_hook=_no_duplicates)
    except EnvelopeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise EnvelopeError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError(f"{what} must be a JSON object")
    if obj.get("v") != VERSION:
        raise EnvelopeError(f"unsupported {what} version {obj.get('v')!r} (this client speaks {VERSION})")
    return obj


def _keys(obj: dict[str, Any], required: set[str], what: str) -> None:
    missing = required - obj.keys()
    extra = obj.keys() - required
    if missing or extra:
        raise EnvelopeError(f"{what} fields wrong: missing {sorted(missing)}, unexpected {sorted(extra)}")


def _str(obj: dict[str, Any], key: str, what: str, pattern: re.Pattern[str] | None = None, max_len: int = 256) -> str:
    v = obj[key]
    if not isinstance(v, str) or len(v) > max_len or (pattern is not None and not pattern.match(v)):
        raise EnvelopeError(f"{what}.{key} is not a valid string")
    return v


def _int(obj: dict[str, Any], key: str, what: str, lo: int, hi: int) -> int:
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise EnvelopeError(f"{what}.{key} must be an integer in [{lo}, {hi}]")
    return v


@dataclass(frozen=True, slots=True)
class Envelope:
    alg: str
    sender_key: str
    ciphertext: bytes
    olm_type: int = 0
    session_id: str = ""


def encode_envelope(env: Envelope) -> bytes:
    obj: dict[str, Any] = {"v": VERSION, "alg": env.alg, "sk": env.sender_key}
    if env.alg == "olm":
        obj["type"] = env.olm_type
    elif env.alg == "megolm":
        obj["sid"] = env.session_id
    else:
        raise EnvelopeError(f"unknown algorithm {env.alg!r}")
    obj["ct"] = b64e(env.ciphertext)
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


def decode_envelope(raw: bytes | str) -> Envelope:
    obj = _parse(raw, "envelope")
    alg = obj.get("alg")
    try:
        if alg == "olm":
            _keys(obj, {"v", "alg", "sk", "type", "ct"}, "envelope")
            b64d(obj["sk"], field="envelope.sk", length=32)
            return Envelope(
                "olm",
                obj["sk"],
                b64d(obj["ct"], field="envelope.ct", max_len=MAX_ENVELOPE_BYTES),
                olm_type=_int(obj, "type", "envelope", 0, 1),
            )
        if alg == "megolm":
            _keys(obj, {"v", "alg", "sk", "sid", "ct"}, "envelope")
            b64d(obj["sk"], field="envelope.sk", length=32)
            sid = _str(obj, "sid", "envelope", max_len=128)
            b64d(sid, field="envelope.sid", length=32)
            return Envelope(
                "megolm",
                obj["sk"],
                b64d(obj["ct"], field="envelope.ct", max_len=MAX_ENVELOPE_BYTES),
                session_id=sid,
            )
    except EncodingError as exc:
        raise EnvelopeError(str(exc)) from None
    raise EnvelopeError(f"unknown envelope algorithm {alg!r}")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """Points at an encrypted blob on the relay and carries what is needed to open and check it."""

    blob_id: str
    key: bytes
    size: int
    sha256: str
    mime: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.blob_id, "key": b64e(self.key), "size": self.size, "sha256": self.sha256, "mime": self.mime}

    @classmethod
    def from_json(cls, obj: object) -> AttachmentRef:
        if not isinstance(obj, dict):
            raise EnvelopeError("attachment must be an object")
        _keys(obj, {"id", "key", "size", "sha256", "mime"}, "attachment")
        try:
            key = b64d(obj["key"], field="attachment.key", length=32)
        except EncodingError as exc:
            raise EnvelopeError(str(exc)) from None
        return cls(
            _str(obj, "id", "attachment", _ID),
            key,
            _int(obj, "size", "attachment", 0, 2**40),
            _str(obj, "sha256", "attachment", _HEX64),
            _str(obj, "mime", "attachment", _MIME),
        )


@dataclass(frozen=True, slots=True)
class Payload:
    """One message as the sender wrote it. ``nf`` is the franking key (revealed only when reporting)."""

    message_id: str
    conversation_id: str
    sender: str
    sender_device: str
    recipient: str
    sent_at_ms: int
    kind: str
    body: str
    nf: bytes
    attachments: tuple[AttachmentRef, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "id": self.message_id,
            "conv": self.conversation_id,
            "from": self.sender,
            "dev": self.sender_device,
            "to": self.recipient,
            "ts": self.sent_at_ms,
            "kind": self.kind,
            "body": self.body,
            "att": [a.to_json() for a in self.attachments],
            "nf": b64e(self.nf),
        }


def encode_payload(p: Payload) -> bytes:
    return json.dumps(p.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_from_json(obj: dict[str, Any]) -> Payload:
    if obj.get("v") != VERSION:
        raise EnvelopeError(f"unsupported payload version {obj.get('v')!r}")
    _keys(obj, {"v", "id", "conv", "from", "dev", "to", "ts", "kind", "body", "att", "nf"}, "payload")
    kind = obj["kind"]
    if kind not in KINDS:
        raise EnvelopeError(f"unknown message kind {kind!r}")
    att = obj["att"]
    if not isinstance(att, list) or len(att) > MAX_ATTACHMENTS:
        raise EnvelopeError(f"payload.att must be a list of at most {MAX_ATTACHMENTS} attachments")
    try:
        nf = b64d(obj["nf"], field="payload.nf", length=32)
    except EncodingError as exc:
        raise EnvelopeError(str(exc)) from None
    return Payload(
        message_id=_str(obj, "id", "payload", _ID),
        conversation_id=_str(obj, "conv", "payload", _ID),
        sender=_str(obj, "from", "payload", _ID),
        sender_device=_str(obj, "dev", "payload", _ID),
        recipient=_str(obj, "to", "payload", _ID),
        sent_at_ms=_int(obj, "ts", "payload", 0, 2**53),
        kind=kind,
        body=_str(obj, "body", "payload", max_len=MAX_BODY_CHARS),
        nf=nf,
        attachments=tuple(AttachmentRef.from_json(a) for a in att),
    )


def decode_payload(raw: bytes | str) -> Payload:
    return payload_from_json(_parse(raw, "payload"))
