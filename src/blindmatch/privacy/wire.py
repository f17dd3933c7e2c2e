"""Binary layout of a voucher (version 1) and its parsing with strict length checks.

``version u8 | voucher id (16) | table id (8) | token count u16 | count × entry | payload length u16 |
payload`` where an *entry* is ``Q (32) | wrap₁ (40) | wrap₂ (40)`` and a *wrap* is ``item key ⊕ pad (32) |
check (8)``. The payload is ``AES-256-GCM(item key, nonce 0, share x (32) | share y (32) | inner ciphertext)``
and the inner ciphertext ``nonce (12) | AES-256-GCM(inner key, nonce, PDQ (32) | u16 metadata length |
metadata | zero pad)``. Every voucher made with one configuration has the same size: the token count is padded
and the metadata area is fixed, so sizes say nothing about the image or whether it matched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import DecodeError, VoucherError

__all__ = [
    "ENTRY_BYTES",
    "VOUCHER_VERSION",
    "WRAP_BYTES",
    "Entry",
    "WireVoucher",
    "payload_bytes",
]

VOUCHER_VERSION = 1
WRAP_BYTES = 40
ENTRY_BYTES = 32 + 2 * WRAP_BYTES
_HEADER = struct.Struct(">B16s8sH")
GCM_TAG = 16
INNER_NONCE = 12


def payload_bytes(metadata_bytes: int) -> int:
    """Size of the payload ciphertext for a given fixed metadata area."""
    inner = INNER_NONCE + 32 + 2 + metadata_bytes + GCM_TAG
    return 64 + inner + GCM_TAG


@dataclass(frozen=True, slots=True)
class Entry:
    q: bytes
    wraps: tuple[bytes, bytes]


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
        body = b"".join(e.q + e.wraps[0] + e.wraps[1] for e in self.entries)
        return self.header() + body + struct.pack(">H", len(self.payload)) + self.payload

    @classmethod
    def decode(cls, data: bytes, *, token_count: int, metadata_bytes: int) -> WireVoucher:
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
        want_payload = payload_bytes(metadata_bytes)
        total = _HEADER.size + count * ENTRY_BYTES + 2 + want_payload
        if len(data) != total:
            raise DecodeError(f"voucher is {len(data)} bytes, expected {total}")
        off = _HEADER.size
        entries = []
        for _ in range(count):
            entries.append(Entry(data[off : off + 32], (data[off + 32 : off + 72], data[off + 72 : off + ENTRY_BYTES])))
            off += ENTRY_BYTES
        (plen,) = struct.unpack_from(">H", data, off)
        if plen != want_payload:
            raise DecodeError(f"payload length field {plen} != {want_payload}")
        return cls(vid, tid, tuple(entries), data[off + 2 :], version)
