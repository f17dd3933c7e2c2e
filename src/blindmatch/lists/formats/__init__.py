"""Import and export formats for hash lists (documented in ``docs/formats.md``).

Each format has a streaming reader (yielding :class:`ListEntry` / :class:`Deletion` records with line-numbered
errors) and a writer. :data:`FORMATS` maps the names the CLI and the store accept to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from blindmatch.lists.errors import ListError
from blindmatch.lists.formats.common import (
    Deletion,
    ImportRecord,
    ImportReport,
    OnError,
    RecordReader,
    RecordWriter,
    RowError,
)
from blindmatch.lists.formats.csv_format import read_csv, write_csv
from blindmatch.lists.formats.jsonl_format import read_jsonl, write_jsonl
from blindmatch.lists.formats.ncmec import read_ncmec_xml, write_ncmec_xml
from blindmatch.lists.formats.threatexchange import read_te_csv, read_te_text, write_te_csv, write_te_text

__all__ = [
    "FORMATS",
    "Deletion",
    "Format",
    "ImportRecord",
    "ImportReport",
    "OnError",
    "RowError",
    "UnknownFormatError",
    "get_format",
]


class UnknownFormatError(ListError, ValueError):
    """No list format has that name."""


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    read: RecordReader
    write: RecordWriter
    description: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", read_csv, write_csv, "blindmatch CSV (header row, one entry per row)"),
        Format("jsonl", read_jsonl, write_jsonl, "blindmatch JSON Lines (one entry object per line)"),
        Format("te-text", read_te_text, write_te_text, "python-threatexchange text: signal_type hash [tags]"),
        Format("te-csv", read_te_csv, write_te_csv, "python-threatexchange CSV: collab,signal_type,..."),
        Format("ncmec-xml", read_ncmec_xml, write_ncmec_xml, "NCMEC hash-sharing API queryResult XML"),
    )
}


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormatError(f"unknown list format {name!r} (known: {', '.join(FORMATS)})") from None
