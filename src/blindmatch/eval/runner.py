"""The lab's entry points: robustness, false positives, policy, and ``run_all`` for ``make eval``.

Each ``run_*`` does the I/O (find images, hash them in parallel, write a JSON + HTML report) around the pure
computations of :mod:`~blindmatch.eval.metrics` and :mod:`~blindmatch.eval.policy`. ``run_all`` hashes the
corpus once and derives every report from the same tables, which is what makes the full DEV corpus
(224 listed × 588 innocent, all transforms) fit in minutes on two cores.

The decision rule is the production one (PDQ distance ≤ 31, quality ≥ 50 unless told otherwise) for every
transform; it is never tuned per transform, and each report says so.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blindmatch.eval import plots
from blindmatch.eval.compute import ORIGINAL, HashTable, hash_corpus
from blindmatch.eval.corpus import corpus_digest, list_images
from blindmatch.eval.errors import EvalError, HasherUnavailableError, InvalidParameterError
from blindmatch.eval.hashers import available_hashers, default_hasher_name, get_hasher
from blindmatch.eval.metrics import (
    DetCurve,
    FalseMatchSummary,
    FamilyRobustness,
    TailModel,
    TransformRobustness,
    det_curve,
    false_matches,
    listed_eligible,
    pairs_needed_for_bound,
    robustness_by_family,
    robustness_by_transform,
    tail_model,
)
from blindmatch.eval.policy import APPLE_CLAIM, PolicyResult, max_pair_rate_for_goal, policy, policy_sweep
from blindmatch.eval.report import Figure, Table, provenance, write_report
from blindmatch.eval.transforms import list_transforms

__all__ = [
    "DEFAULT_FP_TRANSFORMS",
    "FalsePositiveReport",
    "PolicyReport",
    "RobustnessReport",
    "Tables",
    "compute_tables",
    "default_corpus",
    "run_all",
    "run_false_positives",
    "run_policy",
    "run_robustness",
]

#: ``progress(stage, done, total)``: called after each image is hashed (stage is "listed" or "innocent").
Progress = Callable[[str, int, int], None]

#: Edits ordinary traffic commonly carries; innocent images are also hashed under these for the FP study.
DEFAULT_FP_TRANSFORMS: tuple[str, ...] = (
    "jpeg_50",
    "resize_0.5",
    "crop_centre_10",
    "greyscale",
    "contrast_1.3",
    "caption",
    "meme",
    "screenshot_phone",
    "flip_horizontal",
)
#: DET curves cover thresholds 0..128 (a superset of the usual 0..64): on benign photos no innocent pair comes
#: within 64 bits, so the curve only becomes visible further out.
DET_MAX_THRESHOLD = 128
COMPARATORS: tuple[str, ...] = ("pdqhash", "phash")
NOT_TUNED = (
    "The match rule is fixed in advance (Hamming distance ≤ threshold, quality ≥ min_quality on both sides) and is "
    "the same for every transform and every family: thresholds are never tuned per transform."
)
DATA_NOTE = (
    "All images are benign photographs (BSDS500, Kodak, ImageNet samples): 'listed' images stand in for list "
    "entries and 'innocent' images for ordinary traffic. No abuse material was used or generated."
)


@dataclass(frozen=True)
class Tables:
    """Hashes of the listed and innocent corpora, per hasher, plus what the run was asked to do."""

    primary: str
    listed: dict[str, HashTable]
    innocent: dict[str, HashTable]
    absent: dict[str, str]
    parameters: dict[str, Any]
    data: dict[str, Any]
    seconds: float
    cpu_seconds: float = 0.0


def _validate(threshold: int, min_quality: int | None, bits: int) -> None:
    if not isinstance(threshold, int) or not 0 <= threshold <= bits:
        raise InvalidParameterError(f"threshold must be an integer in [0, {bits}], got {threshold!r}")
    if min_quality is not None and not (isinstance(min_quality, int) and 0 <= min_quality <= 100):
        raise InvalidParameterError(f"min_quality must be an integer in [0, 100] or None, got {min_quality!r}")


def default_corpus() -> tuple[Path, Path]:
    """The DEV corpus folders: ``$BLINDMATCH_DATA/images/{listed,innocent}``, else ``<repo>/../shared/data``."""
    root = Path(os.environ.get("BLINDMATCH_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
    return root / "images" / "listed", root / "images" / "innocent"


def compute_tables(
    listed: Path,
    innocent: Path,
    *,
    transforms: Sequence[str] | None = None,
    fp_transforms: Sequence[str] = (),
    limit: int | None = None,
    seed: int = 0,
    hasher: str | None = None,
    comparators: Sequence[str] = COMPARATORS,
    workers: int | None = None,
    innocent_dihedral: bool = True,
    progress: Progress | None = None,
) -> Tables:
    """Hash listed images under ``transforms`` (default: all) and innocent images under ``fp_transforms``."""
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    primary = hasher or default_hasher_name()
    get_hasher(primary)
    names = (
        [t.name for t in list_transforms()]
        if transforms is None
        else [t.name for t in list_transforms(names=transforms)]
    )
    fp_names = [t.name for t in list_transforms(names=fp_transforms)] if fp_transforms else []
    absent: dict[str, str] = {}
    specs: list[tuple[str, bool]] = [(primary, True)]
    for c in comparators:
        if c == primary:
            continue
        try:
            get_hasher(c)
            specs.append((c, False))  # comparators: plain only (8× cheaper); dihedral is a PDQ-side question
        except HasherUnavailableError as exc:
            absent[c] = str(exc)
    for name, reason in available_hashers().items():
        if reason is not None and name not in absent and name in (primary, *comparators):
            absent[name] = reason
    lpaths = list_images(listed, limit)
    ipaths = list_images(innocent, limit)
    ltabs = hash_corpus(
        lpaths,
        names,
        specs,
        seed=seed,
        workers=workers,
        progress=None if progress is None else (lambda d, n: progress("listed", d, n)),
    )
    ispecs = [(h, d and innocent_dihedral) for h, d in specs]
    itabs = hash_corpus(
        ipaths,
        fp_names,
        ispecs,
        seed=seed,
        workers=workers,
        progress=None if progress is None else (lambda d, n: progress("innocent", d, n)),
    )
    params: dict[str, Any] = {
        "hasher": get_hasher(primary).name,
        "hasher_is_reference_pdqhash": primary == "pdqhash",
        "comparators": [h for h, _ in specs[1:]],
        "comparators_absent": absent,
        "seed": seed,
        "limit": limit,
        "transforms": names,
        "fp_transforms": fp_names,
        "workers": workers,
        "dihedral": "query hashed in its 8 orientations; match if any is within threshold of the listed hash",
    }
    data = {
        "listed_dir": str(listed),
        "innocent_dir": str(innocent),
        "n_listed": len(lpaths),
        "n_innocent": len(ipaths),
        "listed_digest": corpus_digest(lpaths),
        "innocent_digest": corpus_digest(ipaths),
        "note": DATA_NOTE,
    }
    return Tables(primary, ltabs, itabs, absent, params, data, time.perf_counter() - t0, _cpu_seconds() - cpu0)


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the hashing workers): load-independent cost."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# ------------------------------------------------------------------------------------------------ robustness


@dataclass(frozen=True)
class RobustnessReport:
    """Robustness results for the primary hasher (and plain-matching comparators)."""

    hasher: str
    threshold: int
    min_quality: int | None
    n_listed: int
    excluded_listed: int
    transforms: tuple[TransformRobustness, ...]
    families: tuple[FamilyRobustness, ...]
    comparators: dict[str, tuple[FamilyRobustness, ...]]
    det: DetCurve | None
    json_path: Path | None = None
    html_path: Path | None = None
    errors: tuple[str, ...] = field(default=())

    def transform(self, name: str) -> TransformRobustness:
        for t in self.transforms:
            if t.name == name:
                return t
        raise EvalError(f"transform {name!r} is not in this report")

    def family(self, name: str) -> FamilyRobustness:
        for f in self.families:
            if f.family == name:
                return f
        raise EvalError(f"family {name!r} is not in this report")


def robustness_report(
    tables: Tables, out: Path, *, threshold: int = 31, min_quality: int | None = 50, name: str = "robustness"
) -> RobustnessReport:
    """Compute robustness from hashed tables and write ``<name>.json/.html`` into ``out``."""
    lt = tables.listed[tables.primary]
    _validate(threshold, min_quality, lt.bits)
    per_t = robustness_by_transform(lt, threshold=threshold, min_quality=min_quality)
    per_f = robustness_by_family(per_t)
    excluded = int((~listed_eligible(lt, min_quality)).sum())
    comps: dict[str, tuple[FamilyRobustness, ...]] = {}
    comp_rows: list[tuple[object, ...]] = []
    for h, tab in tables.listed.items():
        if h == tables.primary:
            continue
        hz = get_hasher(h)
        fam = tuple(
            robustness_by_family(robustness_by_transform(tab, threshold=hz.threshold, min_quality=hz.min_quality))
        )
        comps[h] = fam
        for f in fam:
            comp_rows.append(
                (f"{f.family}", h, f"≤{hz.threshold}/{hz.bits}", f.recall, f.worst_transform, f.worst_recall)
            )
    det: DetCurve | None = None
    it = tables.innocent[tables.primary]
    _fp, inn_d = false_matches(lt, it, threshold=threshold, min_quality=min_quality)
    det = det_curve(lt, inn_d, min_quality=min_quality, max_threshold=DET_MAX_THRESHOLD)

    figures = [
        plots.family_recall_figure(
            [f.family for f in per_f],
            [f.recall for f in per_f],
            [f.recall_dihedral for f in per_f],
            f"Pooled recall per family at distance ≤ {threshold}, quality ≥ {min_quality}. Bars: plain matching; "
            "right bars: the query also hashed in its 8 orientations.",
        ),
        plots.transform_recall_figure(
            [t.name for t in per_t],
            [t.recall for t in per_t],
            [t.recall_dihedral for t in per_t],
            "Recall of each transform (bars: plain; dots: with dihedral matching).",
        ),
    ]
    fam_series: dict[str, np.ndarray] = {}
    for f in per_f:
        cols = [lt.column(t.name) for t in per_t if t.family == f.family]
        from blindmatch.eval.metrics import transform_distances

        elig = listed_eligible(lt, min_quality)
        ds = [transform_distances(lt, j)[0][elig & lt.ok[:, j]] for j in cols]
        fam_series[f.family] = np.concatenate(ds)
    figures.append(
        plots.distance_histogram_figure(
            "Distance from each transformed copy to its original, by family",
            {
                k: v
                for k, v in fam_series.items()
                if k in ("jpeg", "resize", "crop", "rotate_small", "overlay", "layout", "chain")
            },
            threshold,
            lt.bits,
            "Distribution of Hamming distances (plain matching) for selected families; the red line is the "
            "production threshold.",
        )
    )
    if det is not None:
        figures.append(
            plots.tradeoff_figure(
                det.thresholds,
                [1 - m for m in det.miss_rate],
                det.false_match_rate,
                threshold,
                "Recall over all transforms (plain matching) and the per-pair false-match rate on innocent × listed "
                "originals, as the threshold varies; the red line is the production threshold.",
            )
        )
    rows_t = tuple(
        (
            t.name,
            t.family,
            t.recall,
            t.recall_dihedral,
            t.recall_ignoring_quality,
            t.distance_percentiles.get("p50"),
            t.distance_percentiles.get("p95"),
            t.distance_percentiles_dihedral.get("p50") if t.distance_percentiles_dihedral else None,
            t.mean_quality_drop,
            t.fraction_below_min_quality,
            t.failed_cells,
        )
        for t in per_t
    )
    tables_html = [
        Table(
            "Per family",
            ("family", "transforms", "cells", "recall", "recall (dihedral)", "worst transform", "worst recall"),
            tuple(
                (f.family, f.transforms, f.n, f.recall, f.recall_dihedral, f.worst_transform, f.worst_recall)
                for f in per_f
            ),
        ),
        Table(
            "Per transform",
            (
                "transform",
                "family",
                "recall",
                "recall (dihedral)",
                "recall ignoring quality",
                "median distance",
                "p95 distance",
                "median distance (dihedral)",
                "mean quality drop",
                "fraction quality < min",
                "failed",
            ),
            rows_t,
        ),
    ]
    if comp_rows:
        tables_html.append(
            Table(
                "Comparator hashers (plain matching, their own fixed threshold)",
                ("family", "hasher", "threshold", "recall", "worst transform", "worst recall"),
                tuple(comp_rows),
            )
        )
    worst = sorted(per_f, key=lambda f: f.recall)[:3]
    worst_dih = sorted(per_f, key=lambda f: f.recall if f.recall_dihedral is None else f.recall_dihedral)[:3]
    headlines = [
        f"{lt.hasher}: {tables.data['n_listed'] - excluded} listed images × {len(per_t)} transforms; "
        f"match = distance ≤ {threshold} of {lt.bits} bits and quality ≥ {min_quality}.",
        "Weakest families (plain): " + ", ".join(f"{f.family} {f.recall:.3f}" for f in worst) + ".",
        "Weakest families with dihedral matching: "
        + ", ".join(f"{f.family} {f.recall_dihedral:.3f}" for f in worst_dih if f.recall_dihedral is not None)
        + ".",
        f"JPEG 75 recall {_r(per_t, 'jpeg_75')}; rotate 90 recall {_r(per_t, 'rotate_90')} plain, "
        f"{_r(per_t, 'rotate_90', dihedral=True)} with dihedral.",
    ]
    notes = [NOT_TUNED, DATA_NOTE]
    if tables.primary == "pdqhash":
        notes.append(
            "blindmatch's own PDQ (blindmatch.hashing.pdq) was not available, so these numbers are for the reference "
            "pdqhash binding (the C++ PDQ core on full-resolution pixels)."
        )
    for h, why in tables.absent.items():
        notes.append(f"Comparator {h} absent: {why}")
    data = {
        "parameters": {**tables.parameters, "threshold": threshold, "min_quality": min_quality},
        "data": {**tables.data, "excluded_listed_low_quality": excluded},
        "families": [f.to_dict() for f in per_f],
        "transforms": [t.to_dict() for t in per_t],
        "comparators": {h: [f.to_dict() for f in fam] for h, fam in comps.items()},
        "det": det.to_dict() if det else None,
        "errors": list(lt.errors[:200]),
        "hashing_seconds": tables.seconds,
        "hashing_cpu_seconds": tables.cpu_seconds,
        "provenance": provenance(),
    }
    jp, hp = write_report(
        name,
        data,
        figures,
        out,
        title="Robustness of perceptual matching to everyday edits",
        headlines=headlines,
        tables=tables_html,
        notes=notes,
    )
    return RobustnessReport(
        lt.hasher,
        threshold,
        min_quality,
        int(tables.data["n_listed"]),
        excluded,
        tuple(per_t),
        tuple(per_f),
        comps,
        det,
        jp,
        hp,
        lt.errors,
    )


def _r(per_t: Sequence[TransformRobustness], name: str, *, dihedral: bool = False) -> str:
    for t in per_t:
        if t.name == name:
            v = t.recall_dihedral if dihedral else t.recall
            return "n/a" if v is None else f"{v:.3f}"
    return "n/a (not run)"


def run_robustness(
    listed: Path,
    innocent: Path,
    out: Path,
    *,
    transforms: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    threshold: int = 31,
    min_quality: int | None = 50,
    hasher: str | None = None,
    comparators: Sequence[str] = COMPARATORS,
    workers: int | None = None,
    progress: Progress | None = None,
) -> RobustnessReport:
    """Recall per transform and family, with and without dihedral matching; writes robustness.json/.html."""
    _validate(threshold, min_quality, 256)
    tables = compute_tables(
        listed,
        innocent,
        transforms=transforms,
        limit=limit,
        seed=seed,
        hasher=hasher,
        comparators=comparators,
        workers=workers,
        innocent_dihedral=False,
        progress=progress,
    )
    return robustness_report(tables, out, threshold=threshold, min_quality=min_quality)


# ------------------------------------------------------------------------------------------------ false positives


@dataclass(frozen=True)
class FalsePositiveReport:
    """False matches of innocent images against the list, with exact bounds and extrapolations."""

    hasher: str
    threshold: int
    min_quality: int | None
    summaries: tuple[FalseMatchSummary, ...]
    det: DetCurve
    tail_models: dict[str, TailModel | None]
    json_path: Path | None = None
    html_path: Path | None = None

    def summary(self, label: str) -> FalseMatchSummary:
        for s in self.summaries:
            if s.label == label:
                return s
        raise EvalError(f"no summary {label!r}; have {[s.label for s in self.summaries]}")

    @property
    def worst_upper_bound(self) -> float:
        """The largest 95 % upper bound on the per-pair rate over all conditions (the conservative input)."""
        return max(s.rate_ci95[1] for s in self.summaries)


def false_positive_report(
    tables: Tables, out: Path, *, threshold: int = 31, min_quality: int | None = 50, name: str = "false_positives"
) -> FalsePositiveReport:
    """Count innocent × listed matches (originals and transformed, plain and dihedral) and write the report."""
    lt, it = tables.listed[tables.primary], tables.innocent[tables.primary]
    _validate(threshold, min_quality, lt.bits)
    fp_cols = [c for c in it.columns if c != ORIGINAL]
    summaries: list[FalseMatchSummary] = []
    dist: dict[str, np.ndarray] = {}
    orig, orig_d = false_matches(lt, it, threshold=threshold, min_quality=min_quality, label="originals, plain")
    summaries.append(orig)
    dist[orig.label] = orig_d
    if it.dihedral is not None:
        s, dih_d = false_matches(
            lt, it, threshold=threshold, min_quality=min_quality, dihedral=True, label="originals, dihedral"
        )
        summaries.append(s)
        dist[s.label] = dih_d
    else:
        dih_d = np.zeros(0, dtype=np.int32)
    tr_d = np.zeros(0, dtype=np.int32)
    if fp_cols:
        s, tr_d = false_matches(
            lt, it, threshold=threshold, min_quality=min_quality, columns=fp_cols, label="transformed innocent, plain"
        )
        summaries.append(s)
        dist[s.label] = tr_d
        if it.dihedral is not None:
            s, trd_d = false_matches(
                lt,
                it,
                threshold=threshold,
                min_quality=min_quality,
                columns=fp_cols,
                dihedral=True,
                label="transformed innocent, dihedral",
            )
            summaries.append(s)
            dist[s.label] = trd_d
    tails = {label: tail_model(d, threshold) for label, d in dist.items()}
    comp_rows: list[tuple[object, ...]] = []
    for h, ctab in tables.listed.items():
        if h == tables.primary:
            continue
        hz = get_hasher(h)
        cs, _ = false_matches(ctab, tables.innocent[h], threshold=hz.threshold, min_quality=hz.min_quality, label=h)
        comp_rows.append(
            (h, f"≤{hz.threshold}/{hz.bits}", cs.pairs, cs.matches, cs.rate, cs.rate_ci95[1], cs.min_distance)
        )
    det = det_curve(lt, orig_d, min_quality=min_quality, max_threshold=DET_MAX_THRESHOLD)
    det_dih = (
        det_curve(lt, dih_d, min_quality=min_quality, dihedral=True, max_threshold=DET_MAX_THRESHOLD)
        if dih_d.size
        else None
    )

    inn_ok = it.ok[:, 0] & ((it.quality[:, 0] >= min_quality) if min_quality is not None else True)
    from blindmatch.eval.compute import hamming_matrix

    nearest = hamming_matrix(it.plain[inn_ok, 0], lt.plain[listed_eligible(lt, min_quality), 0]).min(axis=1)
    figures: list[Figure] = [
        plots.distance_histogram_figure(
            "Innocent × listed distance distribution",
            {"originals, plain": orig_d, "originals, dihedral (min of 8)": dih_d, "transformed innocent": tr_d},
            threshold,
            lt.bits,
            "Every quality-eligible innocent × listed pair (log scale). Unrelated PDQ hashes cluster near half the "
            "bits; the left tail near the red threshold line is what false matches come from.",
            log_y=True,
        ),
        plots.distance_histogram_figure(
            "Distance from each innocent image to its nearest listed image",
            {"nearest listed (plain)": nearest},
            threshold,
            lt.bits,
            "How close the closest list entry comes to each innocent photo.",
        ),
        plots.det_figure(
            det.false_match_rate,
            det.miss_rate,
            {
                k: v
                for k, v in det.miss_rate_by_family.items()
                if k in ("jpeg", "resize", "crop", "rotate_small", "overlay", "layout", "chain")
            },
            orig.pairs,
            "Each point is one threshold t = 0..128: x = fraction of innocent × listed pairs within t, y = fraction of "
            "transformed listed copies not within t (or failing the quality gate). Plain matching.",
        ),
    ]
    if det_dih is not None:
        figures.append(
            plots.det_figure(
                det_dih.false_match_rate,
                det_dih.miss_rate,
                {},
                int(dih_d.size),
                "As above with dihedral matching on both axes (8 orientations tried per query).",
            )
        )
    figures.append(
        plots.tradeoff_figure(
            det.thresholds,
            [1 - m for m in det.miss_rate],
            det.false_match_rate,
            threshold,
            "Recall (all transforms) and per-pair false-match rate against the threshold.",
        )
    )
    rows = tuple(
        (
            s.label,
            s.pairs,
            s.matches,
            s.rate,
            s.rate_ci95[1],
            s.images,
            s.images_matching_any,
            s.image_rate_ci95[1],
            s.min_distance,
        )
        for s in summaries
    )
    ext_rows = tuple((s.label, int(n), v["point"], v["upper95"]) for s in summaries for n, v in s.extrapolation.items())
    close_rows = tuple((c["distance"], c["innocent"], c["innocent_transform"], c["listed"]) for c in orig.closest)
    tabs = [
        Table(
            "False matches",
            (
                "condition",
                "pairs",
                "pairs ≤ t",
                "rate",
                "95% upper (Clopper–Pearson)",
                "innocent images",
                "images matching any",
                "per-image 95% upper",
                "min distance",
            ),
            rows,
            note="Per-image columns: how many innocent images match at least one of the listed images used here.",
        ),
        Table(
            "Extrapolation: chance that one innocent image matches a list of N entries",
            ("condition", "list size N", "point estimate", "95% upper bound"),
            ext_rows,
            note="1 − (1 − p)^N with p the per-pair rate (point) or its Clopper–Pearson 95% upper bound.",
        ),
        Table(
            "Closest innocent × listed pairs (originals)", ("distance", "innocent", "transform", "listed"), close_rows
        ),
    ]
    if comp_rows:
        tabs.append(
            Table(
                "Comparators (originals, plain)",
                ("hasher", "threshold", "pairs", "pairs ≤ t", "rate", "95% upper", "min distance"),
                tuple(comp_rows),
            )
        )
    headline = [
        f"{s.label}: {s.matches} of {s.pairs:,} pairs within {threshold} "
        f"(95% upper bound {s.rate_ci95[1]:.2e} per pair)"
        for s in summaries
    ]
    best = max(summaries, key=lambda x: x.pairs)
    headline.append(
        f"No bound below {best.rate_ci95[1]:.1e} per pair can be shown from {best.pairs:,} pairs: proving a rate of "
        f"1e-9 with zero matches needs {pairs_needed_for_bound(1e-9):.2e} pairs, 1e-12 needs "
        f"{pairs_needed_for_bound(1e-12):.2e}."
    )
    to = tails.get(orig.label)
    if to is not None:
        headline.append(
            f"Model, not a bound: a log-linear fit of the lower tail (distances {to.fitted_from}–{to.fitted_to}) "
            f"extrapolated to {threshold} gives about 10^{to.log10_rate_at_threshold:.1f} per pair (originals, plain)."
        )
    e6 = orig.extrapolation.get(str(10**6))
    if e6:
        headline.append(
            f"Against a 1,000,000-entry list one innocent image would match with probability ≤ {e6['upper95']:.3g} "
            "(95% bound, originals, plain)."
        )
    notes = [
        NOT_TUNED,
        DATA_NOTE,
        "Clopper–Pearson treats pairs as independent trials; pairs sharing an image are not fully independent, so "
        "the per-image columns are given as a check. Extrapolation assumes new list entries behave like these.",
    ]
    data = {
        "parameters": {**tables.parameters, "threshold": threshold, "min_quality": min_quality},
        "data": tables.data,
        "summaries": [s.to_dict() for s in summaries],
        "tail_models": {k: (v.to_dict() if v else None) for k, v in tails.items()},
        "pairs_needed_for_zero_match_bound": {f"{r:g}": pairs_needed_for_bound(r) for r in (1e-6, 1e-9, 1e-12)},
        "comparators": [
            dict(zip(("hasher", "threshold", "pairs", "matches", "rate", "upper95", "min_distance"), r, strict=True))
            for r in comp_rows
        ],
        "distance_histogram_originals": np.bincount(orig_d, minlength=lt.bits + 1).tolist(),
        "distance_histogram_dihedral": np.bincount(dih_d, minlength=lt.bits + 1).tolist() if dih_d.size else None,
        "distance_histogram_transformed": np.bincount(tr_d, minlength=lt.bits + 1).tolist() if tr_d.size else None,
        "det": det.to_dict(),
        "det_dihedral": det_dih.to_dict() if det_dih else None,
        "provenance": provenance(),
    }
    jp, hp = write_report(
        name,
        data,
        figures,
        out,
        title="False matches of innocent images at list scale",
        headlines=headline,
        tables=tabs,
        notes=notes,
    )
    return FalsePositiveReport(lt.hasher, threshold, min_quality, tuple(summaries), det, tails, jp, hp)


def run_false_positives(
    listed: Path,
    innocent: Path,
    out: Path,
    *,
    fp_transforms: Sequence[str] = DEFAULT_FP_TRANSFORMS,
    limit: int | None = None,
    seed: int = 0,
    threshold: int = 31,
    min_quality: int | None = 50,
    hasher: str | None = None,
    comparators: Sequence[str] = COMPARATORS,
    workers: int | None = None,
    progress: Progress | None = None,
) -> FalsePositiveReport:
    """All listed × innocent pairs (and transformed innocent × listed); writes false_positives.json/.html."""
    _validate(threshold, min_quality, 256)
    tables = compute_tables(
        listed,
        innocent,
        transforms=None,
        fp_transforms=fp_transforms,
        limit=limit,
        seed=seed,
        hasher=hasher,
        comparators=comparators,
        workers=workers,
        progress=progress,
    )
    return false_positive_report(tables, out, threshold=threshold, min_quality=min_quality)


# ------------------------------------------------------------------------------------------------ policy


@dataclass(frozen=True)
class PolicyReport:
    """The policy sweep against the account threshold, and the setting at the chosen t."""

    at_threshold: PolicyResult
    sweep: tuple[PolicyResult, ...]
    json_path: Path | None = None
    html_path: Path | None = None


def run_policy(
    out: Path,
    *,
    images_per_day: float = 50.0,
    list_size: int = 1_000_000,
    per_image_fp_rate: float = 1e-9,
    account_threshold_t: int = 30,
    synthetic_rate: float = 0.0,
    accounts: int = 1_000_000_000,
    recall: float = 0.9,
    listed_per_day: int = 1,
    review_minutes_per_image: float = 1.0,
    thresholds: Sequence[int] = tuple(range(1, 61)),
    source: str = "given on the command line",
    scenarios: Mapping[str, float] | None = None,
    name: str = "policy",
) -> PolicyReport:
    """Sweep the account threshold; plots of false flags, workload and detection delay against t.

    ``scenarios`` maps a label to another per-pair rate (e.g. a model estimate) drawn alongside the main one.
    Also computes, for every t, the largest per-pair rate that meets Apple's stated goal.
    """
    common: dict[str, Any] = {
        "images_per_day": images_per_day,
        "list_size": list_size,
        "per_image_fp_rate": per_image_fp_rate,
        "synthetic_rate": synthetic_rate,
        "accounts": accounts,
        "recall": recall,
        "listed_per_day": listed_per_day,
        "review_minutes_per_image": review_minutes_per_image,
    }
    at = policy(account_threshold_t=account_threshold_t, **common)
    sweep = policy_sweep(thresholds, **common)
    ts = [r.account_threshold_t for r in sweep]
    goal = APPLE_CLAIM["false_flag_probability_per_account_per_year"]
    required = [max_pair_rate_for_goal(images_per_day, list_size, t, goal) for t in ts]
    scen = {f"{source} ({per_image_fp_rate:.1e})": per_image_fp_rate}
    scen.update({f"{k} ({v:.1e})": v for k, v in (scenarios or {}).items()})
    scen_sweeps = {k: policy_sweep(thresholds, **{**common, "per_image_fp_rate": v}) for k, v in scen.items()}
    scen_at = {
        k: policy(account_threshold_t=account_threshold_t, **{**common, "per_image_fp_rate": v})
        for k, v in scen.items()
    }
    volumes = sorted({images_per_day, 10.0, 200.0})
    by_volume = {v: policy_sweep(thresholds, **{**common, "images_per_day": v}) for v in volumes}
    floor = 1e-30
    floor_rate = 1e-40
    scenario_figures = [
        plots.line_figure(
            "Largest per-pair false-match rate that meets Apple's stated goal, against t",
            ts,
            {"required per-pair rate": [max(floor_rate, r) for r in required]},
            "account threshold t",
            "per-pair false-match rate",
            f"For {images_per_day:g} images/day and a list of {list_size:,}: the per-pair rate at which P[innocent "
            f"account flagged in a year] = {goal:g}. Horizontal lines: the rates this report was given.",
            log_y=True,
            hlines=[(v, k) for k, v in scen.items() if v > 0],
        ),
        plots.line_figure(
            "Falsely flagged accounts per year for each per-pair rate scenario",
            ts,
            {k: [max(1e-30, r.falsely_flagged_accounts) for r in rs] for k, rs in scen_sweeps.items()},
            "account threshold t",
            f"expected falsely flagged accounts / year (of {accounts:.0e})",
            f"{images_per_day:g} images/day, list of {list_size:,}. Values below 1e-30 are drawn at 1e-30.",
            log_y=True,
            hlines=[(goal * accounts, "Apple's stated 1e-12 × accounts")],
        ),
    ]
    figures = [
        plots.line_figure(
            "Falsely flagged accounts per year against the threshold t",
            ts,
            {f"{v:g} images/day": [max(floor, r.falsely_flagged_accounts) for r in rs] for v, rs in by_volume.items()},
            "account threshold t (matches needed)",
            f"expected falsely flagged accounts / year (of {accounts:.0e})",
            f"Binomial tail × accounts; per-pair rate {per_image_fp_rate:.2e} ({source}), list of {list_size:,}. "
            f"Values below {floor:g} are drawn at {floor:g}.",
            log_y=True,
            hline=(
                APPLE_CLAIM["false_flag_probability_per_account_per_year"] * accounts,
                "Apple's stated 1e-12 × accounts",
            ),
            vline=(float(APPLE_CLAIM["threshold"]), "t = 30 (Apple)"),
        ),
        plots.line_figure(
            "Per-account false-flag probability per year",
            ts,
            {f"{v:g} images/day": [max(floor, r.p_account_flagged) for r in rs] for v, rs in by_volume.items()},
            "account threshold t",
            "P[account falsely flagged in a year]",
            "Compared with Apple's stated design goal of one in a trillion accounts per year at t = 30.",
            log_y=True,
            hline=(APPLE_CLAIM["false_flag_probability_per_account_per_year"], "1e-12 (Apple)"),
        ),
        plots.line_figure(
            "Moderator workload against t",
            ts,
            {"hours / year": [max(floor, r.moderator_hours) for r in sweep]},
            "account threshold t",
            "review hours per year (false flags only)",
            f"Falsely flagged accounts × images reviewed each (≥ t) × {review_minutes_per_image:g} min per image.",
            log_y=True,
        ),
        plots.line_figure(
            "Detection delay against t",
            ts,
            {
                "median": [
                    r.detection_delay_days_median if r.detection_delay_days_median is not None else math.nan
                    for r in sweep
                ],
                "95th percentile": [
                    r.detection_delay_days_p95 if r.detection_delay_days_p95 is not None else math.nan for r in sweep
                ],
            },
            "account threshold t",
            "days until flagged",
            f"Account sharing {listed_per_day} listed image(s) a day, each detected with probability {recall:g}.",
        ),
    ]
    figures = scenario_figures + figures
    pick = [t for t in (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 60) if t in ts]
    rows = tuple(
        (
            r.account_threshold_t,
            r.p_account_flagged,
            r.log10_p_account_flagged,
            r.falsely_flagged_accounts,
            r.moderator_hours,
            r.p_visible_count_reaches_t,
            r.detection_delay_days_median,
            r.detection_delay_days_p95,
        )
        for r in sweep
        if r.account_threshold_t in pick
    )
    tabs = [
        Table(
            "Per-pair rate needed for Apple's goal",
            ("t", "largest per-pair rate with P[flag] ≤ 1e-12/yr"),
            tuple((t, r) for t, r in zip(ts, required, strict=True) if t in pick),
        ),
        Table(
            "Policy against the threshold t",
            (
                "t",
                "P[account flagged]/yr",
                "log10",
                "flagged accounts/yr",
                "moderator hours/yr",
                "P[visible count ≥ t] (with synthetic)",
                "delay median (days)",
                "delay p95 (days)",
            ),
            rows,
        ),
    ]
    req_at = (
        required[ts.index(account_threshold_t)]
        if account_threshold_t in ts
        else max_pair_rate_for_goal(images_per_day, list_size, account_threshold_t, goal)
    )
    scen_lines = [
        f"Scenario {k}: P[account flagged]/yr = 10^{r.log10_p_account_flagged:.1f} at t = {account_threshold_t}, "
        f"{r.falsely_flagged_accounts:.3g} accounts/yr."
        for k, r in scen_at.items()
    ]
    apple_line = (
        f"At t = {at.account_threshold_t}: P[innocent account flagged in a year] = 10^{at.log10_p_account_flagged:.1f} "
        f"(Apple's stated goal: 1e-12 at t = 30); {at.falsely_flagged_accounts:.3g} of {accounts:.0e} accounts a year."
    )
    headlines = [
        f"Apple's stated goal (1e-12 per account per year) at t = {account_threshold_t} with {images_per_day:g} "
        f"images/day and a {list_size:,}-entry list needs a per-pair false-match rate ≤ {req_at:.2e}.",
        *scen_lines,
        apple_line,
        f"Inputs: {images_per_day:g} images/day/account, list of {list_size:,}, per-pair false-match rate "
        f"{per_image_fp_rate:.2e} ({source}) → per-image probability {at.p_image_matches_list:.3g}.",
        f"Detection: an account sharing {listed_per_day}/day listed images (recall {recall:g}) is flagged after "
        f"{at.detection_delay_days_median} days (median), {at.detection_delay_days_p95} days (95th percentile).",
    ]
    notes = [
        "Model: independent images; an account is flagged when its false matches in a year reach t. Near-duplicate "
        "photos are not independent, and a per-pair rate bound from a small benign corpus is only as good as that "
        "corpus: treat these as order-of-magnitude answers, recomputed whenever the inputs change.",
        "Synthetic vouchers (rate per image) only change what the server sees before the threshold; they cannot "
        "flag an account (their shares decrypt nothing).",
    ]
    data = {
        "parameters": {
            **common,
            "account_threshold_t": account_threshold_t,
            "per_image_fp_rate_source": source,
            "thresholds": list(thresholds),
        },
        "apple_claim": APPLE_CLAIM,
        "at_threshold": at.to_dict(),
        "sweep": [r.to_dict() for r in sweep],
        "required_per_pair_rate_for_apple_goal": dict(zip([str(t) for t in ts], required, strict=True)),
        "scenarios": {k: scen_at[k].to_dict() for k in scen},
        "sweep_by_images_per_day": {f"{v:g}": [r.to_dict() for r in rs] for v, rs in by_volume.items()},
        "provenance": provenance(),
    }
    jp, hp = write_report(
        name,
        data,
        figures,
        out,
        title="Policy calculator: account thresholds, false flags, workload",
        headlines=headlines,
        tables=tabs,
        notes=notes,
    )
    return PolicyReport(at, tuple(sweep), jp, hp)


# ------------------------------------------------------------------------------------------------ all


def _policy_scenarios(fp: FalsePositiveReport) -> dict[str, float]:
    tight = min(fp.summaries, key=lambda x: x.rate_ci95[1])
    out = {f"tightest measured 95% bound ({tight.label})": tight.rate_ci95[1]}
    tm = fp.tail_models.get("originals, plain")
    if tm is not None:
        out["tail model, not a bound"] = 10.0**tm.log10_rate_at_threshold
    out["reference 1e-9"] = 1e-9
    return out


def run_all(
    listed: Path,
    innocent: Path,
    out: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    threshold: int = 31,
    min_quality: int | None = 50,
    hasher: str | None = None,
    comparators: Sequence[str] = COMPARATORS,
    workers: int | None = None,
    transforms: Sequence[str] | None = None,
    fp_transforms: Sequence[str] = DEFAULT_FP_TRANSFORMS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Hash once, then write robustness, false_positives and policy reports plus ``summary.json``."""
    t0 = time.perf_counter()
    tables = compute_tables(
        listed,
        innocent,
        transforms=transforms,
        fp_transforms=fp_transforms,
        limit=limit,
        seed=seed,
        hasher=hasher,
        comparators=comparators,
        workers=workers,
        progress=progress,
    )
    rob = robustness_report(tables, out, threshold=threshold, min_quality=min_quality)
    fp = false_positive_report(tables, out, threshold=threshold, min_quality=min_quality)
    jpeg = rob.family("jpeg").recall if any(f.family == "jpeg" for f in rob.families) else 0.9
    pol = run_policy(
        out,
        per_image_fp_rate=fp.worst_upper_bound,
        recall=jpeg,
        source="loosest measured 95% bound",
        scenarios=_policy_scenarios(fp),
    )
    summary = {
        "hasher": rob.hasher,
        "threshold": threshold,
        "min_quality": min_quality,
        "n_listed": tables.data["n_listed"],
        "n_innocent": tables.data["n_innocent"],
        "family_recall": {f.family: f.recall for f in rob.families},
        "family_recall_dihedral": {f.family: f.recall_dihedral for f in rob.families},
        "false_matches": {
            s.label: {"matches": s.matches, "pairs": s.pairs, "upper95": s.rate_ci95[1]} for s in fp.summaries
        },
        "extrapolation_originals_plain": fp.summary("originals, plain").extrapolation,
        "policy_at_t": pol.at_threshold.to_dict(),
        "hashing_seconds": tables.seconds,
        "hashing_cpu_seconds": tables.cpu_seconds,
        "total_seconds": time.perf_counter() - t0,
        "reports": [str(p) for p in (rob.html_path, fp.html_path, pol.html_path)],
    }
    fam_rows = tuple(
        (f.family, f.transforms, f.recall, f.recall_dihedral, f.worst_transform, f.worst_recall) for f in rob.families
    )
    fp_rows = tuple(
        (
            s.label,
            s.pairs,
            s.matches,
            s.rate_ci95[1],
            s.extrapolation.get(str(10**6), {}).get("upper95"),
            s.extrapolation.get(str(10**7), {}).get("upper95"),
        )
        for s in fp.summaries
    )
    write_report(
        "summary",
        {"summary": summary, "parameters": tables.parameters, "data": tables.data, "provenance": provenance()},
        [],
        out,
        title="blindmatch evaluation summary",
        headlines=[
            f"Hasher {rob.hasher}; {tables.data['n_listed']} listed × {tables.data['n_innocent']} innocent benign "
            f"photos; rule: distance ≤ {threshold}, quality ≥ {min_quality} (fixed, never tuned per transform).",
            *[f"Detailed report: {p.name}" for p in (rob.html_path, fp.html_path, pol.html_path) if p is not None],
        ],
        tables=[
            Table(
                "Recall per family",
                ("family", "transforms", "recall", "recall (dihedral)", "worst transform", "worst recall"),
                fam_rows,
            ),
            Table(
                "False matches",
                (
                    "condition",
                    "pairs",
                    "pairs ≤ t",
                    "95% upper per pair",
                    "P[match] vs 10^6 list (95% upper)",
                    "P[match] vs 10^7 list (95% upper)",
                ),
                fp_rows,
            ),
        ],
        notes=[NOT_TUNED, DATA_NOTE],
    )
    return summary
