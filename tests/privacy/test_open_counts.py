"""Synthetic vouchers must open as many entries as real matches do, or the server can tell them apart.

The default scheme's distribution is a measured constant (``RANKED_OPEN_COUNTS``); this test measures it again on
edited copies of benign listed images and checks the constant still describes real matches, and that the config
deployments are told to use carries it.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from blindmatch.eval.transforms import apply_seeded
from blindmatch.hashing.pdq import pdq_from_image
from blindmatch.privacy.bench import measure_open_counts
from blindmatch.privacy.client import VoucherConfig
from blindmatch.privacy.scheme import ExactTokenScheme
from blindmatch.privacy.tokens import RANKED_OPEN_COUNTS, default_scheme

EDITS = ("jpeg_50", "resize_0.5", "blur_2", "noise_gaussian_10", "brightness_0.7")


def test_config_for_default_scheme_mimics_real_open_counts() -> None:
    cfg = VoucherConfig.for_scheme(default_scheme())
    assert cfg.token_count == 64
    assert cfg.synthetic_open_counts == RANKED_OPEN_COUNTS
    plain = VoucherConfig.for_scheme(ExactTokenScheme())
    assert plain.synthetic_open_counts == ((1, 1.0),)
    assert VoucherConfig.for_scheme(default_scheme(), threshold=3).threshold == 3


def test_measured_open_counts_match_the_constant(shared_data: Path) -> None:
    scheme = default_scheme()
    triples = []
    for path in sorted((shared_data / "images" / "listed").glob("*.jpg"))[::8]:
        img = Image.open(path).convert("RGB")
        original = pdq_from_image(img)
        for edit in EDITS:
            copy = pdq_from_image(apply_seeded(edit, img, seed=0))
            if (int(original.hash, 16) ^ int(copy.hash, 16)).bit_count() <= 31:
                triples.append((original.hash_bytes, copy.hash_bytes, copy.margins))
    hist = measure_open_counts(scheme, triples)
    opened = {c: n for c, n in hist.items() if c > 0}
    total = sum(opened.values())
    assert total >= 100  # enough matching copies for the comparison to mean something
    assert set(opened) <= {c for c, _ in RANKED_OPEN_COUNTS}
    for count, weight in RANKED_OPEN_COUNTS:
        assert abs(opened.get(count, 0) / total - weight) < 0.12, (hist, RANKED_OPEN_COUNTS)
