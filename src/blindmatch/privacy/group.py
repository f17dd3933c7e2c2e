"""The prime-order group ristretto255, wrapped from libsodium via ``rbcl``.

This is the only module that talks to ``rbcl``: the rest of the protocol manipulates :class:`Point` and
:class:`Scalar` values, which are always valid by construction. Points arriving from the network go through
:meth:`Point.decode`, which rejects malformed, non-canonical and identity encodings with
:class:`InvalidPointError`; scalars go through :meth:`Scalar.decode`, which rejects unreduced values. That
single choke point is why the protocol code never has to re-validate group elements.

Hashing to the group is domain separated: ``hash_to_point(domain, data)`` feeds SHA-512 of a length-prefixed
``(domain, data)`` into libsodium's Elligator-based ``from_hash``, so tokens, dummies and OPRF inputs can
never collide across roles.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import rbcl

from .errors import GroupError, InvalidPointError, InvalidScalarError

__all__ = ["GROUP_ORDER", "POINT_BYTES", "SCALAR_BYTES", "Point", "Scalar", "hash_to_point", "hash_to_scalar"]

#: The order ell of the ristretto255 group (a 253-bit prime).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
POINT_BYTES = 32
SCALAR_BYTES = 32
_IDENTITY = bytes(32)


@dataclass(frozen=True, slots=True)
class Scalar:
    """An integer modulo :data:`GROUP_ORDER`, kept as its canonical 32-byte little-endian encoding."""

    raw: bytes

    @classmethod
    def random(cls) -> Scalar:
        """A uniformly random non-zero scalar (from the OS CSPRNG via libsodium)."""
        while True:
            s = rbcl.crypto_core_ristretto255_scalar_random()
            if s != _IDENTITY:
                return cls(s)

    @classmethod
    def from_int(cls, value: int) -> Scalar:
        return cls((value % GROUP_ORDER).to_bytes(SCALAR_BYTES, "little"))

    @classmethod
    def reduce(cls, wide: bytes) -> Scalar:
        """Reduce 64 uniformly random bytes modulo the order (negligible bias)."""
        if not isinstance(wide, bytes) or len(wide) != 64:
            raise InvalidScalarError("scalar reduction needs exactly 64 bytes")
        return cls(rbcl.crypto_core_ristretto255_scalar_reduce(wide))

    @classmethod
    def decode(cls, data: bytes) -> Scalar:
        """Parse a canonical encoding; values >= the group order are rejected rather than silently reduced."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != SCALAR_BYTES:
            raise InvalidScalarError(f"scalar must be {SCALAR_BYTES} bytes")
        if int.from_bytes(data, "little") >= GROUP_ORDER:
            raise InvalidScalarError("scalar encoding is not reduced modulo the group order")
        return cls(bytes(data))

    def to_int(self) -> int:
        return int.from_bytes(self.raw, "little")

    def is_zero(self) -> bool:
        return self.raw == _IDENTITY

    def __add__(self, other: Scalar) -> Scalar:
        return Scalar(rbcl.crypto_core_ristretto255_scalar_add(self.raw, other.raw))

    def __sub__(self, other: Scalar) -> Scalar:
        return Scalar(rbcl.crypto_core_ristretto255_scalar_sub(self.raw, other.raw))

    def __mul__(self, other: Scalar) -> Scalar:
        return Scalar(rbcl.crypto_core_ristretto255_scalar_mul(self.raw, other.raw))

    def __neg__(self) -> Scalar:
        return Scalar(rbcl.crypto_core_ristretto255_scalar_negate(self.raw))

    def invert(self) -> Scalar:
        if self.is_zero():
            raise GroupError("zero has no inverse")
        return Scalar(rbcl.crypto_core_ristretto255_scalar_invert(self.raw))

    def __repr__(self) -> str:  # never print secrets by accident
        return "Scalar(<hidden>)"


@dataclass(frozen=True, slots=True)
class Point:
    """A ristretto255 group element other than the identity, kept as its canonical 32-byte encoding."""

    raw: bytes

    @classmethod
    def decode(cls, data: bytes) -> Point:
        """Parse untrusted bytes: wrong length, non-canonical, off-curve or identity encodings are rejected."""
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidPointError(f"point must be bytes, got {type(data).__name__}")
        if len(data) != POINT_BYTES:
            raise InvalidPointError(f"point must be {POINT_BYTES} bytes, got {len(data)}")
        data = bytes(data)
        if data == _IDENTITY:
            raise InvalidPointError("the identity element is not accepted")
        if not rbcl.crypto_core_ristretto255_is_valid_point(data):
            raise InvalidPointError("bytes are not a canonical ristretto255 encoding")
        return cls(data)

    @classmethod
    def decode_mul(cls, data: bytes, s: Scalar) -> Point:
        """``s·decode(data)`` in one libsodium call (the server's hot path): libsodium itself rejects malformed
        and non-canonical encodings, and the identity (its product is the identity). Same checks as
        :meth:`decode` followed by :meth:`mul`, one point decoding fewer."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != POINT_BYTES:
            raise InvalidPointError(f"point must be {POINT_BYTES} bytes")
        if s.is_zero():
            raise GroupError("multiplication by zero")
        try:
            return cls(rbcl.crypto_scalarmult_ristretto255(s.raw, bytes(data)))
        except RuntimeError:
            raise InvalidPointError("not a canonical non-identity ristretto255 encoding") from None

    @classmethod
    def random(cls) -> Point:
        return cls(rbcl.crypto_core_ristretto255_random())

    @classmethod
    def from_uniform_bytes(cls, wide: bytes) -> Point:
        """Map 64 uniform bytes to a point (libsodium's ristretto255 from_hash)."""
        if len(wide) != 64:
            raise GroupError("from_uniform_bytes needs exactly 64 bytes")
        return cls(rbcl.crypto_core_ristretto255_from_hash(wide))

    @classmethod
    def base_mul(cls, s: Scalar) -> Point:
        """s·G for the standard generator G."""
        if s.is_zero():
            raise GroupError("0·G is the identity")
        return cls(rbcl.crypto_scalarmult_ristretto255_base(s.raw))

    def __mul__(self, s: Scalar) -> Point:
        return self.mul(s)

    def mul(self, s: Scalar) -> Point:
        """s·P. Raises :class:`GroupError` when the product would be the identity (s = 0)."""
        try:
            return Point(rbcl.crypto_scalarmult_ristretto255(s.raw, self.raw))
        except RuntimeError as exc:
            raise GroupError("scalar multiplication gave the identity") from exc

    def __add__(self, other: Point) -> Point:
        out = rbcl.crypto_core_ristretto255_add(self.raw, other.raw)
        if out == _IDENTITY:
            raise GroupError("point addition gave the identity")
        return Point(out)

    def __sub__(self, other: Point) -> Point:
        out = rbcl.crypto_core_ristretto255_sub(self.raw, other.raw)
        if out == _IDENTITY:
            raise GroupError("point subtraction gave the identity")
        return Point(out)

    def encode(self) -> bytes:
        return self.raw

    def __repr__(self) -> str:
        return f"Point({self.raw[:6].hex()}…)"


def _framed(domain: bytes, parts: tuple[bytes, ...]) -> bytes:
    out = bytearray(len(domain).to_bytes(2, "big") + domain)
    for part in parts:
        out += len(part).to_bytes(4, "big") + part
    return bytes(out)


def hash_to_point(domain: bytes, *parts: bytes) -> Point:
    """Hash ``parts`` to a point under ``domain`` (SHA-512 then Elligator); distinct domains never collide."""
    return Point.from_uniform_bytes(hashlib.sha512(b"blindmatch/h2p/" + _framed(domain, parts)).digest())


def hash_to_scalar(domain: bytes, *parts: bytes) -> Scalar:
    """Hash ``parts`` to a scalar under ``domain`` (SHA-512 reduced modulo the order)."""
    return Scalar.reduce(hashlib.sha512(b"blindmatch/h2s/" + _framed(domain, parts)).digest())


def random_bytes(n: int) -> bytes:
    return secrets.token_bytes(n)
