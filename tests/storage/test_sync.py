"""Sync adapters applied to a real ListStore, against local files and local fake servers."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blindmatch.lists import SyncHTTPError, SyncProtocolError, make_entry
from blindmatch.lists.formats import OnError
from blindmatch.lists.sync import (
    LocalDeltaDirAdapter,
    LocalJsonlAdapter,
    NcmecAdapter,
    RetryPolicy,
    StopNciiAdapter,
    SyncAdapter,
    SyncBatch,
    sync_list,
)
from blindmatch.service.storage import Database, ListStore


def _load_fakes() -> object:
    path = Path(__file__).resolve().parent.parent / "lists" / "fakes.py"
    spec = importlib.util.spec_from_file_location("blindmatch_test_fakes", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


fakes = _load_fakes()
FakeNcmec = fakes.FakeNcmec  # type: ignore[attr-defined]
FakeStopNcii = fakes.FakeStopNcii  # type: ignore[attr-defined]

P = ["%064x" % (i * 104729 + 3) for i in range(20)]
M = ["%032x" % (i * 7 + 1) for i in range(20)]


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ListStore]:
    db = Database(sqlite_url)
    db.migrate()
    s = ListStore(db)
    s.create_list("l")
    yield s
    db.dispose()


@pytest.fixture
def any_store(db_url: str) -> Iterator[ListStore]:
    db = Database(db_url)
    db.migrate()
    s = ListStore(db)
    s.create_list("l")
    yield s
    db.dispose()


def live(store: ListStore) -> dict[str, str]:
    return {e.entry_id: e.value for e in store.entries("l")}


def jline(**kw: object) -> str:
    return json.dumps(kw) + "\n"


class Crashing:
    """Wraps an adapter and raises on the n-th fetch, like a process dying mid-sync."""

    def __init__(self, inner: SyncAdapter, crash_on: int) -> None:
        self.inner, self.crash_on, self.calls = inner, crash_on, 0

    @property
    def name(self) -> str:
        return self.inner.name

    def fetch(self, checkpoint: str | None) -> SyncBatch:
        self.calls += 1
        if self.calls == self.crash_on:
            raise ConnectionError("simulated crash")
        return self.inner.fetch(checkpoint)


# ----------------------------------------------------------------- local JSONL


def test_local_jsonl_batches_deletions_resume_and_append(any_store: ListStore, tmp_path: Path) -> None:
    store = any_store
    f = tmp_path / "feed.jsonl"
    f.write_text(
        "".join(jline(entry_id=f"p{i}", signal_type="pdq", value=P[i]) for i in range(5))
        + jline(op="delete", entry_id="p1")
        + jline(entry_id="p2", signal_type="pdq", value=P[2], classification_label="B2")
    )
    adapter = LocalJsonlAdapter(f, batch_size=2)
    crashing = Crashing(adapter, crash_on=3)
    with pytest.raises(ConnectionError):
        sync_list(store, "l", crashing)
    assert set(live(store)) == {"p0", "p1", "p2", "p3"}  # two batches committed before the crash
    report = sync_list(store, "l", adapter)
    assert report.complete and report.batches == 2
    assert live(store) == {"p0": P[0], "p2": P[2], "p3": P[3], "p4": P[4]}
    assert {e.entry_id: e.classification_label for e in store.entries("l")}["p2"] == "B2"
    # a half-written last line is left for later; appended lines are picked up
    with f.open("a") as fh:
        fh.write(jline(entry_id="p5", signal_type="pdq", value=P[5]) + '{"entry_id": "p6", "signal_')
    sync_list(store, "l", adapter)
    assert "p5" in live(store) and "p6" not in live(store)
    with f.open("a") as fh:
        fh.write('type": "pdq", "value": "' + P[6] + '"}\n')
    assert sync_list(store, "l", adapter).added == 1
    assert "p6" in live(store)


def test_local_jsonl_replaced_file_and_bad_line(store: ListStore, tmp_path: Path) -> None:
    f = tmp_path / "feed.jsonl"
    f.write_text(jline(signal_type="md5", value=M[0]) + jline(signal_type="md5", value="zz"))
    adapter = LocalJsonlAdapter(f, batch_size=1)
    with pytest.raises(SyncProtocolError, match="line 2"):
        sync_list(store, "l", adapter)
    assert len(live(store)) == 1  # first batch kept, checkpoint before the bad line
    f.write_text(jline(signal_type="md5", value=M[1]) + jline(signal_type="md5", value=M[2]))
    with pytest.raises(SyncProtocolError, match="replaced"):
        sync_list(store, "l", adapter)
    f.write_text("")
    with pytest.raises(SyncProtocolError, match="shrank"):
        sync_list(store, "l", adapter)


# ----------------------------------------------------------------- delta directory


def test_delta_directory(store: ListStore, tmp_path: Path) -> None:
    d = tmp_path / "deltas"
    d.mkdir()
    (d / "0001.csv").write_text("entry_id,signal_type,value\n" + "".join(f"m{i},md5,{M[i]}\n" for i in range(3)))
    (d / "0002.csv").write_text("op,entry_id,signal_type,value\ndelete,m0,,\nupsert,m9,md5," + M[9] + "\n")
    adapter = LocalDeltaDirAdapter(d, fmt="csv")
    r = sync_list(store, "l", adapter)
    assert (r.batches, r.complete) == (2, True)
    assert set(live(store)) == {"m1", "m2", "m9"}
    assert sync_list(store, "l", adapter).added == 0  # nothing new, nothing re-read
    (d / "0003.csv").write_text("entry_id,signal_type,value\nm4,md5,not-a-hash\n")
    with pytest.raises(SyncProtocolError, match=r"0003.csv:line 2"):
        sync_list(store, "l", adapter)
    (d / "0003.csv").write_text("entry_id,signal_type,value\nm4,md5," + M[4] + "\n")
    sync_list(store, "l", adapter)
    assert set(live(store)) == {"m1", "m2", "m4", "m9"}
    assert json.loads(store.get_checkpoint("l", adapter.name) or "{}") == {"last_file": "0003.csv"}


# ----------------------------------------------------------------- NCMEC


def ncmec_adapter(fake: object, now: datetime, sleeps: list[float] | None = None, **kw: object) -> NcmecAdapter:
    policy = RetryPolicy(
        max_attempts=4, base_delay=0.5, sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )
    return NcmecAdapter(
        "https://ncmec.test/npo",
        "user",
        "secret",
        transport=fake.transport(),  # type: ignore[attr-defined]
        retry=policy,
        now=lambda: now,
        **kw,  # type: ignore[arg-type]
    )


def test_ncmec_paging_deletions_and_incremental(any_store: ListStore) -> None:
    store = any_store
    fake = FakeNcmec()
    fake.image("2026-01-01T00:00:01.000Z", "a", pdq=P[0], md5=M[0])
    fake.image("2026-01-01T00:00:02.000Z", "b", pdq=P[1], cls="B2")
    fake.image("2026-01-01T00:00:03.000Z", "c", md5=M[2])
    fake.image("2026-01-01T00:00:04.000Z", "d", pdq=P[3])
    fake.image("2026-01-01T00:00:05.000Z", "e", pdq=P[4])
    adapter = ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC))
    r = sync_list(store, "l", adapter)
    assert (r.batches, r.complete) == (3, True)
    got = {e.entry_id: e for e in store.entries("l")}
    assert set(got) == {
        "ncmec/image/a/pdq",
        "ncmec/image/a/md5",
        "ncmec/image/b/pdq",
        "ncmec/image/c/md5",
        "ncmec/image/d/pdq",
        "ncmec/image/e/pdq",
    }
    b = got["ncmec/image/b/pdq"]
    assert (b.classification_scheme, b.classification_label, b.source_org) == ("NCMEC", "B2", "Member Seven")
    # later: one entry deleted, one updated without its md5, one added
    fake.delete_image("2026-02-02T00:00:00.000Z", "b")
    fake.image("2026-02-02T00:00:01.000Z", "a", pdq=P[0])
    fake.image("2026-02-02T00:00:02.000Z", "f", pdq=P[5])
    adapter.now = lambda: datetime(2026, 3, 1, tzinfo=UTC)
    n_before = len(fake.requests)
    r = sync_list(store, "l", adapter)
    assert r.complete and r.removed == 2 and r.added == 1
    assert set(live(store)) == {
        "ncmec/image/a/pdq",
        "ncmec/image/c/md5",
        "ncmec/image/d/pdq",
        "ncmec/image/e/pdq",
        "ncmec/image/f/pdq",
    }
    # the incremental query asked only for the new window
    assert fake.requests[n_before].url.params["from"] == "2026-01-31T23:59:00.000Z"
    tomb = {e.entry_id: e for e in store.entries("l", include_removed=True)}["ncmec/image/b/pdq"]
    assert tomb.removed_in_version is not None


def test_ncmec_resumes_mid_pagination_after_crash(store: ListStore) -> None:
    fake = FakeNcmec(page_size=1)
    for i in range(4):
        fake.image(f"2026-01-01T00:00:0{i + 1}.000Z", f"n{i}", pdq=P[i])
    adapter = ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC))
    with pytest.raises(ConnectionError):
        sync_list(store, "l", Crashing(adapter, crash_on=3))
    assert len(live(store)) == 2
    cp = json.loads(store.get_checkpoint("l", adapter.name) or "{}")
    assert cp["next"].endswith("start=2")
    fake.requests.clear()
    sync_list(store, "l", adapter)
    assert len(live(store)) == 4
    assert [r.url.params.get("start") for r in fake.requests] == ["2", "3"]


def test_ncmec_retries_429_and_5xx_with_backoff(store: ListStore) -> None:
    fake = FakeNcmec(fail_with=[429, 503], retry_after="7")
    fake.image("2026-01-01T00:00:01.000Z", "a", pdq=P[0])
    sleeps: list[float] = []
    sync_list(store, "l", ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC), sleeps))
    assert sleeps == [7.0, 7.0] and len(live(store)) == 1
    fake2 = FakeNcmec(fail_with=[500, 502])
    sleeps2: list[float] = []
    adapter = ncmec_adapter(fake2, datetime(2026, 2, 1, tzinfo=UTC), sleeps2)
    adapter.fetch(None)
    assert sleeps2 == [0.5, 1.0]


def test_ncmec_gives_up_and_refuses_bad_auth(store: ListStore) -> None:
    fake = FakeNcmec(fail_with=[503] * 10)
    with pytest.raises(SyncHTTPError, match="gave up after 4 attempts") as info:
        sync_list(store, "l", ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC)))
    assert info.value.status == 503 and len(fake.requests) == 4
    assert store.get_checkpoint("l", "ncmec:ncmec.test") is None
    bad = FakeNcmec(password="other")
    with pytest.raises(SyncHTTPError, match="authentication refused") as info2:
        sync_list(store, "l", ncmec_adapter(bad, datetime(2026, 2, 1, tzinfo=UTC)))
    assert info2.value.status == 401 and len(bad.requests) == 1


def test_ncmec_next_link_to_other_host_is_refused(store: ListStore) -> None:
    fake = FakeNcmec(page_size=1, next_host="evil.test")
    fake.image("2026-01-01T00:00:01.000Z", "a", pdq=P[0])
    fake.image("2026-01-01T00:00:02.000Z", "b", pdq=P[1])
    with pytest.raises(SyncProtocolError, match="not a path on the API root"):
        sync_list(store, "l", ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC)))
    assert live(store) == {} and all(r.url.host == "ncmec.test" for r in fake.requests)


def test_ncmec_bad_hash_abort_or_skip(store: ListStore) -> None:
    fake = FakeNcmec()
    fake.image("2026-01-01T00:00:01.000Z", "a", pdq="12345")
    fake.image("2026-01-01T00:00:02.000Z", "b", pdq=P[1])
    with pytest.raises(SyncProtocolError, match="64 hex digits"):
        sync_list(store, "l", ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC)))
    assert live(store) == {}
    adapter = ncmec_adapter(fake, datetime(2026, 2, 1, tzinfo=UTC), on_error=OnError.SKIP)
    sync_list(store, "l", adapter)
    assert set(live(store)) == {"ncmec/image/b/pdq"}
    assert len(adapter.errors) == 1 and "64 hex digits" in adapter.errors[0].reason


def test_ncmec_over_real_http_on_localhost(store: ListStore) -> None:
    """The same fake served by uvicorn on 127.0.0.1, to exercise the real network path (no remote host)."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    fake = FakeNcmec(page_size=1)
    fake.image("2026-01-01T00:00:01.000Z", "a", pdq=P[0])
    fake.image("2026-01-01T00:00:02.000Z", "b", md5=M[1])

    async def entries(request: Request) -> Response:
        r = fake.handler(httpx.Request("GET", str(request.url), headers=dict(request.headers)))
        return Response(r.content, status_code=r.status_code, media_type="application/xml")

    app = Starlette(routes=[Route("/npo/v2/entries", entries)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test's NCMEC stand-in did not start within 20 s")
            time.sleep(0.02)
        adapter = NcmecAdapter(
            f"http://127.0.0.1:{port}/npo", "user", "secret", now=lambda: datetime(2026, 2, 1, tzinfo=UTC)
        )
        r = sync_list(store, "l", adapter)
        adapter.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert r.complete and r.batches == 2
    assert set(live(store)) == {"ncmec/image/a/pdq", "ncmec/image/b/md5"}


# ----------------------------------------------------------------- StopNCII


def stopncii(fake: object, **kw: object) -> StopNciiAdapter:
    return StopNciiAdapter(
        "https://stopncii.test/v1",
        "sub",
        "fn",
        page_size=2,
        transport=fake.transport(),  # type: ignore[attr-defined]
        retry=RetryPolicy(max_attempts=3, sleep=lambda s: None),
        **kw,  # type: ignore[arg-type]
    )


def test_stopncii_paging_withdrawal_and_incremental(any_store: ListStore) -> None:
    store = any_store
    fake = FakeStopNcii(fail_with=[429])
    fake.add(100, P[0])
    fake.add(101, P[1])
    fake.add(102, M[2], signal_type="VideoMD5")
    fake.add(103, "deadbeef", signal_type="VideoTMK")
    fake.add(104, P[4])
    r = sync_list(store, "l", stopncii(fake))
    assert r.complete and r.batches == 3
    assert set(live(store)) == {f"pdq:{P[0]}", f"pdq:{P[1]}", f"video_md5:{M[2]}", f"pdq:{P[4]}"}
    assert len(r.ignored) == 1 and "VideoTMK" in r.ignored[0].reason
    e = {x.entry_id: x for x in store.entries("l")}[f"pdq:{P[0]}"]
    assert (e.source_org, e.classification_scheme, e.classification_label) == ("StopNCII.org", "", "")
    assert json.loads(store.get_checkpoint("l", "stopncii:stopncii.test") or "{}") == {"start": 105, "page_token": ""}
    # a later withdrawal removes the hash; only records from the checkpoint onwards are requested
    fake.records[0] = {**fake.records[0], "hashStatus": "Withdrawn", "lastModtimestamp": 200}
    fake.requests.clear()
    r = sync_list(store, "l", stopncii(fake))
    assert r.removed == 1 and f"pdq:{P[0]}" not in live(store)
    assert fake.requests[0].url.params["startTimestamp"] == "105"


def test_stopncii_bad_keys_and_bad_records(store: ListStore) -> None:
    fake = FakeStopNcii(function_key="other")
    with pytest.raises(SyncHTTPError, match="authentication refused"):
        sync_list(store, "l", stopncii(fake))
    fake = FakeStopNcii()
    fake.add(11, "nothex")  # StopNCII's default start timestamp is 10
    fake.add(12, P[2])
    with pytest.raises(SyncProtocolError, match="record 1"):
        sync_list(store, "l", stopncii(fake))
    adapter = stopncii(fake, on_error=OnError.SKIP)
    sync_list(store, "l", adapter)
    assert set(live(store)) == {f"pdq:{P[2]}"} and len(adapter.errors) == 1


def test_stopncii_malformed_response(store: ListStore) -> None:
    import httpx

    for body in (b"not json", b"[]", b'{"hashRecords": []}', b'{"hashRecords": [], "hasMoreRecords": true}'):
        adapter = StopNciiAdapter(
            "https://stopncii.test/v1",
            "s",
            "f",
            transport=httpx.MockTransport(lambda req, b=body: httpx.Response(200, content=b)),
        )
        with pytest.raises(SyncProtocolError):
            adapter.fetch(None)


@pytest.mark.parametrize("cp", ["not json", "[1]", '{"offset": -1}', '{"offset": "x"}'])
def test_corrupt_checkpoints_are_refused(tmp_path: Path, cp: str) -> None:
    f = tmp_path / "f.jsonl"
    f.write_text("")
    with pytest.raises(SyncProtocolError, match="checkpoint"):
        LocalJsonlAdapter(f).fetch(cp)
    fake = FakeStopNcii()
    if cp.startswith("{"):
        cp = cp.replace("offset", "start")
    with pytest.raises(SyncProtocolError, match="checkpoint"):
        stopncii(fake).fetch(cp)
    if not cp.startswith("{"):
        with pytest.raises(SyncProtocolError, match="checkpoint"):
            ncmec_adapter(FakeNcmec(), datetime(2026, 2, 1, tzinfo=UTC)).fetch(cp)


def test_entries_from_adapters_are_plain_list_entries() -> None:
    b = SyncBatch((make_entry(signal_type="md5", value=M[0]),), ("x",), "{}", False)
    assert [type(r).__name__ for r in b.records()] == ["Deletion", "ListEntry"]
    with pytest.raises(SyncProtocolError):
        SyncBatch((make_entry(signal_type="md5", value=M[0], entry_id="x"),), ("x",), "{}", False)
