"""The warn-before-send filter: membership answers under a key of their own, never the table key.

Why a second key. The OPRF (:mod:`.oprf`) returns ``k·B`` for any point ``B`` a client sends. Under the table key
(``k = α``) that is exactly the operation that opens a voucher's outer layer: someone holding another user's
voucher could send ``r·Q`` for its ``Q`` (re-randomised, so no list of seen ``Q``\\ s can recognise it), unblind
with ``r⁻¹`` and learn whether the voucher matched, and its Shamir share. Under a separate key ``α_w`` the answer
``α_w·Q`` opens nothing (tested in ``tests/privacy/test_oprf.py``).

So the client needs ``α_w·H(x)`` for the list tokens ``x``, without learning them. The custodian publishes a
**warn filter**: the sorted 8-byte fingerprints ``SHA-256(ctx ‖ α_w·H(x))[:8]`` of every list token, and puts
``L_w = α_w·G`` and the filter's SHA-256 in the signed manifest. A fingerprint reveals nothing without ``α_w``;
the OPRF (rate-limited, DLEQ-proved against ``L_w``) lets a client compute those of its own tokens only. With 8
bytes a false "listed" needs a 64-bit collision: ≈ n·2⁻⁶⁴ per token. The filter costs 8 bytes per list token and is
downloaded whole with each version (no deltas: it is optional, and 16 MB at 2 million tokens).

File format: ``b"BMWF"``, a big-endian u32 count, then ``count`` fingerprints in strictly increasing order.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import DecodeError, InvalidPointError, ManifestError
from .group import Point, Scalar
from .manifest import Manifest
from .table import token_point

__all__ = ["FINGERPRINT_BYTES", "WarnFilter", "WarnPublication", "build_warn_filter", "fingerprint"]

FINGERPRINT_BYTES = 8
_MAGIC = b"BMWF"
_CONTEXT = b"blindmatch/warn-filter/v1\x00"


def fingerprint(evaluated: Point) -> bytes:
    """The filter entry of a token whose point ``α_w·H(x)`` is ``evaluated``."""
    return hashlib.sha256(_CONTEXT + evaluated.raw).digest()[:FINGERPRINT_BYTES]


@dataclass(frozen=True, slots=True)
class WarnPublication:
    """What the custodian publishes for warn-before-send: ``L_w`` (into the manifest) and the filter file."""

    lpub: Point
    filter_bytes: bytes

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.filter_bytes).digest()


def build_warn_filter(alpha_w: Scalar, tokens: Iterable[bytes]) -> WarnPublication:
    """Evaluate every list token under ``α_w`` (one scalar multiplication each) and pack the fingerprints."""
    prints = sorted({fingerprint(token_point(t).mul(alpha_w)) for t in set(tokens)})
    body = _MAGIC + struct.pack(">I", len(prints)) + b"".join(prints)
    return WarnPublication(Point.base_mul(alpha_w), body)


@dataclass(frozen=True, slots=True)
class WarnFilter:
    """A warn filter checked against a trusted manifest: the only kind the OPRF client accepts."""

    lpub: Point
    _sorted: bytes  # the fingerprints, concatenated, strictly increasing

    @property
    def count(self) -> int:
        return len(self._sorted) // FINGERPRINT_BYTES

    @classmethod
    def verify(cls, data: bytes, manifest: Manifest) -> WarnFilter:
        """Accept ``data`` only if the (already signature-checked) manifest commits to it."""
        if not manifest.has_warn:
            raise ManifestError("this list version offers no warn-before-send (no warn key in its manifest)")
        if hashlib.sha256(data).digest() != manifest.warn_filter:
            raise ManifestError("the warn filter does not match the SHA-256 in the signed manifest")
        if len(data) < 8 or data[:4] != _MAGIC:
            raise DecodeError("not a warn filter (bad magic or too short)")
        (count,) = struct.unpack(">I", data[4:8])
        body, w = data[8:], FINGERPRINT_BYTES
        if len(body) != count * w:
            raise DecodeError(f"warn filter says {count} fingerprints but holds {len(body)} bytes")
        prints = (body[i * w : (i + 1) * w] for i in range(count))
        for i, (a, b) in enumerate(itertools.pairwise(prints), 1):  # sorted and unique: binary search is sound
            if a >= b:
                raise DecodeError(f"warn filter fingerprints are not strictly increasing at {i}")
        try:
            lpub = Point.decode(manifest.warn_lpub)
        except InvalidPointError as exc:
            raise ManifestError(f"the manifest's warn key is not a valid point: {exc}") from None
        return cls(lpub, body)

    def __contains__(self, evaluated: object) -> bool:
        if not isinstance(evaluated, Point):
            return False
        fp, w, n = fingerprint(evaluated), FINGERPRINT_BYTES, self.count
        i = bisect.bisect_left(range(n), fp, key=lambda j: self._sorted[j * w : (j + 1) * w])
        return i < n and self._sorted[i * w : (i + 1) * w] == fp
