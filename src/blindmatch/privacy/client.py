"""The client side: make a voucher for one media item against a verified table.

For each of the item's tokens ``x`` (fresh ``β, γ`` per token) the client sends ``Q = β·H(x) + γ·G`` and, for
both cuckoo positions ``j``, wraps the item key under a pad derived from ``S_j = β·P_j + γ·L``. If ``P_j =
α·H(x)`` then ``S_j = α·Q``, which the server can compute; otherwise ``S_j`` is unpredictable to the server.
The item key encrypts, once, the payload: a Shamir share of the account's inner key and the inner ciphertext
(PDQ hash and metadata under the inner key). Entries are padded with random ones to a fixed count and
shuffled.

With probability ``synthetic_probability`` the client instead sends a *synthetic* voucher: entries chosen to
open (``Q = γ·G`` so ``α·Q = γ·L``), a random share, random inner bytes. Below the threshold the server cannot
tell it from a match, so the count of opened vouchers does not reveal the count of matches.
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import VoucherError
from .group import Point, Scalar
from .kdf import ITEM_KEY_BYTES, account_binding, inner_key, payload_key, wrap_pad
from .published import VerifiedTable
from .scheme import TokenScheme, check_pdq_bytes
from .shamir import PRIME, SharingPolynomial
from .table import cuckoo_positions, token_point
from .wire import INNER_AAD, INNER_NONCE, WRAP_BYTES, Entry, WireVoucher, entry_bytes, payload_bytes

__all__ = ["ClientAccount", "TokenBudgetError", "VoucherClient", "VoucherConfig"]

_ZERO_NONCE = bytes(12)


class TokenBudgetError(VoucherError):
    """The token scheme produced more tokens for an image than the configured fixed voucher size."""


@dataclass(frozen=True, slots=True)
class VoucherConfig:
    """Protocol parameters the client and the server must agree on."""

    token_count: int = 64
    metadata_bytes: int = 64
    threshold: int = 10
    synthetic_probability: float = 0.02
    #: at most this many synthetic vouchers per sharing polynomial: the server's guaranteed decoding bound is then
    #: ``real >= threshold + max_synthetic`` (spec §6). ``None`` = uncapped (no guarantee).
    max_synthetic: int | None = 8
    #: number of cuckoo hash functions of the table (2 or 3); must equal the manifest's ``cuckoo_ways``.
    cuckoo_ways: int = 3
    #: how many entries a synthetic voucher opens, as (count, weight); should mimic real matches (see spec §6).
    synthetic_open_counts: tuple[tuple[int, float], ...] = ((1, 1.0),)
    #: the same for items of several hashes (videos), whose real matches open more entries (several frames);
    #: ``None``: use ``synthetic_open_counts``.
    synthetic_open_counts_multi: tuple[tuple[int, float], ...] | None = None
    #: hash slots in the inner layer: an image uses one, a video up to this many frame hashes (one voucher per
    #: video, so a video counts once toward the threshold). Fixed per deployment: every voucher has every slot.
    item_hashes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.token_count <= 4096:
            raise VoucherError("token_count must be between 1 and 4096")
        if not 0 <= self.metadata_bytes <= 4096:
            raise VoucherError("metadata_bytes must be between 0 and 4096")
        if not 0.0 <= self.synthetic_probability < 1.0:
            raise VoucherError("synthetic_probability must be in [0, 1)")
        if not 1 <= self.item_hashes <= 16:
            raise VoucherError("item_hashes must be between 1 and 16")
        if self.cuckoo_ways not in (2, 3):
            raise VoucherError("cuckoo_ways must be 2 or 3")
        if self.max_synthetic is not None and self.max_synthetic < 0:
            raise VoucherError("max_synthetic must be >= 0 or None")
        for name in ("synthetic_open_counts", "synthetic_open_counts_multi"):
            counts = getattr(self, name)
            if counts is None and name.endswith("_multi"):
                continue
            if (
                not counts
                or any(not 1 <= c <= self.token_count or w < 0 for c, w in counts)
                or not any(w > 0 for _, w in counts)
            ):
                raise VoucherError(f"{name} must be (count in 1..token_count, weight >= 0) pairs, some weight > 0")

    @classmethod
    def for_scheme(cls, scheme: TokenScheme, **overrides: Any) -> VoucherConfig:
        """A config matched to ``scheme``: its token budget as the fixed voucher size, and synthetic vouchers
        opening as many entries as the scheme's real matches do (its ``synthetic_open_counts``, when it has
        measured one). A mismatch would let the server tell synthetic vouchers from real ones below the threshold,
        so deployments should build their config here rather than by hand."""
        values: dict[str, Any] = {}
        budget = getattr(scheme, "budget", None)
        if isinstance(budget, int):
            values["token_count"] = budget
        counts = getattr(scheme, "synthetic_open_counts", None)
        if counts:
            values["synthetic_open_counts"] = tuple(counts)
        multi = getattr(scheme, "synthetic_open_counts_multi", None)
        if callable(multi):
            measured = multi(int(overrides.get("item_hashes", 1)))
            if measured:
                values["synthetic_open_counts_multi"] = tuple(measured)
        values.update(overrides)
        return cls(**values)

    @property
    def voucher_bytes(self) -> int:
        return (
            27
            + self.token_count * entry_bytes(self.cuckoo_ways)
            + 2
            + payload_bytes(self.metadata_bytes, self.item_hashes)
        )


@dataclass(frozen=True, slots=True)
class ClientAccount:
    """An account's long-lived client secret: the sharing polynomial (its constant term keys the inner layer)."""

    account_id: str
    polynomial: SharingPolynomial = field(repr=False)

    @classmethod
    def create(cls, account_id: str, threshold: int = 10) -> ClientAccount:
        return cls(account_id, SharingPolynomial.generate(threshold))


def _canon(params: object) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


class VoucherClient:
    def __init__(
        self,
        table: VerifiedTable,
        scheme: TokenScheme,
        account: ClientAccount,
        config: VoucherConfig,
        *,
        synthetic_sent: int = 0,
    ) -> None:
        if scheme.name != table.manifest.scheme_name or _canon(scheme.params()) != _canon(table.manifest.scheme_params):
            raise VoucherError(
                f"token scheme {scheme.name} does not match the table's signed scheme {table.manifest.scheme_name}"
            )
        if config.cuckoo_ways != table.manifest.cuckoo_ways:
            raise VoucherError(
                f"configured for {config.cuckoo_ways} cuckoo hash functions, "
                f"the table uses {table.manifest.cuckoo_ways}"
            )
        if account.polynomial.threshold != config.threshold:
            raise VoucherError("account polynomial degree does not match the configured threshold")
        self.table = table
        self.scheme = scheme
        self.account = account
        self.config = config
        self._inner = AESGCM(inner_key(account.polynomial.secret))
        self._binding = account_binding(account.account_id)
        self._rng = secrets.SystemRandom()
        #: synthetic vouchers sent under this account's polynomial; the messenger persists it with the account.
        self.synthetic_sent = synthetic_sent

    def make_voucher(
        self,
        pdq_hash: bytes,
        margins: np.ndarray | None = None,
        metadata: bytes = b"",
        *,
        synthetic: bool | None = None,
    ) -> bytes:
        """Encrypt one image's voucher. ``synthetic=None`` flips the configured coin (tests may force it)."""
        return self.make_item_voucher([(pdq_hash, margins)], metadata, synthetic=synthetic)

    def make_item_voucher(
        self,
        hashes: Sequence[tuple[bytes, np.ndarray | None]],
        metadata: bytes = b"",
        *,
        synthetic: bool | None = None,
    ) -> bytes:
        """Encrypt one voucher for an item with one or more PDQ hashes (a video: its representative frames).

        The fixed token budget is shared between the hashes by taking their ranked tokens in turn (each hash's
        most likely tokens first), so a video voucher is exactly as large as an image voucher and any frame whose
        token is in the table opens it. The inner layer carries all the hashes for the server's verification."""
        if not hashes:
            raise VoucherError("an item needs at least one PDQ hash")
        if len(hashes) > self.config.item_hashes:
            raise VoucherError(f"{len(hashes)} hashes for one item, vouchers hold {self.config.item_hashes}")
        pdqs = [check_pdq_bytes(h) for h, _ in hashes]
        if len(metadata) > self.config.metadata_bytes:
            raise VoucherError(f"metadata is {len(metadata)} bytes, the fixed area holds {self.config.metadata_bytes}")
        if synthetic is None:
            cap = self.config.max_synthetic
            allowed = cap is None or self.synthetic_sent < cap
            synthetic = allowed and self._rng.random() < self.config.synthetic_probability
        if synthetic:
            self.synthetic_sent += 1
        # A synthetic voucher derives the item's tokens too: it must cost what a real one costs (below)
        tokens = self._item_tokens(pdqs, [m for _, m in hashes])
        voucher_id = secrets.token_bytes(16)
        table_id = self.table.root[:8]
        item_key = secrets.token_bytes(ITEM_KEY_BYTES)
        entries = [self._random_entry() for _ in range(self.config.token_count)]
        if synthetic:
            # Do the group operations of the real entries and throw them away: otherwise a synthetic voucher is
            # made ~20x faster (measured 1.6 ms against 31 ms), and the delay before it is sent would tell a
            # network observer, or a server timing the client's requests, which vouchers are synthetic.
            for tok in tokens:
                self._token_entry(tok, voucher_id, secrets.token_bytes(ITEM_KEY_BYTES))
            counts = self.config.synthetic_open_counts
            if len(hashes) > 1 and self.config.synthetic_open_counts_multi:
                counts = self.config.synthetic_open_counts_multi  # a video: mimic a real video match
            n_open = self._rng.choices([c for c, _ in counts], [w for _, w in counts])[0]
            for idx in self._rng.sample(range(self.config.token_count), n_open):
                entries[idx] = self._synthetic_entry(voucher_id, item_key)
            x = secrets.randbelow(PRIME - 1) + 1
            share = (x, secrets.randbelow(PRIME))
            inner = secrets.token_bytes(payload_bytes(self.config.metadata_bytes, self.config.item_hashes) - 64 - 16)
        else:
            for idx, tok in zip(self._rng.sample(range(self.config.token_count), len(tokens)), tokens, strict=True):
                entries[idx] = self._token_entry(tok, voucher_id, item_key)
            share = self.account.polynomial.share()
            inner = self._inner_ciphertext(pdqs, metadata, voucher_id)
        header = WireVoucher(voucher_id, table_id, tuple(entries), b"").header()
        plain = share[0].to_bytes(32, "little") + share[1].to_bytes(32, "little") + inner
        payload = AESGCM(payload_key(item_key)).encrypt(_ZERO_NONCE, plain, header + self._binding)
        return WireVoucher(voucher_id, table_id, tuple(entries), payload).encode()

    def _item_tokens(self, pdqs: Sequence[bytes], margins: Sequence[np.ndarray | None]) -> list[bytes]:
        """The hashes' ranked token lists interleaved (rank 0 of every hash, then rank 1, ...), deduplicated.

        One hash must fit the budget on its own (that is the scheme's contract); several share it."""
        per_hash = []
        for pdq, marg in zip(pdqs, margins, strict=True):
            m = marg if marg is not None else np.zeros(256, dtype=np.float64)
            toks = list(dict.fromkeys(self.scheme.query_tokens(pdq, m)))
            if len(toks) > self.config.token_count:
                raise TokenBudgetError(
                    f"{self.scheme.name} produced {len(toks)} tokens, vouchers hold {self.config.token_count}"
                )
            per_hash.append(toks)
        if len(per_hash) == 1:
            return per_hash[0]
        out: dict[bytes, None] = {}
        for rank in range(max(len(t) for t in per_hash)):
            for toks in per_hash:
                if rank < len(toks) and len(out) < self.config.token_count:
                    out.setdefault(toks[rank], None)
        return list(out)

    def _inner_ciphertext(self, pdqs: Sequence[bytes], metadata: bytes, voucher_id: bytes) -> bytes:
        slots = b"".join(pdqs).ljust(32 * self.config.item_hashes, b"\x00")
        body = bytes([len(pdqs)]) + slots + struct.pack(">H", len(metadata))
        body += metadata.ljust(self.config.metadata_bytes, b"\x00")
        nonce = secrets.token_bytes(INNER_NONCE)
        return nonce + self._inner.encrypt(nonce, body, INNER_AAD + voucher_id)

    def _random_entry(self) -> Entry:
        ways = self.config.cuckoo_ways
        return Entry(Point.random().raw, tuple(secrets.token_bytes(WRAP_BYTES) for _ in range(ways)))

    @staticmethod
    def _wrap(item_key: bytes, shared: Point, voucher_id: bytes) -> bytes:
        pad, check = wrap_pad(shared.raw, voucher_id)
        return bytes(a ^ b for a, b in zip(item_key, pad, strict=True)) + check

    def _token_entry(self, token: bytes, voucher_id: bytes, item_key: bytes) -> Entry:
        """One wrap per *distinct* cuckoo position (a repeated position gets random bytes instead of a second,
        identical wrap), in random order, so the server cannot tell which hash function placed a match."""
        beta, gamma = Scalar.random(), Scalar.random()
        q = token_point(token).mul(beta) + Point.base_mul(gamma)
        gl = self.table.lpub.mul(gamma)
        m = self.table.manifest
        positions = cuckoo_positions(token, m.table_size, m.hash_seed, m.cuckoo_ways)
        wraps = [
            self._wrap(item_key, Point(self.table.slots[pos]).mul(beta) + gl, voucher_id)
            for pos in dict.fromkeys(positions)
        ]
        wraps += [secrets.token_bytes(WRAP_BYTES) for _ in range(len(positions) - len(wraps))]
        self._rng.shuffle(wraps)
        return Entry(q.raw, tuple(wraps))

    def _synthetic_entry(self, voucher_id: bytes, item_key: bytes) -> Entry:
        gamma = Scalar.random()
        q = Point.base_mul(gamma)
        ways = self.config.cuckoo_ways
        wraps = [secrets.token_bytes(WRAP_BYTES) for _ in range(ways)]
        wraps[self._rng.randrange(ways)] = self._wrap(item_key, self.table.lpub.mul(gamma), voucher_id)
        return Entry(q.raw, tuple(wraps))


def token_count_histogram(counts: Sequence[int]) -> tuple[tuple[int, float], ...]:
    """Turn measured 'entries opened per real match' counts into a ``synthetic_open_counts`` distribution."""
    if not counts:
        raise VoucherError("need at least one measured count")
    hist: dict[int, int] = {}
    for c in counts:
        hist[c] = hist.get(c, 0) + 1
    return tuple((c, n / len(counts)) for c, n in sorted(hist.items()))
