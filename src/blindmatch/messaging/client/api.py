"""Thin async wrapper over the relay's HTTP API; every non-2xx answer becomes :class:`RelayAPIError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from blindmatch.messaging.client.errors import RelayAPIError

__all__ = ["RelayAPI"]

PREFIX = "/relay/v1"


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
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise RelayAPIError(r.status_code, str(detail))
        return r.json()

    async def upload(self, data: bytes, chunk: int = 64 * 1024) -> dict[str, Any]:
        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(data), chunk):
                yield data[i : i + chunk]

        headers = self._headers() | {"Content-Length": str(len(data)), "Content-Type": "application/octet-stream"}
        try:
            r = await self._client.post(PREFIX + "/attachments", content=body(), headers=headers)
        except httpx.HTTPError as exc:
            raise RelayAPIError(0, f"upload failed: {exc!r}") from None
        if r.status_code >= 400:
            raise RelayAPIError(r.status_code, r.json().get("detail", r.text))
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
