"""Finding and decoding the benign evaluation images.

Kept separate from the computations so that the statistics never touch the file system: a corpus is just a
sorted tuple of paths (sorted, so that ``limit`` and seeds select the same images on every machine).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from blindmatch.eval.errors import NoImagesError

__all__ = ["IMAGE_SUFFIXES", "corpus_digest", "list_images", "load_rgb"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def list_images(folder: Path, limit: int | None = None) -> tuple[Path, ...]:
    """The image files directly inside ``folder``, sorted by name, optionally the first ``limit``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NoImagesError(f"image folder {folder} does not exist or is not a directory")
    if limit is not None and limit <= 0:
        raise NoImagesError(f"limit must be a positive number of images, got {limit}")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise NoImagesError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return tuple(paths[:limit] if limit is not None else paths)


def load_rgb(path: Path) -> Image.Image:
    """Decode one image fully into RGB; an unreadable file raises :class:`NoImagesError` naming it."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise NoImagesError(f"cannot decode image {path}: {exc}") from exc


def corpus_digest(paths: tuple[Path, ...]) -> str:
    """A short fingerprint of the file names and sizes, so a report states exactly which files it used."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode("utf-8"))
        h.update(str(p.stat().st_size).encode("ascii"))
    return h.hexdigest()[:16]
