"""A transport wrapper that records what a relay receives, for the demo's "what the server saw" lines.

It sits between the client SDK and the relay, so what it records is exactly what crossed the wire: paths, sizes of
ciphertext envelopes, attachment and voucher bodies, and the relay's status codes. It keeps sizes, never contents.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["SeenRequest", "Wiretap"]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    method: str
    path: str
    status: int
    body_bytes: int
    #: for ``POST /relay/v1/messages``: (recipient user, recipient device, envelope alg, envelope bytes) per copy
    copies: tuple[tuple[str, str, str, int], ...] = ()


def _copies(body: bytes) -> tuple[tuple[str, str, str, int], ...]:
    from blindmatch.messaging.crypto.encoding import b64d
    from blindmatch.messaging.crypto.envelope import decode_envelope

    try:
        obj = json.loads(body)
        out = []
        for r in obj["recipients"]:
            env = b64d(r["envelope"], field="envelope")
            out.append((str(r["user_id"]), str(r["device_id"]), decode_envelope(env).alg, len(env)))
        return tuple(out)
    except (ValueError, KeyError, TypeError):
        return ()


@dataclass
class Wiretap(httpx.AsyncBaseTransport):
    """Wraps ``inner`` (an in-process relay, or a real HTTP transport) and logs each request's shape."""

    inner: httpx.AsyncBaseTransport
    seen: list[SeenRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        copies = _copies(body) if request.method == "POST" and path.endswith("/relay/v1/messages") else ()
        with self._lock:
            self.seen.append(SeenRequest(request.method, path, response.status_code, len(body), copies))
        return response

    async def aclose(self) -> None:
        """Shared by several clients, each of which closes its transport when done: closing is left to
        :meth:`close_inner`, called once by the owner."""

    async def close_inner(self) -> None:
        await self.inner.aclose()

    def mark(self) -> int:
        with self._lock:
            return len(self.seen)

    def since(self, mark: int) -> list[SeenRequest]:
        with self._lock:
            return list(self.seen[mark:])

    @staticmethod
    def summary(requests: list[SeenRequest]) -> dict[str, Any]:
        """What the relay received in ``requests``: ciphertext copies with their sizes, uploads, vouchers."""
        out: dict[str, Any] = {}
        messages = [r for r in requests if r.copies]
        if messages:
            out["messages"] = [
                {"ciphertext_copies": [{"to": f"{u}/{d}", "alg": alg, "bytes": n} for u, d, alg, n in r.copies]}
                for r in messages
            ]
        uploads = [r for r in requests if r.method == "POST" and r.path.endswith("/relay/v1/attachments")]
        if uploads:
            out["encrypted_uploads"] = [{"bytes": r.body_bytes, "status": r.status} for r in uploads]
        vouchers = [r for r in requests if r.path.endswith("/detection/vouchers")]
        if vouchers:
            out["vouchers"] = [{"bytes": r.body_bytes, "status": r.status} for r in vouchers]
        reports = [r for r in requests if r.method == "POST" and r.path.endswith("/relay/v1/reports")]
        if reports:
            out["sealed_reports"] = [{"bytes": r.body_bytes, "status": r.status} for r in reports]
        return out
