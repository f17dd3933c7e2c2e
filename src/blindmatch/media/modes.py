"""Convert any Pillow pixel mode to the image a person sees: 'RGB', or 'L' for greyscale.

Hashing raw channels of a non-RGB image (CMYK ink amounts, HSV hue angles, LAB lightness, 16-bit samples) as
if they were RGB gives a hash of something nobody sees, which then silently fails to match. Each mode is
therefore converted by its meaning: transparency is composited on white (how viewers and messengers show it),
colour spaces are converted, and high-bit-depth or float greyscale is scaled to 0..255.

Greyscale stays 'L' on purpose: the reference hasher takes a grey image's value directly as luminance, which
is not bit-identical to running grey through the RGB luma formula in float32.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from blindmatch.media.errors import UnsupportedFormatError

__all__ = ["to_display_image"]

_COLOUR_CONVERTIBLE = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "RGBX"})
_INTEGER_GREY = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


def _on_white(rgba: Image.Image) -> Image.Image:
    """Composite an 'RGBA' image on an opaque white background."""
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _grey_on_white(la: Image.Image) -> Image.Image:
    """Composite an 'LA' image on white, keeping it greyscale (same arithmetic as Pillow's
    alpha_composite)."""
    arr = np.asarray(la, dtype=np.uint16)
    value, alpha = arr[:, :, 0], arr[:, :, 1]
    out = (value * alpha + 255 * (255 - alpha) + 127) // 255
    return Image.fromarray(out.astype(np.uint8), "L")


def _scale_to_uint8(values: npt.NDArray[np.float64], *, unit_range: bool) -> Image.Image:
    """Map greyscale samples to 0..255 by the range they evidently use.

    Data already within 0..255 is kept (8-bit data stored in a wide mode), 0..1 floats are scaled by 255,
    0..65535 integers by 1/257 (the standard 16-bit to 8-bit mapping), and anything else is stretched from its
    minimum to its maximum. NaN becomes 0.
    """
    v = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if unit_range and lo >= 0.0 and hi <= 1.0:
        v = v * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        pass
    elif lo >= 0.0 and hi <= 65535.0:
        v = v / 257.0
    elif hi > lo:
        v = (v - lo) * (255.0 / (hi - lo))
    else:
        v = np.zeros_like(v)
    return Image.fromarray(np.clip(np.rint(v), 0, 255).astype(np.uint8), "L")


def to_display_image(img: Image.Image) -> Image.Image:
    """Return ``img`` as 'RGB' or 'L' pixels showing what a viewer would display.

    Raises :class:`UnsupportedFormatError` for a pixel mode with no sensible visual meaning here.
    """
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        if "transparency" in img.info:
            return _on_white(img.convert("RGBA"))
        return img.convert("RGB")
    if mode == "PA":
        return _on_white(img.convert("RGBA"))
    if mode == "RGBA":
        return _on_white(img)
    if mode == "RGBa":
        return _on_white(img.convert("RGBA"))
    if mode == "LA":
        return _grey_on_white(img)
    if mode == "La":
        arr = np.asarray(img, dtype=np.float64)
        alpha = arr[:, :, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(alpha > 0, np.minimum(arr[:, :, 0] * 255.0 / alpha, 255.0), 0.0)
        la = np.stack([np.rint(value), alpha], axis=2).astype(np.uint8)
        return _grey_on_white(Image.fromarray(la, "LA"))
    if mode in _COLOUR_CONVERTIBLE:
        return img.convert("RGB")
    if mode in _INTEGER_GREY:
        return _scale_to_uint8(np.asarray(img, dtype=np.float64), unit_range=False)
    if mode == "F":
        return _scale_to_uint8(np.asarray(img, dtype=np.float64), unit_range=True)
    raise UnsupportedFormatError(f"unsupported pixel mode {mode!r}")
