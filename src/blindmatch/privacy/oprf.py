"""Optional warn-before-send: the client learns whether an image matches; the server learns nothing about it.

The client blinds each token, ``B = r·H(x)``; the server (holding the **warn key** ``α_w``, never the table key
α) returns ``E = α_w·B`` with a batched DLEQ proof that it used the ``α_w`` behind the manifest's ``L_w``; the
client unblinds ``r⁻¹·E = α_w·H(x)`` and looks its fingerprint up *locally* in the signed warn filter
(:mod:`.warn`; the server never sees the comparison). Blinding makes ``B`` a uniformly random point, so the server
learns only how many tokens were asked and when.

Version 1 answered under the table key α and compared with the table's slots. That made the endpoint an α-oracle:
anyone holding another user's voucher could have its outer layers opened by sending their ``Q`` points
re-randomised (``r·Q``), which no check on the request can recognise. A separate key removes the oracle.

The price is that a client can probe the list (see ``docs/privacy.md``): every query tells it whether some
image is listed. Queries are therefore rate-limited per account (fixed window, counted in tokens).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .dleq import DleqError, DleqProof, prove_batch, verify_batch
from .errors import GroupError, InvalidPointError, InvalidScalarError, RateLimitedError, VoucherError
from .group import Point, Scalar
from .scheme import TokenScheme, check_pdq_bytes
from .table import token_point
from .warn import WarnFilter

__all__ = ["OprfClient", "OprfRequest", "OprfResponse", "OprfServer", "RateLimit"]

_CONTEXT = b"blindmatch/warn-oprf/v2"


@dataclass(frozen=True, slots=True)
class OprfRequest:
    tokens: tuple[bytes, ...]
    blinds: tuple[Scalar, ...] = field(repr=False)
    blinded: tuple[Point, ...]

    def encode(self) -> bytes:
        return b"".join(p.raw for p in self.blinded)


@dataclass(frozen=True, slots=True)
class OprfResponse:
    evaluated: tuple[Point, ...]
    proof: DleqProof

    def encode(self) -> bytes:
        return self.proof.encode() + b"".join(p.raw for p in self.evaluated)

    @classmethod
    def decode(cls, data: bytes, count: int) -> OprfResponse:
        if len(data) != 64 + 32 * count:
            raise VoucherError(f"OPRF response must be {64 + 32 * count} bytes")
        try:
            proof = DleqProof.decode(data[:64])
            pts = tuple(Point.decode(data[64 + 32 * i : 96 + 32 * i]) for i in range(count))
        except (InvalidPointError, InvalidScalarError, DleqError) as exc:
            raise VoucherError(f"malformed OPRF response: {exc}") from None
        return cls(pts, proof)


@dataclass(frozen=True, slots=True)
class RateLimit:
    tokens_per_window: int = 640
    window_seconds: float = 86400.0


class OprfServer:
    """Answers blinded queries under the warn key ``alpha_w``. Never give it the table key (see the module doc)."""

    def __init__(
        self, alpha_w: Scalar, limit: RateLimit | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.alpha = alpha_w
        self.limit = limit or RateLimit()
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self.rejected: dict[str, int] = {}

    def evaluate(self, account_id: str, request: bytes) -> bytes:
        """Evaluate ``α·B`` for each 32-byte blinded point in ``request``; raise when over the rate limit."""
        if len(request) % 32 or not request:
            raise VoucherError("an OPRF request is a non-empty sequence of 32-byte points")
        count = len(request) // 32
        now = self.clock()
        start, used = self._windows.get(account_id, (now, 0))
        if now - start >= self.limit.window_seconds:
            start, used = now, 0
        if used + count > self.limit.tokens_per_window:
            self.rejected[account_id] = self.rejected.get(account_id, 0) + 1
            raise RateLimitedError(
                f"account {account_id!r} used {used} of {self.limit.tokens_per_window} warn-before-send tokens"
            )
        try:
            blinded = [Point.decode(request[32 * i : 32 * (i + 1)]) for i in range(count)]
        except InvalidPointError as exc:
            raise VoucherError(f"OPRF request holds an invalid point: {exc}") from None
        self._windows[account_id] = (start, used + count)
        evaluated = [b.mul(self.alpha) for b in blinded]
        proof = prove_batch(self.alpha, blinded, evaluated, _CONTEXT)
        return OprfResponse(tuple(evaluated), proof).encode()


class OprfClient:
    """Asks about an image's tokens and checks the answers against a verified warn filter."""

    def __init__(self, warn: WarnFilter, scheme: TokenScheme) -> None:
        self.warn = warn
        self.scheme = scheme

    def request(self, pdq_hash: bytes, margins: np.ndarray | None = None) -> OprfRequest:
        pdq = check_pdq_bytes(pdq_hash)
        tokens = tuple(dict.fromkeys(self.scheme.query_tokens(pdq, margins if margins is not None else np.zeros(256))))
        blinds = tuple(Scalar.random() for _ in tokens)
        blinded = tuple(token_point(t).mul(r) for t, r in zip(tokens, blinds, strict=True))
        return OprfRequest(tokens, blinds, blinded)

    def matches(self, req: OprfRequest, response: bytes) -> list[bytes]:
        """Tokens of ``req`` that are listed (after checking the server's proof against the manifest's L_w)."""
        resp = OprfResponse.decode(response, len(req.tokens))
        try:
            verify_batch(self.warn.lpub, list(req.blinded), list(resp.evaluated), resp.proof, _CONTEXT)
        except DleqError as exc:
            raise VoucherError(f"OPRF answer not made with the list's warn key: {exc}") from None
        hits = []
        for tok, r, e in zip(req.tokens, req.blinds, resp.evaluated, strict=True):
            try:
                unblinded = e.mul(r.invert())
            except GroupError:
                continue
            if unblinded in self.warn:
                hits.append(tok)
        return hits


def warn_before_send(client: OprfClient, server_call: Callable[[bytes], bytes], pdq_hash: bytes) -> bool:
    """Convenience: one round trip; ``True`` if any token of the image is on the list."""
    req = client.request(pdq_hash)
    return bool(client.matches(req, server_call(req.encode())))
