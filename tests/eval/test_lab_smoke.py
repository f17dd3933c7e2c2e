"""End-to-end smoke test of the lab on a small subset of the real benign photos (fast enough for ``make test``)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from blindmatch.eval.compute import hamming_matrix, hash_corpus
from blindmatch.eval.corpus import list_images
from blindmatch.eval.errors import EvalError, InvalidParameterError, NoImagesError, UnknownHasherError
from blindmatch.eval.hashers import get_hasher
from blindmatch.eval.matchers import HammingMatcher, evaluate_matcher
from blindmatch.eval.metrics import false_matches
from blindmatch.eval.runner import (
    Tables,
    compute_tables,
    false_positive_report,
    robustness_report,
    run_policy,
    run_robustness,
)

TRANSFORMS = ("jpeg_75", "rotate_90", "flip_horizontal", "crop_centre_20", "png")


@pytest.fixture(scope="module")
def tables(shared_data: Path) -> Tables:
    images = shared_data / "images"
    return compute_tables(
        images / "listed",
        images / "innocent",
        transforms=TRANSFORMS,
        fp_transforms=("jpeg_50",),
        limit=10,
        comparators=(),
        workers=1,
    )


def test_robustness_on_real_photos(tables: Tables, tmp_path: Path) -> None:
    rep = robustness_report(tables, tmp_path)
    assert rep.n_listed == 10 and rep.excluded_listed == 0
    assert rep.transform("jpeg_75").recall >= 0.9
    assert rep.transform("png").recall == 1.0  # lossless: identical pixels, identical hash
    rot = rep.transform("rotate_90")
    assert rot.recall <= 0.2  # PDQ is not rotation invariant ...
    assert rot.recall_dihedral is not None and rot.recall_dihedral >= 0.9  # ... but dihedral matching finds it
    assert rep.transform("flip_horizontal").recall_dihedral == pytest.approx(1.0)
    assert rep.transform("crop_centre_20").recall < rep.transform("jpeg_75").recall
    assert rep.family("rotate_90").recall == rot.recall


def test_reports_are_self_contained_and_state_provenance(tables: Tables, tmp_path: Path) -> None:
    rep = robustness_report(tables, tmp_path)
    assert rep.json_path is not None and rep.html_path is not None
    html = rep.html_path.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 3
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched from elsewhere
    assert "never tuned per transform" in html
    data = json.loads(rep.json_path.read_text(encoding="utf-8"))
    prov = data["provenance"]
    assert prov["packages"]["numpy"] == np.__version__
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"])
    assert data["parameters"]["seed"] == 0 and data["parameters"]["threshold"] == 31
    assert data["data"]["n_listed"] == 10 and len(data["data"]["listed_digest"]) == 16
    jpeg = next(t for t in data["transforms"] if t["name"] == "jpeg_75")
    assert jpeg["recall"] == rep.transform("jpeg_75").recall


def test_false_positive_counts_agree_with_brute_force(tables: Tables, tmp_path: Path) -> None:
    rep = false_positive_report(tables, tmp_path)
    lt, it = tables.listed[tables.primary], tables.innocent[tables.primary]
    orig = rep.summary("originals, plain")
    eligible_l = (lt.quality[:, 0] >= 50).sum()
    eligible_i = (it.quality[:, 0] >= 50).sum()
    assert orig.pairs == eligible_l * eligible_i
    brute = sum(
        bin(int(a, 16) ^ int(b, 16)).count("1") <= 31
        for a in (bytes(x).hex() for x in it.plain[it.quality[:, 0] >= 50, 0])
        for b in (bytes(y).hex() for y in lt.plain[lt.quality[:, 0] >= 50, 0])
    )
    assert orig.matches == brute
    assert 0.0 <= orig.rate_ci95[0] <= orig.rate <= orig.rate_ci95[1] < 1.0
    assert orig.extrapolation["1000000"]["upper95"] >= orig.extrapolation["10000"]["upper95"]
    assert rep.summary("transformed innocent, plain").pairs == orig.pairs  # one transform (jpeg_50)
    assert rep.det.thresholds == list(range(129))  # covers the usual 0..64
    assert rep.det.false_match_rate == sorted(rep.det.false_match_rate)
    assert rep.det.miss_rate == sorted(rep.det.miss_rate, reverse=True)
    assert rep.html_path is not None and "Clopper" in rep.html_path.read_text(encoding="utf-8")


def test_near_duplicate_is_counted_as_a_false_match(tables: Tables) -> None:
    """A test that can fail: put a listed image's own JPEG copy among the 'innocent' hashes and it must count."""
    lt = tables.listed[tables.primary]
    it = tables.innocent[tables.primary]
    j = lt.column("jpeg_75")
    planted = type(it)(
        it.hasher, it.bits, it.paths, it.columns, it.plain.copy(), None, it.quality.copy(), it.ok.copy(), ()
    )
    planted.plain[0, 0] = lt.plain[3, j]
    planted.quality[0, 0] = 100
    planted.ok[0, 0] = True
    s, _ = false_matches(lt, planted, threshold=31, min_quality=50)
    assert s.matches >= 1 and s.images_matching_any >= 1 and s.min_distance <= 31


def test_matcher_extension_point_reproduces_hamming_grid(tables: Tables, tmp_path: Path) -> None:
    rep = robustness_report(tables, tmp_path)
    lt, it = tables.listed[tables.primary], tables.innocent[tables.primary]
    for dihedral in (False, True):
        grid = evaluate_matcher(HammingMatcher(31, 50), lt, it, dihedral=dihedral)
        for name in TRANSFORMS:
            t = rep.transform(name)
            assert grid.recall[name] == pytest.approx(t.recall_dihedral if dihedral else t.recall)
    fp = false_positive_report(tables, tmp_path)
    assert (
        evaluate_matcher(HammingMatcher(31, 50), lt, it).innocent_false_matches
        == fp.summary("originals, plain").matches
    )


def test_run_robustness_entry_point(shared_data: Path, tmp_path: Path) -> None:
    images = shared_data / "images"
    rep = run_robustness(
        images / "listed",
        images / "innocent",
        tmp_path,
        transforms=["jpeg_50"],
        limit=4,
        workers=1,
        comparators=(),
    )
    assert rep.transform("jpeg_50").n == 4 and rep.transform("jpeg_50").recall == 1.0
    assert (tmp_path / "robustness.json").exists() and (tmp_path / "robustness.html").exists()


def test_policy_report_monotone_and_written(tmp_path: Path) -> None:
    rep = run_policy(tmp_path, per_image_fp_rate=1e-10, thresholds=range(1, 31))
    p = [r.p_account_flagged for r in rep.sweep]
    assert all(b <= a for a, b in itertools.pairwise(p)) and p[0] > p[-1]
    data = json.loads((tmp_path / "policy.json").read_text(encoding="utf-8"))
    assert data["apple_claim"]["threshold"] == 30
    assert len(data["sweep"]) == 30
    assert "1e-12" in (tmp_path / "policy.html").read_text(encoding="utf-8")


def test_parallel_hashing_equals_serial(shared_data: Path) -> None:
    paths = list_images(shared_data / "images" / "listed", 4)
    serial = hash_corpus(paths, ["noise_gaussian_10", "caption"], [("pdq", True)], seed=5, workers=1)["pdq"]
    parallel = hash_corpus(paths, ["noise_gaussian_10", "caption"], [("pdq", True)], seed=5, workers=2)["pdq"]
    assert np.array_equal(serial.plain, parallel.plain)
    assert serial.dihedral is not None and parallel.dihedral is not None
    assert np.array_equal(serial.dihedral, parallel.dihedral)
    assert hamming_matrix(serial.plain[:, 0], serial.plain[:, 0]).diagonal().max() == 0


def test_bad_inputs_raise_specific_errors(shared_data: Path, tmp_path: Path) -> None:
    images = shared_data / "images"
    with pytest.raises(NoImagesError):
        list_images(tmp_path)
    with pytest.raises(NoImagesError):
        list_images(tmp_path / "missing")
    with pytest.raises(UnknownHasherError):
        get_hasher("md6")
    with pytest.raises(InvalidParameterError):
        run_robustness(images / "listed", images / "innocent", tmp_path, threshold=300, limit=2)
    with pytest.raises(EvalError):
        run_robustness(images / "listed", images / "innocent", tmp_path, transforms=["jpeg_7"], limit=2)


def test_run_all_writes_every_report(shared_data: Path, tmp_path: Path) -> None:
    from blindmatch.eval.runner import run_all

    images = shared_data / "images"
    summary = run_all(
        images / "listed",
        images / "innocent",
        tmp_path,
        limit=3,
        transforms=["jpeg_75", "rotate_180"],
        fp_transforms=["jpeg_50"],
        comparators=(),
        workers=1,
    )
    for name in ("robustness", "false_positives", "policy", "summary"):
        assert (tmp_path / f"{name}.json").exists() and (tmp_path / f"{name}.html").exists()
    assert summary["family_recall"]["jpeg"] == 1.0
    assert summary["family_recall_dihedral"]["rotate_90"] == 1.0
    assert summary["policy_at_t"]["account_threshold_t"] == 30
    on_disk = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert on_disk["summary"]["n_listed"] == 3 and on_disk["provenance"]["git"]["commit"]


def test_missing_comparator_is_reported_not_fatal(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blindmatch.eval import hashers
    from blindmatch.eval.errors import HasherUnavailableError

    def absent() -> hashers.Hasher:
        raise HasherUnavailableError("imagehash is not installed (simulated)")

    monkeypatch.setitem(hashers._FACTORIES, "phash", absent)
    hashers.get_hasher.cache_clear()
    try:
        images = shared_data / "images"
        rep = run_robustness(
            images / "listed",
            images / "innocent",
            tmp_path,
            transforms=["jpeg_75"],
            limit=2,
            workers=1,
            comparators=("phash",),
        )
    finally:
        hashers.get_hasher.cache_clear()
    assert rep.comparators == {}
    data = json.loads((tmp_path / "robustness.json").read_text(encoding="utf-8"))
    assert "simulated" in data["parameters"]["comparators_absent"]["phash"]
    assert "Comparator phash absent" in (tmp_path / "robustness.html").read_text(encoding="utf-8")
