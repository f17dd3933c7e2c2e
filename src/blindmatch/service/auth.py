"""API keys.

HMA's API has no authentication at all; blindmatch requires a key on every route but ``/health``. Keys are random
32-byte tokens shown once; only their SHA-256 is stored, so a leaked key file does not leak usable keys.
Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ApiKeyRing", "create_api_key", "hash_key"]

KEY_PREFIX = "bm_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKeyRing:
    """The set of accepted key digests, with a label per key for the audit trail."""

    digests: dict[str, str]  # digest -> label

    @classmethod
    def load(cls, key_file: Path, plain_keys: Iterable[str] = ()) -> ApiKeyRing:
        digests: dict[str, str] = {}
        if key_file.exists():
            for line in key_file.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                digest, _, label = line.partition(" ")
                if len(digest) == 64:
                    digests[digest.lower()] = label.strip() or "unnamed"
        for i, key in enumerate(plain_keys):
            digests[hash_key(key)] = f"env-{i}"
        return cls(digests)

    def check(self, presented: str | None) -> str | None:
        """Return the key's label when ``presented`` is an accepted key, else None."""
        if not presented:
            return None
        digest = hash_key(presented.strip())
        found = None
        for known, label in self.digests.items():
            if hmac.compare_digest(known, digest):
                found = label
        return found


def create_api_key(key_file: Path, label: str) -> str:
    """Create a key, append its digest to ``key_file`` (mode 0600) and return the plain key (shown once)."""
    if not label.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"key label must be letters, digits, '-' or '_', got {label!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"{hash_key(key)} {label}\n")
    return key
