"""The comparator of ``blindmatch bench relay``: the least a relay can do for the same load, as an ASGI app.

It speaks just enough of the relay's WebSocket protocol for the load generator (token frame, ``send`` frames
answered with ``sent``, ``deliveries`` pushes, ``delivery_ids`` acks) and stores the same rows as the relay (a
conversation counter, a message row, a delivery row with envelope and tag; acks delete) with the same driver
(the standard library's ``sqlite3``, WAL, ``synchronous=NORMAL``), committing each send before answering it, inline
on the event loop. It skips everything else the relay does: request validation, envelope parsing, franking tags,
token hashing, SQLAlchemy, FastAPI and the account guard. So it is a ceiling for one process, not a relay.

Run with ``uvicorn --factory blindmatch.messaging.bench_relay_baseline:create_app``; the database file comes from
``BLINDMATCH_BENCH_BASELINE_DB``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (conversation_id TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, server_ts INTEGER NOT NULL, commitment BLOB NOT NULL,
    UNIQUE (sender, message_id));
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, message_pk INTEGER NOT NULL REFERENCES messages(id),
    recipient TEXT NOT NULL, envelope BLOB NOT NULL, tag BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS ix_deliveries_recipient ON deliveries (recipient, id);
"""


class _Baseline:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.tokens: dict[str, str] = {}
        self.queues: dict[str, asyncio.Queue[str]] = {}

    def store(self, sender: str, body: dict[str, Any]) -> tuple[int, int, list[tuple[str, dict[str, Any]]]]:
        conv, mid = body["conversation_id"], body["message_id"]
        ts = int(time.time() * 1000)
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            seq = (
                cur.execute(
                    "INSERT INTO conversations VALUES (?, 2) ON CONFLICT (conversation_id) "
                    "DO UPDATE SET next_seq = next_seq + 1 RETURNING next_seq",
                    (conv,),
                ).fetchone()[0]
                - 1
            )
            mpk = cur.execute(
                "INSERT INTO messages (sender, message_id, conversation_id, seq, server_ts, commitment) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (sender, mid, conv, seq, ts, body["commitment"].encode()),
            ).fetchone()[0]
            out = []
            for r in body["recipients"]:
                recipient = f"{r['user_id']}/{r['device_id']}"
                did = cur.execute(
                    "INSERT INTO deliveries (message_pk, recipient, envelope, tag) VALUES (?, ?, ?, ?) RETURNING id",
                    (mpk, recipient, r["envelope"].encode(), b"\x00" * 32),
                ).fetchone()[0]
                out.append((recipient, {"delivery_id": did, "message_id": mid, "seq": seq, "envelope": r["envelope"]}))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return seq, ts, out

    def ack(self, recipient: str, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        self.db.execute(f"DELETE FROM deliveries WHERE recipient = ? AND id IN ({marks})", (recipient, *ids))

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["path"] == "/baseline/register":
            obj = json.loads(body)
            token = secrets.token_urlsafe(16)
            self.tokens[token] = f"{obj['user_id']}/{obj['device_id']}"
            status, out = 200, json.dumps({"token": token}).encode()
        elif scope["path"] == "/relay/v1/moderation-key":  # readiness probe, as for the relay
            status, out = 200, b"{}"
        else:
            status, out = 404, b"{}"
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": out})

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        first = await receive()
        who = self.tokens.get(json.loads(first.get("text") or "{}").get("token", ""))
        if who is None:
            await send({"type": "websocket.close", "code": 4401})
            return
        outbox: asyncio.Queue[str] = asyncio.Queue()
        self.queues[who] = outbox

        async def pump() -> None:
            while True:
                await send({"type": "websocket.send", "text": await outbox.get()})

        pumper = asyncio.create_task(pump())
        outbox.put_nowait(json.dumps({"ready": True}))
        try:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                frame = json.loads(msg.get("text") or "{}")
                if "delivery_ids" in frame:
                    self.ack(who, frame["delivery_ids"])
                if "send" in frame:
                    body = frame["send"]
                    seq, ts, pushes = self.store(who.split("/")[0], body)
                    reply = {"message_id": body["message_id"], "seq": seq, "server_ts": ts, "duplicate": False}
                    outbox.put_nowait(json.dumps({"sent": reply, "ref": frame.get("ref")}))
                    for recipient, d in pushes:
                        q = self.queues.get(recipient)
                        if q is not None:
                            q.put_nowait(json.dumps({"deliveries": [d]}))
        finally:
            if self.queues.get(who) is outbox:
                del self.queues[who]
            pumper.cancel()


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    baseline = _Baseline(os.environ["BLINDMATCH_BENCH_BASELINE_DB"])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await baseline.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await baseline.websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    return app
