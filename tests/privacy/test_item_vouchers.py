"""Multi-hash items (videos): one voucher per video, any listed frame opens it, it counts once toward the threshold."""

from __future__ import annotations

import os

import pytest

from blindmatch.privacy.client import ClientAccount, TokenBudgetError, VoucherClient, VoucherConfig
from blindmatch.privacy.errors import VoucherError
from blindmatch.privacy.scheme import ExactTokenScheme
from blindmatch.privacy.server import VoucherServer

from .helpers import World, make_world

T = 2
CFG = VoucherConfig(token_count=6, threshold=T, synthetic_probability=0.0, metadata_bytes=16, item_hashes=4)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(30)


def _pair(
    world: World, cfg: VoucherConfig = CFG, many: bool = False
) -> tuple[VoucherClient, VoucherServer, list[tuple[str, ...]]]:
    listed = {h.hex() for h in world.listed}
    seen: list[tuple[str, ...]] = []

    def verify_many(hashes: tuple[str, ...]) -> object:
        seen.append(hashes)
        hits = [h for h in hashes if h in listed]
        return {"frames": hits} if hits else None

    client = VoucherClient(world.table, ExactTokenScheme(), ClientAccount.create("v", cfg.threshold), cfg)
    server = VoucherServer(
        world.custodian.alpha,
        {world.table.root[:8]},
        cfg,
        verify=lambda h: {"pdq": h} if h in listed else None,
        verify_many=verify_many if many else None,
    )
    return client, server, seen


def _frames(world: World, listed_at: int | None, n: int = 4, offset: int = 0) -> list[tuple[bytes, None]]:
    frames: list[tuple[bytes, None]] = [(os.urandom(32), None) for _ in range(n)]
    if listed_at is not None:
        frames[listed_at] = (world.listed[offset], None)
    return frames


def test_video_vouchers_are_exactly_as_large_as_image_vouchers(world: World) -> None:
    client, _, _ = _pair(world)
    image = client.make_voucher(os.urandom(32))
    video = client.make_item_voucher(_frames(world, None))
    one_frame = client.make_item_voucher(_frames(world, None, n=1))
    assert len(image) == len(video) == len(one_frame) == CFG.voucher_bytes


def test_a_listed_frame_anywhere_in_the_video_opens_its_voucher(world: World) -> None:
    for pos in range(4):
        client, server, _ = _pair(world)
        assert server.receive("v", client.make_item_voucher(_frames(world, pos))).opened
    client, server, _ = _pair(world)
    assert not server.receive("v", client.make_item_voucher(_frames(world, None))).opened


def test_a_video_with_several_listed_frames_counts_once(world: World) -> None:
    client, server, _ = _pair(world)
    frames = [(world.listed[i], None) for i in range(4)]  # every frame listed: still one share
    out = server.receive("v", client.make_item_voucher(frames))
    assert out.opened and out.event is None
    assert len(server.state("v").opened) == 1 and server.state("v").secret is None
    out = server.receive("v", client.make_item_voucher(_frames(world, 2, offset=5)))
    assert out.event is not None and len(out.event.matches) == 2  # two videos = two matches at threshold 2
    video = next(m for m in out.event.matches if len(m.item_hashes) == 4 and m.pdq_hex == world.listed[0].hex())
    assert video.item_hashes == tuple(h.hex() for h in world.listed[:4])


def test_the_server_verifies_a_video_as_a_whole_when_given_verify_many(world: World) -> None:
    client, server, seen = _pair(world, many=True)
    frames = _frames(world, 1, offset=7)
    server.receive("v", client.make_item_voucher(frames, metadata=b"video"))
    out = server.receive("v", client.make_item_voucher(_frames(world, 3, offset=8)))
    assert out.event is not None
    assert tuple(h.hex() for h, _ in frames) in seen
    assert {m.metadata for m in out.event.matches} == {b"video", b""}
    assert all(isinstance(m.match, dict) and m.match["frames"] for m in out.event.matches)


def test_item_voucher_limits(world: World) -> None:
    client, _, _ = _pair(world)
    with pytest.raises(VoucherError, match="at least one"):
        client.make_item_voucher([])
    with pytest.raises(VoucherError, match="vouchers hold 4"):
        client.make_item_voucher(_frames(world, None, n=5))
    with pytest.raises(ValueError, match="32 bytes"):
        client.make_item_voucher([(b"short", None)])
    with pytest.raises(VoucherError, match="item_hashes"):
        VoucherConfig(item_hashes=0)
    # the budget is shared: more distinct tokens than fit are cut off, never an error, for several hashes
    small = VoucherConfig(token_count=2, threshold=T, synthetic_probability=0.0, metadata_bytes=16, item_hashes=4)
    c2 = VoucherClient(world.table, ExactTokenScheme(), ClientAccount.create("w", T), small)
    assert len(c2.make_item_voucher(_frames(world, None))) == small.voucher_bytes
    # ... but one hash must fit on its own (the scheme's contract)
    tiny = VoucherConfig(token_count=1, threshold=T, synthetic_probability=0.0, item_hashes=2)

    class Two(ExactTokenScheme):
        def query_tokens(self, pdq_hash: bytes, margins: object) -> list[bytes]:  # type: ignore[override]
            return [b"a" * 32, b"b" * 32]

    c3 = VoucherClient(world.table, Two(), ClientAccount.create("x", T), tiny)
    with pytest.raises(TokenBudgetError):
        c3.make_voucher(os.urandom(32))


def test_config_mismatch_on_hash_slots_is_rejected(world: World) -> None:
    client, _, _ = _pair(world)
    one_slot = VoucherConfig(token_count=6, threshold=T, synthetic_probability=0.0, metadata_bytes=16)
    server = VoucherServer(world.custodian.alpha, {world.table.root[:8]}, one_slot, verify=lambda h: None)
    with pytest.raises(Exception, match="bytes, expected"):
        server.receive("v", client.make_item_voucher(_frames(world, 0)))


def test_synthetic_video_vouchers_open_as_many_entries_as_real_video_matches(world: World) -> None:
    """A real video match opens several entries; a synthetic video voucher must draw from that distribution,
    an image's from the image one, or the number of opened entries would tell them apart below the threshold."""
    from dataclasses import replace

    cfg = replace(
        CFG, synthetic_probability=0.0, synthetic_open_counts=((1, 1.0),), synthetic_open_counts_multi=((5, 1.0),)
    )
    client, server, _ = _pair(world, cfg)
    counts = []
    for _ in range(3):
        voucher = client.make_item_voucher(_frames(world, None), synthetic=True)
        assert server.receive("v", voucher).opened
        counts.append(server.state("v").opened[-1].entries_opened)
    image = client.make_item_voucher([(os.urandom(32), None)], synthetic=True)
    assert server.receive("v", image).opened
    assert counts == [5, 5, 5] and server.state("v").opened[-1].entries_opened == 1
    with pytest.raises(VoucherError, match="synthetic_open_counts_multi"):
        replace(CFG, synthetic_open_counts_multi=((7, 1.0),))  # more than the 6 entries a voucher has
    with pytest.raises(VoucherError, match="some weight > 0"):
        replace(CFG, synthetic_open_counts_multi=((2, 0.0),))
