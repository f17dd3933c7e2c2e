"""Fuzzy tokens derived from PDQ hashes, so that private set intersection can find near-duplicates.

Why this exists: a private-matching protocol only tells the server that a client token *equals* a list token. PDQ
matches by Hamming distance (≤ 31 of 256 bits), so hashing the whole PDQ value into one token would miss almost
every re-encoded copy. A token scheme turns one list hash into a few tokens and one client image into a bounded
number of tokens such that a transformed copy shares at least one token with its original, while an unrelated
image almost never shares one with any of a million list entries.

The asymmetry drives the design: the list side stores only ``L`` tokens per entry (each costs a table slot), the
client may probe a budget of ``B`` tokens (each costs two scalar multiplications and some voucher bytes), and only
the client knows how reliable each of its bits is (``margins`` = |DCT coefficient − median|, not in hash lists).

:class:`RankedFlipScheme` (the default, ``ranked``) works in three steps:

1. *Stable positions.* Bits are taken from the lowest spatial frequencies (smallest row + column of the DCT
   coefficient; ties in seeded random order). Low-frequency coefficients are large in every image, so their
   bits flip two to four times less often under edits than the average bit, while their entropy across images
   stays close to one bit (measured; docs/tokens.md).
2. *Subsets.* ``subsets`` disjoint subsets of ``k`` bits; the list side stores one token per subset: a
   domain-separated BLAKE2b of (scheme id and layout fingerprint, subset index, the entry's bits on the subset).
3. *Likelihood-ordered probing.* The client turns its margins (normalised by the image's median margin) into
   per-bit flip costs (−log odds of a flip, a monotone curve fitted on benign edited copies) and enumerates flip
   patterns of all subsets jointly in increasing total cost, stopping after ``budget`` tokens (a fixed count, so
   the number of vouchers reveals nothing about the image).

The scheme also supports majority-vote groups (``group`` = 3, 5: each token bit is the majority of that many hash
bits) and overlapping subsets (``pool``). Both were measured and are worse, see docs/tokens.md; they stay as
parameters so the comparison can be rerun.

:class:`SubsetFlipScheme` is the naive baseline from ``notes/token-baseline.md`` (random ``k``-bit subsets, all
``2^m`` flips of the ``m`` least reliable bits), kept for comparison.

Bit order: ``pdq_hash`` is the 32-byte big-endian form of the reference hex (``bytes.fromhex(hex)``), whose LAST
hex digit holds bits 0..3; bit ``k`` is the sign of DCT coefficient ``k`` in row-major 16×16 order, and
``margins[k]`` belongs to bit ``k``.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from blindmatch.privacy.errors import PrivacyError
from blindmatch.privacy.scheme import TokenScheme

__all__ = [
    "DEFAULT_COST_MODEL",
    "FLAT_COST_MODEL",
    "FlipCostModel",
    "InvalidTokenInputError",
    "RankedFlipScheme",
    "SubsetFlipScheme",
    "TokenScheme",
    "TokenSchemeError",
    "TokenSchemeParamError",
    "baseline_scheme",
    "bits_to_hash",
    "default_scheme",
    "hash_to_bits",
]

PDQ_BITS = 256
PDQ_BYTES = 32
TOKEN_BYTES = 32
_PERSON = b"blindmatch-tok1"  # BLAKE2b personalisation (≤ 16 bytes): tokens of no other use can collide


class TokenSchemeError(PrivacyError, ValueError):
    """Base class of errors raised by token schemes."""


class InvalidTokenInputError(TokenSchemeError):
    """A hash or margin vector handed to a token scheme is malformed."""


class TokenSchemeParamError(TokenSchemeError):
    """A token scheme was constructed with inconsistent parameters."""


# ---------------------------------------------------------------------------------------------------------------
# bits and inputs


def hash_to_bits(pdq_hash: bytes) -> npt.NDArray[np.uint8]:
    """Bits of a 32-byte PDQ hash as a (256,) uint8 array, index ``k`` = bit ``k`` (see module docstring)."""
    _check_hash(pdq_hash)
    return np.unpackbits(np.frombuffer(pdq_hash, dtype=np.uint8), bitorder="big")[::-1].copy()


def bits_to_hash(bits: npt.ArrayLike) -> bytes:
    """Inverse of :func:`hash_to_bits`."""
    arr = np.asarray(bits)
    if arr.shape != (PDQ_BITS,):
        raise InvalidTokenInputError(f"expected {PDQ_BITS} bits, got shape {arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise InvalidTokenInputError("bits must be 0 or 1")
    return np.packbits(arr[::-1].astype(np.uint8), bitorder="big").tobytes()


def _check_hash(pdq_hash: object) -> None:
    if not isinstance(pdq_hash, bytes | bytearray | memoryview):
        raise InvalidTokenInputError(
            f"pdq_hash must be {PDQ_BYTES} bytes (bytes.fromhex of the hex form), got {type(pdq_hash).__name__}"
        )
    if len(pdq_hash) != PDQ_BYTES:
        raise InvalidTokenInputError(f"pdq_hash must be {PDQ_BYTES} bytes, got {len(pdq_hash)}")


def _check_margins(margins: object) -> npt.NDArray[np.float64]:
    if not isinstance(margins, np.ndarray):
        raise InvalidTokenInputError(f"margins must be a numpy array, got {type(margins).__name__}")
    if margins.shape != (PDQ_BITS,):
        raise InvalidTokenInputError(f"margins must have shape ({PDQ_BITS},), got {margins.shape}")
    if not np.issubdtype(margins.dtype, np.floating) and not np.issubdtype(margins.dtype, np.integer):
        raise InvalidTokenInputError(f"margins must be numeric, got dtype {margins.dtype}")
    m = margins.astype(np.float64)
    if not np.isfinite(m).all():
        raise InvalidTokenInputError("margins contain NaN or infinity")
    if (m < 0).any():
        raise InvalidTokenInputError("margins must be non-negative (|coefficient - median|)")
    return m


# ---------------------------------------------------------------------------------------------------------------
# flip cost model


@dataclass(frozen=True)
class FlipCostModel:
    """Cost (−log odds) that a bit with a given *normalised* margin differs from the list image's bit.

    Why normalised: DCT coefficients scale with image contrast, and so do the perturbations edits cause; dividing
    by the image's median margin makes one curve fit flat and busy images alike. The curve is piecewise linear
    between ``knots`` (normalised margin, cost) and flat beyond the ends. Costs must be non-decreasing so that a
    larger margin never looks less reliable.
    """

    knots: tuple[tuple[float, float], ...]
    #: Margin multipliers by frequency band ``min((row + col) // band_width, len - 1)``: low-frequency
    #: coefficients are large in every image, so the same normalised margin is less safe there.
    band_factors: tuple[float, ...] = (1.0,)
    band_width: int = 6

    def __post_init__(self) -> None:
        if not self.band_factors or any(not (math.isfinite(f) and f > 0) for f in self.band_factors):
            raise TokenSchemeParamError("band factors must be positive and finite")
        if self.band_width < 1:
            raise TokenSchemeParamError("band width must be >= 1")
        if len(self.knots) < 2:
            raise TokenSchemeParamError("a cost model needs at least two knots")
        xs = [x for x, _ in self.knots]
        ys = [y for _, y in self.knots]
        if any(b <= a for a, b in itertools.pairwise(xs)) or any(b < a for a, b in itertools.pairwise(ys)):
            raise TokenSchemeParamError("cost model knots must have increasing margins and non-decreasing costs")
        if ys[0] < 0 or not all(math.isfinite(v) for v in xs + ys):
            raise TokenSchemeParamError("cost model costs must be finite and non-negative")

    def costs(self, margins: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per-bit flip costs for one image's margins."""
        positive = margins[margins > 0]
        scale = float(np.median(positive)) if positive.size else 1.0
        xs = np.array([x for x, _ in self.knots])
        ys = np.array([y for _, y in self.knots])
        rows, cols = np.divmod(np.arange(PDQ_BITS), 16)
        band = np.minimum((rows + cols) // self.band_width, len(self.band_factors) - 1)
        factor = np.asarray(self.band_factors)[band]
        out: npt.NDArray[np.float64] = np.interp(margins / scale * factor, xs, ys)
        return out


def _log_odds(p: float) -> float:
    return round(math.log((1.0 - p) / p), 3)


#: Flip rates by normalised margin, measured on Pillow-edited copies (JPEG, resize, colour, blur, noise, overlay)
#: of the 224 listed benign images, restricted to copies within PDQ distance 31; see docs/tokens.md.
DEFAULT_COST_MODEL = FlipCostModel(
    knots=tuple(
        (x, _log_odds(p))
        for x, p in (
            (0.0, 0.40),
            (0.035, 0.227),
            (0.075, 0.155),
            (0.125, 0.101),
            (0.175, 0.068),
            (0.25, 0.042),
            (0.35, 0.021),
            (0.45, 0.012),
            (0.6, 0.0053),
            (0.85, 0.0016),
            (1.23, 0.0004),
            (1.73, 0.0001),
            (3.2, 0.00002),
        )
    ),
    band_factors=(0.55, 0.72, 0.85, 1.0),
)

#: The same curve without frequency bands (margin normalised by the image's median margin only).
FLAT_COST_MODEL = FlipCostModel(knots=DEFAULT_COST_MODEL.knots)


# ---------------------------------------------------------------------------------------------------------------
# token hashing and enumeration


def _token(scheme_id: bytes, subset: int, packed: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=TOKEN_BYTES, person=_PERSON)
    h.update(len(scheme_id).to_bytes(2, "big"))
    h.update(scheme_id)
    h.update(subset.to_bytes(2, "big"))
    h.update(packed)
    return h.digest()


def _pack(bits: npt.NDArray[np.uint8]) -> bytes:
    return len(bits).to_bytes(2, "big") + np.packbits(bits, bitorder="big").tobytes()


def _flip_patterns(
    costs_per_subset: Sequence[npt.NDArray[np.float64]], budget: int, max_cost: float = math.inf
) -> list[tuple[int, tuple[int, ...]]]:
    """The ``budget`` cheapest (subset, flip positions) pairs over all subsets, cheapest first.

    Each subset's flip sets are generated in non-decreasing total cost with the classic best-first scheme over
    positions sorted by cost: from a set whose most expensive member is the j-th, either add the (j+1)-th or
    replace the j-th by the (j+1)-th. Every set is reached exactly once, children never cost less than their
    parent, so one heap merges all subsets in global cost order. Ties break on (subset, positions): deterministic.
    """
    orders = [np.argsort(c, kind="stable") for c in costs_per_subset]
    sorted_costs = [c[o].tolist() for c, o in zip(costs_per_subset, orders, strict=True)]
    heap: list[tuple[float, int, tuple[int, ...]]] = [(0.0, s, ()) for s in range(len(costs_per_subset))]
    heapq.heapify(heap)
    out: list[tuple[int, tuple[int, ...]]] = []
    while heap and len(out) < budget:
        cost, s, ranks = heapq.heappop(heap)
        if cost > max_cost:
            break
        order = orders[s]
        out.append((s, tuple(int(order[r]) for r in ranks)))
        sc = sorted_costs[s]
        n = len(sc)
        if not ranks:
            if n:
                heapq.heappush(heap, (sc[0], s, (0,)))
            continue
        j = ranks[-1]
        if j + 1 < n:
            heapq.heappush(heap, (cost + sc[j + 1], s, (*ranks, j + 1)))
            heapq.heappush(heap, (cost - sc[j] + sc[j + 1], s, (*ranks[:-1], j + 1)))
    return out


def _layout_fingerprint(arrays: Sequence[npt.NDArray[np.int64]]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.asarray(a, dtype="<i4").tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# the default scheme

#: How many voucher entries a *real* match opens under the default scheme (2 list tokens per entry): measured with
#: ``privacy.bench.measure_open_counts`` on 239 matching edited copies of the benign listed images (11 % one, 89 %
#: two). Synthetic vouchers must open entries with the same distribution, or the server could tell them apart;
#: :meth:`blindmatch.privacy.client.VoucherConfig.for_scheme` uses it. ``tests/privacy/test_open_counts.py``
#: re-measures it.
RANKED_OPEN_COUNTS: tuple[tuple[int, float], ...] = ((1, 0.11), (2, 0.89))

#: The same for a **video** voucher of 4 frames (the messenger's default, client hashing with ``fast=True``): how
#: many entries each of the 36 verified matches of ``blindmatch eval private-video --client-fast`` opened, over
#: the benign sample videos (weights are those counts). A video match opens 2 to 10 entries (several frames
#: match), an image match 1 or 2: synthetic vouchers for videos draw from this, or an opened voucher with 3 or
#: more entries would tell the server "a real video match" below the threshold.
#: ``tests/eval/test_private_video.py`` re-measures it.
RANKED_VIDEO4_OPEN_COUNTS: tuple[tuple[int, float], ...] = (
    (2, 3.0),
    (3, 2.0),
    (4, 5.0),
    (5, 1.0),
    (6, 1.0),
    (7, 3.0),
    (8, 6.0),
    (9, 9.0),
    (10, 6.0),
)


@dataclass(frozen=True)
class RankedFlipScheme:
    """Stable-position subsets with likelihood-ordered flip probing (see module docstring)."""

    name: str = "ranked"
    group: int = 1
    k: int = 40
    subsets: int = 2
    budget: int = 64
    max_cost: float = math.inf
    positions: str = "lowfreq"
    pool: int = 0
    seed: int = 1
    cost_model: FlipCostModel = DEFAULT_COST_MODEL
    _groups: npt.NDArray[np.int64] = field(init=False, repr=False, compare=False)
    _subset_idx: tuple[npt.NDArray[np.int64], ...] = field(init=False, repr=False, compare=False)
    _scheme_id: bytes = field(init=False, repr=False, compare=False)

    @property
    def synthetic_open_counts(self) -> tuple[tuple[int, float], ...] | None:
        """The measured open-count distribution of real matches (default parameters only; else unknown)."""
        return RANKED_OPEN_COUNTS if (self.subsets, self.k, self.budget) == (2, 40, 64) else None

    def synthetic_open_counts_multi(self, item_hashes: int) -> tuple[tuple[int, float], ...] | None:
        """The measured distribution for items of ``item_hashes`` hashes (videos); only 4 frames is measured."""
        if item_hashes == 4 and (self.subsets, self.k, self.budget) == (2, 40, 64):
            return RANKED_VIDEO4_OPEN_COUNTS
        return None

    def __post_init__(self) -> None:
        if self.group < 1 or self.group % 2 == 0:
            raise TokenSchemeParamError(f"group size must be a positive odd number, got {self.group}")
        n_groups = PDQ_BITS // self.group
        if self.k < 1 or self.subsets < 1 or (not self.pool and self.k * self.subsets > n_groups):
            raise TokenSchemeParamError(
                f"need 1 <= k and subsets*k <= {n_groups} vote bits for group size {self.group}, "
                f"got k={self.k}, subsets={self.subsets}"
            )
        if not self.max_cost >= 0:
            raise TokenSchemeParamError(f"max_cost must be >= 0, got {self.max_cost}")
        if self.positions not in ("random", "lowfreq"):
            raise TokenSchemeParamError(f"positions must be 'random' or 'lowfreq', got {self.positions!r}")
        if self.pool and not self.k <= self.pool <= n_groups:
            raise TokenSchemeParamError(f"pool must be 0 (disjoint subsets) or in [k, {n_groups}], got {self.pool}")
        if self.budget < self.subsets:
            raise TokenSchemeParamError(f"budget ({self.budget}) must allow one token per subset ({self.subsets})")
        rng = np.random.default_rng([0x766F7465, self.seed])
        perm = rng.permutation(PDQ_BITS)
        if self.positions == "lowfreq":
            # lowest spatial frequencies first (row + col), ties in seeded random order: the most stable bits
            rows, cols = np.divmod(perm, 16)
            perm = perm[np.argsort(rows + cols, kind="stable")]
        groups = perm[: n_groups * self.group].reshape(n_groups, self.group).astype(np.int64)
        if self.pool:
            # overlapping subsets: each a seeded sample of k of the first `pool` vote bits (the most stable ones
            # when positions="lowfreq"); more chances on stable bits at the price of correlated failures
            subset_idx = tuple(
                np.sort(rng.choice(self.pool, self.k, replace=False)).astype(np.int64) for _ in range(self.subsets)
            )
        else:
            order = rng.permutation(self.k * self.subsets)
            subset_idx = tuple(order[s * self.k : (s + 1) * self.k].astype(np.int64) for s in range(self.subsets))
        object.__setattr__(self, "_groups", groups)
        object.__setattr__(self, "_subset_idx", subset_idx)
        fp = _layout_fingerprint([groups.ravel(), *subset_idx])
        object.__setattr__(self, "_scheme_id", f"{self.name}|g{self.group}|k{self.k}|{fp}".encode())

    # -- shared helpers ------------------------------------------------------------------------------------------
    def _votes(self, bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        members = bits[self._groups]
        votes: npt.NDArray[np.uint8] = (members.sum(axis=1) * 2 > self.group).astype(np.uint8)
        return votes

    def _vote_flip_costs(
        self, bits: npt.NDArray[np.uint8], bit_costs: npt.NDArray[np.float64], votes: npt.NDArray[np.uint8]
    ) -> npt.NDArray[np.float64]:
        """Cost of changing each vote: the cheapest members agreeing with the majority, enough to overturn it."""
        members = bits[self._groups]
        c = bit_costs[self._groups]
        agree = members == votes[:, None]
        need = agree.sum(axis=1) - self.group // 2  # flips needed to overturn the majority
        c_agree = np.where(agree, c, np.inf)
        c_sorted = np.sort(c_agree, axis=1)
        cum = np.cumsum(np.where(np.isinf(c_sorted), 0.0, c_sorted), axis=1)
        out: npt.NDArray[np.float64] = cum[np.arange(len(need)), need - 1]
        return out

    # -- TokenScheme -----------------------------------------------------------------------------------------
    def list_tokens(self, pdq_hash: bytes) -> list[bytes]:
        """One token per subset: the entry's vote bits on that subset."""
        votes = self._votes(hash_to_bits(pdq_hash))
        return [_token(self._scheme_id, s, _pack(votes[idx])) for s, idx in enumerate(self._subset_idx)]

    def query_tokens(self, pdq_hash: bytes, margins: np.ndarray) -> list[bytes]:
        """Up to ``budget`` tokens, most likely flip patterns first; the unflipped tokens always come first."""
        bits = hash_to_bits(pdq_hash)
        m = _check_margins(margins)
        votes = self._votes(bits)
        vcost = self._vote_flip_costs(bits, self.cost_model.costs(m), votes)
        patterns = _flip_patterns([vcost[idx] for idx in self._subset_idx], self.budget, self.max_cost)
        out = []
        for s, flips in patterns:
            v = votes[self._subset_idx[s]].copy()
            if flips:
                v[list(flips)] ^= 1
            out.append(_token(self._scheme_id, s, _pack(v)))
        return out

    def params(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": "ranked-flip",
            "group": self.group,
            "k": self.k,
            "subsets": self.subsets,
            "budget": self.budget,
            "max_cost": self.max_cost if math.isfinite(self.max_cost) else None,
            "positions": self.positions,
            "pool": self.pool,
            "seed": self.seed,
            "cost_model": {
                "knots": [list(k) for k in self.cost_model.knots],
                "band_factors": list(self.cost_model.band_factors),
                "band_width": self.cost_model.band_width,
            },
            "layout": self._scheme_id.decode().rsplit("|", 1)[1],
            "token_hash": "blake2b-256/person=blindmatch-tok1",
        }


# ---------------------------------------------------------------------------------------------------------------
# the naive baseline


@dataclass(frozen=True)
class SubsetFlipScheme:
    """Baseline: ``subsets`` random ``k``-bit subsets; the client tries all ``2^m`` flips of its ``m`` least
    reliable bits in each subset (``subsets · 2^m`` tokens)."""

    name: str = "baseline"
    k: int = 40
    subsets: int = 2
    m: int = 6
    seed: int = 1
    _subset_idx: tuple[npt.NDArray[np.int64], ...] = field(init=False, repr=False, compare=False)
    _scheme_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= PDQ_BITS or self.subsets < 1 or not 0 <= self.m <= min(self.k, 16):
            raise TokenSchemeParamError(
                f"need 1 <= k <= 256, subsets >= 1, 0 <= m <= min(k, 16); got k={self.k}, "
                f"subsets={self.subsets}, m={self.m}"
            )
        rng = np.random.default_rng([0x62617365, self.seed])
        idx = tuple(np.sort(rng.choice(PDQ_BITS, self.k, replace=False)).astype(np.int64) for _ in range(self.subsets))
        object.__setattr__(self, "_subset_idx", idx)
        object.__setattr__(self, "_scheme_id", f"{self.name}|k{self.k}|{_layout_fingerprint(idx)}".encode())

    def list_tokens(self, pdq_hash: bytes) -> list[bytes]:
        bits = hash_to_bits(pdq_hash)
        return [_token(self._scheme_id, s, _pack(bits[idx])) for s, idx in enumerate(self._subset_idx)]

    def query_tokens(self, pdq_hash: bytes, margins: np.ndarray) -> list[bytes]:
        bits = hash_to_bits(pdq_hash)
        mg = _check_margins(margins)
        out = []
        for s, idx in enumerate(self._subset_idx):
            sub = bits[idx]
            weakest = np.argsort(mg[idx], kind="stable")[: self.m]
            for mask in range(1 << self.m):
                v = sub.copy()
                for j in range(self.m):
                    if mask >> j & 1:
                        v[weakest[j]] ^= 1
                out.append(_token(self._scheme_id, s, _pack(v)))
        return out

    def params(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": "subset-flip",
            "k": self.k,
            "subsets": self.subsets,
            "m": self.m,
            "seed": self.seed,
            "layout": self._scheme_id.decode().rsplit("|", 1)[1],
            "token_hash": "blake2b-256/person=blindmatch-tok1",
        }


def default_scheme() -> RankedFlipScheme:
    """The scheme blindmatch uses unless a signed manifest names another (parameters: docs/tokens.md)."""
    return RankedFlipScheme()


def baseline_scheme() -> SubsetFlipScheme:
    """The naive baseline (k=40, L=2, m=6) from notes/token-baseline.md, for comparison only."""
    return SubsetFlipScheme()
