"""The blindmatch CSV list format (RFC 4180, UTF-8, header row required; see ``docs/formats.md``)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import IO

from blindmatch.lists.errors import ImportFormatError, InvalidEntryError
from blindmatch.lists.formats.common import (
    ImportRecord,
    ImportReport,
    OnError,
    bounded_lines,
    count,
    row_failed,
)
from blindmatch.lists.formats.fields import EXPORT_FIELDS, KNOWN_FIELDS, entry_to_row, row_to_record
from blindmatch.lists.model import ListEntry

__all__ = ["read_csv", "write_csv"]


def read_csv(
    stream: Iterable[str],
    *,
    on_error: OnError = OnError.ABORT,
    report: ImportReport | None = None,
    source: str | None = None,
) -> Iterator[ImportRecord]:
    """Stream records from a blindmatch CSV file. The header must name at least ``signal_type`` and ``value``."""
    rep = report if report is not None else ImportReport()
    reader = csv.reader(bounded_lines(stream, source=source), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFormatError("empty file: a header row is required", line=1, source=source)
        names = [h.strip() for h in header]
        if names and names[0].startswith("\ufeff"):
            names[0] = names[0][1:]
        if len(set(names)) != len(names):
            raise ImportFormatError(f"duplicate column names in header: {names}", line=1, source=source)
        if "" in names:
            raise ImportFormatError("header has an empty column name", line=1, source=source)
        missing = [c for c in ("signal_type", "value") if c not in names]
        if missing and "op" not in names:
            raise ImportFormatError(
                f"header is missing required column(s) {missing}; got {names}", line=1, source=source
            )
        extra = [n for n in names if n not in KNOWN_FIELDS]
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rep.rows += 1
            if len(row) != len(names):
                row_failed(
                    rep,
                    on_error,
                    line=line,
                    reason=f"expected {len(names)} fields, got {len(row)}",
                    raw=",".join(row),
                    source=source,
                )
                continue
            try:
                record = row_to_record(dict(zip(names, row, strict=True)), metadata_is_json_text=True, extra_keys=extra)
            except InvalidEntryError as exc:
                row_failed(rep, on_error, line=line, reason=str(exc), raw=",".join(row), source=source)
                continue
            yield count(rep, record)
    except csv.Error as exc:
        raise ImportFormatError(f"malformed CSV: {exc}", line=reader.line_num or 1, source=source) from None
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"file is not valid UTF-8: {exc.reason}", source=source) from None


def write_csv(entries: Iterable[ListEntry], stream: IO[str]) -> int:
    """Write entries with a header row; returns the number of entries written."""
    writer = csv.DictWriter(stream, fieldnames=list(EXPORT_FIELDS), lineterminator="\r\n")
    writer.writeheader()
    n = 0
    for entry in entries:
        writer.writerow(entry_to_row(entry, metadata_as_json_text=True))
        n += 1
    return n
