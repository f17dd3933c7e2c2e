"""The transform registry: complete, deterministic, seeded, and faithful to its parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blindmatch.eval.errors import EvalError, UnknownTransformError
from blindmatch.eval.transforms import FAMILIES, apply_seeded, get_transform, list_transforms, transform_names


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(7)
    # A smooth gradient with structure, so that edits change pixels measurably.
    y, x = np.mgrid[0:120, 0:180]
    arr = np.stack([x * 255 / 180, y * 255 / 120, (x + y) % 256], axis=-1) + rng.normal(0, 3, (120, 180, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def test_every_family_is_populated_and_names_unique() -> None:
    names = transform_names()
    assert len(names) == len(set(names))
    assert {t.family for t in list_transforms()} == set(FAMILIES)
    for required in (
        "jpeg_95",
        "jpeg_10",
        "webp_80",
        "png",
        "resize_0.25",
        "resize_2",
        "crop_centre_20",
        "crop_offcentre_2",
        "letterbox_20",
        "rotate_cw_15",
        "rotate_270",
        "flip_vertical",
        "greyscale",
        "hue_30",
        "blur_4",
        "sharpen",
        "noise_gaussian_10",
        "caption",
        "logo_watermark",
        "emoji_3",
        "meme",
        "screenshot_phone",
        "screenshot_browser",
        "chain_crop10_resize0.5_jpeg50",
    ):
        assert required in names


def test_all_transforms_are_deterministic_and_do_not_mutate(photo: Image.Image) -> None:
    before = photo.tobytes()
    for t in list_transforms():
        a = apply_seeded(t, photo, seed=3)
        b = apply_seeded(t.name, photo, seed=3)
        assert a.mode == "RGB"
        assert a.size == b.size and a.tobytes() == b.tobytes(), t.name
    assert photo.tobytes() == before


def test_seed_changes_random_transforms_only(photo: Image.Image) -> None:
    noisy = [apply_seeded("noise_gaussian_10", photo, seed=s).tobytes() for s in (0, 1)]
    assert noisy[0] != noisy[1]
    flips = [apply_seeded("flip_horizontal", photo, seed=s).tobytes() for s in (0, 1)]
    assert flips[0] == flips[1]


def test_geometry_follows_params(photo: Image.Image) -> None:
    w, h = photo.size
    assert apply_seeded("resize_0.5", photo).size == (90, 60)
    assert apply_seeded("rotate_90", photo).size == (h, w)
    assert apply_seeded("crop_centre_10", photo).size == (w - 18, h - 12)
    assert apply_seeded("letterbox_10", photo).size == (w, h + 24)
    assert apply_seeded("pad_20", photo).size == (w + 72, h + 48)
    flipped = np.asarray(apply_seeded("flip_horizontal", photo))
    assert np.array_equal(flipped, np.asarray(photo)[:, ::-1])
    assert np.array_equal(np.asarray(apply_seeded("png", photo)), np.asarray(photo))  # lossless


def test_lossy_encoders_lose_more_at_lower_quality(photo: Image.Image) -> None:
    ref = np.asarray(photo, dtype=np.float64)

    def err(name: str) -> float:
        return float(np.abs(np.asarray(apply_seeded(name, photo), dtype=np.float64) - ref).mean())

    assert 0 < err("jpeg_95") < err("jpeg_50") < err("jpeg_10")
    assert err("webp_80") < err("webp_50")


def test_overlays_change_only_part_of_the_image(photo: Image.Image) -> None:
    ref = np.asarray(photo)
    for name in ("caption", "logo_watermark", "emoji_1"):
        changed = (np.asarray(apply_seeded(name, photo)) != ref).any(axis=-1).mean()
        assert 0.0 < changed < 0.5, name


def test_transforms_accept_non_rgb_input(photo: Image.Image) -> None:
    for mode in ("L", "RGBA", "P", "CMYK"):
        out = apply_seeded("jpeg_75", photo.convert(mode))
        assert out.mode == "RGB"


def test_unknown_names_raise_specific_error() -> None:
    with pytest.raises(UnknownTransformError, match="unknown transform 'jpeg_1'"):
        get_transform("jpeg_1")
    with pytest.raises(EvalError, match="family"):
        list_transforms(families=["teleport"])
    assert [t.name for t in list_transforms(families=["flip"])] == ["flip_horizontal", "flip_vertical"]


def test_real_photo_smoke(shared_data: Path) -> None:
    path = sorted((shared_data / "images" / "listed").glob("kodak-*"))[0]
    with Image.open(path) as im:
        img = im.convert("RGB")
    out = apply_seeded("chain_crop10_resize0.5_jpeg50", img)
    assert out.size == (round(round(img.width * 0.9) * 0.5), round(round(img.height * 0.9) * 0.5))
