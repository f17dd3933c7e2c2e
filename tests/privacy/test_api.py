from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindmatch.hashing.signals import InvalidHashError
from blindmatch.privacy.api import (
    build_table,
    custodian_from_bytes,
    custodian_to_bytes,
    transparency,
    update_table,
    verify_table,
)
from blindmatch.privacy.audit import audit_table
from blindmatch.privacy.bench import run_protocol_bench
from blindmatch.privacy.errors import DecodeError, SignatureError
from blindmatch.privacy.manifest import TrustPolicy
from blindmatch.privacy.published import apply_delta
from blindmatch.privacy.scheme import ExactTokenScheme

from .helpers import retry_cuckoo


def test_build_verify_update_roundtrip_through_serialised_custodian_state() -> None:
    retry_cuckoo(_roundtrip)


def _roundtrip() -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(2)]
    pubs = [k.public_key() for k in keys]
    hashes = [os.urandom(32).hex() for _ in range(30)]
    built = build_table(hashes, ExactTokenScheme(), list_id="L", list_version=1, signers=keys)
    table = verify_table(built.table_bytes, pubs, 2)
    restored = custodian_from_bytes(custodian_to_bytes(built.custodian))
    assert restored.slots == built.custodian.slots and restored.root == built.custodian.root
    new = os.urandom(32).hex()
    delta, full = update_table(
        restored, [new], hashes[:1], ExactTokenScheme(), list_id="L", list_version=2, signers=keys
    )
    updated = apply_delta(table, delta, TrustPolicy.of(pubs, 2))
    assert updated.root == verify_table(full, pubs, 2).root
    scheme = ExactTokenScheme()
    tokens = [scheme.list_tokens(bytes.fromhex(h))[0] for h in [*hashes[1:], new]]
    from blindmatch.privacy.audit import audit_package

    audit_table(updated, tokens, audit_package(restored))


def test_transparency_reports_root_and_verification_status() -> None:
    key = Ed25519PrivateKey.generate()
    built = build_table([os.urandom(32).hex()], ExactTokenScheme(), list_id="L", list_version=7, signers=[key])
    text = transparency(built.table_bytes, [key.public_key()])
    assert "VERIFIED" in text and built.custodian.root.hex() in text and "version 7" in text
    assert "NOT VERIFIED" in transparency(built.table_bytes)
    with pytest.raises(SignatureError):
        transparency(built.table_bytes, [Ed25519PrivateKey.generate().public_key()])


def test_bad_inputs() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(InvalidHashError):
        build_table(["zz"], ExactTokenScheme(), list_id="L", list_version=1, signers=[key])
    with pytest.raises(DecodeError):
        custodian_from_bytes(b"{}")
    with pytest.raises(DecodeError):
        transparency(b"nope")


def test_protocol_bench_runs_and_opens_exactly_the_listed_images() -> None:
    out = run_protocol_bench(50, ExactTokenScheme(), images=6)
    assert out["opened"] == 3  # every other query image is a list entry
    assert out["voucher_token_count"] == 1 and out["table_slots"] >= 50 / 0.85  # 3-way cuckoo by default
    assert isinstance(out["group_ops_us"], dict)


def test_open_count_histogram_and_synthetic_distribution() -> None:
    import numpy as np

    from blindmatch.privacy.bench import measure_open_counts
    from blindmatch.privacy.client import token_count_histogram

    a, b = os.urandom(32), os.urandom(32)
    z = np.zeros(256)
    hist = measure_open_counts(ExactTokenScheme(), [(a, a, z), (a, b, z), (b, b, z)])
    assert hist == {0: 1, 1: 2}
    assert token_count_histogram([1, 2, 2, 2]) == ((1, 0.25), (2, 0.75))
