"""The server side: open outer layers, collect shares per account, recover past the threshold, verify.

For each entry the server computes ``R = α·Q`` (one scalar multiplication) and checks the tag of every wrap
(one per cuckoo hash function); an entry whose token is in the table opens the item key, which decrypts the
payload: a Shamir share and the inner ciphertext. Opened shares accumulate in :class:`AccountState`. Once at
least ``t`` are held, the server tries :func:`.shamir.recover_secret`; a candidate secret is confirmed only by
actually decrypting an inner ciphertext. After recovery every opened inner layer is decrypted: synthetic
vouchers fail to decrypt (counted), the PDQ of the rest is passed to the caller's ``verify`` callback
(distance ≤ 31 to a list entry); token collisions that do not verify are discarded and counted. Only verified
matches appear in the :class:`ThresholdEvent`.

Every rejection raises a specific error *after* being counted in the account's counters, so abuse is visible.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .client import VoucherConfig
from .errors import (
    DecodeError,
    DuplicateShareError,
    DuplicateVoucherError,
    GroupError,
    InvalidPointError,
    PrivacyError,
    VoucherError,
    WrongTableError,
)
from .group import Point, Scalar
from .kdf import ITEM_KEY_BYTES, account_binding, inner_key, payload_key, wrap_pad
from .shamir import PRIME, recover_secret
from .wire import INNER_AAD, INNER_NONCE, WireVoucher

__all__ = [
    "AccountState",
    "AccountStateStore",
    "InMemoryStateStore",
    "OpenedShare",
    "ReceiveOutcome",
    "ThresholdEvent",
    "VerifiedMatch",
    "VoucherServer",
]

_ZERO_NONCE = bytes(12)
VerifyFn = Callable[[str], object]
#: Verifies an item with several hashes (a video's frames) as a whole; falsy result = not a match.
VerifyManyFn = Callable[[tuple[str, ...]], object]


@dataclass(frozen=True, slots=True)
class OpenedShare:
    voucher_id: bytes
    x: int
    y: int
    inner: bytes
    entries_opened: int


@dataclass(frozen=True, slots=True)
class VerifiedMatch:
    """A verified match: ``pdq_hex`` is the item's hash that verified (for a video, the first matching frame);
    ``item_hashes`` all the hashes the item's voucher carried (one for an image, frames for a video)."""

    voucher_id: bytes
    pdq_hex: str
    metadata: bytes
    match: object
    item_hashes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ThresholdEvent:
    """Produced when an account's key is recovered, and for each verified match after that."""

    account_id: str
    matches: tuple[VerifiedMatch, ...]
    collisions: int
    synthetic: int
    opened_total: int
    method: str


@dataclass
class AccountState:
    """Everything the server keeps per account (plain data; the service persists it)."""

    account_id: str
    seen_voucher_ids: set[bytes] = field(default_factory=set)
    opened: list[OpenedShare] = field(default_factory=list)
    secret: int | None = field(default=None, repr=False)
    counters: dict[str, int] = field(default_factory=dict)

    def bump(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def to_json(self) -> str:
        """Serialise for storage. Contains the recovered secret once past the threshold: store it encrypted."""
        return json.dumps(
            {
                "format": 1,
                "account_id": self.account_id,
                "seen": sorted(v.hex() for v in self.seen_voucher_ids),
                "opened": [
                    [o.voucher_id.hex(), str(o.x), str(o.y), o.inner.hex(), o.entries_opened] for o in self.opened
                ],
                "secret": None if self.secret is None else str(self.secret),
                "counters": self.counters,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> AccountState:
        try:
            obj = json.loads(text)
            if obj["format"] != 1:
                raise DecodeError(f"unsupported account state format {obj['format']!r}")
            return cls(
                account_id=str(obj["account_id"]),
                seen_voucher_ids={bytes.fromhex(v) for v in obj["seen"]},
                opened=[
                    OpenedShare(bytes.fromhex(v), int(x), int(y), bytes.fromhex(inner), int(n))
                    for v, x, y, inner, n in obj["opened"]
                ],
                secret=None if obj["secret"] is None else int(obj["secret"]),
                counters={str(k): int(v) for k, v in obj["counters"].items()},
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise DecodeError(f"malformed account state: {exc}") from None


class AccountStateStore(Protocol):
    def load(self, account_id: str) -> AccountState | None: ...

    def save(self, state: AccountState) -> None: ...


class InMemoryStateStore:
    def __init__(self) -> None:
        self._states: dict[str, AccountState] = {}

    def load(self, account_id: str) -> AccountState | None:
        return self._states.get(account_id)

    def save(self, state: AccountState) -> None:
        self._states[state.account_id] = state


@dataclass(frozen=True, slots=True)
class ReceiveOutcome:
    opened: bool
    event: ThresholdEvent | None


def _verify_flag(result: object) -> bool:
    return result is not None and result is not False


class VoucherServer:
    def __init__(
        self,
        alpha: Scalar,
        table_ids: set[bytes],
        config: VoucherConfig,
        verify: VerifyFn,
        store: AccountStateStore | None = None,
        *,
        search_budget: int = 2000,
        verify_many: VerifyManyFn | None = None,
    ) -> None:
        """``verify`` checks one decrypted PDQ hash against the list; ``verify_many``, when given, checks the
        hashes of a multi-hash item (a video) together — without it the first hash that verifies wins."""
        self.verify_many = verify_many
        self.alpha = alpha
        self.table_ids = set(table_ids)
        self.config = config
        self.verify = verify
        self.store: AccountStateStore = store if store is not None else InMemoryStateStore()
        self.search_budget = search_budget

    def accept_table(self, table_id: bytes) -> None:
        """Accept vouchers made against another table version (after a delta; α is unchanged)."""
        self.table_ids.add(bytes(table_id))

    def retire_table(self, table_id: bytes) -> None:
        """Stop accepting vouchers made against a table version (e.g. one whose list had an entry removed)."""
        self.table_ids.discard(bytes(table_id))

    def state(self, account_id: str) -> AccountState:
        return self.store.load(account_id) or AccountState(account_id)

    def receive(self, account_id: str, data: bytes) -> ReceiveOutcome:
        """Process one voucher; raise a :class:`PrivacyError` subclass (counted) if it is rejected."""
        state = self.state(account_id)
        state.bump("received")
        try:
            outcome = self._receive(state, data)
        except PrivacyError as exc:
            state.bump("rejected_" + type(exc).__name__)
            self.store.save(state)
            raise
        self.store.save(state)
        return outcome

    def _receive(self, state: AccountState, data: bytes) -> ReceiveOutcome:
        v = WireVoucher.decode(
            data,
            token_count=self.config.token_count,
            metadata_bytes=self.config.metadata_bytes,
            ways=self.config.cuckoo_ways,
            item_hashes=self.config.item_hashes,
        )
        if v.table_id not in self.table_ids:
            raise WrongTableError(f"voucher made against unknown table {v.table_id.hex()}")
        if v.voucher_id in state.seen_voucher_ids:
            raise DuplicateVoucherError(f"voucher {v.voucher_id.hex()} already received for this account")
        opened = self._open(v, state.account_id)
        state.seen_voucher_ids.add(v.voucher_id)
        if opened is None:
            return ReceiveOutcome(False, None)
        if any(o.x == opened.x for o in state.opened):
            state.seen_voucher_ids.discard(v.voucher_id)
            raise DuplicateShareError("share x-coordinate already seen for this account")
        state.opened.append(opened)
        state.bump("opened")
        if state.secret is None:
            return ReceiveOutcome(True, self._try_recover(state))
        match = self._classify(state, [opened])
        return ReceiveOutcome(True, match)

    def _open(self, v: WireVoucher, account_id: str) -> OpenedShare | None:
        item_key: bytes | None = None
        opened_entries = 0
        for e in v.entries:
            try:
                r = Point.decode_mul(e.q, self.alpha).raw
            except (InvalidPointError, GroupError) as exc:
                raise VoucherError(f"voucher entry has an invalid point: {exc}") from None
            pad, check = wrap_pad(r, v.voucher_id)
            hits = [w for w in e.wraps if w[ITEM_KEY_BYTES:] == check]
            if hits:
                keys = {bytes(a ^ b for a, b in zip(w[:ITEM_KEY_BYTES], pad, strict=True)) for w in hits}
                if len(keys) != 1 or (item_key is not None and item_key not in keys):
                    raise VoucherError("entries of one voucher open to different item keys")
                item_key = keys.pop()
                opened_entries += 1
        if item_key is None:
            return None
        try:
            aad = v.header() + account_binding(account_id)
            plain = AESGCM(payload_key(item_key)).decrypt(_ZERO_NONCE, v.payload, aad)
        except InvalidTag:
            raise VoucherError("an entry opened but the payload does not authenticate") from None
        x, y = int.from_bytes(plain[:32], "little"), int.from_bytes(plain[32:64], "little")
        if not 0 < x < PRIME or not 0 <= y < PRIME:
            raise VoucherError("share coordinates out of the field")
        return OpenedShare(v.voucher_id, x, y, plain[64:], opened_entries)

    @staticmethod
    def _decrypt_inner(key: AESGCM, share: OpenedShare) -> bytes | None:
        try:
            return key.decrypt(
                share.inner[:INNER_NONCE],
                share.inner[INNER_NONCE:],
                INNER_AAD + share.voucher_id,
            )
        except InvalidTag:
            return None

    def _verify_item(self, hashes: tuple[str, ...]) -> tuple[str, object] | None:
        if len(hashes) > 1 and self.verify_many is not None:
            result = self.verify_many(hashes)
            return (hashes[0], result) if _verify_flag(result) else None
        for h in hashes:
            result = self.verify(h)
            if _verify_flag(result):
                return h, result
        return None

    def _parse_inner(self, body: bytes) -> tuple[tuple[str, ...], bytes] | None:
        """``n | n hashes in item_hashes slots | u16 metadata length | metadata``; None when malformed."""
        slots = self.config.item_hashes
        if len(body) < 1 + 32 * slots + 2:
            return None
        n = body[0]
        if not 1 <= n <= slots:
            return None
        hashes = tuple(body[1 + 32 * i : 33 + 32 * i].hex() for i in range(n))
        (mlen,) = struct.unpack_from(">H", body, 1 + 32 * slots)
        start = 1 + 32 * slots + 2
        if mlen > self.config.metadata_bytes or start + mlen > len(body):
            return None
        return hashes, body[start : start + mlen]

    def _try_recover(self, state: AccountState) -> ThresholdEvent | None:
        """Attempt key recovery, with work bounded so a client flooding synthetic shares cannot burn CPU.

        An honest client sends at most ``max_synthetic`` (= c) synthetic vouchers, so Berlekamp–Welch succeeds by
        ``n = t + 2c`` opened shares at the latest. Subset search (useful for ``t <= r < t + s``) therefore runs
        only while ``n <= t + 2c``; Berlekamp–Welch runs on every arrival up to ``4(t + c)`` and then only when
        ``n`` is a power of two. A failure beyond ``t + 2c`` means the client exceeded the cap (counted).
        """
        t = self.config.threshold
        n = len(state.opened)
        if n < t:
            return None
        cap = self.config.max_synthetic
        budget = self.search_budget
        if cap is not None:
            if n > t + 2 * cap:
                budget = 0
            if n > 4 * (t + cap) and n & (n - 1):
                state.bump("recovery_skipped")
                return None
        state.bump("recovery_attempts")

        def check(candidate: int) -> bool:
            key = AESGCM(inner_key(candidate))
            return any(self._decrypt_inner(key, s) is not None for s in state.opened)

        result = recover_secret([(s.x, s.y) for s in state.opened], t, check, search_budget=budget)
        if result is None:
            state.bump("recovery_failures")
            if cap is not None and n > t + 2 * cap:
                state.bump("synthetic_cap_exceeded")
            return None
        state.secret = result.secret
        event = self._classify(state, state.opened, method=result.method)
        return event

    def _classify(self, state: AccountState, shares: list[OpenedShare], method: str = "recovered") -> ThresholdEvent:
        assert state.secret is not None
        key = AESGCM(inner_key(state.secret))
        matches: list[VerifiedMatch] = []
        collisions = synthetic = 0
        for s in shares:
            body = self._decrypt_inner(key, s)
            if body is None:
                synthetic += 1
                continue
            parsed = self._parse_inner(body)
            if parsed is None:  # authenticated under the account key but malformed: a broken or hostile client
                state.bump("malformed_inner")
                continue
            hashes, metadata = parsed
            verified = self._verify_item(hashes)
            if verified is not None:
                matches.append(VerifiedMatch(s.voucher_id, verified[0], metadata, verified[1], hashes))
            else:
                collisions += 1
        state.bump("synthetic", synthetic)
        state.bump("collisions", collisions)
        state.bump("verified", len(matches))
        return ThresholdEvent(state.account_id, tuple(matches), collisions, synthetic, len(state.opened), method)
