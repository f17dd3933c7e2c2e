"""Binary layout of a voucher (version 2) and its parsing with strict length checks.

``version u8 | voucher id (16) | table id (8) | token count u16 | count × entry | payload length u16 |
payload`` where an *entry* is ``Q (32) | wrap₁ (24) | … | wrap_d (24)`` (``d`` = the table's cuckoo hash
functions, 2 or 3) and a *wrap* is ``item key ⊕ pad (16) | check (8)``. The payload is ``AES-256-GCM(SHA-256(item key),
nonce 0, share x (32) | share y (32) | inner ciphertext)`` and the inner ciphertext ``nonce (12) |
AES-256-GCM(inner key, nonce, n u8 | n PDQ hashes (32 each), zero-padded to the configured item_hashes slots |
u16 metadata length | metadata | zero pad)``. An image carries one hash; a video carries up to ``item_hashes``
frame hashes in one voucher, so that one video is one share and counts once toward the threshold. Every voucher
made with one configuration has the same size: the token count is padded, the hash slots and the metadata area
are fixed, so sizes say nothing about the item, whether it is a video, or whether it matched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import DecodeError, VoucherError

__all__ = [
    "ENTRY_BYTES",
    "INNER_AAD",
    "VOUCHER_VERSION",
    "WRAP_BYTES",
    "Entry",
    "WireVoucher",
    "entry_bytes",
    "inner_body_bytes",
    "payload_bytes",
]

VOUCHER_VERSION = 2
WRAP_BYTES = 24
ENTRY_BYTES = 32 + 3 * WRAP_BYTES  # with the default three cuckoo hash functions


def entry_bytes(ways: int) -> int:
    """One token entry: ``Q`` and one wrap per cuckoo hash function."""
    return 32 + ways * WRAP_BYTES


_HEADER = struct.Struct(">B16s8sH")
GCM_TAG = 16
INNER_NONCE = 12
#: associated-data prefix of the inner layer (v2: hash count and fixed hash slots), followed by the voucher id.
INNER_AAD = b"blindmatch/inner/v2"


def inner_body_bytes(metadata_bytes: int, item_hashes: int = 1) -> int:
    """Plaintext size of the inner layer: hash count, fixed hash slots, metadata length and fixed metadata area."""
    return 1 + 32 * item_hashes + 2 + metadata_bytes


def payload_bytes(metadata_bytes: int, item_hashes: int = 1) -> int:
    """Size of the payload ciphertext for a given fixed metadata area and number of hash slots."""
    inner = INNER_NONCE + inner_body_bytes(metadata_bytes, item_hashes) + GCM_TAG
    return 64 + inner + GCM_TAG


@dataclass(frozen=True, slots=True)
class Entry:
    q: bytes
    wraps: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class WireVoucher:
    voucher_id: bytes
    table_id: bytes
    entries: tuple[Entry, ...]
    payload: bytes
    version: int = VOUCHER_VERSION

    def header(self) -> bytes:
        return _HEADER.pack(self.version, self.voucher_id, self.table_id, len(self.entries))

    def encode(self) -> bytes:
        body = b"".join(e.q + b"".join(e.wraps) for e in self.entries)
        return self.header() + body + struct.pack(">H", len(self.payload)) + self.payload

    @classmethod
    def decode(
        cls, data: bytes, *, token_count: int, metadata_bytes: int, ways: int = 3, item_hashes: int = 1
    ) -> WireVoucher:
        """Parse a voucher that must have exactly the configured token count and payload size."""
        if not isinstance(data, (bytes, bytearray)):
            raise DecodeError("voucher must be bytes")
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise DecodeError("voucher shorter than its header")
        version, vid, tid, count = _HEADER.unpack_from(data, 0)
        if version != VOUCHER_VERSION:
            raise DecodeError(f"unsupported voucher version {version}")
        if count != token_count:
            raise VoucherError(f"voucher has {count} token entries, this server requires exactly {token_count}")
        want_payload = payload_bytes(metadata_bytes, item_hashes)
        size = entry_bytes(ways)
        total = _HEADER.size + count * size + 2 + want_payload
        if len(data) != total:
            raise DecodeError(f"voucher is {len(data)} bytes, expected {total}")
        off = _HEADER.size
        entries = []
        for _ in range(count):
            wraps = tuple(data[off + 32 + WRAP_BYTES * j : off + 32 + WRAP_BYTES * (j + 1)] for j in range(ways))
            entries.append(Entry(data[off : off + 32], wraps))
            off += size
        (plen,) = struct.unpack_from(">H", data, off)
        if plen != want_payload:
            raise DecodeError(f"payload length field {plen} != {want_payload}")
        return cls(vid, tid, tuple(entries), data[off + 2 :], version)
