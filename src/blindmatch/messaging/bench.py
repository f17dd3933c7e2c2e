"""Benchmark of the messenger path: encrypt + franked send through the relay, then receive + verify + ack.

``bench_messaging`` times ``n`` 1:1 text messages (and one image of ``image_bytes``) between two fresh devices.
Pass a running relay's URL, or an in-process relay as ``transport``
(``blindmatch.service.routes_relay.in_process_relay``). Returns plain numbers for reports.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from blindmatch.messaging.client.client import MessengerClient

__all__ = ["bench_messaging"]


def bench_messaging(
    n: int = 200,
    *,
    relay_url: str = "http://relay.local",
    transport: httpx.AsyncBaseTransport | None = None,
    workdir: Path | None = None,
    image_bytes: int = 1_000_000,
) -> dict[str, Any]:
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="blindmatch-bench-"))

    async def run() -> dict[str, Any]:
        a = await MessengerClient.register(relay_url, base / "a", "alice", transport=transport)
        b = await MessengerClient.register(relay_url, base / "b", "bob", transport=transport)
        await a.add_contact("bob")
        await b.add_contact("alice")
        lat = []
        t0 = time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            await a.send_text("bob", f"benchmark message {i}")
            lat.append(time.perf_counter() - s)
        send_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        got = await b.receive(limit=500)
        recv_s = time.perf_counter() - t1
        await a.set_consent(True)
        blob = os.urandom(image_bytes)
        t2 = time.perf_counter()
        await a.send_image("bob", blob)
        [img] = await b.receive()
        same = await b.download_attachment(img.message_id) == blob
        media_s = time.perf_counter() - t2
        await a.aclose()
        await b.aclose()
        lat.sort()
        return {
            "messages": n,
            "received": len(got),
            "send_per_s": n / send_s,
            "send_p50_ms": 1000 * statistics.median(lat),
            "send_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "receive_per_s": len(got) / recv_s if recv_s else float("inf"),
            "image_bytes": image_bytes,
            "image_roundtrip_ms": 1000 * media_s,
            "image_intact": same,
        }

    return asyncio.run(run())
