"""The token-scheme evaluator on a small slice of the benign data set (real images, real PDQ, real edits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blindmatch.eval.transforms import get_transform
from blindmatch.privacy.token_eval import (
    EvalInputError,
    coefficients_to_pdq,
    evaluate_scheme,
    hash_directory,
    project_pdq_hasher,
    summary_row,
)
from blindmatch.privacy.tokens import baseline_scheme, default_scheme, hash_to_bits


def _slice(src: Path, dst: Path, n: int) -> Path:
    """A directory of symlinks to the first ``n`` images of ``src`` (the data itself is never copied)."""
    dst.mkdir()
    for p in sorted(src.iterdir())[:n]:
        (dst / p.name).symlink_to(p)
    return dst


@pytest.fixture(scope="module")
def small_sets(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("tokens")
    listed = _slice(shared_data / "images" / "listed", root / "listed", 12)
    innocent = _slice(shared_data / "images" / "innocent", root / "innocent", 40)
    return listed, innocent, root / "cache"


def test_evaluate_default_scheme_on_real_images(small_sets: tuple[Path, Path, Path]) -> None:
    listed, innocent, cache = small_sets
    transforms = [get_transform("jpeg_50"), get_transform("resize_2"), get_transform("greyscale")]
    r = evaluate_scheme(
        default_scheme(),
        listed,
        innocent,
        transforms=transforms,
        cache_dir=cache,
        short_ks=(8, 10, 12),
        synthetic_entries=3000,
        synthetic_queries=100,
    )
    fam = r["per_family"]
    assert isinstance(fam, dict)
    # mild edits: every plaintext match is also a token match on these images
    for name in ("jpeg", "resize", "colour"):
        assert fam[name]["plaintext_matches"] >= 10
        assert fam[name]["relative_recall"] >= 0.9, (name, fam[name])
    leak = r["leak"]
    assert isinstance(leak, dict)
    assert leak["measured"]["images_with_hit"] == 0
    kx = leak["k_extrapolated"]
    # correlated real bits carry less than one bit each, but not much less
    assert 0.5 < kx["bits_per_subset_bit"] < 1.2, kx
    assert leak["synthetic"]["entries"] == 3000
    assert r["tokens_per_image"]["max"] == default_scheme().budget
    assert r["table_bytes_per_entry"] <= 100
    assert r["voucher_bytes_per_image"]["max"] <= 8 * 1024
    row = summary_row(r)
    assert row["jpeg"] == round(fam["jpeg"]["relative_recall"], 3) and row["leak_measured_images"] == 0


def test_hash_cache_round_trips(small_sets: tuple[Path, Path, Path]) -> None:
    listed, _, cache = small_sets
    a = hash_directory(listed, transform=get_transform("jpeg_50"), cache_dir=cache)
    b = hash_directory(listed, transform=get_transform("jpeg_50"), cache_dir=cache)
    assert a.names == b.names and np.array_equal(a.coefficients, b.coefficients)
    # bits agree with the project's PDQ hex for the original images
    from PIL import Image

    from blindmatch.hashing.pdq import pdq_from_image

    orig = hash_directory(listed, cache_dir=cache)
    with Image.open(listed / orig.names[0]) as im:
        ref = pdq_from_image(im.convert("RGB"), "exact")
    assert orig.hashes()[0] == bytes.fromhex(ref.hash)
    assert np.array_equal(hash_to_bits(orig.hashes()[0]), ref.bits)


def test_baseline_is_evaluable_and_project_hasher_gives_coefficients(small_sets: tuple[Path, Path, Path]) -> None:
    listed, innocent, cache = small_sets
    r = evaluate_scheme(
        baseline_scheme(), listed, innocent, transforms=[get_transform("jpeg_50")], cache_dir=cache, short_ks=()
    )
    assert r["tokens_per_image"]["mean"] == 128
    from PIL import Image

    c, q = project_pdq_hasher(Image.new("RGB", (64, 64), (10, 20, 30)))
    assert c.shape == (256,) and isinstance(q, int)


def test_evaluator_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(EvalInputError):
        evaluate_scheme(default_scheme(), tmp_path / "nope", tmp_path, transforms=[get_transform("jpeg_50")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalInputError):
        hash_directory(tmp_path / "empty")
    with pytest.raises(EvalInputError):
        evaluate_scheme(default_scheme(), tmp_path, tmp_path, transforms=[])
    with pytest.raises(EvalInputError):
        coefficients_to_pdq(np.full(256, np.inf))
    with pytest.raises(EvalInputError):
        summary_row({"per_family": []})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(EvalInputError, match="cannot decode"):
        hash_directory(tmp_path / "broken")
