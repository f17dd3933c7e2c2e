"""Pure computations over hash tables: robustness per transform and family, false matches, DET curves.

Nothing here reads files or draws: given :class:`~blindmatch.eval.compute.HashTable` arrays and the production
decision rule (Hamming distance ≤ ``threshold`` and, for hashers with a quality score, quality ≥ ``min_quality``
on both sides), it counts. The same rule is applied to every transform — thresholds are never tuned per transform.

Conventions
* A listed entry whose own quality is below ``min_quality`` would never be admitted to a list; it is excluded
  from the recall denominators and counted in ``excluded_listed``.
* A transformed copy whose quality falls below ``min_quality`` is a *miss* (the client would discard its hash),
  and so is a cell whose transform or hash failed.
* "Dihedral" matching means the query is hashed in its 8 orientations and matches if any is within threshold of
  the listed hash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from blindmatch.eval.compute import (
    ORIGINAL,
    HashTable,
    hamming_matrix,
    hamming_rows,
    min_dihedral_matrix,
    min_dihedral_rows,
)
from blindmatch.eval.errors import EvalError
from blindmatch.eval.stats import clopper_pearson, prob_any_match
from blindmatch.eval.transforms import FAMILIES, get_transform

__all__ = [
    "DetCurve",
    "FalseMatchSummary",
    "FamilyRobustness",
    "TailModel",
    "TransformRobustness",
    "det_curve",
    "false_matches",
    "listed_eligible",
    "pairs_needed_for_bound",
    "robustness_by_family",
    "robustness_by_transform",
    "tail_model",
    "transform_distances",
]

PERCENTILES = (5, 25, 50, 75, 95)
LIST_SIZES = (10**4, 10**5, 10**6, 10**7)


@dataclass(frozen=True)
class TransformRobustness:
    """Recall and distance statistics of one transform over the eligible listed images."""

    name: str
    family: str
    params: dict[str, object]
    n: int
    matched: int
    recall: float
    matched_dihedral: int | None
    recall_dihedral: float | None
    recall_ignoring_quality: float
    distance_percentiles: dict[str, float]
    distance_percentiles_dihedral: dict[str, float] | None
    mean_quality: float | None
    mean_quality_drop: float | None
    fraction_below_min_quality: float | None
    failed_cells: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FamilyRobustness:
    """Pooled recall of a family (all its transforms × all eligible images) and its weakest member."""

    family: str
    transforms: int
    n: int
    recall: float
    recall_dihedral: float | None
    worst_transform: str
    worst_recall: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FalseMatchSummary:
    """Innocent × listed pairs within threshold, with an exact bound on the per-pair false-match rate."""

    label: str
    pairs: int
    matches: int
    rate: float
    rate_ci95: tuple[float, float]
    images: int
    images_matching_any: int
    image_rate_ci95: tuple[float, float]
    min_distance: int
    extrapolation: dict[str, dict[str, float]]
    closest: list[dict[str, object]]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class DetCurve:
    """False-match rate and miss rate for every threshold 0..max (same rule at each threshold)."""

    thresholds: list[int]
    false_match_rate: list[float]
    miss_rate: list[float]
    miss_rate_by_family: dict[str, list[float]]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _quality_ok(q: np.ndarray, min_quality: int | None) -> np.ndarray:
    if min_quality is None:
        return np.ones(q.shape, dtype=bool)
    return q >= min_quality


def listed_eligible(table: HashTable, min_quality: int | None) -> np.ndarray:
    """Listed images whose original hash exists and passes the quality gate (would be admitted to a list)."""
    result: np.ndarray = table.ok[:, 0] & _quality_ok(table.quality[:, 0], min_quality)
    return result


def transform_distances(table: HashTable, column: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Distances of each image's transformed copy to its own original: plain, and min over dihedral."""
    plain = hamming_rows(table.plain[:, column], table.plain[:, 0])
    dih = None if table.dihedral is None else min_dihedral_rows(table.dihedral[:, column], table.plain[:, 0])
    return plain, dih


def _percentiles(d: np.ndarray) -> dict[str, float]:
    if d.size == 0:
        return {}
    out = {f"p{p}": float(np.percentile(d, p)) for p in PERCENTILES}
    out["max"] = float(d.max())
    out["mean"] = float(d.mean())
    return out


def robustness_by_transform(table: HashTable, *, threshold: int, min_quality: int | None) -> list[TransformRobustness]:
    """One :class:`TransformRobustness` per transformed column of ``table``."""
    elig = listed_eligible(table, min_quality)
    n = int(elig.sum())
    if n == 0:
        raise EvalError("no listed image passes the quality gate; nothing to measure recall on")
    out: list[TransformRobustness] = []
    for j, name in enumerate(table.columns):
        if name == ORIGINAL:
            continue
        t = get_transform(name)
        ok = table.ok[:, j] & elig
        q = table.quality[:, j]
        qok = _quality_ok(q, min_quality)
        plain, dih = transform_distances(table, j)
        hit = ok & qok & (plain <= threshold)
        hit_any_q = ok & (plain <= threshold)
        has_q = min_quality is not None
        valid = ok
        out.append(
            TransformRobustness(
                name=name,
                family=t.family,
                params=dict(t.params),
                n=n,
                matched=int(hit.sum()),
                recall=float(hit.sum() / n),
                matched_dihedral=None if dih is None else int((ok & qok & (dih <= threshold)).sum()),
                recall_dihedral=None if dih is None else float((ok & qok & (dih <= threshold)).sum() / n),
                recall_ignoring_quality=float(hit_any_q.sum() / n),
                distance_percentiles=_percentiles(plain[valid]),
                distance_percentiles_dihedral=None if dih is None else _percentiles(dih[valid]),
                mean_quality=float(q[valid].mean()) if has_q and valid.any() else None,
                mean_quality_drop=float((table.quality[valid, 0] - q[valid]).mean()) if has_q and valid.any() else None,
                fraction_below_min_quality=float((~qok[valid]).mean()) if has_q and valid.any() else None,
                failed_cells=int((elig & ~table.ok[:, j]).sum()),
            )
        )
    return out


def robustness_by_family(results: Sequence[TransformRobustness]) -> list[FamilyRobustness]:
    """Pool transforms of each family (report order); recall is matched / (images × transforms)."""
    out: list[FamilyRobustness] = []
    for fam in FAMILIES:
        members = [r for r in results if r.family == fam]
        if not members:
            continue
        total = sum(r.n for r in members)
        dih = None
        if all(r.matched_dihedral is not None for r in members):
            dih = sum(r.matched_dihedral or 0 for r in members) / total
        worst = min(members, key=lambda r: r.recall)
        out.append(
            FamilyRobustness(
                family=fam,
                transforms=len(members),
                n=total,
                recall=sum(r.matched for r in members) / total,
                recall_dihedral=dih,
                worst_transform=worst.name,
                worst_recall=worst.recall,
            )
        )
    return out


def _pair_matrix(listed: HashTable, innocent: HashTable, column: int, dihedral: bool) -> np.ndarray:
    ref = listed.plain[:, 0]
    if dihedral:
        if innocent.dihedral is None:
            raise EvalError(f"hasher {innocent.hasher} was run without dihedral hashes")
        return min_dihedral_matrix(innocent.dihedral[:, column], ref)
    return hamming_matrix(innocent.plain[:, column], ref)


def false_matches(
    listed: HashTable,
    innocent: HashTable,
    *,
    threshold: int,
    min_quality: int | None,
    columns: Sequence[str] = (ORIGINAL,),
    dihedral: bool = False,
    label: str | None = None,
    list_sizes: Sequence[int] = LIST_SIZES,
    closest: int = 10,
) -> tuple[FalseMatchSummary, np.ndarray]:
    """Count innocent (possibly transformed) × listed pairs within threshold; also return all pair distances.

    The returned distances are those of quality-eligible pairs only (the ones a deployment would compare).
    """
    lel = listed_eligible(listed, min_quality)
    dists: list[np.ndarray] = []
    per_image_hit: list[np.ndarray] = []
    near: list[tuple[int, str, str, str]] = []
    for col_name in columns:
        j = innocent.column(col_name)
        iel = innocent.ok[:, j] & _quality_ok(innocent.quality[:, j], min_quality)
        d = _pair_matrix(listed, innocent, j, dihedral)
        mask = iel[:, None] & lel[None, :]
        dists.append(d[mask])
        per_image_hit.append(((d <= threshold) & mask).any(axis=1)[iel])
        dm = np.where(mask, d, np.iinfo(np.int32).max)
        flat = np.argsort(dm, axis=None)[:closest]
        for f in flat:
            a, b = np.unravel_index(int(f), dm.shape)
            if dm[a, b] == np.iinfo(np.int32).max:
                break
            near.append((int(dm[a, b]), innocent.paths[a].name, col_name, listed.paths[b].name))
    all_d = np.concatenate(dists) if dists else np.zeros(0, dtype=np.int32)
    hits = np.concatenate(per_image_hit) if per_image_hit else np.zeros(0, dtype=bool)
    pairs, k = int(all_d.size), int((all_d <= threshold).sum())
    if pairs == 0:
        raise EvalError("no quality-eligible innocent × listed pair to measure")
    lo, hi = clopper_pearson(k, pairs)
    ilo, ihi = clopper_pearson(int(hits.sum()), int(hits.size))
    rate = k / pairs
    extrap = {
        str(n): {
            "point": prob_any_match(rate, n),
            "upper95": prob_any_match(hi, n),
            "expected_false_matches_per_million_images_upper95": 1e6 * prob_any_match(hi, n),
        }
        for n in list_sizes
    }
    near.sort()
    return (
        FalseMatchSummary(
            label=label or ("dihedral " if dihedral else "") + "+".join(columns),
            pairs=pairs,
            matches=k,
            rate=rate,
            rate_ci95=(lo, hi),
            images=int(hits.size),
            images_matching_any=int(hits.sum()),
            image_rate_ci95=(ilo, ihi),
            min_distance=int(all_d.min()),
            extrapolation=extrap,
            closest=[
                {"distance": dd, "innocent": a, "innocent_transform": c, "listed": b} for dd, a, c, b in near[:closest]
            ],
        ),
        all_d,
    )


def det_curve(
    listed: HashTable,
    innocent_distances: np.ndarray,
    *,
    min_quality: int | None,
    max_threshold: int = 64,
    dihedral: bool = False,
) -> DetCurve:
    """False-match rate (innocent pairs) and miss rate (listed × transforms) at every threshold 0..max.

    Misses include quality-gate failures and failed cells, exactly as in the recall numbers.
    """
    elig = listed_eligible(listed, min_quality)
    ths = list(range(max_threshold + 1))
    by_family: dict[str, list[np.ndarray]] = {}
    for j, name in enumerate(listed.columns):
        if name == ORIGINAL:
            continue
        plain, dih = transform_distances(listed, j)
        d = dih if (dihedral and dih is not None) else plain
        usable = listed.ok[:, j] & _quality_ok(listed.quality[:, j], min_quality)
        d = np.where(usable, d, np.iinfo(np.int32).max)[elig]
        by_family.setdefault(get_transform(name).family, []).append(d)
    if not by_family:
        raise EvalError("a DET curve needs at least one transform")
    all_d = np.concatenate([np.concatenate(v) for v in by_family.values()])
    sorted_fp = np.sort(innocent_distances)
    n_fp = max(1, sorted_fp.size)
    fmr = [float(np.searchsorted(sorted_fp, t, side="right") / n_fp) for t in ths]
    miss = [float((all_d > t).mean()) for t in ths]
    fam = {f: [float((np.concatenate(v) > t).mean()) for t in ths] for f, v in by_family.items()}
    return DetCurve(ths, fmr, miss, fam)


def pairs_needed_for_bound(target_rate: float, confidence: float = 0.95) -> int:
    """Pairs needed, with zero false matches observed, for the two-sided Clopper–Pearson upper bound to reach
    ``target_rate``: the smallest n with 1 − (α/2)^(1/n) ≤ target, i.e. n ≥ ln(α/2) / ln(1 − target)."""
    if not 0.0 < target_rate < 1.0:
        raise EvalError(f"target rate must be in (0, 1), got {target_rate!r}")
    return math.ceil(math.log((1.0 - confidence) / 2.0) / math.log1p(-target_rate))


@dataclass(frozen=True)
class TailModel:
    """A log-linear fit of the empirical lower tail of the distance distribution, extrapolated to the threshold.

    This is a *model*, not a bound: it assumes the tail keeps decaying geometrically below the smallest observed
    distances. It is reported next to the exact bound so readers see both what the data prove and what a
    smooth-tail assumption would imply.
    """

    fitted_from: int
    fitted_to: int
    points: int
    log10_slope_per_bit: float
    log10_rate_at_threshold: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def tail_model(
    distances: np.ndarray, threshold: int, *, min_count: int = 10, max_quantile: float = 1e-2
) -> TailModel | None:
    """Fit log10 F(d) = a + b·d over distances whose empirical CDF F holds ≥ ``min_count`` pairs and ≤
    ``max_quantile``; None when fewer than 3 such distances exist."""
    if distances.size == 0:
        return None
    hist = np.bincount(distances)
    cum = np.cumsum(hist)
    cdf = cum / distances.size
    d = np.arange(hist.size)
    sel = (cum >= min_count) & (cdf <= max_quantile) & (hist > 0)
    if int(sel.sum()) < 3:
        return None
    b, a = np.polyfit(d[sel], np.log10(cdf[sel]), 1)
    return TailModel(int(d[sel][0]), int(d[sel][-1]), int(sel.sum()), float(b), float(a + b * threshold))


def safe_log10(x: float) -> float:
    return -math.inf if x <= 0 else math.log10(x)
