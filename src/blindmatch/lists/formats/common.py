"""What every importer shares: the record types it yields, the error policy and the report of bad rows.

Importers are generators: they read a text stream line by line (never the whole file) and yield
:class:`ListEntry` (add or replace) or :class:`Deletion` (tombstone) records. A malformed row either aborts the
import with :class:`ImportFormatError` naming its line (``OnError.ABORT``, the default) or is recorded in the
:class:`ImportReport` and skipped (``OnError.SKIP``). Nothing is dropped without a trace: every skipped row is in
``report.errors``; every row that is valid but carries nothing blindmatch can match (e.g. a PhotoDNA-only NCMEC
entry) is in ``report.ignored``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Protocol

from blindmatch.lists.errors import ImportFormatError, InvalidEntryError
from blindmatch.lists.model import ListEntry

__all__ = [
    "Deletion",
    "ImportRecord",
    "ImportReport",
    "OnError",
    "RecordReader",
    "RecordWriter",
    "RowError",
]


class OnError(StrEnum):
    """What an importer does with a malformed row."""

    ABORT = "abort"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Deletion:
    """The source withdrew ``entry_id``: the store tombstones it (no-op if absent)."""

    entry_id: str


ImportRecord = ListEntry | Deletion


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: where, why, and (clipped) what it contained."""

    line: int | None
    reason: str
    raw: str = ""


@dataclass
class ImportReport:
    """Counts and per-row problems of one import. Filled in while the reader is consumed."""

    rows: int = 0
    entries: int = 0
    deletions: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class RecordReader(Protocol):
    def __call__(
        self,
        stream: Iterable[str],
        *,
        on_error: OnError = ...,
        report: ImportReport | None = ...,
        source: str | None = ...,
    ) -> Iterator[ImportRecord]: ...


class RecordWriter(Protocol):
    def __call__(self, entries: Iterable[ListEntry], stream: IO[str]) -> int: ...


def clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def row_failed(
    report: ImportReport,
    on_error: OnError,
    *,
    line: int | None,
    reason: str,
    raw: str,
    source: str | None,
) -> None:
    """Apply the error policy to one bad row: raise (abort) or record it (skip)."""
    if on_error is OnError.ABORT:
        raise ImportFormatError(reason, line=line, source=source)
    report.errors.append(RowError(line, reason, clip(raw)))


def count(report: ImportReport, record: ImportRecord) -> ImportRecord:
    if isinstance(record, Deletion):
        report.deletions += 1
    else:
        report.entries += 1
    return record


def read_line_records(
    stream: Iterable[str],
    parse: Callable[[str], ImportRecord | None],
    *,
    on_error: OnError,
    report: ImportReport,
    source: str | None,
    comments: str | None = None,
) -> Iterator[ImportRecord]:
    """The loop of every one-record-per-line format: skip blank (and comment) lines, parse each other line
    (``parse`` raises :class:`InvalidEntryError` for a bad one, or returns None for a line that carries nothing),
    apply the error policy, count, and name the line when the file is not UTF-8."""
    line = 0
    try:
        for line, text in enumerate(bounded_lines(stream, source=source), start=1):
            stripped = text.strip()
            if not stripped or (comments is not None and stripped.startswith(comments)):
                continue
            report.rows += 1
            try:
                record = parse(stripped)
            except InvalidEntryError as exc:
                row_failed(report, on_error, line=line, reason=str(exc), raw=stripped, source=source)
                continue
            if record is not None:
                yield count(report, record)
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"file is not valid UTF-8: {exc.reason}", line=line + 1, source=source) from None


#: Longest physical line any text importer accepts (a list row is a few hundred characters).
MAX_LINE_CHARS = 1_000_000


def bounded_lines(stream: Iterable[str], *, source: str | None = None, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Yield the lines of ``stream``, refusing (with its line number) any line longer than ``limit``.

    For file objects the line is read with ``readline(limit + 1)``, so a hostile file without newlines cannot
    make the importer load gigabytes into one string.
    """
    readline = getattr(stream, "readline", None)
    n = 0
    if callable(readline):
        while True:
            line = readline(limit + 1)
            if not line:
                return
            n += 1
            if len(line) > limit:
                raise ImportFormatError(f"line longer than {limit} characters", line=n, source=source)
            yield line
    else:
        for line in stream:
            n += 1
            if len(line) > limit:
                raise ImportFormatError(f"line longer than {limit} characters", line=n, source=source)
            yield line


def bounded_chunks(stream: Iterable[str], *, size: int = 65536) -> Iterator[str]:
    """Yield text in chunks of at most ``size`` characters (for parsers that do not need lines)."""
    read = getattr(stream, "read", None)
    if callable(read):
        while chunk := read(size):
            yield chunk
    else:
        yield from stream
