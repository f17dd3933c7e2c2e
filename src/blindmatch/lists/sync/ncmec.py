"""Sync from NCMEC's hash-sharing API (``GET /v2/entries?from=&to=``, XML, HTTP basic auth).

The API is queried by update-time window; each page links the next one (``paging/next``, a path relative to the
API root). The checkpoint records the window start and, mid-window, the next page path, so a crash between pages
resumes at the page after the last one applied. When a window is exhausted its end becomes the next start.

The page format and our assumptions about it are described in :mod:`blindmatch.lists.formats.ncmec`. Next-page
links are only followed if they are paths on the configured API root: a response cannot redirect the sync (and
its credentials) to another host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from blindmatch.lists.errors import ImportFormatError, SyncProtocolError
from blindmatch.lists.formats.common import ImportReport, OnError, RowError
from blindmatch.lists.formats.ncmec import NcmecPage, read_ncmec_xml
from blindmatch.lists.sync.base import SyncBatch, collapse, load_checkpoint
from blindmatch.lists.sync.http import RetryPolicy, get_with_retries

__all__ = ["NCMEC_EPOCH", "NcmecAdapter"]

NCMEC_EPOCH = "2000-01-01T00:00:00.000Z"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class NcmecAdapter:
    """Incremental fetch of NCMEC hash-sharing entries into one blindmatch list."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        page_size: int = 1000,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        lag: timedelta = timedelta(minutes=1),
        on_error: OnError = OnError.ABORT,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.now = now
        self.lag = lag
        self.on_error = on_error
        self.errors: list[RowError] = []
        self._client = httpx.Client(
            auth=httpx.BasicAuth(username, password),
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/xml"},
            follow_redirects=False,
        )

    @property
    def name(self) -> str:
        return f"ncmec:{httpx.URL(self.base_url).host}"

    def close(self) -> None:
        self._client.close()

    def fetch(self, checkpoint: str | None) -> SyncBatch:
        cp = load_checkpoint(checkpoint, "NCMEC")
        start = str(cp.get("from") or NCMEC_EPOCH)
        next_path = cp.get("next")
        params: dict[str, str | int] | None
        if next_path:
            end = str(cp["to"])
            url = self._resolve(str(next_path))
            params = None
        else:
            end = _iso(self.now() - self.lag)
            url = f"{self.base_url}/v2/entries"
            params = {"from": start, "to": end, "size": self.page_size}
        resp = get_with_retries(self._client, url, params=params, policy=self.retry, what="NCMEC entries")
        page = NcmecPage()
        report = ImportReport()
        try:
            records = list(
                read_ncmec_xml([resp.text], on_error=self.on_error, report=report, source="NCMEC page", page=page)
            )
        except ImportFormatError as exc:
            raise SyncProtocolError(f"NCMEC page rejected: {exc}") from exc
        self.errors.extend(report.errors)
        ups, dels = collapse(records)
        if page.next_path:
            self._resolve(page.next_path)  # validate before storing it
            nxt: dict[str, str | None] = {"from": start, "to": end, "next": page.next_path}
            more = True
        else:
            nxt = {"from": end, "next": None}
            more = False
        return SyncBatch(ups, dels, json.dumps(nxt), more, tuple(report.ignored))

    def _resolve(self, path: str) -> str:
        if not path.startswith("/") or path.startswith("//") or "\\" in path:
            raise SyncProtocolError(f"NCMEC next-page link is not a path on the API root: {path[:100]!r}")
        return self.base_url + path
