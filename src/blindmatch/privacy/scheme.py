"""The contract between the protocol and a token scheme.

The protocol never looks inside a token: a list entry yields some tokens on the custodian side, a media item
yields some tokens on the client, and a match means one client token equals one list token. How fuzzy PDQ
matching is turned into token equality is the token scheme's business (``privacy/tokens.py``); this module
only fixes the interface and ships :class:`ExactTokenScheme`, which matches identical PDQ hashes and is what
the protocol's own tests use.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["PDQ_BYTES", "ExactTokenScheme", "TokenScheme", "check_pdq_bytes"]

PDQ_BYTES = 32


@runtime_checkable
class TokenScheme(Protocol):
    """Turns PDQ hashes into opaque tokens so that near-identical hashes share at least one token."""

    @property
    def name(self) -> str:
        """The scheme's identifier (in the signed manifest); read-only so frozen dataclasses qualify."""
        ...

    def list_tokens(self, pdq_hash: bytes) -> list[bytes]:
        """Custodian side: the tokens one list entry contributes to the table."""
        ...

    def query_tokens(self, pdq_hash: bytes, margins: np.ndarray) -> list[bytes]:
        """Client side: the tokens one image is checked with (``margins``: per-bit confidence, may be unused)."""
        ...

    def params(self) -> dict[str, object]:
        """JSON-serialisable parameters; they are written into the signed manifest."""
        ...


def check_pdq_bytes(pdq_hash: bytes) -> bytes:
    if not isinstance(pdq_hash, (bytes, bytearray)) or len(pdq_hash) != PDQ_BYTES:
        raise ValueError(f"a PDQ hash must be {PDQ_BYTES} bytes")
    return bytes(pdq_hash)


class ExactTokenScheme:
    """One token per hash: a domain-separated SHA-256 of the full 256-bit PDQ hash (exact match only)."""

    name = "exact-v1"

    def list_tokens(self, pdq_hash: bytes) -> list[bytes]:
        return [self._token(check_pdq_bytes(pdq_hash))]

    def query_tokens(self, pdq_hash: bytes, margins: np.ndarray) -> list[bytes]:
        return [self._token(check_pdq_bytes(pdq_hash))]

    def params(self) -> dict[str, object]:
        return {"token_bytes": 16}

    @staticmethod
    def _token(pdq: bytes) -> bytes:
        return hashlib.sha256(b"blindmatch/exact-token/v1\x00" + pdq).digest()[:16]
