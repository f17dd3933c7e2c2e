"""A registry of named, seeded, deterministic image transforms for robustness and false-positive studies.

Why a registry: a robustness number ("JPEG 50 recall is 0.98") is only worth something if anyone can rerun
it and get the same images. Each :class:`Transform` therefore has a stable ``name``, a ``family`` used to
summarise results, explicit ``params`` (encoder, quality, interpolation, fill colour... are spelled out,
never left to a library default that could change) and an ``apply(img, rng)`` that takes all its randomness
from the numpy ``Generator`` it is given. :func:`apply_seeded` derives that generator from a seed and the
transform name, so the same (image, transform, seed) always yields the same pixels, and two transforms never
share a random stream.

Transforms are always applied to the ORIGINAL decoded image (never to the output of another transform), except
inside an explicit ``chain`` transform, whose steps are listed in its params.

Text uses Pillow's built-in default font (``ImageFont.load_default(size=...)``), shapes are drawn with
``ImageDraw``: nothing is downloaded and no emoji font is needed.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from blindmatch.eval.errors import UnknownTransformError

__all__ = [
    "FAMILIES",
    "ParamValue",
    "Transform",
    "apply_seeded",
    "get_transform",
    "list_transforms",
    "transform_names",
    "transform_rng",
]

ParamValue = int | float | str | bool
TransformFn = Callable[[Image.Image, np.random.Generator], Image.Image]

#: Families in report order. Every transform belongs to exactly one.
FAMILIES: tuple[str, ...] = (
    "jpeg",
    "format",
    "resize",
    "crop",
    "pad",
    "rotate_small",
    "rotate_90",
    "flip",
    "colour",
    "blur",
    "noise",
    "overlay",
    "layout",
    "chain",
)

_CAPTION_WORDS = (
    "holiday",
    "weekend",
    "look at this",
    "so nice",
    "good morning",
    "best day",
    "new photo",
    "throwback",
)


@dataclass(frozen=True)
class Transform:
    """One named image edit. ``apply`` is pure given its ``rng``; see :func:`apply_seeded`."""

    name: str
    family: str
    params: Mapping[str, ParamValue] = field(compare=False, hash=False)
    fn: TransformFn = field(compare=False, hash=False, repr=False)

    def apply(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        """Return the transformed image (RGB). The input is never modified."""
        return self.fn(_rgb(img), rng).convert("RGB")


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


def transform_rng(name: str, seed: int) -> np.random.Generator:
    """A random generator that depends only on (transform name, seed), stable across runs and processes."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return np.random.default_rng([seed & 0xFFFFFFFF, int.from_bytes(digest[:8], "big")])


def apply_seeded(transform: Transform | str, img: Image.Image, seed: int = 0) -> Image.Image:
    """Apply a transform (or a registered transform name) with a generator derived from ``seed``."""
    t = get_transform(transform) if isinstance(transform, str) else transform
    return t.apply(img, transform_rng(t.name, seed))


# --------------------------------------------------------------------------------------------- encoders


def _roundtrip(img: Image.Image, fmt: str, **save_args: object) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_args)
    buf.seek(0)
    with Image.open(buf) as out:
        out.load()
        return out.convert("RGB")


def _jpeg(quality: int) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return _roundtrip(img, "JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)

    return fn


def _webp(quality: int, lossless: bool, method: int = 4) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return _roundtrip(img, "WEBP", quality=quality, lossless=lossless, method=method)

    return fn


def _png(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return _roundtrip(img, "PNG", compress_level=1)


# --------------------------------------------------------------------------------------------- geometry


def _resize(sx: float, sy: float) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        size = (max(1, round(w * sx)), max(1, round(h * sy)))
        return img.resize(size, Image.Resampling.BILINEAR)

    return fn


def _crop(fraction: float, where: str) -> TransformFn:
    """Remove ``fraction`` of the width and of the height: evenly from both sides, or all from top-left."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        dw, dh = round(w * fraction), round(h * fraction)
        if where == "centre":
            return img.crop((dw // 2, dh // 2, w - (dw - dw // 2), h - (dh - dh // 2)))
        return img.crop((dw, dh, w, h))

    return fn


def _pad(fraction: float, colour: tuple[int, int, int]) -> TransformFn:
    """A uniform border whose width is ``fraction`` of each dimension on every side."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        bw, bh = round(w * fraction), round(h * fraction)
        return ImageOps.expand(img, border=(bw, bh, bw, bh), fill=colour)

    return fn


def _letterbox(fraction: float) -> TransformFn:
    """Black bars above and below, each ``fraction`` of the image height (as a 16:9 player would add)."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        bh = round(img.height * fraction)
        return ImageOps.expand(img, border=(0, bh, 0, bh), fill=(0, 0, 0))

    return fn


def _rotate(degrees: float) -> TransformFn:
    """Counter-clockwise rotation about the centre, same canvas size, black corners, bicubic."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(0, 0, 0))

    return fn


def _transpose(method: Image.Transpose) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return img.transpose(method)

    return fn


# --------------------------------------------------------------------------------------------- colour


def _greyscale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.convert("L").convert("RGB")


def _enhance(kind: str, factor: float) -> TransformFn:
    enhancers: dict[str, Callable[[Image.Image], ImageEnhance._Enhance]] = {
        "brightness": ImageEnhance.Brightness,
        "contrast": ImageEnhance.Contrast,
        "saturation": ImageEnhance.Color,
        "sharpness": ImageEnhance.Sharpness,
    }
    make = enhancers[kind]

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return make(img).enhance(factor)

    return fn


def _gamma(gamma: float) -> TransformFn:
    table = [round(255.0 * (i / 255.0) ** gamma) for i in range(256)] * 3

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return img.point(table)

    return fn


def _hue(degrees: float) -> TransformFn:
    shift = round(degrees / 360.0 * 256.0) % 256

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        return Image.fromarray(hsv, mode="HSV").convert("RGB")

    return fn


# --------------------------------------------------------------------------------------------- blur & noise


def _gaussian_blur(radius: float) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        return img.filter(ImageFilter.GaussianBlur(radius))

    return fn


def _sharpen(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=3))


def _gaussian_noise(sigma: float) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        arr = np.asarray(img, dtype=np.float32)
        noisy = arr + rng.normal(0.0, sigma, size=arr.shape).astype(np.float32)
        return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="RGB")

    return fn


def _salt_pepper(fraction: float) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        arr = np.asarray(img).copy()
        h, w = arr.shape[:2]
        mask = rng.random((h, w))
        arr[mask < fraction / 2] = 0
        arr[mask > 1.0 - fraction / 2] = 255
        return Image.fromarray(arr, mode="RGB")

    return fn


# --------------------------------------------------------------------------------------------- overlays


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _caption_text(rng: np.random.Generator) -> str:
    return _CAPTION_WORDS[int(rng.integers(len(_CAPTION_WORDS)))]


def _outlined_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    anchor: str,
) -> None:
    stroke = max(1, int(getattr(font, "size", 12)) // 12)
    draw.text(xy, text, font=font, fill=(255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0), anchor=anchor)


def _caption(height_fraction: float) -> TransformFn:
    """A line of white, black-outlined text across the lower part of the image (as a messenger caption)."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = img.copy()
        w, h = out.size
        draw = ImageDraw.Draw(out)
        font = _font(round(h * height_fraction))
        y = h * (0.80 + 0.1 * float(rng.random()))
        _outlined_text(draw, (w / 2, y), _caption_text(rng).upper(), font, "mm")
        return out

    return fn


def _logo(size_fraction: float, opacity: float) -> TransformFn:
    """A semi-transparent logo (rounded badge with initials) in a corner chosen by the rng."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        base = img.convert("RGBA")
        w, h = base.size
        side = max(8, round(min(w, h) * size_fraction))
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        margin = max(2, side // 6)
        corner = int(rng.integers(4))
        x0 = margin if corner in (0, 2) else w - side - margin
        y0 = margin if corner in (0, 1) else h - side - margin
        alpha = round(255 * opacity)
        draw.rounded_rectangle((x0, y0, x0 + side, y0 + side), radius=side // 5, fill=(20, 90, 200, alpha))
        draw.ellipse(
            (x0 + side // 6, y0 + side // 6, x0 + side - side // 6, y0 + side - side // 6),
            outline=(255, 255, 255, alpha),
            width=max(1, side // 16),
        )
        draw.text(
            (x0 + side / 2, y0 + side / 2),
            "BM",
            font=_font(side // 3),
            fill=(255, 255, 255, alpha),
            anchor="mm",
        )
        return Image.alpha_composite(base, layer).convert("RGB")

    return fn


def _emoji(count: int, size_fraction: float) -> TransformFn:
    """Yellow smiley faces drawn at rng-chosen positions: emoji stickers without needing an emoji font."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = img.copy()
        w, h = out.size
        draw = ImageDraw.Draw(out)
        d = max(8, round(min(w, h) * size_fraction))
        for _ in range(count):
            x0 = int(rng.integers(0, max(1, w - d)))
            y0 = int(rng.integers(0, max(1, h - d)))
            draw.ellipse((x0, y0, x0 + d, y0 + d), fill=(255, 204, 0), outline=(120, 80, 0), width=max(1, d // 20))
            e = d // 8
            for ex in (x0 + d * 0.33, x0 + d * 0.67):
                draw.ellipse((ex - e / 2, y0 + d * 0.3, ex + e / 2, y0 + d * 0.3 + e * 1.4), fill=(60, 40, 0))
            draw.arc(
                (x0 + d * 0.25, y0 + d * 0.35, x0 + d * 0.75, y0 + d * 0.78),
                start=20,
                end=160,
                fill=(60, 40, 0),
                width=max(1, d // 14),
            )
        return out

    return fn


# --------------------------------------------------------------------------------------------- layouts


def _meme(band_fraction: float) -> TransformFn:
    """The classic meme layout: white bands above and below the image, each with a line of black text."""

    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = img.size
        band = max(8, round(h * band_fraction))
        canvas = Image.new("RGB", (w, h + 2 * band), (255, 255, 255))
        canvas.paste(img, (0, band))
        draw = ImageDraw.Draw(canvas)
        font = _font(round(band * 0.6))
        draw.text((w / 2, band / 2), _caption_text(rng).upper(), font=font, fill=(0, 0, 0), anchor="mm")
        draw.text((w / 2, h + band * 1.5), _caption_text(rng).upper(), font=font, fill=(0, 0, 0), anchor="mm")
        return canvas

    return fn


def _phone_screenshot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The image shown full-width inside a drawn phone chat screen (status bar, header, input bar)."""
    w, h = img.size
    screen_w = w
    status, header, footer = round(w * 0.06), round(w * 0.12), round(w * 0.14)
    screen_h = max(round(w * 2.0), h + status + header + footer + round(w * 0.2))
    canvas = Image.new("RGB", (screen_w, screen_h), (236, 229, 221))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, screen_w, status), fill=(7, 94, 84))
    draw.text((screen_w * 0.04, status / 2), "12:20", font=_font(status // 2), fill=(255, 255, 255), anchor="lm")
    draw.rectangle((0, status, screen_w, status + header), fill=(18, 140, 126))
    r = header * 0.35
    cy = status + header / 2
    draw.ellipse((screen_w * 0.06, cy - r, screen_w * 0.06 + 2 * r, cy + r), fill=(200, 200, 200))
    draw.text((screen_w * 0.06 + 2.6 * r, cy), "Alex", font=_font(header // 3), fill=(255, 255, 255), anchor="lm")
    top = status + header + round((screen_h - status - header - footer - h) * float(rng.uniform(0.2, 0.8)))
    canvas.paste(img, (0, top))
    draw.rectangle((0, screen_h - footer, screen_w, screen_h), fill=(245, 245, 245))
    draw.rounded_rectangle(
        (screen_w * 0.04, screen_h - footer * 0.8, screen_w * 0.8, screen_h - footer * 0.2),
        radius=footer // 3,
        fill=(255, 255, 255),
        outline=(200, 200, 200),
    )
    draw.ellipse(
        (screen_w * 0.84, screen_h - footer * 0.85, screen_w * 0.84 + footer * 0.7, screen_h - footer * 0.15),
        fill=(18, 140, 126),
    )
    return canvas


def _browser_screenshot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The image centred in a drawn browser window (title bar, address bar, grey page margin)."""
    w, h = img.size
    bar = max(12, round(h * 0.08))
    margin_x = round(w * float(rng.uniform(0.15, 0.3)))
    margin_y = round(h * 0.08)
    cw, ch = w + 2 * margin_x, h + 2 * bar + 2 * margin_y
    canvas = Image.new("RGB", (cw, ch), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, cw, bar), fill=(222, 225, 230))
    for i, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
        cx = bar * (0.6 + 0.6 * i)
        draw.ellipse((cx - bar * 0.2, bar * 0.3, cx + bar * 0.2, bar * 0.7), fill=colour)
    draw.rectangle((0, bar, cw, 2 * bar), fill=(241, 243, 244))
    draw.rounded_rectangle(
        (cw * 0.1, bar * 1.2, cw * 0.9, bar * 1.8),
        radius=bar // 4,
        fill=(255, 255, 255),
        outline=(210, 210, 210),
    )
    draw.text(
        (cw * 0.12, bar * 1.5),
        "https://example.org/photo",
        font=_font(bar // 3),
        fill=(60, 60, 60),
        anchor="lm",
    )
    canvas.paste(img, (margin_x, 2 * bar + margin_y))
    return canvas


# --------------------------------------------------------------------------------------------- chains


def _chain(steps: tuple[TransformFn, ...]) -> TransformFn:
    def fn(img: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = img
        for step in steps:
            out = step(out, rng).convert("RGB")
        return out

    return fn


# --------------------------------------------------------------------------------------------- registry


def _build() -> dict[str, Transform]:
    items: list[Transform] = []

    def add(name: str, family: str, fn: TransformFn, **params: ParamValue) -> None:
        items.append(Transform(name, family, MappingProxyType(dict(params)), fn))

    for q in (95, 75, 50, 30, 10):
        add(f"jpeg_{q}", "jpeg", _jpeg(q), encoder="pillow-libjpeg", quality=q, subsampling="4:2:0")
    add("webp_80", "format", _webp(80, False), encoder="pillow-libwebp", quality=80, lossless=False, method=4)
    add("webp_50", "format", _webp(50, False), encoder="pillow-libwebp", quality=50, lossless=False, method=4)
    add("webp_lossless", "format", _webp(100, True, 0), encoder="pillow-libwebp", lossless=True, method=0)
    add("png", "format", _png, encoder="pillow-zlib", compress_level=1)

    for s in (0.25, 0.5, 2.0):
        add(f"resize_{s:g}", "resize", _resize(s, s), scale=s, resample="bilinear")
    add(
        "aspect_4x3_to_16x9",
        "resize",
        _resize(4 / 3, 1.0),
        scale_x=round(4 / 3, 4),
        scale_y=1.0,
        resample="bilinear",
    )
    add("aspect_squash_0.75", "resize", _resize(1.0, 0.75), scale_x=1.0, scale_y=0.75, resample="bilinear")

    for pct in (2, 5, 10, 20):
        add(
            f"crop_centre_{pct}",
            "crop",
            _crop(pct / 100, "centre"),
            removed_fraction=pct / 100,
            where="centre",
        )
        add(
            f"crop_offcentre_{pct}",
            "crop",
            _crop(pct / 100, "top-left"),
            removed_fraction=pct / 100,
            where="top-left",
        )

    for pct in (5, 10, 20):
        add(f"pad_{pct}", "pad", _pad(pct / 100, (255, 255, 255)), border_fraction=pct / 100, fill="white")
        add(f"letterbox_{pct}", "pad", _letterbox(pct / 100), bar_fraction=pct / 100, fill="black")

    for deg in (1, 2, 5, 10, 15):
        for sign, label in ((1, "ccw"), (-1, "cw")):
            add(
                f"rotate_{label}_{deg}",
                "rotate_small",
                _rotate(sign * deg),
                degrees=sign * deg,
                expand=False,
                resample="bicubic",
                fill="black",
            )
    add("rotate_90", "rotate_90", _transpose(Image.Transpose.ROTATE_90), degrees=90)
    add("rotate_180", "rotate_90", _transpose(Image.Transpose.ROTATE_180), degrees=180)
    add("rotate_270", "rotate_90", _transpose(Image.Transpose.ROTATE_270), degrees=270)
    add("flip_horizontal", "flip", _transpose(Image.Transpose.FLIP_LEFT_RIGHT), axis="horizontal")
    add("flip_vertical", "flip", _transpose(Image.Transpose.FLIP_TOP_BOTTOM), axis="vertical")

    add("greyscale", "colour", _greyscale, method="ITU-R 601-2 luma")
    for f in (0.7, 1.3):
        add(f"brightness_{f:g}", "colour", _enhance("brightness", f), factor=f)
        add(f"contrast_{f:g}", "colour", _enhance("contrast", f), factor=f)
    for g in (0.7, 1.5):
        add(f"gamma_{g:g}", "colour", _gamma(g), gamma=g)
    for f in (0.5, 1.5):
        add(f"saturation_{f:g}", "colour", _enhance("saturation", f), factor=f)
    for d in (30, 90):
        add(f"hue_{d}", "colour", _hue(d), degrees=d, space="pillow-HSV")

    for r in (1.0, 2.0, 4.0):
        add(f"blur_{r:g}", "blur", _gaussian_blur(r), kind="gaussian", radius=r)
    add("sharpen", "blur", _sharpen, kind="unsharp-mask", radius=2, percent=150, threshold=3)

    for sigma in (5.0, 10.0, 20.0):
        add(f"noise_gaussian_{sigma:g}", "noise", _gaussian_noise(sigma), kind="gaussian", sigma=sigma)
    add("noise_salt_pepper_2", "noise", _salt_pepper(0.02), kind="salt-and-pepper", fraction=0.02)

    add("caption", "overlay", _caption(0.08), text_height_fraction=0.08, font="pillow-default")
    add("caption_large", "overlay", _caption(0.16), text_height_fraction=0.16, font="pillow-default")
    add("logo_watermark", "overlay", _logo(0.15, 0.6), size_fraction=0.15, opacity=0.6)
    add("emoji_1", "overlay", _emoji(1, 0.2), count=1, size_fraction=0.2)
    add("emoji_3", "overlay", _emoji(3, 0.2), count=3, size_fraction=0.2)

    add("meme", "layout", _meme(0.15), band_fraction=0.15, font="pillow-default")
    add("screenshot_phone", "layout", _phone_screenshot, frame="phone-chat")
    add("screenshot_browser", "layout", _browser_screenshot, frame="browser")

    add(
        "chain_crop10_resize0.5_jpeg50",
        "chain",
        _chain((_crop(0.10, "centre"), _resize(0.5, 0.5), _jpeg(50))),
        steps="crop_centre_10>resize_0.5>jpeg_50",
    )
    add(
        "chain_caption_resize0.5_jpeg30",
        "chain",
        _chain((_caption(0.08), _resize(0.5, 0.5), _jpeg(30))),
        steps="caption>resize_0.5>jpeg_30",
    )
    add(
        "chain_screenshot_jpeg75",
        "chain",
        _chain((_phone_screenshot, _jpeg(75))),
        steps="screenshot_phone>jpeg_75",
    )

    registry: dict[str, Transform] = {}
    for t in items:
        assert t.family in FAMILIES, t.family
        assert t.name not in registry, t.name
        registry[t.name] = t
    return registry


_REGISTRY: dict[str, Transform] = _build()


def transform_names() -> tuple[str, ...]:
    """All registered names, in registry (report) order."""
    return tuple(_REGISTRY)


def get_transform(name: str) -> Transform:
    """Look a transform up by name; :class:`UnknownTransformError` lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTransformError(f"unknown transform {name!r}; known: {', '.join(_REGISTRY)}") from None


def list_transforms(families: Iterable[str] | None = None, names: Iterable[str] | None = None) -> tuple[Transform, ...]:
    """Registered transforms, optionally restricted to some families and/or names (validated)."""
    fams = None if families is None else set(families)
    if fams is not None:
        unknown = fams - set(FAMILIES)
        if unknown:
            raise UnknownTransformError(f"unknown transform family {sorted(unknown)!r}; known: {', '.join(FAMILIES)}")
    wanted = None if names is None else [get_transform(n).name for n in names]
    chosen = [t for t in _REGISTRY.values() if fams is None or t.family in fams]
    if wanted is not None:
        keep = set(wanted)
        chosen = [t for t in chosen if t.name in keep]
    return tuple(chosen)
