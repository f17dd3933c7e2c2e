"""Relay storage and HTTP API: auth, exactly-once prekeys, idempotent ordered queue, acks, limits, hostile input."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from blindmatch.messaging.crypto.encoding import b64e
from blindmatch.messaging.crypto.envelope import Envelope, encode_envelope
from blindmatch.messaging.crypto.franking import FrankingKeyRing
from blindmatch.messaging.crypto.identity import DeviceIdentity
from blindmatch.messaging.relay import RecipientCopy, SendRequest
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.relay import DeviceExistsError, RelayStore, UnknownRecipientError

ENV = encode_envelope(Envelope("olm", b64e(b"\x01" * 32), b"opaque ciphertext", olm_type=1))


@pytest.fixture
def store(db_url: str) -> Iterator[RelayStore]:
    db = Database(db_url)
    db.migrate()
    yield RelayStore(db)
    db.dispose()


def _register(store: RelayStore, user: str, device: str = "d1") -> tuple[DeviceIdentity, object]:
    ident = DeviceIdentity(user, device)
    store.register_device(ident.keys, f"token-{user}-{device}")
    dev = store.authenticate(f"token-{user}-{device}")
    assert dev is not None
    return ident, dev


def test_prekeys_are_claimed_exactly_once_under_concurrency(store: RelayStore) -> None:
    bob, bob_dev = _register(store, "bob")
    prekeys = bob.new_prekeys(12)
    assert store.add_prekeys(bob_dev, prekeys) == 12  # type: ignore[arg-type]
    assert store.add_prekeys(bob_dev, prekeys[:3]) == 12  # type: ignore[arg-type]  # re-upload is not duplicated
    results: list[str | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(4):
            _, pk = store.claim_prekey("bob", "d1")
            with lock:
                results.append(None if pk is None else pk.key_id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [r for r in results if r is not None]
    assert len(results) == 24
    assert sorted(claimed) == sorted(p.key_id for p in prekeys)  # each key exactly once
    assert store.prekey_count(bob_dev) == 0  # type: ignore[arg-type]
    with pytest.raises(UnknownRecipientError):
        store.claim_prekey("bob", "nope")


def test_idempotent_ids_and_dense_per_conversation_order(store: RelayStore) -> None:
    _, alice = _register(store, "alice")
    _, carol = _register(store, "carol")
    _, bob = _register(store, "bob")
    ring = FrankingKeyRing.generate()
    copy = (RecipientCopy("bob", "d1", ENV),)
    first = store.submit(alice, SendRequest("m1", "dm:alice:bob", b"c" * 32, copy), ring.tag)  # type: ignore[arg-type]
    again = store.submit(alice, SendRequest("m1", "dm:alice:bob", b"c" * 32, copy), ring.tag)  # type: ignore[arg-type]
    assert (again.duplicate, again.seq, again.server_ts_ms) == (True, first.seq, first.server_ts_ms)
    assert again.tags == first.tags
    assert len(store.pending(bob)) == 1  # type: ignore[arg-type]
    # Two senders writing into one conversation concurrently: sequence numbers stay dense and unique.
    seqs: list[int] = []

    def sender(dev: object, name: str) -> None:
        for i in range(10):
            r = store.submit(dev, SendRequest(f"{name}{i}", "group:x", b"c" * 32, copy), ring.tag)  # type: ignore[arg-type]
            seqs.append(r.seq)

    ts = [threading.Thread(target=sender, args=(d, n)) for d, n in ((alice, "a"), (carol, "c"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(seqs) == list(range(1, 21))
    pending = store.pending(bob, limit=500)  # type: ignore[arg-type]
    group = [d for d in pending if d.conversation_id == "group:x"]
    assert [d.seq for d in group] == sorted(d.seq for d in group)  # queue order respects conversation order
    # Tags bind the relay-observed sender; acks remove only the caller's own deliveries.
    d0 = pending[0]
    ring.verify(d0.commitment, "alice", "d1", "bob", d0.server_ts_ms, d0.tag)
    assert store.ack(alice, [d.delivery_id for d in pending]) == 0  # type: ignore[arg-type]
    assert store.ack(bob, [d.delivery_id for d in pending[:5]]) == 5  # type: ignore[arg-type]
    assert len(store.pending(bob, limit=500)) == len(pending) - 5  # type: ignore[arg-type]
    with pytest.raises(UnknownRecipientError):
        store.submit(alice, SendRequest("m9", "c", b"c" * 32, (RecipientCopy("zed", "d1", ENV),)), ring.tag)  # type: ignore[arg-type]


def test_registration_rules(store: RelayStore) -> None:
    ident, dev = _register(store, "alice")
    with pytest.raises(DeviceExistsError):
        store.register_device(ident.keys, "other-token")
    laptop = DeviceIdentity("alice", "laptop")
    with pytest.raises(DeviceExistsError):  # someone else cannot add a device to alice's account
        store.register_device(laptop.keys, "t2")
    store.register_device(laptop.keys, "t2", acting=dev)  # type: ignore[arg-type]
    assert [d.device_id for d in store.devices("alice")] == ["d1", "laptop"]
    assert store.authenticate("wrong") is None


@pytest.fixture
def http(relay_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(relay_app) as c:
        yield c


def _http_register(c: TestClient, user: str, device: str = "d1") -> tuple[DeviceIdentity, dict[str, str]]:
    ident = DeviceIdentity(user, device)
    k = ident.keys
    body = {
        "user_id": user,
        "device_id": device,
        "ed25519": k.ed25519,
        "curve25519": k.curve25519,
        "signature": ident.registration_signature(),
    }
    r = c.post("/relay/v1/accounts", json=body)
    assert r.status_code == 201, r.text
    return ident, {"Authorization": f"Bearer {r.json()['token']}"}


def test_http_auth_and_hostile_requests(http: TestClient) -> None:
    alice, ha = _http_register(http, "alice")
    bob, hb = _http_register(http, "bob")
    k = alice.keys
    # Registration without proof of the identity key, or a duplicate, is refused.
    forged = {
        "user_id": "eve",
        "device_id": "d1",
        "ed25519": k.ed25519,
        "curve25519": k.curve25519,
        "signature": DeviceIdentity("eve", "d1").registration_signature(),
    }
    assert http.post("/relay/v1/accounts", json=forged).status_code == 400
    assert http.post("/relay/v1/accounts", json={"user_id": "Bad Name"}).status_code == 400
    again = {
        "user_id": "alice",
        "device_id": "d1",
        "ed25519": k.ed25519,
        "curve25519": k.curve25519,
        "signature": alice.registration_signature(),
    }
    assert http.post("/relay/v1/accounts", json=again).status_code == 409
    for method, path in (
        ("GET", "/relay/v1/inbox"),
        ("GET", "/relay/v1/users/bob/devices"),
        ("GET", "/relay/v1/consent"),
    ):
        assert http.request(method, path).status_code == 401
        assert http.request(method, path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert http.request(method, path, headers={"Authorization": "Basic x"}).status_code == 401
    # Prekeys: forged signatures are the client's problem to detect, but malformed ones are refused here.
    pks = bob.new_prekeys(2)
    body = {"prekeys": [{"key_id": p.key_id, "key": p.key, "signature": p.signature} for p in pks]}
    assert http.post("/relay/v1/prekeys", json=body, headers=hb).json() == {"count": 2}
    assert (
        http.post(
            "/relay/v1/prekeys", json={"prekeys": [{"key_id": "x", "key": "AA", "signature": "B"}]}, headers=hb
        ).status_code
        == 400
    )
    for _ in range(2):
        assert http.post("/relay/v1/users/bob/devices/d1/claim", headers=ha).status_code == 200
    assert http.post("/relay/v1/users/bob/devices/d1/claim", headers=ha).status_code == 409
    assert http.post("/relay/v1/users/zed/devices/d1/claim", headers=ha).status_code == 404
    good = {
        "message_id": "m1",
        "conversation_id": "dm:alice:bob",
        "commitment": b64e(b"c" * 32),
        "recipients": [{"user_id": "bob", "device_id": "d1", "envelope": b64e(ENV)}],
    }
    bad_bodies = [
        [],
        {**good, "commitment": "short"},
        {**good, "message_id": "../x"},
        {**good, "recipients": []},
        {**good, "recipients": [{"user_id": "bob", "device_id": "d1", "envelope": b64e(b"{not an envelope")}]},
        {**good, "recipients": good["recipients"] * 2},
    ]
    for b in bad_bodies:
        assert http.post("/relay/v1/messages", json=b, headers=ha).status_code == 400, b
    assert http.post("/relay/v1/messages", content=b"{not json", headers=ha).status_code == 400
    assert http.post("/relay/v1/messages", content=b"[" * 100_000, headers=ha).status_code == 400
    huge = b'{"x":"' + b"a" * (16 * 1024 * 1024) + b'"}'
    assert http.post("/relay/v1/messages", content=huge, headers=ha).status_code == 413
    unknown = {**good, "recipients": [{"user_id": "zed", "device_id": "d1", "envelope": b64e(ENV)}]}
    assert http.post("/relay/v1/messages", json=unknown, headers=ha).status_code == 404
    r1 = http.post("/relay/v1/messages", json=good, headers=ha).json()
    r2 = http.post("/relay/v1/messages", json=good, headers=ha).json()
    assert (r1["duplicate"], r2["duplicate"], r1["seq"]) == (False, True, r2["seq"])
    inbox = http.get("/relay/v1/inbox", headers=hb).json()["deliveries"]
    assert len(inbox) == 1 and inbox[0]["sender"] == "alice"
    assert http.post("/relay/v1/inbox/ack", json={"delivery_ids": ["x"]}, headers=hb).status_code == 400
    assert http.post("/relay/v1/inbox/ack", json={"delivery_ids": [inbox[0]["delivery_id"]]}, headers=hb).json() == {
        "removed": 1
    }
    # Attachments: consent required, size limit (1 MB in this app), malformed ids.
    assert http.post("/relay/v1/attachments", content=b"x", headers=ha).status_code == 403
    assert (
        http.put("/relay/v1/consent", json={"granted": True, "policy_version": "1999"}, headers=ha).status_code == 409
    )
    assert http.put("/relay/v1/consent", json={"granted": "yes"}, headers=ha).status_code == 400
    cur = http.get("/relay/v1/consent", headers=ha).json()["current_policy"]
    assert http.put("/relay/v1/consent", json={"granted": True, "policy_version": cur}, headers=ha).status_code == 200
    assert http.post("/relay/v1/attachments", content=b"x" * 1_000_001, headers=ha).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(20):
            yield b"y" * 60_000

    assert http.post("/relay/v1/attachments", content=chunks(), headers=ha).status_code == 413
    up = http.post("/relay/v1/attachments", content=b"z" * 1000, headers=ha)
    assert up.status_code == 201
    blob = http.get(f"/relay/v1/attachments/{up.json()['blob_id']}", headers=hb)
    assert blob.content == b"z" * 1000
    assert http.get("/relay/v1/attachments/..%2F..%2Fetc", headers=hb).status_code in (400, 404)
    assert http.get("/relay/v1/attachments/" + "A" * 32, headers=hb).status_code == 404
    assert http.post("/relay/v1/reports", json={"sealed": "!!"}, headers=hb).status_code == 422
    assert http.post("/relay/v1/reports", json={"sealed": b64e(b"x" * 100)}, headers=hb).status_code == 422
    assert not list(Path(http.app.state.blindmatch.settings.data_dir, "relay-blobs").rglob("*.part"))  # type: ignore[attr-defined]


def test_websocket_push_and_ack(http: TestClient) -> None:
    _, ha = _http_register(http, "alice")
    _, hb = _http_register(http, "bob")
    token = hb["Authorization"].split()[1]
    with http.websocket_connect("/relay/v1/ws") as ws:
        ws.send_json({"token": "wrong"})
        with pytest.raises(Exception):  # noqa: B017 - closed with code 4401
            ws.receive_json()
    with http.websocket_connect("/relay/v1/ws") as ws:
        ws.send_json({"token": token})
        assert ws.receive_json()["ready"] is True
        body = {
            "message_id": "w1",
            "conversation_id": "dm:alice:bob",
            "commitment": b64e(b"c" * 32),
            "recipients": [{"user_id": "bob", "device_id": "d1", "envelope": b64e(ENV)}],
        }
        assert http.post("/relay/v1/messages", json=body, headers=ha).status_code == 200
        frame = ws.receive_json()
        assert [d["message_id"] for d in frame["deliveries"]] == ["w1"]
        ws.send_json({"delivery_ids": [frame["deliveries"][0]["delivery_id"]]})
        # The ack is applied asynchronously; poll until it is gone (generous deadline for a loaded machine).
        import time

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not http.get("/relay/v1/inbox", headers=hb).json()["deliveries"]:
                break
            time.sleep(0.02)
        assert http.get("/relay/v1/inbox", headers=hb).json()["deliveries"] == []


def test_websocket_redelivers_unacked_after_reconnect(http: TestClient) -> None:
    _, ha = _http_register(http, "alice")
    _, hb = _http_register(http, "bob")
    token = hb["Authorization"].split()[1]
    for i in range(3):
        body = {
            "message_id": f"r{i}",
            "conversation_id": "dm:alice:bob",
            "commitment": b64e(b"c" * 32),
            "recipients": [{"user_id": "bob", "device_id": "d1", "envelope": b64e(ENV)}],
        }
        assert http.post("/relay/v1/messages", json=body, headers=ha).status_code == 200
    with http.websocket_connect("/relay/v1/ws") as ws:
        ws.send_json({"token": token})
        ws.receive_json()
        first = ws.receive_json()["deliveries"]
        assert [d["message_id"] for d in first] == ["r0", "r1", "r2"]
        assert [d["seq"] for d in first] == [1, 2, 3]
        # disconnect without acking
    with http.websocket_connect("/relay/v1/ws") as ws:
        ws.send_json({"token": token})
        ws.receive_json()
        again = ws.receive_json()["deliveries"]
        assert [d["delivery_id"] for d in again] == [d["delivery_id"] for d in first]


def test_delivery_ids_are_never_reused_after_acks(store: RelayStore) -> None:
    """WebSockets resume "after delivery id N": an acked (deleted) newest row must not hand its id out again."""
    ring = FrankingKeyRing.generate()
    _, alice = _register(store, "alice")
    _, bob = _register(store, "bob")
    copy = (RecipientCopy("bob", "d1", ENV),)
    store.submit(alice, SendRequest("m1", "dm:alice:bob", b"c" * 32, copy), ring.tag)  # type: ignore[arg-type]
    [first] = store.pending(bob)  # type: ignore[arg-type]
    assert store.ack(bob, [first.delivery_id]) == 1  # type: ignore[arg-type]
    outcomes, _ = store.submit_batch(
        [(alice, SendRequest("m2", "dm:alice:bob", b"c" * 32, copy))],
        ring.tag,  # type: ignore[list-item]
    )
    [(result, pushes)] = outcomes  # type: ignore[misc]
    assert result.seq == 2 and not result.duplicate
    [(_, second)] = pushes
    assert second.delivery_id > first.delivery_id
    assert [d.delivery_id for d in store.pending(bob, after=first.delivery_id)] == [second.delivery_id]  # type: ignore[arg-type]


def test_batch_is_idempotent_and_reports_unknown_recipients_per_item(store: RelayStore) -> None:
    ring = FrankingKeyRing.generate()
    _, alice = _register(store, "alice")
    _, bob = _register(store, "bob")
    copy = (RecipientCopy("bob", "d1", ENV),)
    a = SendRequest("a", "dm:alice:bob", b"c" * 32, copy)
    bad = SendRequest("b", "dm:alice:zed", b"c" * 32, (RecipientCopy("zed", "d1", ENV),))
    outcomes, _ = store.submit_batch([(alice, a), (alice, bad), (alice, a)], ring.tag)  # type: ignore[list-item]
    first, missing, again = outcomes
    assert isinstance(missing, UnknownRecipientError)
    assert isinstance(first, tuple) and isinstance(again, tuple)
    assert not first[0].duplicate and again[0].duplicate and again[0].seq == first[0].seq and again[1] == ()
    assert first[0].tags == again[0].tags  # a resend gets the same franking tags
    outcomes, _ = store.submit_batch([(alice, a)], ring.tag)  # type: ignore[list-item]
    assert isinstance(outcomes[0], tuple) and outcomes[0][0].duplicate and outcomes[0][0].seq == first[0].seq
    assert len(store.pending(bob)) == 1  # type: ignore[arg-type]
