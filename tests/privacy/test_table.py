from __future__ import annotations

import json
import os
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindmatch.privacy.audit import AuditPackage, audit_package, audit_table
from blindmatch.privacy.errors import (
    DecodeError,
    ManifestError,
    SignatureError,
    TableBuildError,
    TableDeltaError,
    TableMismatchError,
    TableVerificationError,
)
from blindmatch.privacy.group import Point, Scalar
from blindmatch.privacy.manifest import SignedManifest, TrustPolicy
from blindmatch.privacy.published import apply_delta, encode_delta, encode_table, make_manifest, verify_table
from blindmatch.privacy.scheme import ExactTokenScheme
from blindmatch.privacy.table import CustodianTable, cuckoo_positions, token_point

from .helpers import make_world, retry_cuckoo


def test_table_places_every_token_at_one_of_its_positions_blinded_by_alpha() -> None:
    for ways, load in ((2, 0.45), (3, 0.85)):
        w = make_world(60, ways=ways)
        m = w.table.manifest
        assert m.cuckoo_ways == ways and m.table_size >= 60 / load
        for tok in w.tokens:
            positions = cuckoo_positions(tok, m.table_size, m.hash_seed, ways)
            expected = token_point(tok).mul(w.custodian.alpha).raw
            assert expected in [w.table.slots[p] for p in positions]
    assert w.table.lpub == Point.base_mul(w.custodian.alpha)
    assert len(set(w.table.slots)) == m.table_size  # dummies are distinct points, not a constant


def test_k_of_n_signatures() -> None:
    w = make_world(10, signers=2, k=2)
    signed = SignedManifest.from_bytes(w.blob[8 : 8 + struct.unpack(">I", w.blob[4:8])[0]])
    single = SignedManifest(signed.manifest, signed.signatures[:1])
    with pytest.raises(SignatureError):
        verify_table(encode_table(single, w.custodian.slots), w.policy)
    # the same key signing twice does not count twice
    doubled = single.with_signature(signed.signatures[0])
    blob = encode_table(doubled, w.custodian.slots)
    with pytest.raises(SignatureError):
        verify_table(blob, w.policy)


def test_tampered_slot_or_manifest_is_rejected() -> None:
    w = make_world(20)
    n = struct.unpack(">I", w.blob[4:8])[0]
    body = 8 + n
    other = Point.random().raw
    tampered = w.blob[:body] + other + w.blob[body + 32 :]
    with pytest.raises(TableVerificationError, match="Merkle root"):
        verify_table(tampered, w.policy)
    js = json.loads(w.blob[8:body])
    js["manifest"]["list_version"] = 99
    raw = json.dumps(js).encode()
    with pytest.raises(SignatureError):
        verify_table(b"BMT1" + struct.pack(">I", len(raw)) + raw + w.blob[body:], w.policy)
    bad_point = w.blob[:body] + b"\xff" * 32 + w.blob[body + 32 :]
    with pytest.raises(TableVerificationError, match="not a valid point"):
        verify_table(bad_point, w.policy)
    with pytest.raises(DecodeError):
        verify_table(w.blob[:-1], w.policy)
    with pytest.raises(DecodeError):
        verify_table(b"XXXX" + w.blob[4:], w.policy)
    with pytest.raises(ManifestError):
        verify_table(b"BMT1" + struct.pack(">I", 5) + b"nojs!" + w.blob[body:], w.policy)


def _delta_world() -> tuple:
    return retry_cuckoo(_delta_world_once)


def _delta_world_once() -> tuple:
    w = make_world(40)
    scheme = ExactTokenScheme()
    base = w.custodian.root
    before = dict(w.custodian.assignment)
    added = scheme.list_tokens(os.urandom(32))
    changes = w.custodian.update(added, w.tokens[:3], epoch=2)
    after = w.custodian.assignment
    moved = {i for i in set(before) | set(after) if before.get(i) != after.get(i)}
    signed = make_manifest(
        w.custodian, list_id="test-list", list_version=2, scheme=scheme, signers=w.keys[:2], previous_root=base
    )
    return w, base, signed, changes, (set(w.tokens) - set(w.tokens[:3])) | set(added), moved


def test_delta_applies_and_matches_a_fresh_download() -> None:
    w, base, signed, changes, tokens, moved = _delta_world()
    updated = apply_delta(w.table, encode_delta(base, signed, changes), w.policy)
    fresh = verify_table(encode_table(signed, w.custodian.slots), w.policy)
    assert updated.slots == fresh.slots and updated.root == fresh.root
    assert w.table.root == base  # the old table object is untouched
    # only the slots whose token changed travel, plus as many cover slots: never a full table. (A fixed bound
    # flaked: the eviction chain of one cuckoo insertion into a 48-slot table at load 0.85 is sometimes long.)
    sent = {i for i, _ in changes}
    assert moved <= sent and len(sent) <= 2 * len(moved) and len(sent) < w.table.manifest.table_size
    audit_table(updated, tokens, audit_package(w.custodian))


def test_tampered_or_misapplied_delta_is_rejected() -> None:
    w, base, signed, changes, _, _ = _delta_world()
    i, _slot = changes[0]
    bad = [(i, Point.random().raw), *changes[1:]]
    with pytest.raises(TableDeltaError, match="signed root"):
        apply_delta(w.table, encode_delta(base, signed, bad), w.policy)
    with pytest.raises(TableDeltaError, match="base root"):
        apply_delta(w.table, encode_delta(os.urandom(32), signed, changes), w.policy)
    with pytest.raises(DecodeError):
        apply_delta(w.table, encode_delta(base, signed, changes)[:-3], w.policy)
    updated = apply_delta(w.table, encode_delta(base, signed, changes), w.policy)
    with pytest.raises(TableDeltaError):  # replaying the same delta on the new table
        apply_delta(updated, encode_delta(base, signed, changes), w.policy)


def test_delta_that_does_not_name_its_predecessor_is_rejected() -> None:
    w, _base, _signed, changes, _, _ = _delta_world()
    scheme = ExactTokenScheme()
    unchained = make_manifest(w.custodian, list_id="test-list", list_version=2, scheme=scheme, signers=w.keys[:2])
    with pytest.raises(TableDeltaError, match="predecessor"):
        apply_delta(w.table, encode_delta(w.table.root, unchained, changes), w.policy)


def test_audit_accepts_the_honest_table() -> None:
    w = make_world(30)
    report = audit_table(w.table, w.tokens, audit_package(w.custodian))
    assert report.list_tokens == 30 and report.dummy_slots == w.table.manifest.table_size - 30


def test_audit_catches_an_extra_token_a_missing_token_and_a_wrong_seed() -> None:
    w = make_world(30)
    pkg = audit_package(w.custodian)
    with pytest.raises(TableMismatchError, match="not on the list"):
        audit_table(w.table, w.tokens[1:], pkg)
    with pytest.raises(TableMismatchError, match="misses"):
        audit_table(w.table, [*w.tokens, os.urandom(16)], pkg)
    with pytest.raises(TableMismatchError, match="commitment"):
        audit_table(w.table, w.tokens, AuditPackage(os.urandom(32), pkg.assignment, pkg.dummy_epochs))


def test_audit_catches_a_slot_that_is_not_alpha_times_its_preimage() -> None:
    """A custodian that secretly puts a non-list target in a 'dummy' slot is caught by the DLEQ proof."""
    scheme = ExactTokenScheme()
    tokens = [scheme.list_tokens(os.urandom(32))[0] for _ in range(20)]
    ct = CustodianTable.build(tokens)
    dummy = next(i for i in range(ct.size) if i not in ct.assignment)
    ct.slots[dummy] = token_point(b"targeted-non-list-token").mul(ct.alpha).raw
    ct.tree.update([(dummy, ct.slots[dummy])])
    key = Ed25519PrivateKey.generate()
    signed = make_manifest(ct, list_id="x", list_version=1, scheme=scheme, signers=[key])
    table = verify_table(encode_table(signed, ct.slots), TrustPolicy.of([key.public_key()]))
    with pytest.raises(TableMismatchError, match="audit proof"):
        audit_table(table, tokens, audit_package(ct))


def test_build_rejects_bad_input() -> None:
    with pytest.raises(TableBuildError):
        CustodianTable.build([b"short"])
    with pytest.raises(TableBuildError):
        CustodianTable.build([os.urandom(16)], load=0.9, ways=2)
    with pytest.raises(TableBuildError):
        CustodianTable.build([os.urandom(16)], load=0.95, ways=3)
    ct = CustodianTable.build([os.urandom(16)], alpha=Scalar.random())
    with pytest.raises(TableBuildError, match="epoch"):
        ct.update([], [], epoch=0)
