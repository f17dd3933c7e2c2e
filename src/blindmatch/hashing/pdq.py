"""PDQ perceptual hashing, reimplemented in numpy to agree bit for bit with the reference C++.

PDQ (Meta, 2017) turns an image into 256 bits: luminance, a two-pass Jarosz tent blur (box filters along rows
then columns, twice), decimation to 64×64, a 16×16 corner of the 2-D DCT, and one bit per coefficient saying
whether it is above the median. A quality score (0..100) counts strong gradients in the 64×64 image.

Why bit-exactness matters: hotline lists hold hashes computed by the reference code (its ``pdq-photo-hasher``
tool or the ``pdqhash`` binding of the same C++ core). Two implementations that differ by a bit or two on some
images make distances noisy for no reason. The reference works in float32 with fixed summation orders, so this
module does the same: every reduction is a Python loop along the summed dimension with float32 numpy
operations vectorised across the independent dimension, which reproduces the C++ rounding step by step.

Three ways to turn a decoded image into luminance (see :func:`pdq_from_image`):

* ``exact``: what the reference command-line tool does — images larger than 512 px in either dimension are
  resized to 512×512 by nearest neighbour first (source index ``floor(i * H / 512)``), greyscale images use
  their grey value, colour images the float32 luma formula in the reference's operation order;
* ``full``: the full-resolution pixels, with luminance computed as the ``pdqhash`` binding does (float64 luma
  rounded to float32), so the result equals ``pdqhash.compute`` — the path HMA takes;
* ``fast``: the ``exact`` pipeline applied to an image the caller decoded at reduced size (JPEG DCT scaling,
  ``blindmatch.media.decode_image(min_side=...)``). The hashing is identical to ``exact``; only the decode
  differs, so on small images fast equals exact, and on large JPEGs it deviates by about a bit (see the
  hashing benchmark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal, cast

import numpy as np
import numpy.typing as npt
from PIL import Image

from blindmatch.hashing.signals import InvalidHashError, normalize_hash
from blindmatch.media.errors import MediaError
from blindmatch.media.modes import to_display_image

__all__ = [
    "DIHEDRAL_NAMES",
    "MIN_HASHABLE_DIM",
    "REFERENCE_DOWNSAMPLE_DIM",
    "PdqError",
    "PdqInputError",
    "PdqMode",
    "PdqResult",
    "hamming_distance",
    "image_luma",
    "luma_from_rgb",
    "luma_from_rgb_binding",
    "pdq_dihedral",
    "pdq_dihedral_from_luma",
    "pdq_from_image",
    "pdq_from_luma",
    "pdq_from_rgb",
    "reference_resize_indices",
]

F32 = npt.NDArray[np.float32]
PdqMode = Literal["exact", "full", "fast"]

#: The reference returns an all-zero hash with quality 0 for images smaller than this in either dimension.
MIN_HASHABLE_DIM = 5
#: The reference tool resizes images larger than this (in either dimension) to this size squared.
REFERENCE_DOWNSAMPLE_DIM = 512
#: Names of the eight dihedral hashes, in the reference's order.
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "transpose",
    "transverse",
)

_NUM_JAROSZ_PASSES = 2
_LUMA_R = np.float32(0.299)
_LUMA_G = np.float32(0.587)
_LUMA_B = np.float32(0.114)
_EMPTY_HASH = "0" * 64
#: Largest accepted |luminance|: keeps every float32 running sum and DCT accumulation finite.
_MAX_LUMA = 1e30


class PdqError(ValueError):
    """Base class of PDQ hashing errors."""


class PdqInputError(PdqError):
    """The array handed to the hasher is not a hashable image (wrong shape, dtype, or non-finite values)."""


def _dct_matrix() -> F32:
    """The 16×64 DCT-II basis rows 1..16, built like the reference: a float32 scale times a double cosine."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    return (scale * np.cos(((math.pi / 2.0 / 64.0) * i) * (2.0 * j + 1.0))).astype(np.float32)


_DCT = _dct_matrix()
_DCT_COLS = [np.ascontiguousarray(_DCT[:, k : k + 1]) for k in range(64)]  # (16, 1) column k
_DCT_ROWS = [np.ascontiguousarray(_DCT[:, k][None, :]) for k in range(64)]  # (1, 16) column k as a row


@dataclass(frozen=True)
class PdqResult:
    """One PDQ hash with what produced it.

    ``coefficients`` is the 16×16 DCT output, row-major: bit ``k`` of the hash is ``coefficients.flat[k] >
    median``. The hex form is the reference's: bit ``k`` is bit ``k`` of the 256-bit big-endian number the hex
    spells.
    """

    hash: str
    quality: int
    coefficients: F32
    median: float

    @cached_property
    def bits(self) -> npt.NDArray[np.uint8]:
        """``bits[k] = 1`` iff ``coefficients.flat[k] > median`` (the reference rule)."""
        return (self.coefficients.reshape(-1) > np.float32(self.median)).astype(np.uint8)

    @cached_property
    def margins(self) -> F32:
        """``|coefficients.flat[k] - median|``: how far each coefficient is from flipping its bit."""
        diff = self.coefficients.reshape(-1) - np.float32(self.median)
        return cast(F32, np.abs(diff).astype(np.float32))

    @property
    def hash_bytes(self) -> bytes:
        """The hash as 32 bytes (the hex form decoded)."""
        return bytes.fromhex(self.hash)

    @property
    def low_quality(self) -> bool:
        """Quality below 50: the reference advice is to discard such hashes when matching."""
        return self.quality < 50


# ------------------------------------------------------------------------------------------------------------
# Luminance


def _check_rgb(rgb: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    if not isinstance(rgb, np.ndarray):
        raise PdqInputError(f"expected a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise PdqInputError(f"RGB pixels must be uint8, got {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise PdqInputError(f"RGB pixels must have shape (H, W, 3), got {rgb.shape}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise PdqInputError(f"image has no pixels: shape {rgb.shape}")
    return cast(npt.NDArray[np.uint8], rgb)


def luma_from_rgb(rgb: npt.NDArray[np.uint8]) -> F32:
    """Luminance as the reference C++ computes it: float32 ``0.299 R + 0.587 G + 0.114 B``, left to right."""
    rgb = _check_rgb(rgb)
    # uint8 -> float32 is exact, so casting inside the multiply gives the C++ ``float * uint8`` product.
    y = np.multiply(rgb[:, :, 0], _LUMA_R, dtype=np.float32)
    y += np.multiply(rgb[:, :, 1], _LUMA_G, dtype=np.float32)
    y += np.multiply(rgb[:, :, 2], _LUMA_B, dtype=np.float32)
    return y


def luma_from_rgb_binding(rgb: npt.NDArray[np.uint8]) -> F32:
    """Luminance as the ``pdqhash`` binding computes it: the same formula in float64, rounded to float32.

    It differs from :func:`luma_from_rgb` in the last float32 bit for some pixels, which can flip a weak hash
    bit; using it in ``full`` mode makes our hashes equal to ``pdqhash.compute`` on the same pixels.
    """
    rgb = _check_rgb(rgb)
    y = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    return cast(F32, y.astype(np.float32))


# ------------------------------------------------------------------------------------------------------------
# Jarosz tent filter and decimation


def _window_size(old_dim: int, new_dim: int) -> int:
    """Box window per pass: half of old/new, rounded up (two passes then cover a full output cell)."""
    return (old_dim + 2 * new_dim - 1) // (2 * new_dim)


def _box_axis0(x: F32, window: int) -> F32:
    """Running-mean box filter down axis 0, in the reference's four phases and float32 operation order.

    The window is centred (``(window + 2) // 2`` samples ahead); near the ends it shrinks and the divisor
    follows. The running sum is updated by one add and one subtract per step, exactly as the C++ does, so
    rounding matches. Each running sum is written into the output row and all rows are divided by their window
    counts at the end (the same float32 division the C++ does per element, done in one call).
    """
    n = x.shape[0]
    half = (window + 2) // 2
    out = np.empty_like(x)
    rows = list(x)
    outs = list(out)
    running = np.zeros(x.shape[1:], dtype=np.float32)
    for row in rows[: half - 1]:  # phase 1: accumulate, no output yet
        running = running + row
    o = 0
    for row in rows[half - 1 : window]:  # phase 2: growing window
        np.add(running, row, out=outs[o])
        running = outs[o]
        o += 1
    for add, sub in zip(rows[window:], rows[: n - window], strict=True):  # phase 3: full window
        dst = outs[o]
        np.add(running, add, out=dst)
        np.subtract(dst, sub, out=dst)
        running = dst
        o += 1
    for sub in rows[n - window : n - window + half - 1]:  # phase 4: shrinking window
        np.subtract(running, sub, out=outs[o])
        running = outs[o]
        o += 1
    counts = np.concatenate(
        [np.arange(half, window + 1), np.full(max(n - window, 0), window), window - 1 - np.arange(half - 1)]
    ).astype(np.float32)
    out /= counts.reshape((-1,) + (1,) * (x.ndim - 1))
    return out


def _decimation_indices(in_dim: int, out_dim: int = 64) -> npt.NDArray[np.intp]:
    """Sample the centre of each output cell: ``int((i + 0.5) * in / out)`` in double precision."""
    return np.array([int(((i + 0.5) * in_dim) / out_dim) for i in range(out_dim)], dtype=np.intp)


def _blur_and_decimate(luma: F32) -> F32:
    """Two Jarosz passes (rows, columns, rows, columns) then 64×64 centre sampling.

    Each box pass runs along axis 0 of a contiguous array (transposing between passes) so that the sequential
    loop is over rows and every numpy operation is a contiguous vector. The last column pass only needs the 64
    sampled columns, since columns are filtered independently.
    """
    rows, cols = luma.shape
    w_rows = _window_size(cols, 64)  # window along each row
    w_cols = _window_size(rows, 64)  # window along each column
    row_idx = _decimation_indices(rows)
    col_idx = _decimation_indices(cols)
    t = np.ascontiguousarray(luma.T)  # (cols, rows)
    t = _box_axis0(t, w_rows)  # rows filtered; layout (cols, rows)
    x = _box_axis0(np.ascontiguousarray(t.T), w_cols)  # columns filtered; layout (rows, cols)
    t = _box_axis0(np.ascontiguousarray(x.T), w_rows)  # rows filtered again; layout (cols, rows)
    x = _box_axis0(np.ascontiguousarray(t[col_idx].T), w_cols)  # only the sampled columns; (rows, 64)
    return np.ascontiguousarray(x[row_idx])


# ------------------------------------------------------------------------------------------------------------
# Quality, DCT, median, bits


def _quality(block: F32) -> int:
    """Image-domain quality: sum of truncated gradient percentages over the 64×64 block, divided by 90, cap
    100."""
    total = 0
    for diff in (block[:-1, :] - block[1:, :], block[:, :-1] - block[:, 1:]):
        d = diff * np.float32(100)
        d /= np.float32(255)
        total += int(np.abs(d.astype(np.int64)).sum())
    return min(total // 90, 100)


def _dct16(block: F32) -> F32:
    """``D · A · Dᵀ`` keeping only rows/cols 1..16, summed in float32 in the reference's k order."""
    tmp = np.zeros((16, 64), dtype=np.float32)
    for k in range(64):
        tmp += _DCT_COLS[k] * block[k : k + 1, :]
    out = np.zeros((16, 16), dtype=np.float32)
    for k in range(64):
        out += tmp[:, k : k + 1] * _DCT_ROWS[k]
    return out


def _median(values: F32) -> np.float32:
    """The reference's Torben median of 256 values: always the 128th smallest (lower median)."""
    flat = values.reshape(-1)
    return np.float32(np.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2])


def _hex_from_bits(bits: npt.NDArray[np.uint8]) -> str:
    """Bit k is bit k of the big-endian 256-bit number, i.e. the reference's word-15-first ``%04hx``
    output."""
    return np.packbits(bits[::-1]).tobytes().hex()


def _result_from_coefficients(coefficients: F32, quality: int) -> PdqResult:
    if not np.all(np.isfinite(coefficients)):
        raise PdqInputError("luminance values overflow float32 arithmetic; expected values of ordinary size")
    median = _median(coefficients)
    bits = (coefficients.reshape(-1) > median).astype(np.uint8)
    return PdqResult(_hex_from_bits(bits), quality, coefficients, float(median))


def _empty_result() -> PdqResult:
    return PdqResult(_EMPTY_HASH, 0, np.zeros((16, 16), dtype=np.float32), 0.0)


def _check_luma(luma: npt.NDArray[np.generic]) -> F32:
    if not isinstance(luma, np.ndarray):
        raise PdqInputError(f"expected a numpy array, got {type(luma).__name__}")
    if luma.ndim != 2:
        raise PdqInputError(f"luminance must be 2-D (H, W), got shape {luma.shape}")
    if luma.shape[0] == 0 or luma.shape[1] == 0:
        raise PdqInputError(f"image has no pixels: shape {luma.shape}")
    if luma.dtype != np.float32:
        if not (np.issubdtype(luma.dtype, np.floating) or np.issubdtype(luma.dtype, np.integer)):
            raise PdqInputError(f"luminance must be numeric, got {luma.dtype}")
        luma = luma.astype(np.float32)
    if not np.all(np.isfinite(luma)):
        raise PdqInputError("luminance contains NaN or infinite values")
    peak = float(np.abs(luma).max())
    if peak > _MAX_LUMA:
        raise PdqInputError(f"luminance values too large (|v| up to {peak:.3g}); float32 sums would overflow")
    return np.ascontiguousarray(luma)


def _block64(luma: F32, *, shortcut_64: bool) -> F32:
    if shortcut_64 and luma.shape == (64, 64):
        return luma.copy()  # the reference takes a 64×64 input as already downsampled
    return _blur_and_decimate(luma)


def pdq_from_luma(luma: npt.NDArray[np.generic]) -> PdqResult:
    """PDQ of a 2-D luminance array (float32, or anything numeric converted to float32).

    Like the reference, images smaller than 5 px in either dimension get an all-zero hash with quality 0
    (their coefficients are reported as zeros), and a 64×64 input is taken as already downsampled (no blur).
    """
    y = _check_luma(luma)
    if y.shape[0] < MIN_HASHABLE_DIM or y.shape[1] < MIN_HASHABLE_DIM:
        return _empty_result()
    block = _block64(y, shortcut_64=True)
    return _result_from_coefficients(_dct16(block), _quality(block))


def pdq_from_rgb(rgb: npt.NDArray[np.uint8]) -> PdqResult:
    """PDQ of full-resolution uint8 RGB pixels with the reference C++ luminance (float32 arithmetic)."""
    return pdq_from_luma(luma_from_rgb(rgb))


# ------------------------------------------------------------------------------------------------------------
# Dihedral variants, computed from one DCT as the reference does


def _signs(parity_of: Literal["row", "col", "sum"]) -> F32:
    i = np.arange(16)[:, None]
    j = np.arange(16)[None, :]
    if parity_of == "row":
        odd = np.broadcast_to(i % 2 == 1, (16, 16))
        return np.where(odd, 1, -1).astype(np.float32)
    if parity_of == "col":
        odd = np.broadcast_to(j % 2 == 1, (16, 16))
        return np.where(odd, 1, -1).astype(np.float32)
    return np.where((i + j) % 2 == 1, -1, 1).astype(np.float32)


_ROW_SIGNS = _signs("row")
_COL_SIGNS = _signs("col")
_SUM_SIGNS = _signs("sum")


def _dihedral_coefficients(a: F32) -> list[F32]:
    """The DCT of each rotation/flip of the image, obtained from the original DCT by sign changes and
    transposes."""
    return [
        a,
        np.ascontiguousarray((a * _COL_SIGNS).T),  # rotate 90
        a * _SUM_SIGNS,  # rotate 180
        np.ascontiguousarray((a * _ROW_SIGNS).T),  # rotate 270
        a * _ROW_SIGNS,  # flip x
        a * _COL_SIGNS,  # flip y
        np.ascontiguousarray(a.T),  # transpose (flip about the main diagonal)
        np.ascontiguousarray((a * _SUM_SIGNS).T),  # transverse (flip about the anti-diagonal)
    ]


def pdq_dihedral_from_luma(luma: npt.NDArray[np.generic]) -> list[PdqResult]:
    """The eight dihedral PDQ results (see :data:`DIHEDRAL_NAMES`) of a luminance array.

    Matches the reference's dihedral entry point, which always blurs — even a 64×64 input, unlike the plain
    path.
    """
    y = _check_luma(luma)
    if y.shape[0] < MIN_HASHABLE_DIM or y.shape[1] < MIN_HASHABLE_DIM:
        return [_empty_result() for _ in DIHEDRAL_NAMES]
    block = _block64(y, shortcut_64=False)
    quality = _quality(block)
    return [_result_from_coefficients(c, quality) for c in _dihedral_coefficients(_dct16(block))]


# ------------------------------------------------------------------------------------------------------------
# From a decoded Pillow image


def reference_resize_indices(size: int, target: int = REFERENCE_DOWNSAMPLE_DIM) -> npt.NDArray[np.intp]:
    """Nearest-neighbour source indices of the reference tool's resize: ``floor(i * size / target)``."""
    return (np.arange(target, dtype=np.int64) * size // target).astype(np.intp)


def _exact_luma(img: Image.Image) -> F32:
    """Luminance exactly as the reference tool builds it from decoded pixels (resize first, then luma)."""
    grey = img.mode == "L"
    pixels = np.asarray(img)
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise PdqInputError(f"image has no pixels: {width}x{height}")
    if height > REFERENCE_DOWNSAMPLE_DIM or width > REFERENCE_DOWNSAMPLE_DIM:
        rows = reference_resize_indices(height)
        cols = reference_resize_indices(width)
        pixels = pixels[rows[:, None], cols[None, :]]
    if grey:
        return pixels.astype(np.float32)
    return luma_from_rgb(np.ascontiguousarray(pixels))


def _binding_luma(img: Image.Image) -> F32:
    pixels = np.asarray(img)
    if pixels.size == 0:
        raise PdqInputError(f"image has no pixels: {img.width}x{img.height}")
    if img.mode == "L":
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return luma_from_rgb_binding(pixels)


def image_luma(img: Image.Image, mode: PdqMode = "exact") -> F32:
    """The luminance array ``mode`` hashes (see the module docstring).

    Images in other pixel modes than 'RGB'/'L' are first converted to what a person sees
    (:func:`blindmatch.media.to_display_image`: alpha on white, CMYK/LAB/HSV converted, wide grey scaled).
    """
    if mode not in ("exact", "fast", "full"):
        raise PdqInputError(f"unknown PDQ mode {mode!r} (expected 'exact', 'full' or 'fast')")
    if img.mode not in ("RGB", "L"):
        try:
            img = to_display_image(img)
        except MediaError as exc:
            raise PdqInputError(str(exc)) from exc
    if mode in ("exact", "fast"):
        return _exact_luma(img)
    if mode == "full":
        return _binding_luma(img)
    raise PdqInputError(f"unknown PDQ mode {mode!r} (expected 'exact', 'full' or 'fast')")


def pdq_from_image(img: Image.Image, mode: PdqMode = "exact") -> PdqResult:
    """PDQ of a decoded 'RGB' or 'L' Pillow image.

    ``exact`` reproduces the reference ``pdq-photo-hasher`` on the same pixels, ``full`` reproduces
    ``pdqhash.compute`` on the full-resolution pixels, ``fast`` is the ``exact`` pipeline on whatever
    (reduced) size the caller decoded. Colour-mode conversion and EXIF orientation are the decoder's job
    (``blindmatch.media``).
    """
    return pdq_from_luma(image_luma(img, mode))


def pdq_dihedral(source: Image.Image | npt.NDArray[np.generic], mode: PdqMode = "exact") -> list[str]:
    """The eight dihedral hashes in the reference's order: original, rotate90, rotate180, rotate270, flipx,
    flipy, transpose (flip about the main diagonal), transverse (about the anti-diagonal).

    ``source`` is a decoded image (hashed per ``mode``), a uint8 (H, W, 3) RGB array (reference luma), or a
    2-D luminance array.
    """
    luma: npt.NDArray[np.generic]
    if isinstance(source, Image.Image):
        luma = image_luma(source, mode)
    elif isinstance(source, np.ndarray) and source.ndim == 3:
        luma = luma_from_rgb(_check_rgb(source))
    else:
        luma = source
    return [r.hash for r in pdq_dihedral_from_luma(luma)]


def hamming_distance(a: str, b: str) -> int:
    """Number of differing bits between two PDQ hashes (hex strings, validated)."""
    try:
        x = normalize_hash("pdq", a)
        y = normalize_hash("pdq", b)
    except InvalidHashError:
        raise
    return (int(x, 16) ^ int(y, 16)).bit_count()
