"""python-threatexchange's plain exports, as printed by ``threatexchange dataset -P``.

Two shapes exist (facebook/ThreatExchange, ``python-threatexchange/threatexchange/cli/dataset_cmd.py``):

* text: one signal per line, whitespace separated: ``[<'collab'>] <signal_type> <signal_str> [<tags>...]``
  (the collab name is printed quoted by Python's ``repr`` when several collaborations are shown);
* CSV (``--csv``): header ``collab,signal_type,signal_str,category,tags`` with space-separated tags.

Neither shape carries an entry id, so ids are derived from the hash (:func:`stable_entry_id`). The ThreatExchange
category goes into ``classification_label`` verbatim with scheme ``threatexchange``; the collab name becomes
``source_org``; tags are kept in ``metadata["tags"]``.
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Iterable, Iterator
from typing import IO, Any

from blindmatch.hashing.signals import SignalType, UnknownSignalTypeError, parse_signal_type
from blindmatch.lists.errors import ImportFormatError, InvalidEntryError
from blindmatch.lists.formats.common import (
    ImportRecord,
    ImportReport,
    OnError,
    bounded_lines,
    count,
    read_line_records,
    row_failed,
)
from blindmatch.lists.model import ListEntry, make_entry

__all__ = ["TE_CSV_COLUMNS", "TE_SCHEME", "read_te_csv", "read_te_text", "write_te_csv", "write_te_text"]

TE_CSV_COLUMNS = ("collab", "signal_type", "signal_str", "category", "tags")
TE_SCHEME = "threatexchange"


def _is_signal_type(token: str) -> bool:
    try:
        parse_signal_type(token)
    except UnknownSignalTypeError:
        return False
    return True


def _te_entry(collab: str, signal_type: str, value: str, category: str, tags: list[str]) -> ListEntry:
    meta: dict[str, Any] = {"tags": tags} if tags else {}
    return make_entry(
        signal_type=signal_type,
        value=value,
        source_org=collab,
        classification_scheme=TE_SCHEME if category else "",
        classification_label=category,
        metadata=meta,
    )


def read_te_text(
    stream: Iterable[str],
    *,
    on_error: OnError = OnError.ABORT,
    report: ImportReport | None = None,
    source: str | None = None,
) -> Iterator[ImportRecord]:
    """Stream entries from the text export; ``#`` comment lines and blank lines are skipped."""
    rep = report if report is not None else ImportReport()
    yield from read_line_records(stream, _parse_te_line, on_error=on_error, report=rep, source=source, comments="#")


def _parse_te_line(stripped: str) -> ListEntry:
    try:
        tokens = shlex.split(stripped)
    except ValueError as exc:
        raise InvalidEntryError(f"cannot split line: {exc}") from None
    collab = ""
    if len(tokens) >= 3 and not _is_signal_type(tokens[0]) and _is_signal_type(tokens[1]):
        collab = tokens.pop(0)
    if len(tokens) < 2:
        raise InvalidEntryError("expected '<signal_type> <hash> [tags...]'")
    return _te_entry(collab, tokens[0], tokens[1], "", tokens[2:])


def read_te_csv(
    stream: Iterable[str],
    *,
    on_error: OnError = OnError.ABORT,
    report: ImportReport | None = None,
    source: str | None = None,
) -> Iterator[ImportRecord]:
    """Stream entries from ``threatexchange dataset -P --csv`` output (header row required)."""
    rep = report if report is not None else ImportReport()
    reader = csv.reader(bounded_lines(stream, source=source), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ImportFormatError("empty file: a header row is required", line=1, source=source)
        names = [h.strip().lstrip("\ufeff") for h in header]
        if set(names) != set(TE_CSV_COLUMNS) or len(names) != len(TE_CSV_COLUMNS):
            raise ImportFormatError(
                f"ThreatExchange CSV header must be {','.join(TE_CSV_COLUMNS)}; got {','.join(names)}",
                line=1,
                source=source,
            )
        for row in reader:
            if not row:
                continue
            rep.rows += 1
            line = reader.line_num
            try:
                if len(row) != len(names):
                    raise InvalidEntryError(f"expected {len(names)} fields, got {len(row)}")
                r = dict(zip(names, row, strict=True))
                entry = _te_entry(r["collab"], r["signal_type"], r["signal_str"], r["category"], r["tags"].split())
            except InvalidEntryError as exc:
                row_failed(rep, on_error, line=line, reason=str(exc), raw=",".join(row), source=source)
                continue
            yield count(rep, entry)
    except csv.Error as exc:
        raise ImportFormatError(f"malformed CSV: {exc}", line=reader.line_num or 1, source=source) from None
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"file is not valid UTF-8: {exc.reason}", source=source) from None


def _tags(entry: ListEntry) -> list[str]:
    tags = entry.metadata.get("tags", [])
    if isinstance(tags, list) and all(isinstance(t, str) and t and " " not in t for t in tags):
        return list(tags)
    return []


def _te_type_name(st: SignalType) -> str:
    return st.value


def write_te_text(entries: Iterable[ListEntry], stream: IO[str]) -> int:
    """``[<'collab'>] <signal_type> <hash> [tags...]`` per line. Licence and entry ids are not representable."""
    n = 0
    for e in entries:
        # one line per signal: whitespace inside a collab name (newlines included) is folded to single spaces
        collab = " ".join(e.source_org.split())
        parts = [shlex.quote(collab)] if collab else []
        parts += [_te_type_name(e.signal_type), e.value, *_tags(e)]
        stream.write(" ".join(parts) + "\n")
        n += 1
    return n


def write_te_csv(entries: Iterable[ListEntry], stream: IO[str]) -> int:
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(TE_CSV_COLUMNS)
    n = 0
    for e in entries:
        label = e.classification_label if e.classification_scheme in ("", TE_SCHEME) else ""
        writer.writerow([e.source_org, _te_type_name(e.signal_type), e.value, label, " ".join(_tags(e))])
        n += 1
    return n
