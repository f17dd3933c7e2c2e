"""Plain data for hash lists: :class:`HashList` and :class:`ListEntry`.

A list entry carries the provenance an investigator needs when a match is reviewed: who contributed the hash,
under which classification scheme and label, and under which licence. Classifications are kept *exactly* as the
source gave them ("A1", "B2", "A", "CSAM", ...): schemes differ between hotlines and a conversion would invent a
judgement nobody made.

Store-assigned fields (timestamps, versions, tombstones) are ``None`` on entries freshly parsed from a file or a
sync source; the store fills them in. ``list_name`` may be ``""`` on such entries: the store places them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from blindmatch.hashing.signals import (
    InvalidHashError,
    SignalType,
    UnknownSignalTypeError,
    normalize_hash,
    parse_signal_type,
)
from blindmatch.lists.errors import InvalidEntryError, InvalidListError

__all__ = [
    "DEFAULT_PDQ_THRESHOLD",
    "MAX_ENTRY_ID_LENGTH",
    "HashList",
    "ListEntry",
    "make_entry",
    "stable_entry_id",
    "validate_list_name",
    "validate_pdq_threshold",
]

#: PDQ Hamming distance at or below which two hashes match (the value ThreatExchange recommends).
DEFAULT_PDQ_THRESHOLD = 31
MAX_ENTRY_ID_LENGTH = 200
_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")


def validate_list_name(name: object) -> str:
    """Return ``name`` if it is a valid list slug (ASCII letters, digits, ``.``, ``_``, ``-``; 1-64 chars).

    Slugs keep list names usable in URLs, file names and CLI arguments without quoting. Upper case is allowed
    because HMA's bank names are ``UPPER_WITH_UNDERSCORES`` and its clients must keep working; names are
    case-sensitive.
    """
    if not isinstance(name, str):
        raise InvalidListError(f"list name must be a string, got {type(name).__name__}")
    if not _SLUG.match(name):
        raise InvalidListError(
            f"invalid list name {name!r}: use 1-64 ASCII letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_pdq_threshold(value: object) -> int:
    """PDQ thresholds are Hamming distances over 256 bits; anything above 128 would match at random."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidListError(f"pdq_threshold must be an integer, got {type(value).__name__}")
    if not 0 <= value <= 128:
        raise InvalidListError(f"pdq_threshold must be between 0 and 128, got {value}")
    return value


def stable_entry_id(signal_type: SignalType, value: str) -> str:
    """An entry id derived from the hash itself, for sources that give none.

    Deterministic so that importing the same file twice upserts instead of duplicating.
    """
    if signal_type is SignalType.VPDQ:  # a frame list is far too long to be an id: use its digest
        return f"vpdq:{hashlib.sha256(value.encode()).hexdigest()[:32]}"
    return f"{signal_type.value}:{value}"


@dataclass(frozen=True, slots=True)
class HashList:
    """A named, versioned hash list. ``version`` increases on every edit (entries or settings)."""

    name: str
    description: str = ""
    enabled: bool = True
    version: int = 1
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    created_at: datetime | None = None
    updated_at: datetime | None = None
    source: str = ""
    provenance: str = ""

    def __post_init__(self) -> None:
        validate_list_name(self.name)
        validate_pdq_threshold(self.pdq_threshold)


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One hash in one list, with its provenance. ``removed_at`` set means tombstoned (kept for history)."""

    list_name: str
    entry_id: str
    signal_type: SignalType
    value: str
    source_org: str = ""
    classification_scheme: str = ""
    classification_label: str = ""
    licence: str = ""
    added_at: datetime | None = None
    removed_at: datetime | None = None
    added_in_version: int | None = None
    removed_in_version: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.removed_at is None and self.removed_in_version is None

    def content_key(self) -> tuple[object, ...]:
        """The fields a source controls; two entries with equal keys need no rewrite on upsert."""
        return (
            self.entry_id,
            self.signal_type,
            self.value,
            self.source_org,
            self.classification_scheme,
            self.classification_label,
            self.licence,
            _freeze(self.metadata),
        )


def _freeze(obj: object) -> object:
    if isinstance(obj, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return tuple(_freeze(v) for v in obj)
    return obj


def _text(name: str, value: object, limit: int = 500) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidEntryError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidEntryError(f"{name} is longer than {limit} characters")
    return value


_SIGNAL_CACHE: dict[str, SignalType] = {}


def make_entry(
    *,
    signal_type: object,
    value: object,
    entry_id: object = None,
    list_name: str = "",
    source_org: object = None,
    classification_scheme: object = None,
    classification_label: object = None,
    licence: object = None,
    metadata: object = None,
) -> ListEntry:
    """Validate raw fields (from a file, an API, a form) and build a :class:`ListEntry`.

    The hash is normalised to canonical hex; a missing or empty ``entry_id`` becomes :func:`stable_entry_id`.
    Classification strings are kept verbatim (not even stripped): they are the source's words.
    Raises :class:`InvalidEntryError` naming the bad field.
    """
    try:
        st = _SIGNAL_CACHE.get(signal_type) if isinstance(signal_type, str) else None
        if st is None:
            st = parse_signal_type(signal_type if isinstance(signal_type, str | SignalType) else str(signal_type))
            if isinstance(signal_type, str) and len(_SIGNAL_CACHE) < 64:
                _SIGNAL_CACHE[signal_type] = st
        canonical = normalize_hash(st, value)
    except (InvalidHashError, UnknownSignalTypeError) as exc:
        raise InvalidEntryError(str(exc)) from None
    if entry_id is None or entry_id == "":
        eid = stable_entry_id(st, canonical)
    elif isinstance(entry_id, str):
        eid = entry_id.strip()
        if not eid:
            raise InvalidEntryError("entry_id is blank")
        if len(eid) > MAX_ENTRY_ID_LENGTH:
            raise InvalidEntryError(f"entry_id is longer than {MAX_ENTRY_ID_LENGTH} characters")
        if any(ord(c) < 32 for c in eid):
            raise InvalidEntryError("entry_id contains control characters")
    else:
        raise InvalidEntryError(f"entry_id must be a string, got {type(entry_id).__name__}")
    if metadata is None:
        meta: dict[str, Any] = {}
    elif isinstance(metadata, Mapping):
        meta = {str(k): v for k, v in metadata.items()}
    else:
        raise InvalidEntryError(f"metadata must be an object/mapping, got {type(metadata).__name__}")
    return ListEntry(
        list_name=list_name,
        entry_id=eid,
        signal_type=st,
        value=canonical,
        source_org=_text("source_org", source_org),
        classification_scheme=_text("classification_scheme", classification_scheme),
        classification_label=_text("classification_label", classification_label),
        licence=_text("licence", licence),
        metadata=meta,
    )


def content_digest(entries: list[ListEntry]) -> str:
    """A short digest of the entries' content, handy to compare two exports."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda x: x.entry_id):
        h.update(repr(e.content_key()).encode())
    return h.hexdigest()[:16]
