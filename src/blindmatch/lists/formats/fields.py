"""Shared row semantics of the blindmatch CSV and JSONL formats (see ``docs/formats.md``).

Both formats carry the same fields; this module turns one parsed row (a ``dict``) into a record and an entry back
into a row, so the two formats cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from blindmatch.lists.errors import InvalidEntryError
from blindmatch.lists.formats.common import Deletion, ImportRecord
from blindmatch.lists.model import ListEntry, make_entry

__all__ = ["ENTRY_FIELDS", "EXPORT_FIELDS", "INFORMATIONAL_FIELDS", "KNOWN_FIELDS", "entry_to_row", "row_to_record"]

#: Fields that map onto :class:`ListEntry` attributes.
ENTRY_FIELDS = (
    "entry_id",
    "signal_type",
    "value",
    "source_org",
    "classification_scheme",
    "classification_label",
    "licence",
    "metadata",
)
#: Written on export for people reading the file; ignored on import (the store assigns them).
INFORMATIONAL_FIELDS = ("list", "added_at", "added_in_version")
EXPORT_FIELDS = ENTRY_FIELDS + INFORMATIONAL_FIELDS
_CONTROL = ("op",)
KNOWN_FIELDS = frozenset(ENTRY_FIELDS + INFORMATIONAL_FIELDS + _CONTROL)


def row_to_record(
    row: Mapping[str, Any], *, metadata_is_json_text: bool, extra_keys: Sequence[str] | None = None
) -> ImportRecord:
    """Interpret one row. Unknown fields are kept in the entry's metadata under their own name.

    Raises :class:`InvalidEntryError` (with a reason fit for a per-row report) on anything malformed.
    """
    op = row.get("op") or "upsert"
    if op not in ("upsert", "delete"):
        raise InvalidEntryError(f"op must be 'upsert' or 'delete', got {op!r}")
    if op == "delete":
        eid = row.get("entry_id")
        if not isinstance(eid, str) or not eid.strip():
            raise InvalidEntryError("a delete row needs a non-empty entry_id")
        return Deletion(eid.strip())
    for required in ("signal_type", "value"):
        if row.get(required) in (None, ""):
            raise InvalidEntryError(f"missing required field {required!r}")
    raw_meta = row.get("metadata")
    meta: dict[str, Any]
    if raw_meta in (None, ""):
        meta = {}
    elif metadata_is_json_text:
        if not isinstance(raw_meta, str):
            raise InvalidEntryError("metadata must be JSON text")
        try:
            parsed = json.loads(raw_meta)
        except json.JSONDecodeError as exc:
            raise InvalidEntryError(f"metadata is not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict):
            raise InvalidEntryError("metadata must be a JSON object")
        meta = parsed
    else:
        if not isinstance(raw_meta, dict):
            raise InvalidEntryError(f"metadata must be an object, got {type(raw_meta).__name__}")
        meta = dict(raw_meta)
    for key in row if extra_keys is None else extra_keys:
        value = row[key]
        if key in KNOWN_FIELDS or value in (None, ""):
            continue
        if key in meta:
            raise InvalidEntryError(f"extra field {key!r} collides with the same key inside metadata")
        meta[key] = value
    return make_entry(
        entry_id=row.get("entry_id"),
        signal_type=row["signal_type"],
        value=row["value"],
        source_org=row.get("source_org"),
        classification_scheme=row.get("classification_scheme"),
        classification_label=row.get("classification_label"),
        licence=row.get("licence"),
        metadata=meta,
    )


def entry_to_row(entry: ListEntry, *, metadata_as_json_text: bool) -> dict[str, Any]:
    meta: Any = dict(entry.metadata)
    if metadata_as_json_text:
        meta = json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if meta else ""
    return {
        "entry_id": entry.entry_id,
        "signal_type": entry.signal_type.value,
        "value": entry.value,
        "source_org": entry.source_org,
        "classification_scheme": entry.classification_scheme,
        "classification_label": entry.classification_label,
        "licence": entry.licence,
        "metadata": meta,
        "list": entry.list_name,
        "added_at": entry.added_at.isoformat() if entry.added_at else "",
        "added_in_version": "" if entry.added_in_version is None else entry.added_in_version,
    }
