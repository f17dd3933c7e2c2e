"""Warn-before-send: local membership through the OPRF under the warn key, the signed filter, and no α-oracle."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, replace

import pytest

from blindmatch.privacy.client import ClientAccount, VoucherClient, VoucherConfig
from blindmatch.privacy.errors import DecodeError, ManifestError, RateLimitedError, VoucherError
from blindmatch.privacy.group import Point, Scalar
from blindmatch.privacy.kdf import ITEM_KEY_BYTES, wrap_pad
from blindmatch.privacy.manifest import Manifest, SignedManifest
from blindmatch.privacy.oprf import OprfClient, OprfResponse, OprfServer, RateLimit, warn_before_send
from blindmatch.privacy.published import VerifiedTable, encode_table, make_manifest, verify_table
from blindmatch.privacy.scheme import ExactTokenScheme
from blindmatch.privacy.warn import FINGERPRINT_BYTES, WarnFilter, WarnPublication, build_warn_filter
from blindmatch.privacy.wire import WireVoucher

from .helpers import World, make_world


@dataclass
class WarnWorld:
    world: World
    alpha_w: Scalar
    publication: WarnPublication
    table: VerifiedTable  # its manifest commits to the warn filter
    warn: WarnFilter


def _publish(w: World, publication: WarnPublication | None) -> VerifiedTable:
    signed = make_manifest(
        w.custodian,
        list_id="test-list",
        list_version=1,
        scheme=ExactTokenScheme(),
        signers=w.keys[:2],
        warn=publication,
    )
    return verify_table(encode_table(signed, w.custodian.slots), w.policy)


def make_warn_world(n: int) -> WarnWorld:
    w = make_world(n)
    alpha_w = Scalar.random()
    publication = build_warn_filter(alpha_w, w.tokens)
    table = _publish(w, publication)
    return WarnWorld(w, alpha_w, publication, table, WarnFilter.verify(publication.filter_bytes, table.manifest))


@pytest.fixture(scope="module")
def ww() -> WarnWorld:
    return make_warn_world(20)


def test_client_learns_membership_locally(ww: WarnWorld) -> None:
    client = OprfClient(ww.warn, ExactTokenScheme())
    server = OprfServer(ww.alpha_w)
    assert ww.warn.count == len(set(ww.world.tokens))
    assert warn_before_send(client, lambda r: server.evaluate("a", r), ww.world.listed[3])
    assert not warn_before_send(client, lambda r: server.evaluate("a", r), os.urandom(32))


def test_blinded_requests_for_the_same_image_differ(ww: WarnWorld) -> None:
    client = OprfClient(ww.warn, ExactTokenScheme())
    assert client.request(ww.world.listed[0]).encode() != client.request(ww.world.listed[0]).encode()


def test_answers_under_another_key_are_refused_including_the_table_key(ww: WarnWorld) -> None:
    client = OprfClient(ww.warn, ExactTokenScheme())
    for wrong in (Scalar.random(), ww.world.custodian.alpha):  # a server misconfigured with the table key too
        req = client.request(ww.world.listed[0])
        with pytest.raises(VoucherError, match="warn key"):
            client.matches(req, OprfServer(wrong).evaluate("a", req.encode()))


def _opened_entries(ww: WarnWorld, server: OprfServer) -> int:
    """Eve holds Alice's voucher for a listed image and asks the OPRF about its Q points, re-randomised so the
    server cannot recognise them. Count the entries whose outer layer she could then open."""
    cfg = VoucherConfig(token_count=4, threshold=3, synthetic_probability=0.0, metadata_bytes=16)
    alice = VoucherClient(ww.world.table, ExactTokenScheme(), ClientAccount.create("alice", 3), cfg)
    ways = ww.world.table.manifest.cuckoo_ways
    voucher = WireVoucher.decode(
        alice.make_voucher(ww.world.listed[0]), token_count=cfg.token_count, metadata_bytes=16, ways=ways
    )
    opened = 0
    for entry in voucher.entries:
        r = Scalar.random()
        answer = OprfResponse.decode(server.evaluate("eve", Point.decode(entry.q).mul(r).raw), 1)
        shared = answer.evaluated[0].mul(r.invert())
        _, check = wrap_pad(shared.raw, voucher.voucher_id)
        opened += any(wrap[ITEM_KEY_BYTES:] == check for wrap in entry.wraps)
    return opened


def test_the_warn_oprf_is_not_an_oracle_for_the_table_key(ww: WarnWorld) -> None:
    """Under the table key (version 1) the OPRF opened someone else's voucher; under the warn key nothing opens."""
    assert _opened_entries(ww, OprfServer(ww.world.custodian.alpha)) >= 1  # the attack this design removes
    assert _opened_entries(ww, OprfServer(ww.alpha_w)) == 0


def test_the_filter_must_be_the_one_the_signed_manifest_names(ww: WarnWorld) -> None:
    data = ww.publication.filter_bytes
    with pytest.raises(ManifestError, match="SHA-256"):
        WarnFilter.verify(data[:-1] + bytes([data[-1] ^ 1]), ww.table.manifest)
    with pytest.raises(ManifestError, match="no warn-before-send"):
        WarnFilter.verify(data, ww.world.table.manifest)  # a list version published without the mode


def _committed(ww: WarnWorld, data: bytes) -> Manifest:
    """A manifest that commits to ``data`` (as a careless or hostile custodian might), to reach the parser."""
    return replace(ww.table.manifest, warn_filter=WarnPublication(ww.publication.lpub, data).digest)


def test_malformed_filters_are_refused_even_when_committed(ww: WarnWorld) -> None:
    good = ww.publication.filter_bytes
    body = good[8:]
    prints = [body[i : i + FINGERPRINT_BYTES] for i in range(0, len(body), FINGERPRINT_BYTES)]
    unsorted = good[:8] + b"".join(reversed(prints))
    duplicated = good[:4] + struct.pack(">I", len(prints) + 1) + body + prints[-1]
    for bad, message in (
        (b"BMW", "magic"),
        (b"XXXX" + good[4:], "magic"),
        (good[:-1], "holds"),
        (good[:4] + struct.pack(">I", len(prints) + 1) + body, "holds"),
        (unsorted, "strictly increasing"),
        (duplicated, "strictly increasing"),
    ):
        with pytest.raises(DecodeError, match=message):
            WarnFilter.verify(bad, _committed(ww, bad))
    bad_key = replace(ww.table.manifest, warn_lpub=b"\xff" * 32)
    with pytest.raises(ManifestError, match="valid point"):
        WarnFilter.verify(good, bad_key)


def test_manifests_without_the_mode_keep_their_old_bytes_and_both_fields_travel_together(ww: WarnWorld) -> None:
    plain = ww.world.table.manifest
    assert "warn_lpub" not in plain.canonical_bytes().decode() and not plain.has_warn
    obj = ww.table.manifest.to_json_obj()
    assert Manifest.from_json_obj(obj) == ww.table.manifest
    again = SignedManifest.from_bytes(ww.table.signed.to_bytes())
    assert again.manifest.warn_filter == ww.publication.digest
    for dropped in ("warn_lpub", "warn_filter"):
        with pytest.raises(ManifestError, match="expected set"):
            Manifest.from_json_obj({k: v for k, v in obj.items() if k != dropped})
    with pytest.raises(ManifestError, match="32 bytes"):
        Manifest.from_json_obj(obj | {"warn_filter": "ab" * 31})
    assert json.loads(ww.world.table.signed.to_bytes())["manifest"].keys() == plain.to_json_obj().keys()


def test_rate_limit_per_account_and_window() -> None:
    now = [0.0]
    server = OprfServer(Scalar.random(), RateLimit(tokens_per_window=2, window_seconds=10), clock=lambda: now[0])
    one = Point.random().raw
    server.evaluate("a", one)
    server.evaluate("a", one)
    with pytest.raises(RateLimitedError):
        server.evaluate("a", one)
    server.evaluate("b", one)  # other accounts are unaffected
    now[0] = 11.0
    server.evaluate("a", one)
    assert server.rejected == {"a": 1}


def test_malformed_requests() -> None:
    server = OprfServer(Scalar.random())
    with pytest.raises(VoucherError):
        server.evaluate("a", b"")
    with pytest.raises(VoucherError):
        server.evaluate("a", b"\xff" * 32)
    with pytest.raises(VoucherError):
        server.evaluate("a", b"\x01" * 33)
