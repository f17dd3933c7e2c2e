"""Turning detections into case drafts: threshold events, franked user reports and server-side scan matches.

Each function is a translation only (no database): it checks its input and returns a :class:`CaseDraft` that the
moderation service stores in one transaction. Bytes of media and texts of messages go into evidence drafts (they
are sealed before storage); list provenance goes into match drafts (stored in clear).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blindmatch.hashing.files import hash_bytes
from blindmatch.hashing.signals import SignalType
from blindmatch.hashing.vpdq import hash_video
from blindmatch.media import MediaError, sniff_format
from blindmatch.media.video import VideoError
from blindmatch.messaging.crypto.attachments import decrypt_attachment
from blindmatch.messaging.crypto.reports import FrankedMessage, VerifiedReport
from blindmatch.messaging.errors import MessagingError
from blindmatch.moderation.cases import CaseSource, technology_of
from blindmatch.moderation.errors import ModerationInputError
from blindmatch.service.matching import LookupResult, Matcher
from blindmatch.service.moderation_media import file_hashes, is_video, video_mime

__all__ = [
    "CaseDraft",
    "EvidenceDraft",
    "MatchDraft",
    "draft_from_report",
    "draft_from_scan",
    "draft_from_threshold",
    "match_bytes",
]

_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_LABEL = 255


@dataclass(frozen=True, slots=True)
class EvidenceDraft:
    kind: str
    mime: str
    label: str
    data: bytes
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MatchDraft:
    list_name: str
    entry_id: str
    signal_type: str
    value: str
    distance: int
    technology: str
    source_org: str = ""
    classification_scheme: str = ""
    classification_label: str = ""
    evidence_index: int | None = None  # which evidence draft matched


@dataclass(frozen=True, slots=True)
class CaseDraft:
    source: CaseSource
    source_ref: str
    subject_user: str
    subject_device: str
    details: Mapping[str, Any]
    evidence: Sequence[EvidenceDraft]
    matches: Sequence[MatchDraft]


def _str(d: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    v = d.get(key, None if required else "")
    if not isinstance(v, str) or (required and not v):
        raise ModerationInputError(f"match field {key!r} must be a non-empty string")
    return v[:1000]


def parse_match(d: object, source: CaseSource, evidence_index: int | None) -> MatchDraft:
    """A ``Match.as_dict()`` dict, checked field by field."""
    if not isinstance(d, Mapping):
        raise ModerationInputError("a match must be an object")
    distance = d.get("distance")
    if isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= 256:
        raise ModerationInputError("match field 'distance' must be an integer in 0..256")
    signal = _str(d, "signal_type")
    return MatchDraft(
        list_name=_str(d, "list"),
        entry_id=_str(d, "entry_id"),
        signal_type=signal,
        value=_str(d, "value"),
        distance=distance,
        technology=technology_of(source, signal),
        source_org=_str(d, "source_org", required=False),
        classification_scheme=_str(d, "classification_scheme", required=False),
        classification_label=_str(d, "classification_label", required=False),
        evidence_index=evidence_index,
    )


def draft_from_threshold(
    event_id: int, account_id: str, counters: Mapping[str, object], matches_json: str
) -> CaseDraft:
    """A threshold event: the account's verified matches (one sealed hash record each) with their provenance."""
    user, _, device = account_id.partition("/")
    try:
        items = json.loads(matches_json)
    except ValueError:
        raise ModerationInputError(f"threshold event {event_id} has unreadable matches") from None
    if not isinstance(items, list):
        raise ModerationInputError(f"threshold event {event_id}: matches must be a list")
    evidence: list[EvidenceDraft] = []
    matches: list[MatchDraft] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("pdq"), str):
            raise ModerationInputError(f"threshold event {event_id}: a match lacks its PDQ")
        record = {"pdq": item["pdq"], "voucher_id": item.get("voucher_id", "")}
        evidence.append(
            EvidenceDraft(
                "hash",
                "application/json",
                f"voucher {str(item.get('voucher_id', ''))[:16]}",
                json.dumps(record, sort_keys=True).encode(),
                {"pdq": item["pdq"]},
            )
        )
        for m in item.get("matches", []):
            matches.append(parse_match(m, CaseSource.THRESHOLD, len(evidence) - 1))
    details = {"threshold_event": event_id, "account": account_id, **dict(counters)}
    return CaseDraft(CaseSource.THRESHOLD, f"threshold:{event_id}", user, device, details, evidence, matches)


def _message_record(m: FrankedMessage) -> dict[str, Any]:
    return {
        "message_id": m.payload.message_id,
        "conversation_id": m.payload.conversation_id,
        "sender_device": m.sender_device,
        "kind": m.payload.kind,
        "body": m.payload.body,
        "server_ts": m.server_ts_ms,
        "attachments": [
            {"blob_id": a.blob_id, "size": a.size, "sha256": a.sha256, "mime": a.mime} for a in m.payload.attachments
        ],
    }


def draft_from_report(
    report_id: int,
    report: VerifiedReport,
    fetch_blob: Callable[[str], bytes | None],
    *,
    match_media: Callable[[bytes], list[dict[str, object]]] | None = None,
) -> CaseDraft:
    """A verified franked report: the messages (one sealed JSON item: bodies, reason) and each attachment of the
    reported message, fetched by blob id, decrypted with the key the report carries and checked against its
    SHA-256. An attachment that cannot be fetched or does not check is noted in the case details, not fatal."""
    messages = [report.reported, *report.context]
    record: dict[str, Any] = {"reason": report.reason, "reported": _message_record(report.reported)}
    record["context"] = [_message_record(m) for m in report.context]
    evidence = [
        EvidenceDraft(
            "message", "application/json", f"message {report.reported.payload.message_id}"[:MAX_LABEL],
            json.dumps(record, sort_keys=True).encode(),
        )
    ]  # fmt: skip
    matches: list[MatchDraft] = []
    problems: list[str] = []
    for m in messages:
        for a in m.payload.attachments:
            if not _BLOB_ID.match(a.blob_id):
                problems.append(f"attachment {a.blob_id[:40]!r}: malformed blob id")
                continue
            blob = fetch_blob(a.blob_id)
            if blob is None:
                problems.append(f"attachment {a.blob_id}: blob no longer on the relay")
                continue
            try:
                data = decrypt_attachment(blob, a.key, size=a.size, sha256=a.sha256)
            except MessagingError as exc:
                problems.append(f"attachment {a.blob_id}: {exc}")
                continue
            evidence.append(EvidenceDraft("media", a.mime, f"attachment {a.blob_id}", data, file_hashes(data)))
            for found in match_media(data) if match_media else []:
                matches.append(parse_match(found, CaseSource.USER_REPORT, len(evidence) - 1))
    details = {
        "relay_report": report_id,
        "reporter": report.reporter,
        "messages": len(messages),
        "attachments_missing": problems,
    }
    return CaseDraft(
        CaseSource.USER_REPORT,
        f"report:{report_id}",
        report.sender,
        report.reported.sender_device,
        details,
        evidence,
        matches,
    )


def draft_from_scan(
    data: bytes, filename: str, matches: Sequence[Mapping[str, Any]], *, source_ref: str, subject_user: str
) -> CaseDraft:
    if not data:
        raise ModerationInputError("a scanned file with no bytes cannot be evidence")
    if not matches:
        raise ModerationInputError("server-side scanning opens a case only for a file that matched a list")
    parsed = [parse_match(m, CaseSource.SCAN, 0) for m in matches]
    hashes = file_hashes(data)
    fmt = sniff_format(data[:16])
    mime = f"image/{fmt.lower()}" if fmt else (video_mime(data) or "application/octet-stream")
    label = filename.replace("\x00", "")[-MAX_LABEL:] or "upload"
    ev = EvidenceDraft("media", mime, label, data, hashes)
    details = {"filename": label, "matches": len(parsed)}
    return CaseDraft(CaseSource.SCAN, source_ref, subject_user, "", details, [ev], parsed)


def match_bytes(matcher: Matcher, data: bytes, *, lists: list[str] | None = None) -> list[dict[str, object]]:
    """Every list match of a file's hashes (PDQ, MD5, SHA-1, SHA-256; vPDQ for a video) as ``Match.as_dict()``
    dicts; a file that is neither a decodable image nor a decodable video is matched on its exact digests only."""
    results: list[LookupResult] = []
    if is_video(data):
        digests = file_hashes(data)
        for st in (SignalType.MD5, SignalType.SHA1, SignalType.SHA256):
            results.append(matcher.lookup(st, digests[st.value], lists=lists))
        try:
            video = hash_video(data)
        except (VideoError, MediaError):
            video = None  # undecodable: matched on its digests only, like any other file
        if video is not None and video.frames:
            results.append(matcher.lookup(SignalType.VPDQ, video.to_compact(), lists=lists))
        return [m.as_dict() for r in results for m in r.matches]
    try:
        h = hash_bytes(data)
    except MediaError:
        digests = file_hashes(data)
        for st in (SignalType.MD5, SignalType.SHA1, SignalType.SHA256):
            results.append(matcher.lookup(st, digests[st.value], lists=lists))
    else:
        results.append(matcher.lookup(SignalType.PDQ, h.pdq, lists=lists, quality=h.quality))
        for st, value in ((SignalType.MD5, h.md5), (SignalType.SHA1, h.sha1), (SignalType.SHA256, h.sha256)):
            results.append(matcher.lookup(st, value, lists=lists))
    return [m.as_dict() for r in results for m in r.matches]
