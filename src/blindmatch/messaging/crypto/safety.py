"""Safety numbers: a short string two people compare out of band to detect a relay substituting keys.

Same construction idea as Signal's: each side's fingerprint is an iterated SHA-512 over (version, identity keys,
user id), cut into 30 decimal digits; the safety number is both fingerprints in a fixed order, so both users see
the same 60 digits. Iterating makes a second-preimage search for a colliding fake key expensive.
"""

from __future__ import annotations

import hashlib

from blindmatch.messaging.crypto.encoding import b64d, frame
from blindmatch.messaging.crypto.identity import DeviceKeys

__all__ = ["ITERATIONS", "fingerprint", "safety_number"]

ITERATIONS = 5200


def fingerprint(user_id: str, ed25519_keys: list[str]) -> str:
    """30 digits for a user's set of device identity keys (order-independent)."""
    keys = sorted(b64d(k, field="identity key", length=32) for k in ed25519_keys)
    digest = frame(b"blindmatch-fingerprint-v1", user_id, *keys)
    data = digest
    for _ in range(ITERATIONS):
        data = hashlib.sha512(data + digest).digest()
    chunks = [int.from_bytes(data[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return "".join(f"{c:05d}" for c in chunks)


def safety_number(a: list[DeviceKeys], b: list[DeviceKeys]) -> str:
    """60 digits in groups of five; identical for both parties."""
    if not a or not b:
        raise ValueError("each side needs at least one device")
    fa = fingerprint(a[0].user_id, [d.ed25519 for d in a])
    fb = fingerprint(b[0].user_id, [d.ed25519 for d in b])
    joined = "".join(sorted([(a[0].user_id, fa), (b[0].user_id, fb)])[i][1] for i in range(2))
    return " ".join(joined[i : i + 5] for i in range(0, 60, 5))
