"""Private matching end to end over the transform grid: tokens, vouchers, threshold and verification.

Where ``blindmatch bench protocol`` measures the token scheme by token equality and the protocol's costs on
random lists, this report sends every edited copy of a sample of benign listed images through the *real*
protocol: the custodian blinds the sample into a signed table, the client verifies it and makes one voucher per
image, the server opens outer layers, recovers the account key once ``t`` real shares exist, decrypts the inner
layers and verifies each PDQ hash against the list (distance ≤ 31). Per transform it reports recall relative to
plaintext PDQ (copies that plaintext matching finds, whose vouchers the server opened *and* verified), and for
the innocent photos how many vouchers opened an outer layer — the leak the protocol exists to prevent.

Each transform's copies go to their own account, so every transform crosses (or fails to cross) the threshold
on its own; synthetic vouchers are off here (they change *when* a key is recovered, not *whether* a voucher
opens; the protocol tests cover them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from blindmatch.eval.errors import EvalError
from blindmatch.eval.plots import single_recall_figure
from blindmatch.eval.report import Table, write_report
from blindmatch.eval.transforms import apply_seeded, list_transforms
from blindmatch.hashing.pdq import PdqResult, pdq_from_image
from blindmatch.media import MediaError, decode_image
from blindmatch.privacy.api import build_table, verify_table
from blindmatch.privacy.client import ClientAccount, VoucherClient, VoucherConfig
from blindmatch.privacy.server import VoucherServer
from blindmatch.privacy.tokens import default_scheme

__all__ = ["PrivateEvalResult", "run_private_eval"]

FAMILIES = ("jpeg", "resize", "colour", "blur", "noise", "overlay")
MATCH_DISTANCE = 31
MIN_QUALITY = 50


@dataclass(frozen=True)
class PrivateEvalResult:
    data: dict[str, Any]
    json_path: Path
    html_path: Path


def _load(path: Path) -> Image.Image:
    try:
        return decode_image(path).image.convert("RGB")
    except MediaError as exc:
        raise EvalError(f"cannot decode {path}: {exc}") from exc


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def run_private_eval(
    listed_dir: Path,
    innocent_dir: Path,
    out: Path,
    *,
    limit: int = 40,
    innocent_limit: int | None = None,
    families: Sequence[str] = FAMILIES,
    threshold: int = 10,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> PrivateEvalResult:
    listed_files = sorted(p for p in listed_dir.iterdir() if p.is_file())[:limit]
    innocent_files = sorted(p for p in innocent_dir.iterdir() if p.is_file())[:innocent_limit]
    if not listed_files:
        raise EvalError(f"no listed images in {listed_dir}")
    transforms = [t for t in list_transforms(families=families) if t.name != "jpeg_10"]
    images = [_load(p) for p in listed_files]
    originals = [pdq_from_image(im) for im in images]
    eligible = [i for i, r in enumerate(originals) if r.quality >= MIN_QUALITY]
    list_hashes = [originals[i].hash for i in eligible]

    scheme = default_scheme()
    signer = Ed25519PrivateKey.generate()
    t0 = time.process_time()
    built = build_table(list_hashes, scheme, list_id="eval-private", list_version=1, signers=[signer])
    build_cpu = time.process_time() - t0
    table = verify_table(built.table_bytes, [signer.public_key()])
    config = VoucherConfig.for_scheme(scheme, threshold=threshold, synthetic_probability=0.0)

    def verify(pdq_hex: str) -> int | None:
        best = min(_distance(pdq_hex, h) for h in list_hashes)
        return best if best <= MATCH_DISTANCE else None

    server = VoucherServer(built.custodian.alpha, {table.root[:8]}, config, verify=verify)
    client_cpu: list[float] = []
    server_cpu: list[float] = []

    def send(account: str, result: PdqResult) -> tuple[bool, list[Any]]:
        client = clients.setdefault(
            account, VoucherClient(table, scheme, ClientAccount.create(account, threshold), config)
        )
        c0 = time.process_time()
        voucher = client.make_voucher(result.hash_bytes, result.margins)
        client_cpu.append(time.process_time() - c0)
        s0 = time.process_time()
        outcome = server.receive(account, voucher)
        server_cpu.append(time.process_time() - s0)
        return outcome.opened, list(outcome.event.matches) if outcome.event else []

    clients: dict[str, VoucherClient] = {}
    per_transform: dict[str, dict[str, Any]] = {}
    for n, t in enumerate(transforms):
        account = f"listed/{t.name}"
        plaintext = opened = 0
        verified_pdqs: set[str] = set()
        sent_pdqs: list[tuple[str, bool]] = []
        for i in eligible:
            copy = pdq_from_image(apply_seeded(t, images[i], seed=seed))
            plain = copy.quality >= MIN_QUALITY and _distance(copy.hash, originals[i].hash) <= MATCH_DISTANCE
            plaintext += plain
            was_opened, matches = send(account, copy)
            opened += was_opened and plain
            sent_pdqs.append((copy.hash, plain))
            verified_pdqs.update(m.pdq_hex for m in matches)
        verified = sum(1 for h, plain in sent_pdqs if plain and h in verified_pdqs)
        state = server.state(account)
        per_transform[t.name] = {
            "family": t.family,
            "copies": len(eligible),
            "plaintext_matches": plaintext,
            "outer_layers_opened": opened,
            "verified_after_threshold": verified,
            "key_recovered": state.secret is not None,
            "relative_recall": (verified / plaintext) if plaintext else None,
        }
        if progress:
            progress("private matching: listed copies", n + 1, len(transforms))

    innocent_opened = 0
    for n, path in enumerate(innocent_files):
        innocent_hit, _ = send("innocent", pdq_from_image(_load(path)))
        innocent_opened += innocent_hit
        if progress and (n + 1) % 50 == 0:
            progress("private matching: innocent photos", n + 1, len(innocent_files))

    fam_rows = []
    fam_recall: dict[str, float | None] = {}
    for fam in families:
        rows = [v for v in per_transform.values() if v["family"] == fam]
        fam_plain = sum(v["plaintext_matches"] for v in rows)
        fam_ver = sum(v["verified_after_threshold"] for v in rows)
        fam_recall[fam] = fam_ver / fam_plain if fam_plain else None
        fam_rows.append((fam, fam_plain, fam_ver, "-" if not fam_plain else f"{fam_ver / fam_plain:.3f}"))
    data: dict[str, Any] = {
        "parameters": {
            "listed_images": len(listed_files),
            "eligible_listed": len(eligible),
            "innocent_images": len(innocent_files),
            "threshold_t": threshold,
            "match_distance": MATCH_DISTANCE,
            "min_quality": MIN_QUALITY,
            "seed": seed,
            "scheme": scheme.params(),
            "voucher_config": {"token_count": config.token_count, "cuckoo_ways": config.cuckoo_ways},
        },
        "per_transform": per_transform,
        "per_family_relative_recall": fam_recall,
        "innocent": {"vouchers": len(innocent_files), "outer_layers_opened": innocent_opened},
        "costs": {
            "table_bytes_per_entry": len(built.table_bytes) / max(1, len(list_hashes)),
            "table_build_cpu_s": build_cpu,
            "voucher_bytes": config.voucher_bytes,
            "client_cpu_ms_median": float(np.median(client_cpu)) * 1e3,
            "server_cpu_ms_median": float(np.median(server_cpu)) * 1e3,
        },
    }
    figure = single_recall_figure(
        list(families),
        [fam_recall[f] or 0.0 for f in families],
        "private matching, relative to plaintext PDQ",
        "Private-matching recall per transform family",
        "Share of plaintext PDQ matches (distance ≤ 31) whose vouchers the server opened and verified after the "
        "account crossed the threshold (the protocol matches the image's own orientation only).",
    )
    json_path, html_path = write_report(
        "private_matching",
        data,
        [figure],
        out,
        title="Private matching end to end",
        headlines=[
            f"{len(eligible)} listed stand-ins blinded into a signed table; "
            f"{len(transforms)} transforms; t = {threshold}",
            f"innocent photos whose vouchers opened an outer layer: {innocent_opened} of {len(innocent_files)}",
            "relative recall per family: "
            + ", ".join(f"{f} {'-' if r is None else f'{r:.3f}'}" for f, r in fam_recall.items()),
        ],
        tables=[
            Table(
                "Per family",
                ("family", "plaintext matches", "verified private matches", "relative recall"),
                tuple(fam_rows),
            ),
            Table(
                "Per transform",
                ("transform", "plaintext", "opened", "verified", "key recovered"),
                tuple(
                    (
                        k,
                        v["plaintext_matches"],
                        v["outer_layers_opened"],
                        v["verified_after_threshold"],
                        v["key_recovered"],
                    )
                    for k, v in per_transform.items()
                ),
            ),
        ],
        notes=[
            "Thresholds are never tuned per transform.",
            "Synthetic vouchers are off in this report; they delay key recovery but do not change which vouchers open.",
        ],
    )
    return PrivateEvalResult(data, json_path, html_path)
