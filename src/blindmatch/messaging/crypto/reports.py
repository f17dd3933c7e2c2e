"""Abuse reports: the reported message plus up to five earlier ones from the same sender, franked and sealed.

The reporter reveals, for each message, the opened payload (which contains ``nf``), the commitment ``c``, and the
relay's tag with its binding (sender, sender device, recipient, server time). The bundle is sealed with HPKE to
the moderation key, with ``info`` naming the reporter, so a sealed report cannot be replayed under another account.
:func:`verify_report` is what the server runs before accepting: it opens the bundle and checks every commitment
and tag, that all messages come from one sender and were delivered to the reporter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.crypto.envelope import Payload, payload_from_json
from blindmatch.messaging.crypto.franking import FrankingKeyRing, FrankingTag, verify_commitment
from blindmatch.messaging.crypto.hpke import ModerationKey, hpke_seal
from blindmatch.messaging.errors import EncodingError, EnvelopeError, FrankingError, HpkeError, ReportError

__all__ = [
    "MAX_CONTEXT",
    "FrankedMessage",
    "VerifiedReport",
    "report_info",
    "seal_report",
    "verify_report",
]

MAX_CONTEXT = 5
MAX_REASON = 2000
MAX_SEALED = 2 * 1024 * 1024


def report_info(reporter: str) -> bytes:
    return b"blindmatch-report-v1\x00" + reporter.encode("utf-8")


@dataclass(frozen=True, slots=True)
class FrankedMessage:
    """A received message with everything needed to prove who sent it."""

    payload: Payload
    commitment: bytes
    tag: FrankingTag
    sender: str
    sender_device: str
    recipient: str
    server_ts_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": self.payload.to_json(),
            "c": b64e(self.commitment),
            "kid": self.tag.kid,
            "tag": b64e(self.tag.tag),
            "sender": self.sender,
            "sender_device": self.sender_device,
            "recipient": self.recipient,
            "server_ts": self.server_ts_ms,
        }

    @classmethod
    def from_json(cls, obj: object) -> FrankedMessage:
        if not isinstance(obj, dict):
            raise ReportError("reported message must be an object")
        try:
            payload_obj = obj["payload"]
            if not isinstance(payload_obj, dict):
                raise ReportError("payload must be an object")
            ts = obj["server_ts"]
            fields = [obj["kid"], obj["sender"], obj["sender_device"], obj["recipient"]]
            if isinstance(ts, bool) or not isinstance(ts, int) or not all(isinstance(f, str) for f in fields):
                raise ReportError("reported message has fields of the wrong type")
            return cls(
                payload_from_json(payload_obj),
                b64d(obj["c"], field="c", length=32),
                FrankingTag(obj["kid"], b64d(obj["tag"], field="tag", length=32)),
                obj["sender"],
                obj["sender_device"],
                obj["recipient"],
                ts,
            )
        except KeyError as exc:
            raise ReportError(f"reported message lacks {exc}") from None
        except (EncodingError, EnvelopeError) as exc:
            raise ReportError(f"reported message is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class VerifiedReport:
    reporter: str
    sender: str
    reason: str
    reported: FrankedMessage
    context: tuple[FrankedMessage, ...]


def seal_report(
    moderation_public_key: bytes,
    reporter: str,
    reported: FrankedMessage,
    context: list[FrankedMessage],
    reason: str = "",
) -> bytes:
    """Build and HPKE-seal a report; ``context`` is truncated to the last :data:`MAX_CONTEXT` messages."""
    if len(reason) > MAX_REASON:
        raise ReportError(f"reason is longer than {MAX_REASON} characters")
    ctx = [m for m in context if m.payload.message_id != reported.payload.message_id][-MAX_CONTEXT:]
    body = {
        "v": 1,
        "reporter": reporter,
        "reason": reason,
        "reported": reported.to_json(),
        "context": [m.to_json() for m in ctx],
    }
    return hpke_seal(moderation_public_key, json.dumps(body, separators=(",", ":")).encode(), report_info(reporter))


def verify_report(sealed: bytes, key: ModerationKey, ring: FrankingKeyRing, *, reporter: str) -> VerifiedReport:
    """Open and check a report from ``reporter`` (the authenticated account); raise :class:`ReportError`."""
    if len(sealed) > MAX_SEALED:
        raise ReportError(f"report is larger than {MAX_SEALED} bytes")
    try:
        obj = json.loads(key.open(sealed, report_info(reporter)))
    except HpkeError as exc:
        raise ReportError(f"cannot open the report: {exc}") from None
    except ValueError as exc:
        raise ReportError(f"report is not valid JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise ReportError("report must be a version-1 JSON object")
    if obj.get("reporter") != reporter:
        raise ReportError("report names a different reporter than the account sending it")
    reason = obj.get("reason", "")
    context_raw = obj.get("context", [])
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ReportError("reason must be a string of at most 2000 characters")
    if not isinstance(context_raw, list) or len(context_raw) > MAX_CONTEXT:
        raise ReportError(f"a report carries at most {MAX_CONTEXT} context messages")
    reported = FrankedMessage.from_json(obj.get("reported"))
    context = tuple(FrankedMessage.from_json(m) for m in context_raw)
    for m in (reported, *context):
        if m.sender != reported.sender:
            raise ReportError("context messages must come from the reported sender")
        if m.recipient != reporter:
            raise ReportError("a reported message was not delivered to the reporter")
        if m.payload.sender != m.sender or m.payload.sender_device != m.sender_device:
            raise ReportError("the payload's sender differs from the relay-attested sender")
        try:
            verify_commitment(m.payload, m.commitment)
            ring.verify(m.commitment, m.sender, m.sender_device, m.recipient, m.server_ts_ms, m.tag)
        except FrankingError as exc:
            raise ReportError(f"franking check failed for message {m.payload.message_id}: {exc}") from None
    return VerifiedReport(reporter, reported.sender, reason, reported, context)
