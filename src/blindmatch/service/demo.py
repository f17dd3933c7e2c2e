"""The demo list ``make run`` serves: benign stand-in photos playing the part of a hotline's list.

The stand-ins are the benign photos in ``../shared/data/images/listed`` (see that folder's README); they are read in
place, hashed, and only their hashes are stored. On a machine without that folder the demo falls back to a few
generated benign patterns, so ``make run`` always has something to match against.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from blindmatch.hashing.files import hash_bytes, hash_file
from blindmatch.lists.model import ListEntry, make_entry
from blindmatch.media import MediaError
from blindmatch.service.storage.errors import ListNotFoundError
from blindmatch.service.storage.list_store import ListStore

__all__ = ["DEMO_LIST", "default_demo_dir", "demo_entries", "ensure_demo", "generated_demo_images"]

log = logging.getLogger(__name__)
DEMO_LIST = "demo-benign-standins"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def default_demo_dir() -> Path:
    """``../shared/data/images/listed`` relative to the working directory (the project root under ``make run``)."""
    return Path(os.environ.get("BLINDMATCH_DEMO_IMAGES", "../shared/data/images/listed"))


def generated_demo_images(count: int = 8, seed: int = 7) -> list[tuple[str, bytes]]:
    """Benign synthetic pictures (smooth colour fields with shapes) as PNG bytes."""
    import io

    rng = np.random.default_rng(seed)
    out = []
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32) / 255.0
    for i in range(count):
        a, b, c = rng.uniform(0.5, 6.0, 3)
        r = 0.5 + 0.5 * np.sin(a * 6.28 * xx + b)
        g = 0.5 + 0.5 * np.cos(b * 6.28 * yy + c)
        bl = 0.5 + 0.5 * np.sin(c * 6.28 * (xx + yy))
        rgb = (np.stack([r, g, bl], axis=-1) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        out.append((f"generated-{i}.png", buf.getvalue()))
    return out


def demo_entries(directory: Path | None = None) -> list[ListEntry]:
    """PDQ and SHA-256 entries for the demo stand-ins (files in ``directory`` or generated patterns)."""
    directory = directory or default_demo_dir()
    hashed: list[tuple[str, str, str]] = []
    if directory.is_dir():
        for path in sorted(p for p in directory.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
            try:
                h = hash_file(path)
            except MediaError as exc:
                log.warning("demo: skipping %s: %s", path, exc)
                continue
            hashed.append((path.name, h.pdq, h.sha256))
    if not hashed:
        log.warning("demo: %s not found; using generated benign patterns", directory)
        for name, data in generated_demo_images():
            h = hash_bytes(data)
            hashed.append((name, h.pdq, h.sha256))
    entries = []
    for name, pdq, sha256 in hashed:
        for st, value in (("pdq", pdq), ("sha256", sha256)):
            entries.append(
                make_entry(
                    list_name=DEMO_LIST,
                    signal_type=st,
                    value=value,
                    entry_id=f"{name}:{st}",
                    source_org="blindmatch demo (benign stand-ins)",
                    classification_scheme="demo",
                    classification_label="benign-stand-in",
                    licence="see ../shared/data/README.md",
                    metadata={"file": name},
                )
            )
    return entries


def ensure_demo(store: ListStore, directory: Path | None = None) -> int:
    """Create and fill the demo list unless it exists; return its number of live entries."""
    try:
        store.get_list(DEMO_LIST)
        return store.count_entries(DEMO_LIST)
    except ListNotFoundError:
        pass
    entries = demo_entries(directory)
    store.create_list(
        DEMO_LIST,
        description="Benign stand-in photos playing the part of a hotline list (demo only).",
        source="blindmatch demo",
    )
    store.add_entries(DEMO_LIST, entries)
    return len(entries)
