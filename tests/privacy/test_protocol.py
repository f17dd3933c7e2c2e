"""End-to-end: client vouchers against a verified table, server aggregation, threshold, verification, hostility."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.privacy.client import ClientAccount, TokenBudgetError, VoucherClient, VoucherConfig
from blindmatch.privacy.errors import (
    DecodeError,
    DuplicateVoucherError,
    VoucherError,
    WrongTableError,
)
from blindmatch.privacy.scheme import ExactTokenScheme
from blindmatch.privacy.server import VoucherServer
from blindmatch.privacy.wire import ENTRY_BYTES

from .helpers import World, make_world, retry_cuckoo

T = 3
CFG = VoucherConfig(token_count=4, threshold=T, synthetic_probability=0.0, metadata_bytes=16)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(40)


def _pair(world: World, account: str = "alice", cfg: VoucherConfig = CFG, **kw: object):
    listed = set(world.listed)
    client = VoucherClient(world.table, ExactTokenScheme(), ClientAccount.create(account, cfg.threshold), cfg)
    server = VoucherServer(
        world.custodian.alpha,
        {world.table.root[:8]},
        cfg,
        verify=lambda h: {"pdq": h} if bytes.fromhex(h) in listed else None,
        **kw,  # type: ignore[arg-type]
    )
    return client, server


def test_non_matching_media_never_opens(world: World) -> None:
    client, server = _pair(world)
    for _ in range(12):
        out = server.receive("alice", client.make_voucher(os.urandom(32)))
        assert not out.opened and out.event is None
    assert server.state("alice").counters.get("opened", 0) == 0


def test_below_threshold_nothing_decrypts_and_at_threshold_verified_matches_are_reported(world: World) -> None:
    client, server = _pair(world)
    for i in range(T - 1):
        out = server.receive("alice", client.make_voucher(world.listed[i], metadata=b"m%d" % i))
        assert out.opened and out.event is None
    state = server.state("alice")
    assert state.secret is None and len(state.opened) == T - 1
    out = server.receive("alice", client.make_voucher(world.listed[T - 1], metadata=b"last"))
    assert out.event is not None
    assert sorted(m.pdq_hex for m in out.event.matches) == sorted(h.hex() for h in world.listed[:T])
    assert {m.metadata for m in out.event.matches} == {b"m0", b"m1", b"last"}
    # after recovery, each further match is reported as it arrives
    later = server.receive("alice", client.make_voucher(world.listed[T]))
    assert later.event is not None and [m.pdq_hex for m in later.event.matches] == [world.listed[T].hex()]


def test_token_collisions_are_discarded_and_counted(world: World) -> None:
    client, server = _pair(world)
    server.verify = lambda h: False  # the full PDQ never verifies: every opened item is a token collision
    for i in range(T):
        out = server.receive("alice", client.make_voucher(world.listed[i]))
    assert out.event is not None and out.event.matches == () and out.event.collisions == T
    assert server.state("alice").counters["collisions"] == T


def test_synthetic_vouchers_open_but_never_verify(world: World) -> None:
    client, server = _pair(world, search_budget=3000)
    for _ in range(2):
        assert server.receive("alice", client.make_voucher(os.urandom(32), synthetic=True)).opened
    events = [server.receive("alice", client.make_voucher(world.listed[i])).event for i in range(T)]
    event = next(e for e in events if e is not None)
    assert len(event.matches) == T and event.synthetic == 2


def test_only_synthetic_vouchers_never_reach_the_threshold(world: World) -> None:
    client, server = _pair(world, search_budget=200)
    for _ in range(T + 3):
        out = server.receive("alice", client.make_voucher(os.urandom(32), synthetic=True))
        assert out.opened and out.event is None
    c = server.state("alice").counters
    assert c["opened"] == T + 3 and c["recovery_failures"] == c["recovery_attempts"] == 4


@settings(max_examples=10, deadline=None)
@given(real=st.integers(min_value=T, max_value=T + 4), synthetic=st.integers(min_value=0, max_value=2))
def test_recovery_with_synthetic_shares_within_the_proven_bound(world: World, real: int, synthetic: int) -> None:
    """Berlekamp–Welch alone (no search budget) must recover whenever real >= t + synthetic."""
    client, server = _pair(world, search_budget=0)
    vouchers = [client.make_voucher(os.urandom(32), synthetic=True) for _ in range(synthetic)]
    vouchers += [client.make_voucher(world.listed[i]) for i in range(real)]
    events = [server.receive("alice", v).event for v in vouchers]
    recovered = server.state("alice").secret is not None
    if real >= T + synthetic:
        assert recovered
        assert sum(len(e.matches) for e in events if e is not None) == real
    assert not any(e is not None and e.synthetic > synthetic for e in events)


def test_identical_images_give_unlinkable_vouchers(world: World) -> None:
    client, _ = _pair(world)
    a = client.make_voucher(world.listed[0])
    b = client.make_voucher(world.listed[0])
    assert len(a) == len(b)
    chunks = lambda v: {v[i : i + 16] for i in range(27, len(v) - 16, 16)}  # noqa: E731
    assert not chunks(a) & chunks(b)  # no shared 16-byte aligned chunk in the entries or payload


def test_all_vouchers_have_the_same_size(world: World) -> None:
    client, _ = _pair(world)
    sizes = {
        len(client.make_voucher(world.listed[0])),
        len(client.make_voucher(os.urandom(32))),
        len(client.make_voucher(os.urandom(32), synthetic=True, metadata=b"x" * 16)),
    }
    assert sizes == {CFG.voucher_bytes}


def test_replay_duplicate_and_cross_account_replay(world: World) -> None:
    client, server = _pair(world)
    v = client.make_voucher(world.listed[0])
    assert server.receive("alice", v).opened
    with pytest.raises(DuplicateVoucherError):
        server.receive("alice", v)
    # replayed under another account the payload does not authenticate: rejected, never counted as a share
    with pytest.raises(VoucherError, match="authenticate"):
        server.receive("mallory", v)
    assert server.state("alice").counters["rejected_DuplicateVoucherError"] == 1
    assert server.state("mallory").counters["rejected_VoucherError"] == 1


def test_hostile_wire_input_is_rejected_with_specific_errors(world: World) -> None:
    client, server = _pair(world)
    v = bytearray(client.make_voucher(world.listed[0]))
    with pytest.raises(DecodeError):
        server.receive("eve", bytes(v[:-1]))
    with pytest.raises(DecodeError):
        server.receive("eve", b"\x09" + bytes(v[1:]))
    bad_point = bytearray(v)
    bad_point[27 : 27 + 32] = b"\xff" * 32
    with pytest.raises(VoucherError, match="invalid point"):
        server.receive("eve", bytes(bad_point))
    identity = bytearray(v)
    identity[27 + ENTRY_BYTES : 27 + ENTRY_BYTES + 32] = bytes(32)
    with pytest.raises(VoucherError, match="invalid point"):
        server.receive("eve", bytes(identity))
    wrong_table = bytearray(v)
    wrong_table[17:25] = b"\x00" * 8
    with pytest.raises(WrongTableError):
        server.receive("eve", bytes(wrong_table))
    tampered = bytearray(v)
    tampered[-1] ^= 1
    with pytest.raises(VoucherError, match="authenticate"):
        server.receive("eve", bytes(tampered))
    with pytest.raises(VoucherError, match="entries"):
        other_cfg = VoucherConfig(token_count=5, threshold=T, synthetic_probability=0.0, metadata_bytes=16)
        c2, _ = _pair(world, cfg=other_cfg)
        server.receive("eve", c2.make_voucher(world.listed[0]))
    assert sum(v for k, v in server.state("eve").counters.items() if k.startswith("rejected_")) == 7


def test_client_refuses_misconfiguration(world: World) -> None:
    with pytest.raises(VoucherError):
        VoucherConfig(token_count=0)
    with pytest.raises(VoucherError):
        VoucherConfig(synthetic_probability=1.5)
    client, _ = _pair(world)
    with pytest.raises(VoucherError, match="metadata"):
        client.make_voucher(world.listed[0], metadata=b"x" * 17)
    with pytest.raises(ValueError):
        client.make_voucher(b"short")

    class Greedy(ExactTokenScheme):
        def query_tokens(self, pdq_hash, margins):  # type: ignore[no-untyped-def]
            return [os.urandom(16) for _ in range(9)]

    greedy = VoucherClient(world.table, Greedy(), ClientAccount.create("a", T), CFG)
    with pytest.raises(TokenBudgetError):
        greedy.make_voucher(world.listed[0])


def test_synthetic_cap_is_respected(world: World) -> None:
    cfg = VoucherConfig(token_count=4, threshold=T, synthetic_probability=0.9, max_synthetic=2, metadata_bytes=16)
    client, server = _pair(world, cfg=cfg, search_budget=0)
    opened = sum(server.receive("alice", client.make_voucher(os.urandom(32))).opened for _ in range(30))
    assert opened == 2 and client.synthetic_sent == 2


def test_synthetic_and_real_matches_open_the_same_number_of_entries(world: World) -> None:
    """With the exact scheme a real match opens one entry; so does a synthetic voucher (default distribution)."""
    client, server = _pair(world)
    server.receive("alice", client.make_voucher(world.listed[0]))
    server.receive("alice", client.make_voucher(os.urandom(32), synthetic=True))
    assert [s.entries_opened for s in server.state("alice").opened] == [1, 1]


def test_synthetic_flood_is_flagged_and_recovery_work_is_bounded(world: World) -> None:
    cfg = VoucherConfig(token_count=4, threshold=T, synthetic_probability=0.0, max_synthetic=1, metadata_bytes=16)
    client, server = _pair(world, cfg=cfg, search_budget=50)
    flood = 4 * (T + 1) + 6  # beyond the always-attempt window
    for _ in range(flood):
        server.receive("alice", client.make_voucher(os.urandom(32), synthetic=True))
    c = server.state("alice").counters
    assert c["opened"] == flood
    assert c["synthetic_cap_exceeded"] >= 1
    assert c["recovery_skipped"] == 6  # n = 17..22 (no power of two) are skipped once past 4(t + c) = 16
    assert c["recovery_attempts"] + c["recovery_skipped"] == flood - T + 1


def test_account_state_round_trips_through_json(world: World) -> None:
    from blindmatch.privacy.errors import DecodeError
    from blindmatch.privacy.server import AccountState, InMemoryStateStore

    store = InMemoryStateStore()
    client, server = _pair(world, store=store)
    for i in range(T - 1):
        server.receive("alice", client.make_voucher(world.listed[i]))
    server.receive("alice", client.make_voucher(os.urandom(32)))
    # persist, reload into a fresh server, and cross the threshold there
    text = server.state("alice").to_json()
    store2 = InMemoryStateStore()
    store2.save(AccountState.from_json(text))
    _, server2 = _pair(world, store=store2)
    event = server2.receive("alice", client.make_voucher(world.listed[T - 1])).event
    assert event is not None and len(event.matches) == T
    with pytest.raises(DecodeError):
        AccountState.from_json('{"format": 1}')


def test_vouchers_for_an_older_table_version_still_open_after_a_delta(world: World) -> None:
    from blindmatch.privacy.published import apply_delta, encode_delta, make_manifest

    def scenario() -> tuple:
        w = make_world(20)
        base = w.custodian.root
        changes = w.custodian.update(ExactTokenScheme().list_tokens(os.urandom(32)), [], epoch=2)
        return w, base, changes

    w, base, changes = retry_cuckoo(scenario)
    client, server = _pair(w)
    old_id = w.table.root[:8]
    signed = make_manifest(
        w.custodian,
        list_id="test-list",
        list_version=2,
        scheme=ExactTokenScheme(),
        signers=w.keys[:2],
        previous_root=base,
    )
    new_table = apply_delta(w.table, encode_delta(base, signed, changes), w.policy)
    server.accept_table(new_table.root[:8])
    assert server.receive("alice", client.make_voucher(w.listed[0])).opened  # made against the old version
    server.retire_table(old_id)
    with pytest.raises(WrongTableError):
        server.receive("alice", client.make_voucher(w.listed[1]))


def test_rolled_back_table_is_refused(world: World) -> None:
    from blindmatch.privacy.errors import TableVerificationError
    from blindmatch.privacy.published import verify_table

    with pytest.raises(TableVerificationError, match="older"):
        verify_table(world.blob, world.policy, min_list_version=2)


@settings(max_examples=8, deadline=None)
@given(real=st.integers(min_value=0, max_value=T - 1), synthetic=st.integers(min_value=0, max_value=4))
def test_below_threshold_no_inner_layer_decrypts(world: World, real: int, synthetic: int) -> None:
    """Whatever mix of fewer than t real and any synthetic vouchers arrives, nothing is recovered or revealed."""
    client, server = _pair(world, search_budget=300)
    vouchers = [client.make_voucher(world.listed[i]) for i in range(real)]
    vouchers += [client.make_voucher(os.urandom(32), synthetic=True) for _ in range(synthetic)]
    events = [server.receive("alice", v).event for v in vouchers]
    state = server.state("alice")
    assert events == [None] * len(vouchers) and state.secret is None
    assert len(state.opened) == real + synthetic


@settings(max_examples=10, deadline=None)
@given(pdq=st.binary(min_size=32, max_size=32), listed=st.booleans())
def test_vouchers_of_one_image_share_no_bytes_beyond_the_header(world: World, pdq: bytes, listed: bool) -> None:
    client, _ = _pair(world)
    image = world.listed[0] if listed else pdq
    a, b = client.make_voucher(image), client.make_voucher(image)
    assert a[0] == b[0] and a[17:27] == b[17:27]  # version, table id, token count are public constants
    assert a[1:17] != b[1:17]  # fresh voucher ids
    chunks = lambda v: {v[i : i + 16] for i in range(27, len(v) - 16, 16)}  # noqa: E731
    assert not chunks(a) & chunks(b)


def test_three_way_cuckoo_table_end_to_end() -> None:
    """Three hash functions: ~85 % load (half the table bytes), three wraps per token; everything else unchanged."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from blindmatch.privacy.api import build_table, verify_table
    from blindmatch.privacy.audit import audit_package, audit_table

    scheme = ExactTokenScheme()
    listed = [os.urandom(32) for _ in range(60)]
    key = Ed25519PrivateKey.generate()
    built = build_table([h.hex() for h in listed], scheme, list_id="L", list_version=1, signers=[key], cuckoo_ways=3)
    table = verify_table(built.table_bytes, [key.public_key()])
    assert table.manifest.cuckoo_ways == 3 and table.manifest.table_size <= 60 / 0.85 + 1
    audit_table(table, [scheme.list_tokens(h)[0] for h in listed], audit_package(built.custodian))
    cfg = VoucherConfig(token_count=2, threshold=2, synthetic_probability=0.0, metadata_bytes=8, cuckoo_ways=3)
    client = VoucherClient(table, scheme, ClientAccount.create("a", 2), cfg)
    server = VoucherServer(built.custodian.alpha, {table.root[:8]}, cfg, verify=lambda h: True)
    v = client.make_voucher(listed[0])
    # header, 2 entries, payload length, share, inner nonce, count + 1 hash slot + metadata length, metadata, tags
    assert len(v) == cfg.voucher_bytes == 27 + 2 * (32 + 3 * 24) + 2 + 64 + 12 + 35 + 8 + 32
    assert server.receive("a", v).opened
    assert not server.receive("a", client.make_voucher(os.urandom(32))).opened
    assert server.receive("a", client.make_voucher(os.urandom(32), synthetic=True)).opened
    event = server.receive("a", client.make_voucher(listed[1])).event
    assert event is not None and len(event.matches) == 2 and event.synthetic == 1
    with pytest.raises(VoucherError, match="cuckoo"):
        VoucherClient(table, scheme, ClientAccount.create("a", 2), CFG.__class__(threshold=2, cuckoo_ways=2))


def test_server_cannot_tell_which_cuckoo_position_matched() -> None:
    """Wraps are shuffled: over many matching tokens the opening wrap sits at either index about equally often,
    although the table itself places most tokens at their first position.

    The table is built at load 0.3, where the skew is certain (in 300 builds of 40 tokens, 26..39 sat at their
    first position); at the default load 0.85 the random walk spreads tokens out and 4 % of builds had no skew
    left to hide, which made the precondition below flaky."""
    world = make_world(40, load=0.3)
    from blindmatch.privacy.group import Point
    from blindmatch.privacy.kdf import ITEM_KEY_BYTES, wrap_pad
    from blindmatch.privacy.table import cuckoo_positions
    from blindmatch.privacy.wire import WireVoucher

    m = world.table.manifest
    ways = m.cuckoo_ways
    at_first = sum(
        world.custodian.assignment.get(cuckoo_positions(t, m.table_size, m.hash_seed, ways)[0]) == t
        for t in world.tokens
    )
    assert at_first > len(world.tokens) / ways  # the skew the shuffle must hide
    client, _ = _pair(world)
    client._rng = random.Random(1234)  # type: ignore[assignment]  # repeatable: the bound below is a 4e-5 tail
    index_counts = [0] * ways
    trials = 120
    for i in range(trials):
        item = world.listed[i % len(world.listed)]
        v = WireVoucher.decode(client.make_voucher(item), token_count=CFG.token_count, metadata_bytes=16, ways=ways)
        for e in v.entries:
            _, check = wrap_pad(Point.decode_mul(e.q, world.custodian.alpha).raw, v.voucher_id)
            for idx, w in enumerate(e.wraps):
                index_counts[idx] += w[ITEM_KEY_BYTES:] == check
    # uniform over the ways: each index expects 40 of 120 (P(any < 20) is 4e-5 for a random seed); without the
    # shuffle the first index would take about 90
    assert sum(index_counts) == trials and min(index_counts) >= 20, index_counts


def test_epochs_via_account_ids_keep_separate_thresholds(world: World) -> None:
    """Per-epoch polynomials (docs/privacy.md §5): shares of two epochs never combine, vouchers cannot move."""
    cfg = CFG
    old = VoucherClient(world.table, ExactTokenScheme(), ClientAccount.create("bob/2026-10", T), cfg)
    new = VoucherClient(world.table, ExactTokenScheme(), ClientAccount.create("bob/2026-11", T), cfg)
    _, server = _pair(world)
    for i in range(T - 1):
        assert server.receive("bob/2026-10", old.make_voucher(world.listed[i])).event is None
    assert server.receive("bob/2026-11", new.make_voucher(world.listed[T])).event is None
    with pytest.raises(VoucherError, match="authenticate"):
        server.receive("bob/2026-11", old.make_voucher(world.listed[T + 1]))
    assert server.state("bob/2026-10").secret is None and server.state("bob/2026-11").secret is None


def test_a_synthetic_voucher_does_the_group_work_of_a_real_one(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not timed (timing belongs to `bench protocol`): counted. A synthetic voucher that skipped the token entries
    was ~20x cheaper to make, which a network observer could see in the delay before it is sent."""
    calls: list[bytes] = []
    real_entry = VoucherClient._token_entry

    def counting(self: VoucherClient, token: bytes, voucher_id: bytes, item_key: bytes):  # type: ignore[no-untyped-def]
        calls.append(token)
        return real_entry(self, token, voucher_id, item_key)

    monkeypatch.setattr(VoucherClient, "_token_entry", counting)
    client, server = _pair(world)
    image = os.urandom(32)
    client.make_voucher(image)
    real_calls = list(calls)
    calls.clear()
    synthetic = client.make_voucher(image, synthetic=True)
    assert real_calls and calls == real_calls  # the same tokens, the same work
    assert server.receive("alice", synthetic).opened  # and it is still a synthetic voucher: it opens
