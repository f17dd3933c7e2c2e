"""The load generator of ``blindmatch bench relay``: N messenger devices in one asyncio process.

Run as ``python -m blindmatch.messaging.bench_relay_load CONFIG_JSON``; prints one JSON object (the counts and
timings) on stdout. It is a separate process from the server (so a kill -9 of the server is real) and from the
orchestrator (:mod:`blindmatch.messaging.bench_relay`).

Devices are paired (0↔1, 2↔3, ...): each sends 1:1 messages to its partner and receives its partner's over one
WebSocket. Closed loop (``rate`` 0): each device sends its next message as soon as one of its ``window`` is
answered, which measures the most the relay takes. Paced (``rate`` > 0): devices send on a fixed schedule adding up
to ``rate`` messages/s (each at a random phase), which measures latency at that load.

**Envelopes are real Olm ciphertexts built before the timed window** (the relay cannot tell), each with a real
franking commitment, so the timed window measures the relay, not client crypto. A send is *confirmed* when the
relay answers it (after its commit). A message is
*delivered* when its recipient's WebSocket frame arrives; its latency is delivery time minus first send time
(both on this process's monotonic clock). If the connection drops (server killed), the device reconnects and
re-sends every unconfirmed message with the same id; the relay de-duplicates.

After the window, senders stop and the process waits (``drain_seconds`` at most) until every confirmed message was
delivered. *Lost* = confirmed but never delivered; *redelivered* = delivery frames for a message already
delivered (at-least-once, expected around a restart; clients de-duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from blindmatch.messaging.client.client import dm_conversation_id
from blindmatch.messaging.crypto.encoding import b64e
from blindmatch.messaging.crypto.envelope import Payload, encode_envelope, encode_payload
from blindmatch.messaging.crypto.franking import commitment, new_franking_key
from blindmatch.messaging.crypto.identity import DeviceIdentity
from blindmatch.messaging.crypto.olm import olm_encrypt, start_session

__all__ = ["LoadConfig", "run_load"]


@dataclass(frozen=True)
class LoadConfig:
    url: str
    clients: int = 100
    seconds: float = 10.0
    window: int = 1
    per_client: int = 1000
    send_over: str = "ws"  # "ws" or "http"
    target: str = "relay"  # "relay" (blindmatch) or "baseline" (the minimal endpoint)
    prefix: str = "b"
    drain_seconds: float = 20.0
    #: created when the timed window starts (the orchestrator kills the server relative to it)
    marker: str = ""
    #: total offered load in messages/s, spread evenly over the devices (0: closed loop, as fast as answered)
    rate: float = 0.0
    #: if set, write one JSON line per delivered message (send time from the window start, latency, sender) here
    trace: str = ""


@dataclass
class Device:
    index: int
    ident: DeviceIdentity
    token: str = ""
    #: (message id, JSON body of the send) built before the window
    prebuilt: list[tuple[str, str]] = field(default_factory=list)
    ws: Any = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    outstanding: dict[int, tuple[str, str]] = field(default_factory=dict)
    reconnects: int = 0


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


async def _register(http: httpx.AsyncClient, cfg: LoadConfig, dev: Device) -> None:
    keys = dev.ident.keys
    if cfg.target == "baseline":
        r = await http.post("/baseline/register", json={"user_id": keys.user_id, "device_id": keys.device_id})
    else:
        body = {
            "user_id": keys.user_id,
            "device_id": keys.device_id,
            "ed25519": keys.ed25519,
            "curve25519": keys.curve25519,
            "signature": dev.ident.registration_signature(),
        }
        r = await http.post("/relay/v1/accounts", json=body)
    r.raise_for_status()
    dev.token = str(r.json()["token"])


def _prebuild(me: Device, peer: Device, count: int) -> None:
    """Real Olm ciphertexts (and franking commitments) for ``count`` messages from ``me`` to ``peer``."""
    prekey = peer.ident.new_prekeys(1)[0]  # claimed locally: both devices live in this process
    session = start_session(me.ident, peer.ident.keys, prekey)
    conv = dm_conversation_id(me.ident.user_id, peer.ident.user_id)
    for j in range(count):
        mid = uuid.uuid4().hex
        payload = Payload(
            message_id=mid,
            conversation_id=conv,
            sender=me.ident.user_id,
            sender_device=me.ident.device_id,
            recipient=peer.ident.user_id,
            sent_at_ms=int(time.time() * 1000),
            kind="text",
            body=f"benchmark message {j} from {me.ident.user_id}",
            nf=new_franking_key(),
        )
        env = encode_envelope(olm_encrypt(me.ident, session, encode_payload(payload)))
        body = {
            "message_id": mid,
            "conversation_id": conv,
            "commitment": b64e(commitment(payload)),
            "recipients": [{"user_id": peer.ident.user_id, "device_id": peer.ident.device_id, "envelope": b64e(env)}],
        }
        me.prebuilt.append((mid, json.dumps(body, separators=(",", ":"))))


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


async def run_load(cfg: LoadConfig) -> dict[str, Any]:
    devices = [Device(i, DeviceIdentity(f"{cfg.prefix}{i}", "d")) for i in range(cfg.clients)]
    limits = httpx.Limits(max_connections=min(cfg.clients, 200), max_keepalive_connections=min(cfg.clients, 200))
    async with httpx.AsyncClient(base_url=cfg.url, timeout=30.0, limits=limits) as http:
        t_setup = time.perf_counter()
        for i in range(0, len(devices), 20):
            await asyncio.gather(*(_register(http, cfg, d) for d in devices[i : i + 20]))
        register_s = time.perf_counter() - t_setup
        t_build = time.perf_counter()
        for d in devices:
            _prebuild(d, devices[d.index ^ 1], cfg.per_client)
        prebuild_s = time.perf_counter() - t_build
        return await _timed(cfg, devices, http, register_s, prebuild_s)


async def _timed(
    cfg: LoadConfig, devices: list[Device], http: httpx.AsyncClient, register_s: float, prebuild_s: float
) -> dict[str, Any]:
    first_sent: dict[str, float] = {}
    confirmed: dict[str, float] = {}
    delivered: dict[str, float] = {}
    redelivered = 0
    errors: dict[str, int] = {}
    ws_url = cfg.url.replace("http://", "ws://", 1) + "/relay/v1/ws"
    stop = asyncio.Event()
    window_over = asyncio.Event()
    windows = {d.index: asyncio.Semaphore(cfg.window) for d in devices}
    posts: set[asyncio.Task[None]] = set()

    def confirm(dev: Device, ref: int) -> None:
        item = dev.outstanding.pop(ref, None)
        if item is not None:
            confirmed.setdefault(item[0], time.perf_counter())
            windows[dev.index].release()

    async def connection(dev: Device) -> None:
        nonlocal redelivered
        while not stop.is_set():
            try:
                async with websockets.connect(ws_url, max_size=None, open_timeout=10, compression=None) as ws:
                    await ws.send(json.dumps({"token": dev.token}))
                    ready = json.loads(await ws.recv())
                    if not ready.get("ready"):
                        raise ConnectionError(f"relay refused the WebSocket: {ready}")
                    dev.ws = ws
                    dev.connected.set()
                    if cfg.send_over == "ws":
                        for ref, (_, body) in list(dev.outstanding.items()):
                            await ws.send(f'{{"ref":{ref},"send":{body}}}')
                    async for raw in ws:
                        frame = json.loads(raw)
                        deliveries = frame.get("deliveries")
                        if deliveries:
                            now = time.perf_counter()
                            for d in deliveries:
                                mid = d["message_id"]
                                if mid in delivered:
                                    redelivered += 1
                                else:
                                    delivered[mid] = now
                            await ws.send(json.dumps({"delivery_ids": [d["delivery_id"] for d in deliveries]}))
                        elif "sent" in frame:
                            confirm(dev, int(frame["ref"]))
                        elif "error" in frame:
                            errors[str(frame["error"])] = errors.get(str(frame["error"]), 0) + 1
                            if int(frame.get("status", 0)) < 500:
                                confirm(dev, int(frame.get("ref", -1)))  # refused for good: do not retry
            except (OSError, websockets.exceptions.WebSocketException, ConnectionError, TimeoutError):
                pass
            dev.connected.clear()
            dev.ws = None
            if not stop.is_set():
                dev.reconnects += 1
                await asyncio.sleep(0.05)

    # one keep-alive client per device: a single httpx pool shared by 100 concurrent requests spent ~10 ms of
    # client CPU per request (measured), which made the HTTP run measure httpx instead of the relay
    own = (
        {d.index: httpx.AsyncClient(base_url=cfg.url, timeout=30.0) for d in devices} if cfg.send_over == "http" else {}
    )

    async def post(dev: Device, ref: int, body: str) -> None:
        headers = {"Authorization": f"Bearer {dev.token}", "Content-Type": "application/json"}
        client = own[dev.index]
        while not stop.is_set():
            try:
                r = await client.post("/relay/v1/messages", content=body, headers=headers)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 200:
                confirm(dev, ref)
                return
            errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
            if r.status_code < 500:
                confirm(dev, ref)
                return
            await asyncio.sleep(0.05)

    async def sender(dev: Device, deadline: float) -> None:
        sem = windows[dev.index]
        interval = cfg.clients / cfg.rate if cfg.rate > 0 else 0.0
        due = time.perf_counter() + random.random() * interval
        for ref, (mid, body) in enumerate(dev.prebuilt):
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
            await sem.acquire()
            if time.perf_counter() >= deadline:
                sem.release()
                return
            dev.outstanding[ref] = (mid, body)
            first_sent[mid] = time.perf_counter()
            if cfg.send_over == "http":
                task = asyncio.create_task(post(dev, ref, body))
                posts.add(task)
                task.add_done_callback(posts.discard)
                continue
            await dev.connected.wait()
            with contextlib.suppress(websockets.exceptions.WebSocketException):
                await dev.ws.send(f'{{"ref":{ref},"send":{body}}}')

    conns = [asyncio.create_task(connection(d)) for d in devices]
    await asyncio.wait_for(asyncio.gather(*(d.connected.wait() for d in devices)), timeout=60)
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    deadline = t0 + cfg.seconds
    if cfg.marker:
        Path(cfg.marker).touch()
    senders = [asyncio.create_task(sender(d, deadline)) for d in devices]
    await asyncio.gather(*senders)
    t_end = time.perf_counter()
    if cfg.marker:
        Path(cfg.marker).with_name("window-ended").touch()
    window_over.set()
    exhausted = sum(1 for d in devices if len([m for m, _ in d.prebuilt if m in first_sent]) == len(d.prebuilt))
    # drain: outstanding sends get their answers (re-sent after a reconnect), deliveries arrive
    drain_deadline = time.perf_counter() + cfg.drain_seconds
    while time.perf_counter() < drain_deadline:
        pending = any(d.outstanding for d in devices)
        if not pending and all(m in delivered for m in confirmed):
            break
        await asyncio.sleep(0.02)
    drain_s = time.perf_counter() - t_end
    cpu = _cpu_seconds() - cpu0
    stop.set()
    for d in devices:
        if d.ws is not None:
            with contextlib.suppress(Exception):
                await d.ws.close()
    for c in conns:
        c.cancel()
    await asyncio.gather(*conns, return_exceptions=True)
    for client in own.values():
        await client.aclose()

    in_window = [m for m, t in confirmed.items() if t <= t_end]
    latencies = sorted(1000 * (delivered[m] - first_sent[m]) for m in confirmed if m in delivered)
    if cfg.trace:
        with open(cfg.trace, "w", encoding="utf-8") as fh:
            for m in confirmed:
                if m in delivered:
                    row = [round(first_sent[m] - t0, 4), round(1000 * (delivered[m] - first_sent[m]), 2)]
                    fh.write(json.dumps(row) + "\n")
    lost = [m for m in confirmed if m not in delivered]
    unconfirmed = [m for m in first_sent if m not in confirmed]
    window_s = t_end - t0
    return {
        "clients": cfg.clients,
        "offered_per_s": cfg.rate or "closed loop",
        "window": cfg.window,
        "send_over": cfg.send_over,
        "target": cfg.target,
        "window_s": round(window_s, 3),
        "sent": len(first_sent),
        "confirmed": len(confirmed),
        "confirmed_in_window": len(in_window),
        "delivered": len(delivered),
        "messages_per_s": round(len(in_window) / window_s, 1),
        "delivered_per_s": round(sum(1 for t in delivered.values() if t <= t_end) / window_s, 1),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 2),
            "p90": round(_percentile(latencies, 0.90), 2),
            "p99": round(_percentile(latencies, 0.99), 2),
            "max": round(latencies[-1], 2) if latencies else None,
        },
        "lost": len(lost),
        "unconfirmed": len(unconfirmed),
        "redelivered": redelivered,
        "errors": errors,
        "reconnects": sum(d.reconnects for d in devices),
        "clients_out_of_prebuilt_messages": exhausted,
        "drain_s": round(drain_s, 2),
        "client_cpu_s": round(cpu, 2),
        "setup": {"register_s": round(register_s, 2), "prebuild_s": round(prebuild_s, 2)},
    }


def main(argv: list[str]) -> int:
    cfg = LoadConfig(**json.loads(argv[0]))
    print(json.dumps(asyncio.run(run_load(cfg))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
