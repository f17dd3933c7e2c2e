"""The blindmatch JSON Lines list format: one JSON object per line, UTF-8 (see ``docs/formats.md``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

from blindmatch.lists.errors import InvalidEntryError
from blindmatch.lists.formats.common import (
    ImportRecord,
    ImportReport,
    OnError,
    read_line_records,
)
from blindmatch.lists.formats.fields import entry_to_row, row_to_record
from blindmatch.lists.model import ListEntry

__all__ = ["MAX_LINE_CHARS", "parse_jsonl_line", "read_jsonl", "write_jsonl"]

#: A longer line is rejected before JSON parsing (a list entry is a few hundred bytes).
MAX_LINE_CHARS = 1_000_000


def parse_jsonl_line(text: str) -> ImportRecord | None:
    """Parse one line; ``None`` for a blank line. Raises :class:`InvalidEntryError` with the reason."""
    stripped = text.strip()
    if not stripped:
        return None
    if len(stripped) > MAX_LINE_CHARS:
        raise InvalidEntryError(f"line longer than {MAX_LINE_CHARS} characters")
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InvalidEntryError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise InvalidEntryError("JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise InvalidEntryError(f"each line must be a JSON object, got {type(obj).__name__}")
    return row_to_record(obj, metadata_is_json_text=False)


def read_jsonl(
    stream: Iterable[str],
    *,
    on_error: OnError = OnError.ABORT,
    report: ImportReport | None = None,
    source: str | None = None,
) -> Iterator[ImportRecord]:
    """Stream records from a JSONL file; blank lines are allowed."""
    rep = report if report is not None else ImportReport()
    yield from read_line_records(stream, parse_jsonl_line, on_error=on_error, report=rep, source=source)


def write_jsonl(entries: Iterable[ListEntry], stream: IO[str]) -> int:
    n = 0
    for entry in entries:
        row = entry_to_row(entry, metadata_as_json_text=False)
        if row["added_in_version"] == "":
            row["added_in_version"] = None
        if not row["added_at"]:
            row["added_at"] = None
        stream.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
        n += 1
    return n
