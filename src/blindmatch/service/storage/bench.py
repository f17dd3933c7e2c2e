"""Benchmark of list storage: bulk import, incremental edit, index-feed queries, export.

Speed targets are measured here (never by timed tests). Run through the CLI (``blindmatch bench lists``, to be
wired) or directly: ``python -m blindmatch.service.storage.bench [URL] [N]``.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from blindmatch.lists.model import make_entry
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore

__all__ = ["bench_lists"]

T = TypeVar("T")


def _timed(results: dict[str, Any], key: str, fn: Callable[[], T]) -> T:
    """Record wall seconds under ``key`` and this process's CPU seconds under ``key`` + ``_cpu``.

    On a shared machine wall time mostly measures the neighbours; CPU time of the process (which includes
    SQLite's own work, but not a PostgreSQL server's) is the steadier number to compare changes with.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    results[key] = round(time.perf_counter() - t0, 3)
    results[key + "_cpu"] = round(time.process_time() - c0, 3)
    return out


def bench_lists(url: str | None = None, n: int = 100_000) -> dict[str, Any]:
    """Time the main store operations on ``n`` PDQ entries; ``url=None`` uses a fresh SQLite file.

    Returns seconds per operation plus the backend and size. The database must be empty (or a scratch one).
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        db.migrate()
        store = ListStore(db)
        name = f"bench-{int(time.time() * 1000) % 10**9}"
        store.create_list(name)
        entries = [
            make_entry(
                signal_type="pdq",
                value=f"{(i * 0x9E3779B97F4A7C15) % (1 << 256):064x}",
                classification_scheme="NCMEC",
                classification_label="A1",
                source_org="bench",
            )
            for i in range(n)
        ]
        r: dict[str, Any] = {"backend": db.url.get_backend_name(), "n": n}
        _timed(r, "add_entries_s", lambda: store.add_entries(name, entries))
        _timed(r, "re_add_unchanged_s", lambda: store.add_entries(name, entries))
        ids = [e.entry_id for e in entries[: max(1, n // 100)]]
        _timed(r, "remove_1pct_s", lambda: store.remove_entries(name, ids))
        _timed(r, "changes_since_s", lambda: store.changes_since(name, 2))
        _timed(r, "live_hashes_by_signal_s", lambda: store.live_hashes_by_signal("pdq"))
        _timed(r, "live_entries_by_signal_s", lambda: store.live_entries_by_signal("pdq"))
        buf = io.StringIO()
        _timed(r, "export_csv_s", lambda: store.export_stream(name, buf, "csv"))
        store.create_list(name + "-copy")
        _timed(r, "import_csv_s", lambda: store.import_stream(name + "-copy", io.StringIO(buf.getvalue()), "csv"))
        store.delete_list(name)
        store.delete_list(name + "-copy")
        db.dispose()
        return r


if __name__ == "__main__":
    print(
        json.dumps(
            bench_lists(sys.argv[1] if len(sys.argv) > 1 else None, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
        )
    )
