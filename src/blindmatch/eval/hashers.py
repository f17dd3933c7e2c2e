"""Adapters that give every perceptual hash the lab compares one small interface.

Why an adapter: the lab must measure *our* PDQ (``blindmatch.hashing.pdq``) and compare it with the reference
C++ core (the ``pdqhash`` binding, a dev/test dependency) and with pHash (``imagehash``, an optional extra).
Each is imported lazily, so a report can still be produced when one is missing and says which one was absent
instead of failing. Hashes travel as lower-case hex; :func:`hex_to_packed` turns them into bytes for fast
vectorised Hamming distances.

Each hasher also carries the production decision rule it is evaluated with (``threshold`` and ``min_quality``)
so that nobody tunes a threshold per transform: PDQ uses the published ≤ 31 of 256 bits and quality ≥ 50; pHash
has no quality score and uses 8 of 64 bits (the same fraction of the hash, ≈ 12 %).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from blindmatch.eval.errors import HasherUnavailableError, UnknownHasherError

__all__ = [
    "DIHEDRAL",
    "HashOutput",
    "Hasher",
    "OurPdqHasher",
    "PHashHasher",
    "PdqhashReferenceHasher",
    "available_hashers",
    "default_hasher_name",
    "get_hasher",
    "hex_to_packed",
]

#: The 8 orientations, in the order used for every dihedral hash list here (identity first).
DIHEDRAL: tuple[tuple[str, Image.Transpose | None], ...] = (
    ("identity", None),
    ("rotate_90", Image.Transpose.ROTATE_90),
    ("rotate_180", Image.Transpose.ROTATE_180),
    ("rotate_270", Image.Transpose.ROTATE_270),
    ("flip_horizontal", Image.Transpose.FLIP_LEFT_RIGHT),
    ("flip_vertical", Image.Transpose.FLIP_TOP_BOTTOM),
    ("transpose", Image.Transpose.TRANSPOSE),
    ("transverse", Image.Transpose.TRANSVERSE),
)


@dataclass(frozen=True)
class HashOutput:
    """One image's hash, its quality (``None`` when the algorithm has none) and, if asked, 8 dihedral hashes."""

    hex: str
    quality: int | None
    dihedral: tuple[str, ...] | None = None


@runtime_checkable
class Hasher(Protocol):
    """What the lab needs from a perceptual hash."""

    @property
    def name(self) -> str: ...

    @property
    def bits(self) -> int: ...

    @property
    def threshold(self) -> int: ...

    @property
    def min_quality(self) -> int | None: ...

    def hash_image(self, img: Image.Image, *, dihedral: bool = False) -> HashOutput: ...


def hex_to_packed(hexes: Sequence[str], bits: int) -> np.ndarray:
    """Hex strings → ``(n, bits/8)`` uint8 array (big-endian bit order, as printed)."""
    nbytes = bits // 8
    out = np.zeros((len(hexes), nbytes), dtype=np.uint8)
    for i, h in enumerate(hexes):
        raw = bytes.fromhex(h)
        if len(raw) != nbytes:
            raise ValueError(f"hash {h!r} has {len(raw) * 8} bits, expected {bits}")
        out[i] = np.frombuffer(raw, dtype=np.uint8)
    return out


def _bits_to_hex(bits: Any) -> str:
    return bytes(np.packbits(np.asarray(bits, dtype=np.uint8).ravel())).hex()


def _generic_dihedral(img: Image.Image, one: Callable[[Image.Image], str]) -> tuple[str, ...]:
    return tuple(one(img if op is None else img.transpose(op)) for _, op in DIHEDRAL)


class PdqhashReferenceHasher:
    """The reference PDQ C++ core through the ``pdqhash`` binding, on the full-resolution RGB pixels."""

    name = "pdqhash"
    bits = 256
    threshold = 31
    min_quality: int | None = 50

    def __init__(self) -> None:
        try:
            self._mod = importlib.import_module("pdqhash")
        except ImportError as exc:
            raise HasherUnavailableError(f"pdqhash is not installed ({exc}); it is a dev extra") from exc

    def hash_image(self, img: Image.Image, *, dihedral: bool = False) -> HashOutput:
        arr = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
        if dihedral:
            vectors, qualities = self._mod.compute_dihedral(arr)
            hexes = tuple(_bits_to_hex(v) for v in vectors)
            # pdqhash orders: original, rot90, rot180, rot270, flipx, flipy, flip+, flip-; same roles as DIHEDRAL.
            quality = qualities if isinstance(qualities, int) else qualities[0]
            return HashOutput(hexes[0], int(quality), hexes)
        vector, quality = self._mod.compute(arr)
        return HashOutput(_bits_to_hex(vector), int(quality))


class OurPdqHasher:
    """blindmatch's own PDQ (``blindmatch.hashing.pdq``) in one of its modes.

    ``exact`` (the module's default, as the reference ``pdq-photo-hasher``: images over 512 px resized to 512×512
    by nearest neighbour) or ``full`` (full-resolution pixels, equal to ``pdqhash.compute``). ``fast`` differs from
    ``exact`` only in how the caller decodes, and the lab always decodes fully, so it is not offered here.
    """

    bits = 256
    threshold = 31
    min_quality: int | None = 50

    def __init__(self, mode: str = "exact") -> None:
        try:
            self._mod = importlib.import_module("blindmatch.hashing.pdq")
        except ImportError as exc:
            raise HasherUnavailableError(f"blindmatch.hashing.pdq is not available ({exc})") from exc
        for needed in ("image_luma", "pdq_from_luma", "pdq_dihedral_from_luma"):
            if not hasattr(self._mod, needed):
                raise HasherUnavailableError(f"blindmatch.hashing.pdq has no {needed}()")
        self.mode = mode
        self.name = "pdq" if mode == "exact" else f"pdq-{mode}"

    def hash_image(self, img: Image.Image, *, dihedral: bool = False) -> HashOutput:
        rgb = img if img.mode in ("RGB", "L") else img.convert("RGB")
        luma = self._mod.image_luma(rgb, self.mode)  # computed once, shared by the 8 orientations
        if not dihedral:
            res = self._mod.pdq_from_luma(luma)
            return HashOutput(str(res.hash), int(res.quality))
        results = list(self._mod.pdq_dihedral_from_luma(luma))
        if len(results) != len(DIHEDRAL):
            raise HasherUnavailableError(f"pdq_dihedral_from_luma returned {len(results)} hashes, expected 8")
        return HashOutput(str(results[0].hash), int(results[0].quality), tuple(str(r.hash) for r in results))


class PHashHasher:
    """pHash (DCT of a 32×32 greyscale thumbnail, 64 bits) from ``imagehash``: the usual comparator."""

    name = "phash"
    bits = 64
    threshold = 8
    min_quality: int | None = None

    def __init__(self) -> None:
        try:
            self._mod = importlib.import_module("imagehash")
        except ImportError as exc:
            raise HasherUnavailableError(
                f"imagehash is not installed ({exc}); install the optional extra imagehash==4.3.2"
            ) from exc

    def _one(self, img: Image.Image) -> str:
        return str(self._mod.phash(img))

    def hash_image(self, img: Image.Image, *, dihedral: bool = False) -> HashOutput:
        rgb = img.convert("RGB")
        hexes = _generic_dihedral(rgb, self._one) if dihedral else None
        return HashOutput(hexes[0] if hexes else self._one(rgb), None, hexes)


_FACTORIES: dict[str, Callable[[], Hasher]] = {
    "pdq": lambda: OurPdqHasher("exact"),
    "pdq-full": lambda: OurPdqHasher("full"),
    "pdqhash": PdqhashReferenceHasher,
    "phash": PHashHasher,
}


@cache
def get_hasher(name: str) -> Hasher:
    """Build (once per process) the hasher called ``name``; raises :class:`HasherUnavailableError`."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise UnknownHasherError(f"unknown hasher {name!r}; known: {', '.join(_FACTORIES)}") from None
    return factory()


def available_hashers() -> dict[str, str | None]:
    """Every known hasher name → ``None`` if usable here, else the reason it is not (for the report)."""
    out: dict[str, str | None] = {}
    for name in _FACTORIES:
        try:
            get_hasher(name)
            out[name] = None
        except HasherUnavailableError as exc:
            out[name] = str(exc)
    return out


def default_hasher_name() -> str:
    """Our PDQ (exact mode) when ``blindmatch.hashing.pdq`` is importable, else the ``pdqhash`` reference.

    Reports name the hasher they used and say when the fallback was taken.
    """
    try:
        get_hasher("pdq")
        return "pdq"
    except HasherUnavailableError:
        return "pdqhash"
