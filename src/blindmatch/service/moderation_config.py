"""Settings of the moderation service and staff password hashing (scrypt).

Passwords: scrypt with N = 2**15 (``moderation_scrypt_n``), r = 8, p = 1, a 16-byte salt and a 32-byte key, stored as
``scrypt$N$r$p$salt$key`` so the cost can be raised later without invalidating existing hashes; comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from blindmatch.moderation.errors import ModerationInputError
from blindmatch.moderation.retention import Jurisdiction, parse_jurisdiction

__all__ = ["ModerationConfig", "check_password", "hash_password"]

_SCRYPT_R, _SCRYPT_P, _SCRYPT_MAXMEM = 8, 1, 256 * 1024 * 1024


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ModerationInputError(f"expected a boolean setting (true/false), got {value!r}")


@dataclass(frozen=True)
class ModerationConfig:
    """Settings (from ``Settings.extra`` / ``BLINDMATCH_MODERATION_*``, see :meth:`from_extra`)."""

    #: Confirmation needs two distinct reviewers (``moderation_two_person``).
    two_person: bool = False
    #: Retention regime applied to new cases (``moderation_jurisdiction``: US or EU).
    jurisdiction: Jurisdiction = Jurisdiction.EU
    #: Staff sessions last this long (``moderation_session_hours``).
    session_hours: float = 8.0
    #: scrypt cost (N, a power of two); lowered only by tests (``moderation_scrypt_n``).
    scrypt_n: int = 2**15

    @classmethod
    def from_extra(cls, extra: dict[str, str] | None = None) -> ModerationConfig:
        e = extra or {}

        def get(name: str, default: str) -> str:
            return e.get(name, os.environ.get("BLINDMATCH_" + name.upper(), default))

        try:
            hours = float(get("moderation_session_hours", "8"))
            n = int(get("moderation_scrypt_n", str(2**15)))
        except ValueError as exc:
            raise ModerationInputError(f"bad moderation setting: {exc}") from None
        if not 0 < hours <= 24 * 7:
            raise ModerationInputError("moderation_session_hours must be in (0, 168]")
        if n < 2**10 or n & (n - 1):
            raise ModerationInputError("moderation_scrypt_n must be a power of two >= 1024")
        return cls(
            two_person=_flag(get("moderation_two_person", "false")),
            jurisdiction=parse_jurisdiction(get("moderation_jurisdiction", "EU")),
            session_hours=hours,
            scrypt_n=n,
        )


# ---------------------------------------------------------------------------------------------------- passwords


def hash_password(password: str, n: int) -> str:
    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison of the derived key; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt, dk = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=_SCRYPT_MAXMEM,
            dklen=len(dk) // 2,
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), dk)
