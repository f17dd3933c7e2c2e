"""Sync from local files: an append-only JSONL file read by byte offset, or a directory of delta files.

Both exist so that lists can be moved between machines without network access (sneakernet drops from a
hotline, or a test fixture) with the same checkpoint and resume semantics as the HTTP adapters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from blindmatch.lists.errors import ImportFormatError, InvalidEntryError, SyncProtocolError
from blindmatch.lists.formats import get_format
from blindmatch.lists.formats.common import ImportRecord, ImportReport, OnError
from blindmatch.lists.formats.jsonl_format import parse_jsonl_line
from blindmatch.lists.sync.base import SyncBatch, collapse, load_checkpoint

__all__ = ["LocalDeltaDirAdapter", "LocalJsonlAdapter"]

_HEAD_BYTES = 4096


class LocalJsonlAdapter:
    """Reads an append-only blindmatch JSONL file (``op: delete`` lines tombstone) in batches.

    The checkpoint holds the byte offset after the last complete line consumed, the line number, and a digest
    of the file's first bytes: if the file was replaced or truncated instead of appended to, fetching fails
    with :class:`SyncProtocolError` rather than resuming at a meaningless offset. A last line without a newline
    is treated as still being written and left for the next fetch.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 1000, name: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(path)
        self.batch_size = batch_size
        self._name = name or f"jsonl:{self.path.name}"

    @property
    def name(self) -> str:
        """Checkpoint key; defaults to the file name (pass ``name=`` to tell same-named files apart)."""
        return self._name

    def _head(self, upto: int) -> str:
        with self.path.open("rb") as fh:
            return hashlib.sha256(fh.read(min(upto, _HEAD_BYTES))).hexdigest()

    def fetch(self, checkpoint: str | None) -> SyncBatch:
        cp = load_checkpoint(checkpoint, "local")
        offset, line_no = cp.get("offset", 0), cp.get("line", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (offset, line_no)):
            raise SyncProtocolError(f"local checkpoint has a bad offset/line: {checkpoint!r}")
        try:
            size = self.path.stat().st_size
        except OSError as exc:
            raise SyncProtocolError(f"cannot read {self.path}: {exc.strerror}") from None
        if offset > size:
            raise SyncProtocolError(f"{self.path.name} shrank below the checkpoint offset {offset}: was it replaced?")
        if offset and cp.get("head") != self._head(offset):
            raise SyncProtocolError(f"{self.path.name} changed before the checkpoint offset: was it replaced?")
        records: list[ImportRecord] = []
        with self.path.open("rb") as fh:
            fh.seek(offset)
            while len(records) < self.batch_size:
                raw = fh.readline()
                if not raw or not raw.endswith(b"\n"):
                    break
                line_no += 1
                try:
                    rec = parse_jsonl_line(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise SyncProtocolError(f"{self.path.name}: line {line_no}: not valid UTF-8") from None
                except InvalidEntryError as exc:
                    raise SyncProtocolError(f"{self.path.name}: line {line_no}: {exc}") from None
                offset += len(raw)
                if rec is not None:
                    records.append(rec)
        more = self._has_complete_line(offset)
        ups, dels = collapse(records)
        nxt = json.dumps({"offset": offset, "line": line_no, "head": self._head(offset) if offset else None})
        return SyncBatch(ups, dels, nxt, more)

    def _has_complete_line(self, offset: int) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(65536):
                if b"\n" in chunk:
                    return True
        return False


class LocalDeltaDirAdapter:
    """Applies the files of a directory one per batch, in name order (e.g. ``0001.jsonl``, ``0002.jsonl``).

    The checkpoint is the name of the last applied file; files sorting at or before it are never read again, so
    a new delta must sort after the previous ones. Any format of :data:`FORMATS` can be used; a malformed file
    stops the sync at that file (checkpoint unchanged) with the file name and line in the error.
    """

    def __init__(
        self, directory: str | Path, *, fmt: str = "jsonl", pattern: str = "*", name: str | None = None
    ) -> None:
        self.directory = Path(directory)
        self.format = get_format(fmt)
        self.pattern = pattern
        self._name = name or f"deltadir:{self.directory.name}"

    @property
    def name(self) -> str:
        """Checkpoint key; defaults to the directory name."""
        return self._name

    def _pending(self, last: str | None) -> list[Path]:
        if not self.directory.is_dir():
            raise SyncProtocolError(f"delta directory {self.directory} does not exist")
        files = sorted(p for p in self.directory.glob(self.pattern) if p.is_file() and not p.name.startswith("."))
        return [p for p in files if last is None or p.name > last]

    def fetch(self, checkpoint: str | None) -> SyncBatch:
        cp = load_checkpoint(checkpoint, "local")
        last = cp.get("last_file")
        pending = self._pending(last if isinstance(last, str) else None)
        if not pending:
            return SyncBatch((), (), checkpoint or json.dumps({"last_file": None}), False)
        path = pending[0]
        report = ImportReport()
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                records = list(self.format.read(fh, on_error=OnError.ABORT, report=report, source=path.name))
        except ImportFormatError as exc:
            raise SyncProtocolError(f"delta file rejected: {exc}") from exc
        ups, dels = collapse(records)
        return SyncBatch(ups, dels, json.dumps({"last_file": path.name}), len(pending) > 1, tuple(report.ignored))
