"""Measure a fuzzy token scheme: recall on edited copies, innocent leak at list scale, client and table cost.

Why a dedicated evaluator: a token scheme trades recall (edited copies of a listed image must share a token with
it) against leak (innocent images must not share one with any of ~1,000,000 list entries) and cost (tokens per
entry in the server table, tokens per image in the client's vouchers). Recall can be measured directly on benign
stand-ins; leak at 10^6 entries cannot (a few hundred real listed hashes will show zero hits for any reasonable
scheme), so it is estimated three ways and all three are reported:

* ``measured``: real innocent images' query tokens against the real listed images' list tokens;
* ``k_extrapolated``: the same measurement repeated with shorter subsets (``k'`` bits, where collisions are
  frequent enough to count), fitting log2(collision rate per token pair) linearly in ``k'`` and extrapolating to
  the scheme's ``k``. Real PDQ bits are correlated, so the fitted slope (bits of entropy per subset bit) is below
  1; the fit captures that instead of assuming uniform bits;
* ``synthetic``: list entries and queries sampled from a Gaussian model of the 256 DCT coefficients whose mean and
  covariance are fitted to the real images (so pairwise bit correlations and biases are reproduced), hashed like
  real PDQ, and matched at the real list size.

PDQ values come from an injectable ``hasher`` (image -> 32-byte hash, margins, quality); hashes of transformed
copies are cached on disk so that parameter sweeps do not re-decode thousands of images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from blindmatch.hashing.pdq import pdq_from_image
from blindmatch.privacy.scheme import TokenScheme
from blindmatch.privacy.tokens import PDQ_BITS, TokenSchemeError, bits_to_hash

__all__ = [
    "EvalInputError",
    "HashedSet",
    "TransformLike",
    "coefficients_to_pdq",
    "evaluate_scheme",
    "hash_directory",
    "project_pdq_hasher",
    "reference_float_hasher",
    "summary_row",
]

Hasher = Callable[[Image.Image], tuple[npt.NDArray[np.float32], int]]
MIN_QUALITY = 50
MATCH_DISTANCE = 31
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


class EvalInputError(TokenSchemeError):
    """The evaluation was given unusable inputs (missing or empty directory, bad sizes)."""


class TransformLike(Protocol):
    """Shape of ``blindmatch.eval.transforms.Transform`` (duck-typed so that privacy does not import eval)."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    def apply(self, img: Image.Image, rng: np.random.Generator) -> Image.Image: ...


@dataclass(frozen=True)
class HashedSet:
    """PDQ values of a set of images: ``bits`` (n,256) uint8, ``margins`` (n,256) float32, ``quality`` (n,)."""

    names: tuple[str, ...]
    coefficients: npt.NDArray[np.float32]
    quality: npt.NDArray[np.int64]

    @property
    def bits(self) -> npt.NDArray[np.uint8]:
        med = np.median(self.coefficients, axis=1, keepdims=True)
        return (self.coefficients > med).astype(np.uint8)

    @property
    def margins(self) -> npt.NDArray[np.float32]:
        med = np.median(self.coefficients, axis=1, keepdims=True)
        out: npt.NDArray[np.float32] = np.abs(self.coefficients - med).astype(np.float32)
        return out

    def hashes(self) -> list[bytes]:
        return [bits_to_hash(b) for b in self.bits]


def coefficients_to_pdq(coefficients: npt.ArrayLike) -> tuple[bytes, npt.NDArray[np.float32]]:
    """(32-byte hash, margins) from the 256 row-major DCT coefficients: bit k = coefficient k > median."""
    c = np.asarray(coefficients, dtype=np.float32).reshape(-1)
    if c.shape != (PDQ_BITS,) or not np.isfinite(c).all():
        raise EvalInputError(f"need {PDQ_BITS} finite coefficients, got shape {c.shape}")
    med = np.median(c)
    return bits_to_hash((c > med).astype(np.uint8)), np.abs(c - med).astype(np.float32)


def project_pdq_hasher(img: Image.Image) -> tuple[npt.NDArray[np.float32], int]:
    """Row-major DCT coefficients and quality from ``blindmatch.hashing.pdq`` in ``exact`` mode (what clients run)."""
    result = pdq_from_image(img.convert("RGB"), "exact")
    return np.asarray(result.coefficients, dtype=np.float32).reshape(-1).copy(), int(result.quality)


def reference_float_hasher(img: Image.Image) -> tuple[npt.NDArray[np.float32], int]:
    """Row-major DCT coefficients and quality from the reference PDQ (``pdqhash`` binding, a test dependency).

    The binding returns coefficients in reverse bit order (its index i is bit 255 - i); they are flipped here.
    Kept to cross-check :func:`project_pdq_hasher` (which differs only by the reference's 512-pixel resize).
    """
    import pdqhash  # optional: a test/benchmark dependency only

    rgb = np.ascontiguousarray(np.asarray(img.convert("RGB")))
    vec, quality = pdqhash.compute_float(rgb)
    return np.asarray(vec, dtype=np.float32)[::-1].copy(), int(quality)


def _transform_rng(name: str, seed: int) -> np.random.Generator:
    # same derivation as blindmatch.eval.transforms.transform_rng, so copies equal the registry's apply_seeded
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return np.random.default_rng([seed & 0xFFFFFFFF, int.from_bytes(digest[:8], "big")])


def _image_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise EvalInputError(f"not a directory: {directory}")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EvalInputError(f"no images in {directory}")
    return files


def hash_directory(
    directory: Path,
    *,
    transform: TransformLike | None = None,
    seed: int = 0,
    hasher: Hasher = project_pdq_hasher,
    cache_dir: Path | None = None,
) -> HashedSet:
    """PDQ coefficients of every image in ``directory`` (optionally after ``transform``), cached on disk."""
    files = _image_files(Path(directory))
    key = hashlib.sha256()
    for p in files:
        st = p.stat()
        key.update(f"{p.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    hasher_id = f"{getattr(hasher, '__module__', '')}.{getattr(hasher, '__qualname__', repr(hasher))}"
    key.update(f"{hasher_id}|seed={seed}".encode())
    if transform is not None:
        key.update(f"|{transform.name}|{getattr(transform, 'params', '')!r}".encode())
    cache = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tag = transform.name if transform is not None else "original"
        cache = cache_dir / f"{Path(directory).name}-{tag}-{key.hexdigest()[:16]}.npz"
        if cache.exists():
            with np.load(cache) as z:
                return HashedSet(tuple(str(n) for n in z["names"]), z["coefficients"], z["quality"])
    coefs, quality = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                img = im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise EvalInputError(f"cannot decode {p}: {exc}") from exc
        if transform is not None:
            img = transform.apply(img, _transform_rng(transform.name, seed))
        c, q = hasher(img)
        coefs.append(c)
        quality.append(q)
    result = HashedSet(
        tuple(p.name for p in files), np.asarray(coefs, dtype=np.float32), np.asarray(quality, dtype=np.int64)
    )
    if cache is not None:
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, names=np.array(result.names), coefficients=result.coefficients, quality=result.quality)
        tmp.replace(cache)
    return result


# ---------------------------------------------------------------------------------------------------------------
# leak estimation


def _pair_collisions(
    scheme: TokenScheme, queries: Sequence[tuple[bytes, npt.NDArray[np.float32]]], entries: Iterable[bytes]
) -> tuple[int, int, int, int]:
    """(token-pair hits, images with any hit, query tokens, list entries) for queries against entries."""
    table: Counter[bytes] = Counter()
    n_entries = 0
    for h in entries:
        table.update(set(scheme.list_tokens(h)))
        n_entries += 1
    hits = images = n_tokens = 0
    for h, m in queries:
        toks = scheme.query_tokens(h, m)
        n_tokens += len(toks)
        here = sum(table.get(t, 0) for t in set(toks))
        hits += here
        images += here > 0
    return hits, images, n_tokens, n_entries


def _fit_log_rate(points: Sequence[Mapping[str, float]], k: int) -> dict[str, float]:
    """Fit log2(rate) = a + b·k' (weights sqrt(hits): Poisson errors) and extrapolate to ``k``.

    ``rate_pessimistic`` uses the slope moved by two standard errors towards a flatter curve (NaN with two points).
    """
    xs = np.array([p["k"] for p in points], dtype=np.float64)
    ys = np.log2([p["rate"] for p in points])
    w = np.sqrt([p["token_pair_hits"] for p in points])
    if len(points) >= 3:
        (slope, intercept), cov = np.polyfit(xs, ys, 1, w=w, cov="unscaled")
        # unscaled covariance with weights sqrt(n): log2 errors are ~ 1/(ln 2 · sqrt(n))
        slope_se = float(np.sqrt(cov[0, 0])) / math.log(2)
    else:
        slope, intercept = np.polyfit(xs, ys, 1, w=w)
        slope_se = math.nan
    x0 = float(np.average(xs, weights=w))
    y0 = float(intercept + slope * x0)
    rate = float(2.0 ** (y0 + slope * (k - x0)))
    hi = float(2.0 ** (y0 + (slope + 2 * slope_se) * (k - x0))) if math.isfinite(slope_se) else rate
    return {
        "from_k": float(xs.min()),
        "to_k": float(xs.max()),
        "bits_per_bit": float(-slope),
        "bits_per_bit_se": slope_se,
        "rate": rate,
        "rate_pessimistic": hi,
    }


def _all_pairs_collisions(
    scheme: TokenScheme, images: Sequence[tuple[bytes, npt.NDArray[np.float32]]]
) -> tuple[int, int, int]:
    """(token-pair hits between distinct images, query tokens, images): every image queries all the others."""
    table: Counter[bytes] = Counter()
    own = []
    for h, _ in images:
        toks = set(scheme.list_tokens(h))
        own.append(toks)
        table.update(toks)
    hits = n_tokens = 0
    for (h, m), mine in zip(images, own, strict=True):
        toks = set(scheme.query_tokens(h, m))
        n_tokens += len(toks)
        hits += sum(table.get(t, 0) for t in toks) - len(toks & mine)
    return hits, n_tokens, len(images)


def _upper95(count: int, trials: float) -> float:
    """One-sided 95% upper bound on a Poisson rate (exact for 0, normal approximation above)."""
    if trials <= 0:
        return math.inf
    if count == 0:
        return 3.0 / trials
    return (count + 1.645 * math.sqrt(count) + 1.0) / trials


@dataclass(frozen=True)
class _GaussianPdqModel:
    """Gaussian model of the DCT coefficients (per-image median removed, scaled to unit median margin)."""

    mean: npt.NDArray[np.float64]
    chol: npt.NDArray[np.float64]

    @classmethod
    def fit(cls, coefficients: npt.NDArray[np.float32]) -> _GaussianPdqModel:
        c = coefficients.astype(np.float64)
        c = c - np.median(c, axis=1, keepdims=True)
        c = c / np.median(np.abs(c), axis=1, keepdims=True)
        cov = np.cov(c, rowvar=False)
        cov = 0.95 * cov + 0.05 * np.diag(np.diag(cov))  # light shrinkage: 256 dims from a few hundred images
        chol = np.asarray(np.linalg.cholesky(cov + 1e-9 * np.eye(PDQ_BITS)), dtype=np.float64)
        return cls(np.asarray(c.mean(axis=0), dtype=np.float64), chol)

    def sample(self, n: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
        z = rng.standard_normal((n, PDQ_BITS))
        return (self.mean + z @ self.chol.T).astype(np.float32)


def _with_k(scheme: TokenScheme, k: int) -> TokenScheme | None:
    """The scheme with ``k``-bit subsets; schemes with a ``pool`` draw them from the positions the full scheme uses
    (so the short-subset curve measures the same bits, e.g. the same low frequencies)."""
    if not dataclasses.is_dataclass(scheme):
        return None
    values: dict[str, object] = {f.name: getattr(scheme, f.name) for f in dataclasses.fields(scheme) if f.init}
    if "k" not in values:
        return None
    changes: dict[str, int] = {"k": k}
    if {"pool", "subsets", "group"} <= values.keys() and not values["pool"]:
        changes["pool"] = int(str(values["k"])) * int(str(values["subsets"]))
    try:
        variant: TokenScheme = dataclasses.replace(scheme, **changes)  # type: ignore[type-var]
    except TokenSchemeError:
        return None
    return variant


def _leak_estimates(
    scheme: TokenScheme,
    listed: HashedSet,
    innocent: HashedSet,
    *,
    list_size: int,
    short_ks: Sequence[int],
    synthetic_entries: int,
    synthetic_queries: int,
    seed: int,
) -> dict[str, object]:
    entries = [h for h, q in zip(listed.hashes(), listed.quality, strict=True) if q >= MIN_QUALITY]
    queries = [
        (h, m)
        for h, m, q in zip(innocent.hashes(), innocent.margins, innocent.quality, strict=True)
        if q >= MIN_QUALITY
    ]
    hits, images, n_tok, n_ent = _pair_collisions(scheme, queries, entries)
    tok_per_image = n_tok / max(1, len(queries))
    out: dict[str, object] = {
        "measured": {
            "innocent_images": len(queries),
            "list_entries": n_ent,
            "images_with_hit": images,
            "token_pair_hits": hits,
            "per_token_pair_rate_upper95": _upper95(hits, n_tok * n_ent),
            "expected_hits_per_image_at_list_size_upper95": _upper95(hits, n_tok * n_ent) * tok_per_image * list_size,
        }
    }
    # shorter subsets: rate(k') measured on all distinct pairs of real images (every innocent and listed image
    # queries every other one), fitted as log2(rate) linear in k' (weights ~ sqrt(hits), Poisson errors) and
    # extrapolated to the scheme's k, with a pessimistic variant at slope + 2 standard errors
    k = getattr(scheme, "k", None)
    pool = queries + [
        (h, m) for h, m, q in zip(listed.hashes(), listed.margins, listed.quality, strict=True) if q >= MIN_QUALITY
    ]
    curve: list[dict[str, float]] = []
    for kk in short_ks:
        variant = _with_k(scheme, kk)
        if variant is None or not isinstance(k, int) or kk >= k:
            continue
        h2, nt2, n2 = _all_pairs_collisions(variant, pool)
        curve.append({"k": kk, "token_pair_hits": h2, "rate": h2 / max(1, nt2 * (n2 - 1))})
    usable = [c for c in curve if c["token_pair_hits"] >= 5]
    if isinstance(k, int) and len(usable) >= 2:
        # the curve bends (similar image pairs make the tail heavier than independent bits would), so the
        # headline uses the fit over the longest subsets only, which is the more pessimistic of the two
        fits = {"all_points": _fit_log_rate(usable, k), "tail": _fit_log_rate(usable[-4:], k)}
        rate_k = max(f["rate"] for f in fits.values())
        rate_hi = max(f["rate_pessimistic"] for f in fits.values())
        out["k_extrapolated"] = {
            "curve": curve,
            "pairs_from": f"{len(pool)} real images, all distinct pairs",
            "fits": fits,
            "bits_per_subset_bit": fits["tail"]["bits_per_bit"],
            "per_token_pair_rate": rate_k,
            "expected_hits_per_image_at_list_size": rate_k * tok_per_image * list_size,
            "pessimistic_hits_per_image_at_list_size": rate_hi * tok_per_image * list_size,
        }
    else:
        out["k_extrapolated"] = {"curve": curve, "note": "scheme has no k field or too few collisions to fit"}
    # synthetic entries and queries from a Gaussian model of real coefficients
    if synthetic_entries > 0:
        rng = np.random.default_rng([0x6C65616B, seed])
        model = _GaussianPdqModel.fit(np.concatenate([listed.coefficients, innocent.coefficients]))
        table: Counter[bytes] = Counter()
        done = 0
        while done < synthetic_entries:
            n = min(50_000, synthetic_entries - done)
            for c in model.sample(n, rng):
                med = np.median(c)
                # 8-byte prefixes keep a million-entry table in memory; spurious prefix collisions ~1e-7
                table.update({t[:8] for t in scheme.list_tokens(bits_to_hash((c > med).astype(np.uint8)))})
            done += n
        real_hits = real_images = 0
        for h, m in queries:
            here = sum(table.get(t[:8], 0) for t in set(scheme.query_tokens(h, m)))
            real_hits += here
            real_images += here > 0
        syn_hits = syn_images = syn_tok = 0
        for c in model.sample(synthetic_queries, rng):
            h, m = coefficients_to_pdq(c)
            toks = scheme.query_tokens(h, m)
            syn_tok += len(toks)
            here = sum(table.get(t[:8], 0) for t in {t[:8] for t in toks})
            syn_hits += here
            syn_images += here > 0
        scale = list_size / synthetic_entries
        out["synthetic"] = {
            "entries": synthetic_entries,
            "real_innocent_images_with_hit": real_images,
            "real_innocent_hits": real_hits,
            "real_innocent_hits_per_image_at_list_size_upper95": _upper95(real_hits, len(queries)) * scale,
            "synthetic_queries": synthetic_queries,
            "synthetic_query_images_with_hit": syn_images,
            "synthetic_hits": syn_hits,
            "synthetic_hits_per_image_at_list_size": syn_hits / max(1, synthetic_queries) * scale,
            "synthetic_hits_per_image_at_list_size_upper95": _upper95(syn_hits, synthetic_queries) * scale,
        }
    return out


# ---------------------------------------------------------------------------------------------------------------
# the evaluation


def evaluate_scheme(
    scheme: TokenScheme,
    listed_dir: Path,
    innocent_dir: Path,
    *,
    transforms: Sequence[TransformLike],
    list_size_for_leak: int = 1_000_000,
    seed: int = 0,
    hasher: Hasher = project_pdq_hasher,
    cache_dir: Path | None = Path("/tmp/blindmatch-token-cache"),
    short_ks: Sequence[int] = (12, 14, 16, 18, 20, 22, 24),
    synthetic_entries: int = 0,
    synthetic_queries: int = 2000,
    voucher_bytes_per_token: int = 112,
    table_slot_bytes: int = 32,
    table_overhead: float = 1.15,
) -> dict[str, object]:
    """Recall per transform and family relative to plaintext PDQ (≤ 31), innocent leak, costs. Plain dict.

    Recall counts copies whose plaintext PDQ matches (original and copy quality ≥ 50, distance ≤ 31) and asks
    whether the copy's query tokens meet the original's list tokens. Client CPU is process time of
    ``query_tokens`` only (PDQ and the voucher cryptography are separate); voucher bytes are estimated as tokens ×
    ``voucher_bytes_per_token`` and table bytes as list tokens × slot size × cuckoo overhead.
    """
    if list_size_for_leak < 1 or synthetic_entries < 0 or synthetic_queries < 0:
        raise EvalInputError("list size must be >= 1 and synthetic counts >= 0")
    if not transforms:
        raise EvalInputError("need at least one transform")
    listed = hash_directory(listed_dir, hasher=hasher, cache_dir=cache_dir)
    innocent = hash_directory(innocent_dir, hasher=hasher, cache_dir=cache_dir)
    orig_bits = listed.bits
    orig_ok = listed.quality >= MIN_QUALITY
    list_tokens = [set(scheme.list_tokens(h)) for h in listed.hashes()]

    per_transform: dict[str, dict[str, object]] = {}
    families: dict[str, list[int]] = {}
    cpu: list[float] = []
    counts: list[int] = []
    for t in transforms:
        copies = hash_directory(listed_dir, transform=t, seed=seed, hasher=hasher, cache_dir=cache_dir)
        bits, margins = copies.bits, copies.margins
        dist = (bits != orig_bits).sum(axis=1)
        plain = orig_ok & (copies.quality >= MIN_QUALITY) & (dist <= MATCH_DISTANCE)
        found = 0
        for i in np.flatnonzero(plain):
            start = time.process_time()
            toks = scheme.query_tokens(bits_to_hash(bits[i]), margins[i])
            cpu.append(time.process_time() - start)
            counts.append(len(toks))
            found += not list_tokens[i].isdisjoint(toks)
        n = int(plain.sum())
        per_transform[t.name] = {
            "family": t.family,
            "plaintext_matches": n,
            "token_matches": found,
            "relative_recall": found / n if n else None,
            "median_distance": float(np.median(dist)),
        }
        fam = families.setdefault(t.family, [0, 0])
        fam[0] += found
        fam[1] += n
    # innocent client cost (tokens and CPU), same as in the leak measurement
    for h, m in zip(innocent.hashes(), innocent.margins, strict=True):
        start = time.process_time()
        toks = scheme.query_tokens(h, m)
        cpu.append(time.process_time() - start)
        counts.append(len(toks))
    tokens_per_entry = float(np.mean([len(s) for s in list_tokens]))
    leak = _leak_estimates(
        scheme,
        listed,
        innocent,
        list_size=list_size_for_leak,
        short_ks=short_ks,
        synthetic_entries=synthetic_entries,
        synthetic_queries=synthetic_queries,
        seed=seed,
    )
    return {
        "scheme": scheme.params(),
        "per_transform": per_transform,
        "per_family": {
            f: {"plaintext_matches": n, "token_matches": k, "relative_recall": k / n if n else None}
            for f, (k, n) in families.items()
        },
        "tokens_per_image": {"mean": float(np.mean(counts)), "max": int(np.max(counts))},
        "client_token_cpu_ms": {
            "mean": 1e3 * float(np.mean(cpu)),
            "p95": 1e3 * float(np.percentile(cpu, 95)),
        },
        "voucher_bytes_per_image": {
            "mean": float(np.mean(counts)) * voucher_bytes_per_token,
            "max": int(np.max(counts)) * voucher_bytes_per_token,
        },
        "list_tokens_per_entry": tokens_per_entry,
        "table_bytes_per_entry": tokens_per_entry * table_slot_bytes * table_overhead,
        "leak": leak,
        "list_size_for_leak": list_size_for_leak,
    }


def summary_row(result: Mapping[str, object]) -> dict[str, object]:
    """A flat row (for tables) from :func:`evaluate_scheme`'s result."""
    fam = result.get("per_family")
    leak = result.get("leak")
    if not isinstance(fam, dict) or not isinstance(leak, dict):
        raise EvalInputError("not a result of evaluate_scheme (needs 'per_family' and 'leak')")
    row: dict[str, object] = {
        f: round(v["relative_recall"], 3) for f, v in fam.items() if v["relative_recall"] is not None
    }
    row["leak_measured_images"] = leak["measured"]["images_with_hit"]
    kx = leak.get("k_extrapolated", {})
    row["leak_k_extrap"] = kx.get("expected_hits_per_image_at_list_size")
    syn = leak.get("synthetic")
    if syn:
        row["leak_synthetic"] = syn["synthetic_hits_per_image_at_list_size"]
        row["leak_synthetic_up95"] = syn["synthetic_hits_per_image_at_list_size_upper95"]
    return row
