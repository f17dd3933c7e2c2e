"""Hostile bytes into every decoder: only the package's specific errors may come out, never a crash."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindmatch.privacy.errors import PrivacyError
from blindmatch.privacy.group import Scalar
from blindmatch.privacy.manifest import SignedManifest
from blindmatch.privacy.oprf import OprfResponse, OprfServer
from blindmatch.privacy.published import apply_delta, verify_table
from blindmatch.privacy.server import AccountState
from blindmatch.privacy.wire import WireVoucher

from .helpers import World, make_world
from .test_protocol import CFG, _pair


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(10)


WARN_KEY = Scalar.random()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """Truncations, bit flips and splices of a valid message, plus pure noise."""
    flips = st.tuples(st.integers(0, max(len(base) - 1, 0)), st.integers(1, 255)).map(
        lambda t: base[: t[0]] + bytes([base[t[0]] ^ t[1]]) + base[t[0] + 1 :]
    )
    cuts = st.integers(0, len(base)).map(lambda n: base[:n])
    noise = st.binary(max_size=300)
    splice = st.tuples(st.integers(0, len(base)), st.binary(max_size=40)).map(lambda t: base[: t[0]] + t[1])
    return st.one_of(flips, cuts, noise, splice)


@FUZZ
@given(data=st.data())
def test_voucher_decoding_and_processing(world: World, data: st.DataObject) -> None:
    client, server = _pair(world)
    good = client.make_voucher(world.listed[0])
    blob = data.draw(_mutations(good))
    with contextlib.suppress(PrivacyError):
        server.receive("fuzz", blob)
    with contextlib.suppress(PrivacyError):
        WireVoucher.decode(blob, token_count=CFG.token_count, metadata_bytes=CFG.metadata_bytes)


@FUZZ
@given(data=st.data())
def test_table_and_delta_decoding(world: World, data: st.DataObject) -> None:
    blob = data.draw(_mutations(world.blob[:400]) | _mutations(world.blob))
    with contextlib.suppress(PrivacyError):
        verify_table(blob, world.policy)
    delta = data.draw(_mutations(b"BMD1" + world.table.root + struct.pack(">I", 3) + b"{}x" + bytes(4)))
    with contextlib.suppress(PrivacyError):
        apply_delta(world.table, delta, world.policy)


@FUZZ
@given(data=st.data())
def test_manifest_json_fields(world: World, data: st.DataObject) -> None:
    n = struct.unpack(">I", world.blob[4:8])[0]
    obj = json.loads(world.blob[8 : 8 + n])
    field = data.draw(st.sampled_from(sorted(obj["manifest"])))
    obj["manifest"][field] = data.draw(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3))
    )
    with contextlib.suppress(PrivacyError):
        SignedManifest.from_bytes(json.dumps(obj).encode())


@FUZZ
@given(text=st.text(max_size=200))
def test_account_state_and_oprf_decoding(world: World, text: str) -> None:
    with contextlib.suppress(PrivacyError):
        AccountState.from_json(text)
    raw = text.encode()
    with contextlib.suppress(PrivacyError):
        OprfResponse.decode(raw, 1)
    with contextlib.suppress(PrivacyError):
        OprfServer(WARN_KEY).evaluate("a", raw)  # a warn key, never the table's (privacy/warn.py)
