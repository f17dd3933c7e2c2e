"""Hash every (image, transform) pair once, in parallel, into compact arrays; vectorised Hamming distances.

Why one table: robustness, false positives, DET curves and the matcher grid all need the same hashes. Computing
them once (each transformed image is hashed exactly once, with its 8 dihedral variants in the same call) is what
keeps the full corpus within minutes on two cores. Workers receive only names (paths, transform names, hasher
name), never objects, so nothing unpicklable crosses the process boundary and every worker rebuilds the same
deterministic transforms.

Randomness: the generator for (transform, image) is derived from the seed, the transform name and the image
*file name*, so the pixels of one image do not change when ``limit`` selects more or fewer images.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blindmatch.eval.corpus import load_rgb
from blindmatch.eval.errors import EvalError
from blindmatch.eval.hashers import DIHEDRAL, get_hasher, hex_to_packed
from blindmatch.eval.transforms import get_transform, transform_rng

__all__ = [
    "ORIGINAL",
    "HashTable",
    "hamming_matrix",
    "hamming_rows",
    "hash_corpus",
    "min_dihedral_matrix",
    "min_dihedral_rows",
]

#: Name of the untransformed column (index 0) of every table.
ORIGINAL = "original"


@dataclass(frozen=True)
class HashTable:
    """Hashes of ``paths`` × (``original`` + ``transforms``).

    ``plain``: (images, columns, bytes) uint8; ``dihedral``: (images, columns, 8, bytes) uint8 or None;
    ``quality``: (images, columns) int16, −1 where the hasher has no quality; ``ok``: False where the transform or
    hash failed (``errors`` says why) — such cells count as misses, never silently as matches.
    """

    hasher: str
    bits: int
    paths: tuple[Path, ...]
    columns: tuple[str, ...]
    plain: np.ndarray
    dihedral: np.ndarray | None
    quality: np.ndarray
    ok: np.ndarray
    errors: tuple[str, ...]

    def column(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            raise EvalError(f"column {name!r} was not computed; have {', '.join(self.columns)}") from None


@dataclass(frozen=True)
class _Cells:
    plain: list[str | None]
    dihedral: list[tuple[str, ...] | None]
    quality: list[int]


_Row = tuple[int, dict[str, _Cells], list[str]]


def _hash_row(args: tuple[int, str, tuple[str, ...], tuple[tuple[str, bool], ...], int]) -> _Row:
    idx, path_s, names, hashers, seed = args
    path = Path(path_s)
    cells = {name: _Cells([], [], []) for name, _ in hashers}
    errors: list[str] = []
    try:
        original = load_rgb(path)
    except EvalError as exc:
        n = len(names) + 1
        return idx, {h: _Cells([None] * n, [None] * n, [-1] * n) for h, _ in hashers}, [str(exc)]
    for name in (ORIGINAL, *names):
        img = None
        try:
            if name == ORIGINAL:
                img = original
            else:
                img = get_transform(name).apply(original, transform_rng(f"{name}/{path.name}", seed))
        except Exception as exc:
            errors.append(f"{path.name} / {name}: {type(exc).__name__}: {exc}")
        for hname, dihedral in hashers:
            c = cells[hname]
            try:
                if img is None:
                    raise EvalError("transform failed")
                out = get_hasher(hname).hash_image(img, dihedral=dihedral)
            except Exception as exc:
                c.plain.append(None)
                c.dihedral.append(None)
                c.quality.append(-1)
                if img is not None:
                    errors.append(f"{path.name} / {name} / {hname}: {type(exc).__name__}: {exc}")
                continue
            c.plain.append(out.hex)
            c.dihedral.append(out.dihedral)
            c.quality.append(-1 if out.quality is None else out.quality)
    return idx, cells, errors


def hash_corpus(
    paths: Sequence[Path],
    transforms: Sequence[str],
    hashers: Sequence[tuple[str, bool]],
    *,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, HashTable]:
    """Hash every image untransformed and under each transform, with each ``(hasher, dihedral?)`` given.

    Each transformed image is produced once and handed to every hasher. Transform and hasher names are validated
    before any work starts, so a typo fails in milliseconds, not after minutes. ``progress(done, total)`` is
    called after each image.
    """
    names = tuple(get_transform(n).name for n in transforms)
    specs = tuple((h, bool(d)) for h, d in hashers)
    for h, _ in specs:
        get_hasher(h)  # fail fast on an unknown or unavailable hasher
    if not specs:
        raise EvalError("hash_corpus needs at least one hasher")
    n_img, n_col = len(paths), len(names) + 1
    arrays: dict[str, tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]] = {}
    for h, d in specs:
        nbytes = get_hasher(h).bits // 8
        arrays[h] = (
            np.zeros((n_img, n_col, nbytes), dtype=np.uint8),
            np.zeros((n_img, n_col, len(DIHEDRAL), nbytes), dtype=np.uint8) if d else None,
            np.full((n_img, n_col), -1, dtype=np.int16),
            np.zeros((n_img, n_col), dtype=bool),
        )
    errors: list[str] = []
    jobs = [(i, str(p), names, specs, seed) for i, p in enumerate(paths)]
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n_workers <= 1 or len(jobs) < 4:
        _fill(map(_hash_row, jobs), arrays, errors, progress, len(jobs))
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            _fill(pool.map(_hash_row, jobs, chunksize=2), arrays, errors, progress, len(jobs))
    cols = (ORIGINAL, *names)
    return {
        h: HashTable(get_hasher(h).name, get_hasher(h).bits, tuple(paths), cols, *arrays[h], tuple(errors))
        for h, _ in specs
    }


def _fill(
    rows: Iterable[_Row],
    arrays: dict[str, tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]],
    errors: list[str],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> None:
    for done, (idx, cells, errs) in enumerate(rows, start=1):
        errors.extend(errs)
        if progress is not None:
            progress(done, total)
        for hname, c in cells.items():
            plain, dih, quality, ok = arrays[hname]
            bits = plain.shape[-1] * 8
            for j, hx in enumerate(c.plain):
                if hx is None:
                    continue
                d = c.dihedral[j]
                if dih is not None:
                    if d is None:
                        continue
                    dih[idx, j] = hex_to_packed(list(d), bits)
                plain[idx, j] = hex_to_packed([hx], bits)[0]
                quality[idx, j] = c.quality[j]
                ok[idx, j] = True


def _as_words(a: np.ndarray) -> np.ndarray:
    """(..., bytes) uint8 → (..., bytes/8) uint64 so XOR + popcount touch 8× fewer elements."""
    a = np.ascontiguousarray(a)
    return a.view(np.uint64) if a.shape[-1] % 8 == 0 else a


def hamming_matrix(a: np.ndarray, b: np.ndarray, *, block: int = 256) -> np.ndarray:
    """All-pairs Hamming distances between packed hashes a (m, B) and b (n, B) → (m, n) int32."""
    wa, wb = _as_words(a), _as_words(b)
    out = np.empty((wa.shape[0], wb.shape[0]), dtype=np.int32)
    for s in range(0, wa.shape[0], block):
        x = wa[s : s + block, None, :] ^ wb[None, :, :]
        out[s : s + block] = np.bitwise_count(x).sum(axis=-1, dtype=np.int32)
    return out


def hamming_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise distances between a (n, B) and b (n, B) → (n,) int32."""
    out: np.ndarray = np.bitwise_count(_as_words(a) ^ _as_words(b)).sum(axis=-1, dtype=np.int32)
    return out


def min_dihedral_rows(query_dihedral: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Row-wise min over the 8 dihedral hashes: query (n, 8, B) vs ref (n, B) → (n,) int32."""
    d = np.bitwise_count(_as_words(query_dihedral) ^ _as_words(ref)[:, None, :]).sum(axis=-1, dtype=np.int32)
    out: np.ndarray = d.min(axis=1)
    return out


def min_dihedral_matrix(query_dihedral: np.ndarray, ref: np.ndarray, *, block: int = 32) -> np.ndarray:
    """All-pairs min-over-dihedral distances: query (m, 8, B) vs ref (n, B) → (m, n) int32."""
    wq, wr = _as_words(query_dihedral), _as_words(ref)
    out = np.empty((wq.shape[0], wr.shape[0]), dtype=np.int32)
    for s in range(0, wq.shape[0], block):
        x = wq[s : s + block, None, :, :] ^ wr[None, :, None, :]
        out[s : s + block] = np.bitwise_count(x).sum(axis=-1, dtype=np.int32).min(axis=-1)
    return out
