"""Key derivations shared by client and server (one place, so both sides can never drift apart).

The per-(token, position) wrap keys are derived with SHA-512 over a domain-separated transcript rather than
HKDF: the input ``S_j`` is already a uniformly distributed group element, so one hash call (extract-and-expand
in the random-oracle model) suffices, and it halves the server's per-token hashing cost.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["ITEM_KEY_BYTES", "account_binding", "inner_key", "payload_key", "wrap_pad"]

#: The per-voucher item key is 128 bits: ristretto255 offers ~126-bit security, so a longer key buys nothing,
#: while every byte of it is repeated in each wrap (tokens × cuckoo ways per voucher). 16 instead of 32 bytes is
#: what lets a 3-way table (≈ 76 B per list entry) and a 64-token voucher (≈ 6.9 KB) meet their targets together.
ITEM_KEY_BYTES = 16


def wrap_pad(shared_point: bytes, voucher_id: bytes) -> tuple[bytes, bytes]:
    """``(pad, check)``: 16 bytes XOR-ed onto the item key and an 8-byte tag that says the wrap opened.

    Deliberately independent of the cuckoo position ``j``: the client shuffles an entry's wraps, so the server
    must not learn which hash function placed a matching token (positions are not uniformly used)."""
    d = hashlib.sha512(b"blindmatch/wrap/v2\x00" + shared_point + voucher_id).digest()
    return d[:ITEM_KEY_BYTES], d[ITEM_KEY_BYTES : ITEM_KEY_BYTES + 8]


def payload_key(item_key: bytes) -> bytes:
    """The AES-256-GCM key of a voucher's payload, expanded from its 128-bit item key."""
    return hashlib.sha256(b"blindmatch/payload/v2\x00" + item_key).digest()


def inner_key(secret: int) -> bytes:
    """The account's inner-layer AES key, derived from the Shamir-shared secret."""
    return HKDF(hashes.SHA256(), 32, salt=b"blindmatch/inner/v1", info=b"inner-key").derive(
        secret.to_bytes(32, "little")
    )


def account_binding(account_id: str) -> bytes:
    """Bound into the payload's associated data: a voucher replayed under another account never opens."""
    return hashlib.sha256(b"blindmatch/account\x00" + account_id.encode()).digest()
