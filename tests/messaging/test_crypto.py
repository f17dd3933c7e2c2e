"""Crypto core: identities and signed prekeys, Olm, Megolm over Olm, envelopes, attachments, franking, reports."""

from __future__ import annotations

import dataclasses
import json

import pytest

from blindmatch.messaging.crypto.attachments import decrypt_attachment, encrypt_attachment
from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.crypto.envelope import (
    AttachmentRef,
    Envelope,
    Payload,
    decode_envelope,
    decode_payload,
    encode_envelope,
    encode_payload,
)
from blindmatch.messaging.crypto.franking import FrankingKeyRing, commitment, new_franking_key, verify_commitment
from blindmatch.messaging.crypto.hpke import ModerationKey
from blindmatch.messaging.crypto.identity import DeviceIdentity, SignedPrekey, verify_device_signature, verify_prekey
from blindmatch.messaging.crypto.megolm import GroupReceiver, GroupSender
from blindmatch.messaging.crypto.olm import olm_decrypt, olm_encrypt, start_session
from blindmatch.messaging.crypto.reports import FrankedMessage, seal_report, verify_report
from blindmatch.messaging.crypto.safety import safety_number
from blindmatch.messaging.errors import (
    AttachmentError,
    DecryptionError,
    EncodingError,
    EnvelopeError,
    FrankingError,
    IdentityError,
    PrekeyError,
    ReportError,
)


def _payload(body: str = "hello", **kw: object) -> Payload:
    base: dict[str, object] = {
        "message_id": "m1",
        "conversation_id": "alice:bob",
        "sender": "alice",
        "sender_device": "phone",
        "recipient": "bob",
        "sent_at_ms": 1_700_000_000_000,
        "kind": "text",
        "body": body,
        "nf": new_franking_key(),
    }
    base.update(kw)
    return Payload(**base)  # type: ignore[arg-type]


def test_base64_is_strict() -> None:
    assert b64d(b64e(b"\x00\xff")) == b"\x00\xff"
    for bad in ["a b", "!!!!", "AAF", 5, "AA=A", "A"]:
        with pytest.raises(EncodingError):
            b64d(bad)
    with pytest.raises(EncodingError):
        b64d(b64e(b"x" * 5), length=4)


def test_registration_and_prekey_signatures() -> None:
    alice = DeviceIdentity("alice", "phone")
    verify_device_signature(alice.keys, alice.registration_signature())
    mallory = DeviceIdentity("alice", "phone")
    with pytest.raises(IdentityError):
        verify_device_signature(alice.keys, mallory.registration_signature())
    prekeys = alice.new_prekeys(3)
    assert len({p.key_id for p in prekeys}) == 3
    for p in prekeys:
        verify_prekey(alice.keys, p)
    # A relay substituting its own key, or moving a key to another device, is caught.
    forged = dataclasses.replace(prekeys[0], key=mallory.new_prekeys(1)[0].key)
    with pytest.raises(PrekeyError):
        verify_prekey(alice.keys, forged)
    other_device = dataclasses.replace(alice.keys, device_id="laptop")
    with pytest.raises(PrekeyError):
        verify_prekey(other_device, prekeys[0])
    with pytest.raises(PrekeyError):
        verify_prekey(alice.keys, SignedPrekey("x", "not base64!", prekeys[0].signature))
    with pytest.raises(IdentityError):
        DeviceIdentity("Alice Smith", "phone")


def test_olm_roundtrip_tamper_and_replay() -> None:
    alice, bob = DeviceIdentity("alice", "phone"), DeviceIdentity("bob", "phone")
    pk = bob.new_prekeys(1)[0]
    a_sess = start_session(alice, bob.keys, pk)
    env = olm_encrypt(alice, a_sess, b"hi bob")
    assert env.olm_type == 0
    wire = decode_envelope(encode_envelope(env))
    b_sess, pt, created = olm_decrypt(bob, [], wire)
    assert (pt, created) == (b"hi bob", True)
    # The one-time key is consumed: the same pre-key message cannot create a second session.
    with pytest.raises(DecryptionError):
        olm_decrypt(bob, [], wire)
    reply = olm_encrypt(bob, b_sess, b"hi alice")
    assert reply.olm_type == 1
    assert olm_decrypt(alice, [a_sess], reply)[1] == b"hi alice"
    with pytest.raises(DecryptionError):  # replay
        olm_decrypt(alice, [a_sess], reply)
    nxt = olm_encrypt(bob, b_sess, b"again")
    tampered = dataclasses.replace(nxt, ciphertext=nxt.ciphertext[:-1] + bytes([nxt.ciphertext[-1] ^ 1]))
    with pytest.raises(DecryptionError):
        olm_decrypt(alice, [a_sess], tampered)
    assert olm_decrypt(alice, [a_sess], nxt)[1] == b"again"
    # Pickles restore under the right key only.
    key = b"k" * 32
    restored = DeviceIdentity.from_pickle("bob", "phone", bob.pickle(key), key)
    assert restored.keys == bob.keys
    with pytest.raises(IdentityError):
        DeviceIdentity.from_pickle("bob", "phone", bob.pickle(key), b"x" * 32)


def test_megolm_keys_shared_over_olm() -> None:
    alice, bob, carol = (DeviceIdentity(n, "d1") for n in ("alice", "bob", "carol"))
    group = GroupSender(alice.keys.curve25519)
    receivers = {}
    for member in (bob, carol):
        sess = start_session(alice, member.keys, member.new_prekeys(1)[0])
        key_msg = olm_encrypt(alice, sess, group.session_key().encode())
        _, shared, _ = olm_decrypt(member, [], key_msg)
        r = GroupReceiver()
        r.add_key(key_msg.sender_key, shared.decode())
        receivers[member.user_id] = r
    env = decode_envelope(encode_envelope(group.encrypt(b"to the group")))
    assert receivers["bob"].decrypt(env) == b"to the group"
    assert receivers["carol"].decrypt(env) == b"to the group"
    with pytest.raises(DecryptionError):
        receivers["bob"].decrypt(env)  # replay
    # An envelope claiming another sender for this session is rejected.
    spoof = dataclasses.replace(group.encrypt(b"x"), sender_key=carol.keys.curve25519)
    with pytest.raises(DecryptionError):
        receivers["bob"].decrypt(spoof)
    with pytest.raises(DecryptionError):
        GroupReceiver().decrypt(group.encrypt(b"y"))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"not json",
        b'{"v":2,"alg":"olm","sk":"","type":0,"ct":""}',
        b'{"v":1,"alg":"rot13","sk":"","ct":""}',
        b'{"v":1,"alg":"olm","alg":"olm","sk":"","type":0,"ct":""}',
        b'{"v":1,"alg":"olm","sk":"AAAA","type":0,"ct":"AAAA"}',
        b'{"v":1,"alg":"olm","sk":"' + b"A" * 43 + b'","type":7,"ct":"AAAA"}',
        b'{"v":1,"alg":"olm","sk":"' + b"A" * 43 + b'","type":true,"ct":"AAAA"}',
        b'{"v":1,"alg":"olm","sk":"' + b"A" * 43 + b'","type":0,"ct":"AA AA"}',
        b'{"v":1,"alg":"olm","sk":"' + b"A" * 43 + b'","type":0,"ct":"AAAA","extra":1}',
        b'{"v":1,"alg":"megolm","sk":"' + b"A" * 43 + b'","sid":"short","ct":"AAAA"}',
        b"[" * 100_000,
        b'{"v":1,"x":"' + b"A" * 300_000 + b'"}',
        b"\xff\xfe",
    ],
)
def test_hostile_envelopes_raise_envelope_error(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(raw)


def test_payload_roundtrip_and_hostile_payloads() -> None:
    att = AttachmentRef("blob1", b"k" * 32, 10, "a" * 64, "image/jpeg")
    p = _payload(kind="image", attachments=(att,))
    assert decode_payload(encode_payload(p)) == p
    good = json.loads(encode_payload(p))
    for mutate in (
        lambda o: o.update(kind="exe"),
        lambda o: o.update(ts=-1),
        lambda o: o.update(nf="AAAA"),
        lambda o: o.update(att=[{"id": "x"}]),
        lambda o: o.update(att=[dict(good["att"][0], sha256="zz")]),
        lambda o: o.update(att=[good["att"][0]] * 11),
        lambda o: o.update(body="x" * 70_000),
        lambda o: o.pop("conv"),
        lambda o: o.update(id="../../etc"),
    ):
        obj = json.loads(encode_payload(p))
        mutate(obj)
        with pytest.raises(EnvelopeError):
            decode_payload(json.dumps(obj))


def test_attachments() -> None:
    data = b"\x89PNG fake image bytes" * 100
    enc = encrypt_attachment(data)
    assert data not in enc.blob
    assert decrypt_attachment(enc.blob, enc.key, size=enc.size, sha256=enc.sha256) == data
    other = encrypt_attachment(b"y" * len(data))
    with pytest.raises(DecryptionError):  # relay swapped the blob: same size, other key -> does not decrypt
        decrypt_attachment(other.blob, enc.key, size=enc.size, sha256=enc.sha256)
    with pytest.raises(AttachmentError):
        decrypt_attachment(enc.blob, enc.key, size=enc.size, sha256="0" * 64)
    with pytest.raises(DecryptionError):
        decrypt_attachment(enc.blob[:-1] + bytes([enc.blob[-1] ^ 1]), enc.key, size=enc.size, sha256=enc.sha256)
    with pytest.raises(AttachmentError):
        decrypt_attachment(enc.blob + b"x", enc.key, size=enc.size, sha256=enc.sha256)
    with pytest.raises(AttachmentError):
        encrypt_attachment(b"x" * 11, max_bytes=10)


def test_franking_commitment_and_server_tag() -> None:
    p = _payload(attachments=(AttachmentRef("b", b"k" * 32, 3, "b" * 64, "image/png"),))
    c = commitment(p)
    verify_commitment(p, c)
    for altered in (
        dataclasses.replace(p, body="hellO"),
        dataclasses.replace(p, sender="mallory"),
        dataclasses.replace(p, attachments=(dataclasses.replace(p.attachments[0], sha256="c" * 64),)),
        dataclasses.replace(p, nf=new_franking_key()),
    ):
        with pytest.raises(FrankingError):
            verify_commitment(altered, c)
    ring = FrankingKeyRing.generate()
    tag = ring.tag(c, "alice", "phone", "bob", 123)
    ring.verify(c, "alice", "phone", "bob", 123, tag)
    for args in (("mallory", "phone", "bob", 123), ("alice", "phone", "carol", 123), ("alice", "phone", "bob", 124)):
        with pytest.raises(FrankingError):
            ring.verify(c, *args, tag)  # type: ignore[arg-type]
    old = ring.current
    ring.rotate()
    assert ring.current != old
    ring.verify(c, "alice", "phone", "bob", 123, tag)  # old tags still verify after rotation
    assert ring.tag(c, "alice", "phone", "bob", 123).kid == ring.current
    restored = FrankingKeyRing.from_json(ring.to_json())
    restored.verify(c, "alice", "phone", "bob", 123, tag)
    with pytest.raises(FrankingError):
        FrankingKeyRing.generate().verify(c, "alice", "phone", "bob", 123, tag)
    with pytest.raises(FrankingError):
        FrankingKeyRing.from_json("{}")


def _franked(ring: FrankingKeyRing, body: str, mid: str, sender: str = "alice") -> FrankedMessage:
    p = _payload(body, message_id=mid, sender=sender)
    c = commitment(p)
    return FrankedMessage(p, c, ring.tag(c, sender, "phone", "bob", 1000), sender, "phone", "bob", 1000)


def test_reports_verify_and_reject_forgeries() -> None:
    ring, mk = FrankingKeyRing.generate(), ModerationKey.generate()
    msgs = [_franked(ring, f"message {i}", f"m{i}") for i in range(8)]
    sealed = seal_report(mk.public_bytes, "bob", msgs[-1], msgs[:-1], "harassment")
    rep = verify_report(sealed, mk, ring, reporter="bob")
    assert rep.sender == "alice" and rep.reported.payload.body == "message 7"
    assert [m.payload.body for m in rep.context] == [f"message {i}" for i in range(2, 7)]
    # Replayed under another account: HPKE info binds the reporter.
    with pytest.raises(ReportError):
        verify_report(sealed, mk, ring, reporter="carol")
    # Altered body (commitment fails), forged sender (tag fails), made-up tag, foreign context sender.
    altered = dataclasses.replace(msgs[0], payload=dataclasses.replace(msgs[0].payload, body="something else"))
    p2 = dataclasses.replace(msgs[0].payload, sender="carol")
    reattributed = dataclasses.replace(msgs[0], payload=p2, sender="carol", commitment=commitment(p2))
    fake_tag = dataclasses.replace(msgs[0], tag=dataclasses.replace(msgs[0].tag, tag=b"\x00" * 32))
    other_sender = _franked(ring, "hi", "x1", sender="dave")
    for reported, ctx in ((altered, []), (reattributed, []), (fake_tag, []), (msgs[0], [other_sender])):
        with pytest.raises(ReportError):
            verify_report(seal_report(mk.public_bytes, "bob", reported, ctx), mk, ring, reporter="bob")
    with pytest.raises(ReportError):
        verify_report(b"garbage" * 10, mk, ring, reporter="bob")


def test_safety_numbers_agree_and_detect_substitution() -> None:
    a, b = DeviceIdentity("alice", "phone"), DeviceIdentity("bob", "phone")
    n1 = safety_number([a.keys], [b.keys])
    assert n1 == safety_number([b.keys], [a.keys])
    assert len(n1.replace(" ", "")) == 60
    fake_b = DeviceIdentity("bob", "phone")
    assert safety_number([a.keys], [fake_b.keys]) != n1


def test_envelope_encode_rejects_unknown_alg() -> None:
    with pytest.raises(EnvelopeError):
        encode_envelope(Envelope("rot13", "x", b""))
