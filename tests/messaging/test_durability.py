"""The relay as a real server: uvicorn in a subprocess, SIGKILLed mid-conversation and restarted; and a dump of
its database and blob store after a scripted conversation, searched for plaintexts and image bytes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, select

from blindmatch.messaging.client import MessengerClient, RelayAPIError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``uvicorn --factory blindmatch.service.app:create_app`` on 127.0.0.1, restartable on the same port."""

    def __init__(self, data_dir: Path, db_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "BLINDMATCH_DATA_DIR": str(data_dir),
            "BLINDMATCH_DATABASE_URL": db_url,
            "BLINDMATCH_RELAY_ATTACHMENT_RECEIPTS": "off",  # no hash list here; receipts: tests/detection
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "blindmatch.service.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/relay/v1/moderation-key", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("server did not come up in 60 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[Server]:
    srv = Server(tmp_path / "server", db_url)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_sigkill_mid_conversation_loses_nothing_accepted(server: Server, tmp_path: Path) -> None:
    async def run() -> None:
        alice = await MessengerClient.register(server.url, tmp_path / "alice", "alice")
        bob = await MessengerClient.register(server.url, tmp_path / "bob", "bob")
        await alice.add_contact("bob")
        await bob.add_contact("alice")
        accepted: list[str] = []
        failed = 0
        await alice.send_text("bob", "first")  # bob gets it over the WebSocket
        pushed = await bob.listen(until=1, timeout=10)
        assert [m.body for m in pushed] == ["first"]

        async def sender() -> None:
            nonlocal failed
            for i in range(200):
                try:
                    await alice.send_text("bob", f"msg {i}")
                    accepted.append(f"msg {i}")
                except RelayAPIError:
                    failed += 1
                    return

        task = asyncio.create_task(sender())
        deadline = asyncio.get_running_loop().time() + 60
        while len(accepted) < 15:
            assert not task.done(), f"the sender stopped after {len(accepted)} messages, before the kill"
            assert asyncio.get_running_loop().time() < deadline, "15 messages were not accepted within 60 s"
            await asyncio.sleep(0.005)
        server.kill()  # SIGKILL while the sender is mid-stream
        await task
        assert failed == 1 and 15 <= len(accepted) < 200
        server.start()
        got = await bob.receive()
        bodies = [m.body for m in got]
        assert set(accepted) <= set(bodies), set(accepted) - set(bodies)
        assert bodies[: len(accepted)] == accepted  # and in order
        seqs = [m.seq for m in got]
        assert seqs == sorted(seqs)
        # The relay and both clients carry on after the restart.
        await alice.send_text("bob", "after the crash")
        assert [m.body for m in await bob.listen(until=1, timeout=10)] == ["after the crash"]
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())


def _dump_database(db_url: str) -> bytes:
    engine = create_engine(db_url.replace("postgresql+psycopg", "postgresql+psycopg"))
    meta = MetaData()
    meta.reflect(engine)
    out = bytearray()
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for v in row:
                    out += v if isinstance(v, bytes) else str(v).encode("utf-8", "replace")
                    out += b"\x00"
    engine.dispose()
    return bytes(out)


def test_database_and_blob_store_hold_no_plaintext(
    server: Server, tmp_path: Path, db_url: str, shared_data: Path
) -> None:
    images = sorted((shared_data / "images" / "innocent").glob("*.jpg"))[:2]
    texts = ["meet me at the old mill at nine", "the password is swordfish", "see https://example.org/secret-page"]
    public: list[str] = []

    async def run() -> None:
        alice = await MessengerClient.register(server.url, tmp_path / "alice", "alice")
        bob = await MessengerClient.register(server.url, tmp_path / "bob", "bob")
        await alice.add_contact("bob")
        await bob.add_contact("alice")
        await alice.set_consent(True)
        public.append(alice.identity.keys.ed25519)
        await alice.send_text("bob", texts[0])
        await alice.send_image("bob", images[0].read_bytes(), caption=texts[1])
        await alice.send_text("bob", texts[2])
        await alice.send_video("bob", images[1].read_bytes(), mime="video/mp4")
        await bob.send_text("alice", "ok")
        # Bob reads only some of it, so queued (unacked) ciphertexts are in the dump too.
        assert len(await bob.listen(until=2, timeout=10)) >= 2
        await alice.aclose()
        await bob.aclose()

    asyncio.run(run())
    dump = _dump_database(db_url)
    assert len(dump) > 1000  # the dump is not empty: accounts, devices, queued envelopes, blobs, commitments
    paths = [p for p in (tmp_path / "server").rglob("*") if p.is_file()]
    if db_url.startswith("sqlite"):
        db_file = Path(db_url.removeprefix("sqlite:///"))
        raw_db = [p for p in db_file.parent.glob(db_file.name + "*")]
        assert db_file in raw_db
        paths += raw_db  # the raw database file and its WAL, not only what SQL returns
    blobs = [p for p in paths if "relay-blobs" in p.parts]
    assert len(blobs) == 2  # the image and the video were uploaded (encrypted)
    haystack = dump + b"".join(p.read_bytes() for p in paths)
    assert public[0].encode() in haystack  # positive control: the search does see what the relay stores
    for t in texts:
        assert t.encode() not in haystack, t
    for img in images:
        data = img.read_bytes()
        for start in (0, len(data) // 4, len(data) // 2, len(data) - 200):
            assert data[start : start + 64] not in haystack
