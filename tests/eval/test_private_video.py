"""The video private-matching report on the benign sample videos: runs the real protocol for every pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blindmatch.eval.private_video import run_private_video_eval, sampled_rule
from blindmatch.hashing.vpdq import VpdqFrame, VpdqHash
from blindmatch.privacy.client import VoucherConfig
from blindmatch.privacy.tokens import RANKED_VIDEO4_OPEN_COUNTS, default_scheme


@pytest.mark.parametrize("client_fast", [False, True], ids=["exact-client", "fast-client"])
def test_private_video_report_agrees_with_plaintext_vpdq(shared_data: Path, tmp_path: Path, client_fast: bool) -> None:
    """With the messenger's fast client hashing too (list and plaintext verdict stay reference-exact)."""
    data = run_private_video_eval(
        shared_data / "video" / "sample-videos", tmp_path, frames_per_voucher=4, client_fast=client_fast
    )
    assert data["client_fast"] is client_fast
    assert data["videos"] >= 10 and data["pairs"] == data["videos"] ** 2
    # every video matches itself in plaintext, so there are at least as many plaintext matches as videos
    assert data["plaintext_matches"] >= data["videos"]
    assert data["non_matching_verified"] == 0
    assert data["recall_vs_plaintext"] >= 0.95
    for p in data["pair_results"]:
        if p["listed"] == p["query"]:
            assert p["opened"] and p["verified"]
        if p["listed"].split("-")[0] != p["query"].split("-")[0]:  # chair vs pattern vs doorknob: never opens
            assert not p["opened"], p
    if client_fast:  # what the messenger's client does: the distribution synthetic video vouchers mimic
        measured = {int(k): float(v) for k, v in data["verified_open_counts"].items()}
        assert measured == dict(RANKED_VIDEO4_OPEN_COUNTS)
        assert VoucherConfig.for_scheme(default_scheme(), item_hashes=4).synthetic_open_counts_multi == tuple(
            sorted(measured.items())
        )
    saved = json.loads((tmp_path / "private_video.json").read_text())
    assert saved["agreement"] == data["agreement"]
    assert (tmp_path / "private_video.html").stat().st_size > 1000


def test_sampled_rule_needs_half_of_the_sampled_frames() -> None:
    a, b, c, far = "0" * 64, "f" * 64, "0f" * 32, "ff" + "0" * 62
    listed = VpdqHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in enumerate([a, c])))
    assert sampled_rule((a, b), listed)  # 1 of 2 = 50 %
    assert not sampled_rule((a, b, "f" * 63 + "e"), listed)  # 1 of 3 distinct frames
    assert sampled_rule((far,), listed)  # distance 8 from a
    assert not sampled_rule((b,), listed)
