"""Sync from the StopNCII.org hash API (``GET /FetchHashes``, JSON, function and subscription keys).

Shape as used by python-threatexchange's StopNCII client: the response has ``hashRecords`` (``signalType``
``ImagePDQ``/``VideoMD5``/..., ``hashValue``, ``hashStatus``, ``caseNumbers``, ``CSPFeedbacks``,
``lastModtimestamp``), ``hasMoreRecords``, ``nextPageToken`` and ``nextSetTimestamp``. A record is the current
state of that hash: ``Withdrawn``/``Deleted`` status means remove it. The checkpoint is the start timestamp and,
while paging, the page token; once a set is exhausted ``nextSetTimestamp`` becomes the next start.

StopNCII carries no classification; entries get none (we never invent one) and ``source_org`` ``StopNCII.org``.
Signal types blindmatch cannot match (TMK video hashes, text, URLs) are reported as ignored, not stored.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from blindmatch.hashing.signals import SignalType
from blindmatch.lists.errors import InvalidEntryError, SyncProtocolError
from blindmatch.lists.formats.common import Deletion, ImportRecord, OnError, RowError
from blindmatch.lists.model import make_entry, stable_entry_id
from blindmatch.lists.sync.base import SyncBatch, collapse, load_checkpoint
from blindmatch.lists.sync.http import RetryPolicy, get_with_retries

__all__ = ["STOPNCII_SIGNAL_TYPES", "StopNciiAdapter"]

STOPNCII_SIGNAL_TYPES = {"ImagePDQ": SignalType.PDQ, "VideoMD5": SignalType.VIDEO_MD5}
_REMOVED = {"Withdrawn", "Deleted"}
DEFAULT_START = 10


class StopNciiAdapter:
    def __init__(
        self,
        base_url: str,
        subscription_key: str,
        fetch_function_key: str,
        *,
        page_size: int = 800,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        on_error: OnError = OnError.ABORT,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.on_error = on_error
        self.errors: list[RowError] = []
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"x-functions-key": fetch_function_key, "Ocp-Apim-Subscription-Key": subscription_key},
        )

    @property
    def name(self) -> str:
        return f"stopncii:{httpx.URL(self.base_url).host}"

    def close(self) -> None:
        self._client.close()

    def fetch(self, checkpoint: str | None) -> SyncBatch:
        cp = load_checkpoint(checkpoint, "StopNCII")
        start = cp.get("start", DEFAULT_START)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SyncProtocolError(f"StopNCII checkpoint start must be a non-negative integer, got {start!r}")
        token = str(cp.get("page_token") or "")
        params: dict[str, str | int] = {"startTimestamp": start, "pageSize": self.page_size}
        if token:
            params["nextPageToken"] = token
        resp = get_with_retries(
            self._client, f"{self.base_url}/FetchHashes", params=params, policy=self.retry, what="StopNCII hashes"
        )
        try:
            body = resp.json()
        except ValueError:
            raise SyncProtocolError("StopNCII response is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("hashRecords"), list):
            raise SyncProtocolError("StopNCII response has no hashRecords list")
        more = body.get("hasMoreRecords")
        if not isinstance(more, bool):
            raise SyncProtocolError("StopNCII response has no boolean hasMoreRecords")
        records: list[ImportRecord] = []
        ignored: list[RowError] = []
        for i, rec in enumerate(body["hashRecords"], start=1):
            try:
                r = self._record(rec, ignored, i)
            except InvalidEntryError as exc:
                if self.on_error is OnError.ABORT:
                    raise SyncProtocolError(f"StopNCII record {i}: {exc}") from None
                self.errors.append(RowError(i, str(exc), json.dumps(rec)[:200]))
                continue
            if r is not None:
                records.append(r)
        if more:
            next_token = body.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token:
                raise SyncProtocolError("StopNCII says hasMoreRecords but gives no nextPageToken")
            nxt: dict[str, Any] = {"start": start, "page_token": next_token}
        else:
            ts = body.get("nextSetTimestamp")
            if isinstance(ts, bool) or not isinstance(ts, int):
                raise SyncProtocolError("StopNCII response has no integer nextSetTimestamp")
            nxt = {"start": ts, "page_token": ""}
        ups, dels = collapse(records)
        return SyncBatch(ups, dels, json.dumps(nxt), more, tuple(ignored))

    def _record(self, rec: object, ignored: list[RowError], i: int) -> ImportRecord | None:
        if not isinstance(rec, dict):
            raise InvalidEntryError("hash record is not an object")
        kind = rec.get("signalType")
        st = STOPNCII_SIGNAL_TYPES.get(str(kind))
        if st is None:
            ignored.append(RowError(i, f"unsupported StopNCII signal type {kind!r}"))
            return None
        status = rec.get("hashStatus")
        if not isinstance(status, str):
            raise InvalidEntryError("hashStatus missing")
        entry = make_entry(
            signal_type=st,
            value=rec.get("hashValue"),
            source_org="StopNCII.org",
            metadata={
                "stopncii_status": status,
                "stopncii_cases": rec.get("caseNumbers") or {},
                "stopncii_last_modified": rec.get("lastModtimestamp"),
            },
        )
        if status in _REMOVED:
            return Deletion(stable_entry_id(st, entry.value))
        return entry
