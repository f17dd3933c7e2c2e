"""Thin async wrapper over the relay's HTTP API; every non-2xx answer becomes :class:`RelayAPIError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from blindmatch.messaging.client.errors import RelayAPIError
from blindmatch.messaging.receipts import RECEIPT_HEADER

__all__ = ["RECEIPT_HEADER", "RelayAPI", "error_detail"]

PREFIX = "/relay/v1"


def error_detail(r: httpx.Response) -> str:
    """The relay's explanation of an error answer: FastAPI's ``detail``, or ``error: message`` (e.g. a blocked
    account: ``AccountBlocked: ...``), or the raw text."""
    try:
        obj = r.json()
    except ValueError:
        return r.text
    if isinstance(obj, dict):
        if "detail" in obj:
            return str(obj["detail"])
        if "error" in obj:
            return f"{obj['error']}: {obj.get('message', '')}"
    return r.text


class RelayAPI:
    def __init__(self, base_url: str, token: str | None = None, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._client = httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=30.0)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = await self._client.request(method, PREFIX + path, headers=self._headers(), **kw)
        except httpx.HTTPError as exc:
            raise RelayAPIError(0, f"cannot reach the relay at {self.base_url}: {exc!r}") from None
        if r.status_code >= 400:
            raise RelayAPIError(r.status_code, error_detail(r))
        return r.json()

    async def upload(self, data: bytes, chunk: int = 64 * 1024, *, receipt: str | None = None) -> dict[str, Any]:
        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), chunk):
                yield data[i : i + chunk]

        headers = self._headers() | {"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"}
        if receipt is not None:
            headers[RECEIPT_HEADER] = receipt
        try:
            r = await self._client.post(PREFIX + "/attachments", content=body(), headers=headers)
        except httpx.HTTPError as exc:
            raise RelayAPIError(0, f"upload failed: {exc!r}") from None
        if r.status_code >= 400:
            raise RelayAPIError(r.status_code, error_detail(r))
        out: dict[str, Any] = r.json()
        return out

    async def download(self, blob_id: str, max_bytes: int) -> bytes:
        buf = bytearray()
        async with self._client.stream("GET", f"{PREFIX}/attachments/{blob_id}", headers=self._headers()) as r:
            if r.status_code >= 400:
                await r.aread()
                raise RelayAPIError(r.status_code, r.text)
            async for chunk in r.aiter_bytes():
                buf += chunk
                if len(buf) > max_bytes:
                    raise RelayAPIError(0, f"blob {blob_id} is larger than the {max_bytes} bytes announced")
        return bytes(buf)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + PREFIX + "/ws"
