"""Chaum–Pedersen proofs that many points share one discrete-log relation with ``L = α·G``.

Used twice: (1) the custodian proves that *every* table slot is ``α·U_i`` for the point ``U_i`` an auditor can
recompute from the hotline list (real slots) or the audit seed (dummy slots) — so an auditor holding the list
can check the whole table without learning α, while clients, who lack the list and the seed, still cannot tell
dummies from real slots; (2) the warn-before-send OPRF proves its answers use the same α as the table.

Many pairs are batched by a random linear combination with Fiat–Shamir coefficients: ``U = Σ c_i·U_i``, ``V =
Σ c_i·V_i`` and one proof that ``log_G L = log_U V``. A cheating prover passes only if the combination happens
to cancel, which has probability about ``n / ℓ``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import GroupError, PrivacyError
from .group import Point, Scalar, hash_to_scalar

__all__ = ["DleqError", "DleqProof", "prove_batch", "verify_batch"]


class DleqError(PrivacyError):
    """A discrete-log-equality proof does not verify."""


@dataclass(frozen=True, slots=True)
class DleqProof:
    challenge: Scalar
    response: Scalar

    def encode(self) -> bytes:
        return self.challenge.raw + self.response.raw

    @classmethod
    def decode(cls, data: bytes) -> DleqProof:
        if len(data) != 64:
            raise DleqError("a DLEQ proof is 64 bytes")
        return cls(Scalar.decode(data[:32]), Scalar.decode(data[32:]))


def _sum(points: Sequence[Point], coefs: Sequence[Scalar]) -> Point:
    total: Point | None = None
    for p, c in zip(points, coefs, strict=True):
        term = p.mul(c)
        total = term if total is None else total + term
    if total is None:
        raise DleqError("empty batch")
    return total


def _coefficients(context: bytes, lpub: Point, us: Sequence[Point], vs: Sequence[Point]) -> list[Scalar]:
    if len(us) != len(vs) or not us:
        raise DleqError("a batch proof needs the same non-zero number of inputs and outputs")
    h = hashlib.sha512(b"blindmatch/dleq-batch\x00" + context + lpub.raw)
    for u in us:
        h.update(u.raw)
    for v in vs:
        h.update(v.raw)
    seed = h.digest()
    return [hash_to_scalar(b"dleq-coef", seed, i.to_bytes(8, "big")) for i in range(len(us))]


def _combine(context: bytes, lpub: Point, us: Sequence[Point], vs: Sequence[Point]) -> tuple[Point, Point]:
    coefs = _coefficients(context, lpub, us, vs)
    return _sum(us, coefs), _sum(vs, coefs)


def _challenge(context: bytes, lpub: Point, u: Point, v: Point, a1: Point, a2: Point) -> Scalar:
    return hash_to_scalar(b"dleq-challenge", context, lpub.raw, u.raw, v.raw, a1.raw, a2.raw)


def prove_batch(alpha: Scalar, us: Sequence[Point], vs: Sequence[Point], context: bytes) -> DleqProof:
    """Prove ``vs[i] = α·us[i]`` for all i and ``L = α·G`` (L recomputed from α)."""
    lpub = Point.base_mul(alpha)
    u = _sum(us, _coefficients(context, lpub, us, vs))
    v = u.mul(alpha)  # equals sum(c_i * vs[i]) when the claim is true; halves the prover's work
    k = Scalar.random()
    a1, a2 = Point.base_mul(k), u.mul(k)
    c = _challenge(context, lpub, u, v, a1, a2)
    return DleqProof(c, k - c * alpha)


def verify_batch(lpub: Point, us: Sequence[Point], vs: Sequence[Point], proof: DleqProof, context: bytes) -> None:
    """Raise :class:`DleqError` unless every ``vs[i] = α·us[i]`` with the α of ``lpub``."""
    u, v = _combine(context, lpub, us, vs)
    try:
        # A1 = r·G + c·L, A2 = r·U + c·V ; the response may legitimately be zero only with negligible probability.
        a1 = Point.base_mul(proof.response) + lpub.mul(proof.challenge)
        a2 = u.mul(proof.response) + v.mul(proof.challenge)
    except GroupError as exc:
        raise DleqError("degenerate DLEQ proof") from exc
    if _challenge(context, lpub, u, v, a1, a2) != proof.challenge:
        raise DleqError("DLEQ proof does not verify: some slot is not alpha times its expected preimage")
