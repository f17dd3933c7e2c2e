"""Shamir secret sharing over the ristretto255 scalar field, with decoding in the presence of synthetic shares.

An account's inner-key secret ``f(0)`` is shared by a random polynomial ``f`` of degree ``t − 1`` that the
client keeps for the life of the account; each matching voucher carries one point ``(x, f(x))`` with a fresh
random ``x``. Synthetic vouchers carry a random ``(x, y)``, which lies on ``f`` only with probability ``1/ℓ``.
The server must find ``f(0)`` among ``n = r + s`` opened points (``r`` real, ``s`` synthetic) without knowing
which are which:

* :func:`berlekamp_welch` decodes the Reed–Solomon code ``{(x_i, f(x_i))}`` and is *guaranteed* to return
  ``f`` when ``s ≤ ⌊(n − t)/2⌋``, i.e. when ``r ≥ t + s`` (deterministic, ``O(n³)`` field operations).
* :func:`recover_secret` first tries Berlekamp–Welch and, failing that, samples random ``t``-subsets (a subset
  of real points interpolates to ``f(0)``; the caller's ``check`` confirms a candidate by decrypting an inner
  ciphertext). With ``r ≥ t`` each trial succeeds with probability ``C(r, t) / C(n, t)``.

Below ``t`` real points, ``f(0)`` is information-theoretically hidden (any ``t − 1`` points are consistent
with every secret), whatever the synthetic points are.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import ShamirError
from .group import GROUP_ORDER

__all__ = [
    "PRIME",
    "RecoveryResult",
    "SharingPolynomial",
    "berlekamp_welch",
    "interpolate_at_zero",
    "recover_secret",
]

PRIME = GROUP_ORDER
Share = tuple[int, int]


def _rand_nonzero() -> int:
    while True:
        v = secrets.randbelow(PRIME)
        if v:
            return v


@dataclass(frozen=True, slots=True)
class SharingPolynomial:
    """``f(z) = Σ coeffs[i]·z^i`` mod ℓ; ``coeffs[0]`` is the secret. Held by the client only."""

    coeffs: tuple[int, ...]

    @classmethod
    def generate(cls, threshold: int) -> SharingPolynomial:
        if not 1 <= threshold <= 1000:
            raise ShamirError(f"threshold must be between 1 and 1000, got {threshold}")
        return cls(tuple(_rand_nonzero() for _ in range(threshold)))

    @property
    def threshold(self) -> int:
        return len(self.coeffs)

    @property
    def secret(self) -> int:
        return self.coeffs[0]

    def __call__(self, x: int) -> int:
        acc = 0
        for c in reversed(self.coeffs):
            acc = (acc * x + c) % PRIME
        return acc

    def share(self) -> Share:
        x = _rand_nonzero()
        return x, self(x)

    def __repr__(self) -> str:
        return f"SharingPolynomial(threshold={self.threshold}, <hidden>)"


def interpolate_at_zero(points: Sequence[Share]) -> int:
    """Lagrange interpolation of the unique polynomial of degree < len(points) through ``points``, at 0."""
    xs = [x % PRIME for x, _ in points]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise ShamirError("interpolation needs distinct non-zero x coordinates")
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if i != j:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        total = (total + yi * num * pow(den, -1, PRIME)) % PRIME
    return total


def _solve(matrix: list[list[int]], rhs: list[int]) -> list[int] | None:
    """One solution of a linear system mod ℓ (free variables set to 0), or ``None`` if inconsistent."""
    rows, cols = len(matrix), len(matrix[0])
    a = [[*row, b] for row, b in zip(matrix, rhs, strict=True)]
    pivots: list[int] = []
    r = 0
    for c in range(cols):
        p = next((i for i in range(r, rows) if a[i][c]), None)
        if p is None:
            continue
        a[r], a[p] = a[p], a[r]
        inv = pow(a[r][c], -1, PRIME)
        a[r] = [v * inv % PRIME for v in a[r]]
        for i in range(rows):
            if i != r and a[i][c]:
                f = a[i][c]
                a[i] = [(vi - f * vr) % PRIME for vi, vr in zip(a[i], a[r], strict=True)]
        pivots.append(c)
        r += 1
        if r == rows:
            break
    if any(a[i][cols] for i in range(r, rows)):
        return None
    sol = [0] * cols
    for i, c in enumerate(pivots):
        sol[c] = a[i][cols]
    return sol


def _poly_divmod(num: list[int], den: list[int]) -> tuple[list[int], list[int]]:
    num = num[:]
    inv = pow(den[-1], -1, PRIME)
    out = [0] * max(len(num) - len(den) + 1, 1)
    for i in range(len(num) - len(den), -1, -1):
        coef = num[i + len(den) - 1] * inv % PRIME
        out[i] = coef
        for j, d in enumerate(den):
            num[i + j] = (num[i + j] - coef * d) % PRIME
    return out, num[: len(den) - 1]


def _eval(coeffs: Sequence[int], x: int) -> int:
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % PRIME
    return acc


def berlekamp_welch(points: Sequence[Share], threshold: int) -> tuple[int, ...] | None:
    """Coefficients of the degree-``< threshold`` polynomial through all but at most ``⌊(n − t)/2⌋`` points.

    Returns ``None`` when no such polynomial exists (too many erroneous points). ``O(n³)`` field operations.
    """
    n, k = len(points), threshold
    if n < k:
        return None
    e = (n - k) // 2
    matrix, rhs = [], []
    for x, y in points:
        powers = [pow(x, j, PRIME) for j in range(k + e + 1)]
        matrix.append(powers[: k + e] + [(-y * powers[j]) % PRIME for j in range(e)])
        rhs.append(y * powers[e] % PRIME)
    sol = _solve(matrix, rhs)
    if sol is None:
        return None
    q, err = sol[: k + e], [*sol[k + e :], 1]
    p, rem = _poly_divmod(q, err)
    if any(rem):
        return None
    p = (p + [0] * k)[:k]
    agree = sum(1 for x, y in points if _eval(p, x) == y % PRIME)
    if agree < n - e:
        return None
    return tuple(p)


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    secret: int = field(repr=False)
    method: str  # "berlekamp-welch" or "subset-search"
    trials: int


def recover_secret(
    points: Sequence[Share],
    threshold: int,
    check: Callable[[int], bool],
    *,
    search_budget: int = 0,
) -> RecoveryResult | None:
    """Find the shared secret among real and synthetic points, confirmed by ``check(candidate)``.

    ``None`` means: not (yet) recoverable within the budget — never a wrong secret, since every candidate is
    confirmed by ``check``.
    """
    if len(points) < threshold:
        return None
    poly = berlekamp_welch(points, threshold)
    if poly is not None and check(poly[0]):
        return RecoveryResult(poly[0], "berlekamp-welch", 1)
    rng = secrets.SystemRandom()
    pts = list(points)
    for trial in range(1, search_budget + 1):
        cand = interpolate_at_zero(rng.sample(pts, threshold))
        if check(cand):
            return RecoveryResult(cand, "subset-search", trial)
    return None
