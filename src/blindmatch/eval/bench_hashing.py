"""Hashing benchmark: our exact and fast PDQ pipelines against the "HMA path".

The HMA path is what hasher-matcher-actioner and most Python users do: Pillow decodes the whole image, it is
converted to an RGB array, and the ``pdqhash`` binding (the reference C++) hashes every full-resolution pixel.
Ours: ``exact`` decodes fully, resizes to 512×512 by nearest neighbour like the reference tool, and hashes that;
``fast`` additionally lets libjpeg decode large JPEGs at 1/2, 1/4 or 1/8 scale.

Two corpora: the DEV photos (``images/listed`` + ``images/innocent``, at most 768×512) and 12-megapixel JPEGs
generated from them in a temporary directory (upscaled to 4000×3000, quality 90; never kept), since phone photos
are that size and that is where the decode strategy matters. Besides speed (files per second, decode included)
it reports how many bits fast mode deviates from exact mode, and exact/fast from the HMA path.

``pdqhash`` is needed only here and in tests (it is the comparator, not a runtime dependency).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from blindmatch.hashing.files import FAST_MIN_SIDE
from blindmatch.hashing.pdq import hamming_distance, pdq_from_image
from blindmatch.media import decode_image

__all__ = ["BenchError", "dev_corpus", "make_big_jpegs", "run_hashing_bench"]

BIG_SIZE = (4000, 3000)
BIG_QUALITY = 90


class BenchError(RuntimeError):
    """The benchmark cannot run (missing data or comparator)."""


def dev_corpus(data_dir: Path) -> list[Path]:
    """The DEV images: every file of ``images/listed`` and ``images/innocent``."""
    folders = [data_dir / "images" / "listed", data_dir / "images" / "innocent"]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise BenchError(f"DEV corpus not found: {', '.join(missing)}")
    return sorted(p for f in folders for p in f.iterdir() if p.is_file())


def make_big_jpegs(sources: Sequence[Path], target_dir: Path) -> list[Path]:
    """Upscale each source to ~12 MP (4000×3000 or 3000×4000, bicubic) and save as JPEG q90 in ``target_dir``."""
    out = []
    for i, src in enumerate(sources):
        with Image.open(src) as img:
            rgb = img.convert("RGB")
        size = BIG_SIZE if rgb.width >= rgb.height else BIG_SIZE[::-1]
        path = target_dir / f"big-{i:03d}.jpg"
        rgb.resize(size, Image.Resampling.BICUBIC).save(path, quality=BIG_QUALITY)
        out.append(path)
    return out


def _hma_hasher() -> Callable[[Path], str]:
    try:
        import pdqhash
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BenchError("the HMA comparator needs the 'pdqhash' package (pip install pdqhash==0.2.8)") from exc

    def hma(path: Path) -> str:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
        vector, _quality = pdqhash.compute(rgb)
        return bytes(np.packbits(np.asarray(vector, dtype=np.uint8))).hex()

    return hma


def _exact(path: Path) -> str:
    return pdq_from_image(decode_image(path).image, "exact").hash


def _fast_with(min_side: int) -> Callable[[Path], str]:
    def fast(path: Path) -> str:
        return pdq_from_image(decode_image(path, min_side=min_side).image, "fast").hash

    return fast


def _deviation(a: Sequence[str], b: Sequence[str]) -> dict[str, float]:
    d = [hamming_distance(x, y) for x, y in zip(a, b, strict=True)]
    return {"mean_bits": float(np.mean(d)), "max_bits": float(max(d)), "identical": float(sum(x == 0 for x in d))}


def _bench_corpus(paths: Sequence[Path], methods: dict[str, Callable[[Path], str]]) -> dict[str, Any]:
    """Time every method on every file, interleaved file by file.

    Interleaving means a burst of load from other processes on a shared machine slows all methods alike,
    instead of whichever happened to be running; each method also hashes the first file once untimed (warm-up).
    """
    hashes: dict[str, list[str]] = {name: [] for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for fn in methods.values():
        fn(paths[0])
    for path in paths:
        for name, fn in methods.items():
            start = time.perf_counter()
            hashes[name].append(fn(path))
            seconds[name] += time.perf_counter() - start
    speed = {name: len(paths) / seconds[name] for name in methods}
    result: dict[str, Any] = {"files": len(paths), "files_per_s": speed}
    result["speedup_vs_hma"] = {name: speed[name] / speed["hma"] for name in methods if name != "hma"}
    result["deviation"] = {
        f"{name}_vs_exact": _deviation(hashes[name], hashes["exact"]) for name in methods if name != "exact"
    }
    result["deviation"].update({f"{name}_vs_hma": _deviation(hashes[name], hashes["hma"]) for name in ("exact",)})
    return result


def _table(results: dict[str, Any]) -> str:
    lines = [
        f"{'corpus':<10} {'method':<10} {'files/s':>9} {'x HMA':>7} {'vs exact mean/max bits':>24}",
        "-" * 64,
    ]
    for corpus in ("dev", "big_12mp"):
        r = results[corpus]
        for name, speed in r["files_per_s"].items():
            ratio = r["speedup_vs_hma"].get(name, 1.0)
            dev = r["deviation"].get(f"{name}_vs_exact")
            dev_text = f"{dev['mean_bits']:.2f} / {dev['max_bits']:.0f}" if dev else "-"
            lines.append(f"{corpus:<10} {name:<10} {speed:>9.2f} {ratio:>7.2f} {dev_text:>24}")
        hma_dev = r["deviation"]["exact_vs_hma"]
        lines.append(
            f"{corpus:<10} exact vs HMA hash: mean {hma_dev['mean_bits']:.2f}, max {hma_dev['max_bits']:.0f} bits"
        )
    return "\n".join(lines)


def run_hashing_bench(
    data_dir: Path,
    *,
    big_count: int = 20,
    out: Path | None = None,
    dev_count: int | None = None,
    fast_min_sides: Sequence[int] = (FAST_MIN_SIDE, 512),
) -> dict[str, Any]:
    """Measure files/s of exact and fast PDQ against the HMA path on the DEV corpus and on 12 MP JPEGs.

    ``dev_count`` limits the DEV corpus to an evenly spaced sample (None: all 812). ``fast_min_sides`` lists the
    fast-mode settings to measure; the first is the default one (named ``fast``), others ``fast<N>``.
    Prints a table, writes the results as JSON to ``out`` if given, and returns them.
    """
    paths = dev_corpus(Path(data_dir))
    if dev_count is not None:
        paths = paths[:: max(1, len(paths) // dev_count)][:dev_count]
    if not paths or big_count < 1:
        raise BenchError("need at least one DEV image and big_count >= 1")
    methods: dict[str, Callable[[Path], str]] = {"hma": _hma_hasher(), "exact": _exact}
    for i, side in enumerate(fast_min_sides):
        methods["fast" if i == 0 else f"fast{side}"] = _fast_with(side)
    results: dict[str, Any] = {
        "settings": {
            "fast_min_side": list(fast_min_sides),
            "big_size": list(BIG_SIZE),
            "big_quality": BIG_QUALITY,
            "big_count": big_count,
        }
    }
    results["dev"] = _bench_corpus(paths, methods)
    all_dev = dev_corpus(Path(data_dir))
    sources = all_dev[:: max(1, len(all_dev) // big_count)][:big_count]
    with tempfile.TemporaryDirectory(prefix="blindmatch-bench-") as tmp:
        big = make_big_jpegs(sources, Path(tmp))
        results["big_12mp"] = _bench_corpus(big, methods)
    table = _table(results)
    results["table"] = table
    print(table)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    return results
