"""``blindmatch bench protocol``: everything the private-matching targets speak of, in one run.

* Recall of the token scheme relative to plaintext PDQ (distance ≤ 31) per transform family, and the innocent
  leak (images whose vouchers would open an outer layer) at the requested list size — from
  :func:`blindmatch.privacy.token_eval.evaluate_scheme` on the benign data set.
* Costs from a real protocol run (:func:`blindmatch.privacy.bench.run_protocol_bench`): table bytes per entry,
  client CPU and voucher bytes per image, server vouchers per second per core. Table bytes per entry and the
  per-voucher costs do not depend on the list size (slots scale linearly, lookups are O(1)), so the cost run uses
  a list of at most ``cost_list_size`` entries; the report says which size it used.
* The comparator, measured in the same run: exact-hash tokens (one token per hash, as in Apple's 2021 design),
  which are cheap but miss re-encoded copies.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from blindmatch.eval.transforms import list_transforms
from blindmatch.privacy.bench import run_protocol_bench
from blindmatch.privacy.scheme import ExactTokenScheme, TokenScheme
from blindmatch.privacy.token_eval import evaluate_scheme, summary_row
from blindmatch.privacy.tokens import baseline_scheme, default_scheme

__all__ = ["TARGETS", "run_protocol_report"]

FAMILIES = ["jpeg", "resize", "colour", "blur", "noise", "overlay"]
#: The issue's targets for the default scheme.
TARGETS = {
    "relative_recall_min": 0.95,
    "innocent_open_rate_max": 1e-3,
    "table_bytes_per_entry_max": 100,
    "client_ms_max": 50,
    "voucher_bytes_max": 8192,
    "server_vouchers_per_s_min": 2000,
}


def _scheme(name: str) -> TokenScheme:
    if name == "ranked":
        return default_scheme()
    if name == "baseline":
        return baseline_scheme()
    if name == "exact":
        return ExactTokenScheme()
    raise ValueError(f"unknown scheme {name!r} (ranked, baseline, exact)")


def run_protocol_report(
    list_size: int,
    data_dir: Path,
    *,
    scheme: str = "ranked",
    cuckoo_ways: int = 3,
    cost_list_size: int = 20_000,
    images: int = 20,
    synthetic_entries: int = 0,
    out: Path | None = None,
) -> dict[str, Any]:
    transforms = [t for t in list_transforms(families=FAMILIES) if t.name != "jpeg_10"]
    chosen = _scheme(scheme)
    images_dir = data_dir / "images"
    evaluation = evaluate_scheme(
        chosen,
        images_dir / "listed",
        images_dir / "innocent",
        transforms=transforms,
        list_size_for_leak=list_size,
        synthetic_entries=synthetic_entries,
    )
    n_cost = min(list_size, cost_list_size)
    costs = run_protocol_bench(n_cost, chosen, images=images, cuckoo_ways=cuckoo_ways, token_count=None)
    comparator = run_protocol_bench(n_cost, ExactTokenScheme(), images=images, cuckoo_ways=cuckoo_ways)
    exact_eval = evaluate_scheme(
        ExactTokenScheme(),
        images_dir / "listed",
        images_dir / "innocent",
        transforms=transforms,
        list_size_for_leak=list_size,
        short_ks=(),
    )
    result: dict[str, Any] = {
        "list_size": list_size,
        "cost_list_size": n_cost,
        "scheme": chosen.name,
        "scheme_params": chosen.params(),
        "cuckoo_ways": cuckoo_ways,
        "targets": TARGETS,
        "recall_and_leak": summary_row(evaluation),
        "costs": costs,
        "comparator_exact_tokens": {"recall_and_leak": summary_row(exact_eval), "costs": comparator},
        "evaluation": evaluation,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    _print(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return result


def _print(r: dict[str, Any]) -> None:
    row, c = r["recall_and_leak"], r["costs"]
    xrow, xc = r["comparator_exact_tokens"]["recall_and_leak"], r["comparator_exact_tokens"]["costs"]
    print(f"private matching, list size {r['list_size']:,} (costs measured at {r['cost_list_size']:,} entries)")
    print(f"{'':34}{r['scheme']:>14}{'exact tokens':>14}{'target':>12}")
    for fam in FAMILIES:
        print(f"recall vs plaintext PDQ: {fam:<9} {row.get(fam, '-')!s:>14}{xrow.get(fam, '-')!s:>14}{'>= 0.95':>12}")
    leak = row.get("leak_k_extrap")
    print(f"{'innocent opens / image (extrap.)':34}{leak!s:>14}{xrow.get('leak_k_extrap', '-')!s:>14}{'<= 1e-3':>12}")
    for label, key, target in (
        ("table bytes / entry", "table_bytes_per_entry", "<= 100"),
        ("voucher bytes / image", "voucher_bytes", "<= 8192"),
        ("client CPU ms / image (median)", "client_ms_per_image_median", "<= 50"),
        ("client CPU ms / synthetic (median)", "client_ms_per_synthetic_median", "= real"),
        ("server vouchers / s / core", "server_vouchers_per_second", ">= 2000"),
    ):
        print(f"{label:34}{c[key]:>14.1f}{xc[key]:>14.1f}{target:>12}")
