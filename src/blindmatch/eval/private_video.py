"""Private matching of videos against plaintext vPDQ, on the benign sample videos.

Every sample video is in turn the *listed* video (its distinct good frames blinded into a signed table) and every
sample video is sent as a *query* through the real protocol: the client picks its representative frames
(:func:`blindmatch.hashing.vpdq.voucher_frames`) and makes one voucher; the server opens it or not and, with
``t = 1`` so that every opened voucher is decrypted at once, verifies the sampled frames with the relay's rule
(at least half of them within distance 31 of the listed video's frames). Each (listed, query) pair is compared
with the plaintext vPDQ verdict at one frame per second (the reference rule: 80 % of the listed video's frames).

What it shows: whether a video voucher opens exactly when it should (recall against plaintext: listed pairs whose
voucher opened and verified), how often unrelated videos open an outer layer (the leak), and where the sampled
rule and the whole-video rule disagree.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindmatch.eval.errors import EvalError
from blindmatch.eval.report import Table, write_report
from blindmatch.hashing.pdq import PdqResult
from blindmatch.hashing.vpdq import VpdqFrame, VpdqHash, distinct_hashes, hash_video, match_vpdq, representative_frames
from blindmatch.media.video import VideoError
from blindmatch.privacy.api import build_table, verify_table
from blindmatch.privacy.client import ClientAccount, VoucherClient, VoucherConfig
from blindmatch.privacy.server import VoucherServer
from blindmatch.privacy.tokens import default_scheme

__all__ = ["SAMPLED_MIN_PCT", "run_private_video_eval", "sampled_rule"]

#: The relay's rule for a video voucher's sampled frames (see ``service.detection.VIDEO_MIN_SAMPLED_PCT``).
SAMPLED_MIN_PCT = 50.0


def _histogram(values: Iterable[int]) -> dict[str, int]:
    """Counts by value, keys as JSON strings, in increasing order."""
    return {str(k): n for k, n in sorted(Counter(values).items())}


def sampled_rule(frames: tuple[str, ...], listed: VpdqHash) -> bool:
    """At least :data:`SAMPLED_MIN_PCT` of the sampled frames within distance 31 of the listed video's frames."""
    sampled = VpdqHash(tuple(VpdqFrame(i, 100, h, float(i)) for i, h in enumerate(frames)))
    m = match_vpdq(sampled, listed, target_pct=0.0)
    return m.target_pct > 0 and m.query_pct >= SAMPLED_MIN_PCT


def _hash(path: Path, *, fast: bool = False) -> tuple[VpdqHash, list[PdqResult]]:
    results: list[PdqResult] = []
    try:
        video = hash_video(path, seconds_per_frame=1.0, results=results, fast=fast)
    except VideoError as exc:
        raise EvalError(f"cannot hash {path}: {exc}") from exc
    return video, results


def run_private_video_eval(
    videos_dir: Path,
    out_dir: Path,
    *,
    frames_per_voucher: int = 4,
    client_fast: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every (listed, query) pair; ``client_fast`` makes the *client* hash its videos with ``fast=True``
    (luma plane, no deblocking, only the frames the samples need: several times less CPU) while the list and the
    plaintext verdict keep the reference-exact hashing, which is how a deployment would mix them."""
    paths = sorted(p for p in videos_dir.glob("*") if p.suffix.lower() in {".mp4", ".mov", ".webm", ".mkv", ".avi"})
    if not paths:
        raise EvalError(f"no sample videos in {videos_dir}")
    scheme = default_scheme()
    signer = Ed25519PrivateKey.generate()
    hashed: dict[str, tuple[VpdqHash, list[PdqResult]]] = {}
    for i, p in enumerate(paths):
        hashed[p.stem] = _hash(p)
        if progress:
            progress("hashing videos", i + 1, len(paths))
    client_hashed = hashed
    client_cpu = 0.0
    if client_fast:
        client_hashed = {}
        for i, p in enumerate(paths):
            began = time.process_time()
            client_hashed[p.stem] = _hash(p, fast=True)
            client_cpu += time.process_time() - began
            if progress:
                progress("hashing videos as the client (fast)", i + 1, len(paths))
    picks: dict[str, list[PdqResult]] = {}
    for name, (video, results) in client_hashed.items():
        first: dict[str, PdqResult] = {}
        for r in results:
            first.setdefault(r.hash, r)
        picks[name] = [first[h] for h in representative_frames(video, frames_per_voucher)]
    pairs: list[dict[str, Any]] = []
    start = time.process_time()
    names = list(hashed)
    for li, listed in enumerate(names):
        frames = distinct_hashes(hashed[listed][0])
        if not frames:
            continue
        built = build_table(frames, scheme, list_id="eval-video", list_version=1, signers=[signer])
        table = verify_table(built.table_bytes, [signer.public_key()])
        config = VoucherConfig.for_scheme(
            scheme, threshold=1, synthetic_probability=0.0, item_hashes=frames_per_voucher
        )
        target = hashed[listed][0]

        def verify_one(h: str, t: VpdqHash = target) -> bool:
            return sampled_rule((h,), t)

        def verify_frames(hs: tuple[str, ...], t: VpdqHash = target) -> bool:
            return sampled_rule(hs, t)

        for query in names:
            account = f"{listed}/{query}"
            client = VoucherClient(table, scheme, ClientAccount.create(account, 1), config)
            server = VoucherServer(
                built.custodian.alpha,
                {table.root[:8]},
                config,
                verify=verify_one,
                verify_many=verify_frames,
            )
            voucher = client.make_item_voucher([(r.hash_bytes, r.margins) for r in picks[query]])
            outcome = server.receive(account, voucher)
            state = server.state(account)
            entries_opened = state.opened[-1].entries_opened if outcome.opened and state.opened else 0
            verified = outcome.event is not None and bool(outcome.event.matches)
            plain = match_vpdq(hashed[query][0], target)
            pairs.append(
                {
                    "listed": listed,
                    "query": query,
                    "plaintext_match": plain.matched,
                    "plaintext_target_pct": round(plain.target_pct, 1),
                    "plaintext_query_pct": round(plain.query_pct, 1),
                    "sampled_frames": len(picks[query]),
                    "opened": outcome.opened,
                    "entries_opened": entries_opened,
                    "verified": verified,
                }
            )
        if progress:
            progress("listed videos", li + 1, len(names))
    cpu = time.process_time() - start
    plaintext = [p for p in pairs if p["plaintext_match"]]
    others = [p for p in pairs if not p["plaintext_match"]]
    data: dict[str, Any] = {
        "videos": len(names),
        "frames_per_voucher": frames_per_voucher,
        "client_fast": client_fast,
        "client_fast_hashing_cpu_seconds": round(client_cpu, 2) if client_fast else None,
        "pairs": len(pairs),
        "plaintext_matches": len(plaintext),
        "private_verified_of_plaintext": sum(p["verified"] for p in plaintext),
        "recall_vs_plaintext": (sum(p["verified"] for p in plaintext) / len(plaintext)) if plaintext else None,
        "non_matching_pairs": len(others),
        "non_matching_opened": sum(p["opened"] for p in others),
        "non_matching_verified": sum(p["verified"] for p in others),
        "agreement": sum(p["verified"] == p["plaintext_match"] for p in pairs),
        "protocol_cpu_seconds": round(cpu, 2),
        # how many voucher entries a verified (real) video match opens: synthetic vouchers for videos must open
        # entries with this distribution, or the count would tell the server "video match" below the threshold
        "verified_open_counts": _histogram(p["entries_opened"] for p in plaintext if p["verified"]),
        "pair_results": pairs,
    }
    disagreements = tuple(
        (p["listed"], p["query"], p["plaintext_target_pct"], p["plaintext_match"], p["opened"], p["verified"])
        for p in pairs
        if p["verified"] != p["plaintext_match"] or (p["opened"] and not p["plaintext_match"])
    )
    write_report(
        "private_video",
        data,
        [],
        out_dir,
        title="Private matching of videos (one voucher per video) vs plaintext vPDQ",
        headlines=[
            f"{len(names)} sample videos, every (listed, query) pair: {len(pairs)} pairs, "
            f"{frames_per_voucher} frames per voucher; client hashing: "
            + ("fast (same frames, no deblocking, luma plane)" if client_fast else "reference-exact, like the list"),
            f"plaintext vPDQ matches: {len(plaintext)}; verified privately: {data['private_verified_of_plaintext']}",
            f"non-matching pairs: {len(others)}; outer layer opened: {data['non_matching_opened']}; "
            f"verified (false match): {data['non_matching_verified']}",
            f"verdicts agreeing with plaintext: {data['agreement']} of {len(pairs)}",
        ],
        tables=[
            Table(
                "Pairs where the private path differs from plaintext, or a non-match opened",
                ("listed", "query", "plaintext target %", "plaintext match", "opened", "verified"),
                disagreements,
                note="An opened but unverified voucher is a token collision: the server decrypts its frame hashes "
                "only after the account passed the threshold, and discards it.",
            )
        ],
    )
    return data
