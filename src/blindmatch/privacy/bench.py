"""Protocol benchmark: table build and size, client CPU and voucher size per image, server throughput.

Uses random 32-byte values as stand-in PDQ hashes (the cost of the protocol does not depend on their content)
and reports raw ``rbcl`` operation costs, which bound what any token budget can achieve: the client pays about
two scalar multiplications plus two more per cuckoo position for each token, the server one per token *entry*
(padding entries included — the server cannot tell them apart).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .client import ClientAccount, VoucherClient, VoucherConfig
from .group import Point, Scalar
from .manifest import TrustPolicy
from .published import encode_table, make_manifest, verify_table
from .scheme import TokenScheme
from .server import VoucherServer
from .table import CustodianTable

__all__ = ["measure_group_ops", "measure_open_counts", "run_protocol_bench", "run_recovery_bench"]


def _per_op_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def measure_group_ops(n: int = 2000) -> dict[str, float]:
    """Microseconds per rbcl operation on this machine (one core)."""
    s, p = Scalar.random(), Point.random()
    wide = os.urandom(64)
    return {
        "scalar_mult_us": _per_op_us(lambda: p.mul(s), n),
        "base_mult_us": _per_op_us(lambda: Point.base_mul(s), n),
        "hash_to_point_us": _per_op_us(lambda: Point.from_uniform_bytes(wide), n),
        "point_add_us": _per_op_us(lambda: p + p, n),
        "point_decode_us": _per_op_us(lambda: Point.decode(p.raw), n),
    }


def run_protocol_bench(
    list_size: int,
    scheme: TokenScheme,
    *,
    images: int = 20,
    token_count: int | None = None,
    threshold: int = 10,
    synthetic_probability: float = 0.0,
    seed: int = 0,
    cuckoo_ways: int = 3,
) -> dict[str, object]:
    """Measure one full protocol run; ``token_count`` defaults to the most tokens the scheme gave any image."""
    rng = np.random.default_rng(seed)
    listed = [rng.bytes(32) for _ in range(list_size)]
    t0 = time.perf_counter()
    tokens = [t for h in listed for t in scheme.list_tokens(h)]
    t_tokens = time.perf_counter() - t0
    t0 = time.perf_counter()
    custodian = CustodianTable.build(tokens, ways=cuckoo_ways)
    t_build = time.perf_counter() - t0
    key = Ed25519PrivateKey.generate()
    t0 = time.perf_counter()
    signed = make_manifest(custodian, list_id="bench", list_version=1, scheme=scheme, signers=[key])
    t_manifest = time.perf_counter() - t0
    blob = encode_table(signed, custodian.slots)
    t0 = time.perf_counter()
    table = verify_table(blob, TrustPolicy.of([key.public_key()]))
    t_verify = time.perf_counter() - t0

    queries = [listed[i % list_size] if i % 2 == 0 else rng.bytes(32) for i in range(images)]
    margins = [rng.random(256) for _ in queries]
    counts = [len(set(scheme.query_tokens(q, m))) for q, m in zip(queries, margins, strict=True)]
    tc = token_count or max(counts)
    cfg = VoucherConfig(
        token_count=tc, threshold=threshold, synthetic_probability=synthetic_probability, cuckoo_ways=cuckoo_ways
    )
    client = VoucherClient(table, scheme, ClientAccount.create("bench", threshold), cfg)
    per_image = []
    vouchers = []
    # CPU time (process_time), not wall time: the targets are CPU budgets, and other jobs on a shared machine
    # would otherwise be billed to the protocol.
    for q, m in zip(queries, margins, strict=True):
        t0 = time.process_time()
        vouchers.append(client.make_voucher(q, m))
        per_image.append(time.process_time() - t0)
    # the same images as synthetic vouchers (own account, so the real ones' polynomial is untouched): they must
    # cost what real ones cost, or their timing would give them away
    decoy = VoucherClient(table, scheme, ClientAccount.create("bench-synthetic", threshold), cfg)
    per_synthetic = []
    for q, m in zip(queries, margins, strict=True):
        t0 = time.process_time()
        decoy.make_voucher(q, m, synthetic=True)
        per_synthetic.append(time.process_time() - t0)
    server = VoucherServer(custodian.alpha, {table.root[:8]}, cfg, verify=lambda h: True, search_budget=0)
    t0 = time.process_time()
    opened = sum(server.receive("bench", v).opened for v in vouchers)
    t_server = max(time.process_time() - t0, 1e-9)
    return {
        "list_size": list_size,
        "cuckoo_ways": cuckoo_ways,
        "scheme": scheme.name,
        "list_tokens": len(set(tokens)),
        "table_slots": custodian.size,
        "table_bytes": len(blob),
        "table_bytes_per_entry": len(blob) / list_size,
        "list_token_seconds": t_tokens,
        "table_build_seconds": t_build,
        "manifest_and_audit_proof_seconds": t_manifest,
        "client_verify_table_seconds": t_verify,
        "query_tokens_median": statistics.median(counts),
        "query_tokens_max": max(counts),
        "voucher_token_count": tc,
        "voucher_bytes": len(vouchers[0]),
        "voucher_bytes_per_token": len(vouchers[0]) / tc,
        "client_ms_per_image_median": statistics.median(per_image) * 1e3,
        "client_ms_per_image_max": max(per_image) * 1e3,
        "client_ms_per_synthetic_median": statistics.median(per_synthetic) * 1e3,
        "server_vouchers_per_second": len(vouchers) / t_server,
        "server_ms_per_voucher": t_server / len(vouchers) * 1e3,
        "opened": opened,
        "images": images,
        "group_ops_us": measure_group_ops(500),
    }


def run_recovery_bench(
    threshold: int,
    real: int,
    synthetic: int,
    *,
    runs: int = 20,
    search_budget: int = 2000,
) -> dict[str, object]:
    """How often (and how fast) the server recovers the key from ``real`` real and ``synthetic`` synthetic shares.

    The check is "decrypts an inner ciphertext", simulated by comparing with the true secret (an AES-GCM trial
    costs a few microseconds more per candidate).
    """
    import secrets as _secrets

    from .shamir import PRIME, SharingPolynomial, recover_secret

    ok = bw = 0
    times, trials = [], []
    for _ in range(runs):
        f = SharingPolynomial.generate(threshold)
        pts = [f.share() for _ in range(real)]
        pts += [(_secrets.randbelow(PRIME - 1) + 1, _secrets.randbelow(PRIME)) for _ in range(synthetic)]
        _secrets.SystemRandom().shuffle(pts)
        t0 = time.perf_counter()
        res = recover_secret(pts, threshold, f.secret.__eq__, search_budget=search_budget)
        times.append(time.perf_counter() - t0)
        if res is not None:
            ok += 1
            bw += res.method == "berlekamp-welch"
            trials.append(res.trials)
    return {
        "threshold": threshold,
        "real": real,
        "synthetic": synthetic,
        "guaranteed_by_bw": real >= threshold + synthetic,
        "success_rate": ok / runs,
        "via_berlekamp_welch": bw / runs,
        "median_seconds": statistics.median(times),
        "max_seconds": max(times),
        "median_trials": statistics.median(trials) if trials else None,
        "search_budget": search_budget,
    }


def measure_open_counts(scheme: TokenScheme, pairs: Iterable[tuple[bytes, bytes, np.ndarray]]) -> dict[int, int]:
    """Histogram of 'entries a real match opens': for (listed PDQ, edited-copy PDQ, margins) triples, how many of
    the copy's query tokens equal a list token of the entry. Feed the non-zero part to
    :func:`.client.token_count_histogram` to configure ``synthetic_open_counts`` (spec §6, privacy §3)."""
    hist: dict[int, int] = {}
    for listed, query, margins in pairs:
        n = len(set(scheme.list_tokens(listed)) & set(scheme.query_tokens(query, margins)))
        hist[n] = hist.get(n, 0) + 1
    return dict(sorted(hist.items()))
