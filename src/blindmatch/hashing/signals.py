"""Signal types and their hash values.

A *signal type* names a hashing algorithm whose values can be stored in a list and matched: ``pdq``
(perceptual, 256 bits, matched by Hamming distance), ``md5``/``sha1``/``sha256`` (exact, of the file bytes)
and, later, ``vpdq`` (a video's frame hashes). Values are carried around as canonical lower-case hex strings;
parsing is strict so that a malformed hash from an import file, an API call or a protocol message is rejected
with a clear reason instead of being stored and silently never matching.

Modelled on python-threatexchange's pluggable ``SignalType`` (one class per type with
``validate_signal_str``), but kept to plain functions over a small registry.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "EXACT_SIGNAL_TYPES",
    "HASH_HEX_LENGTHS",
    "InvalidHashError",
    "SignalType",
    "SignalValue",
    "UnknownSignalTypeError",
    "hamming_distance_hex",
    "normalize_hash",
    "parse_signal_type",
]

_HEX = frozenset(string.hexdigits)


class SignalType(StrEnum):
    """The kinds of hash blindmatch stores and matches."""

    PDQ = "pdq"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    VPDQ = "vpdq"
    VIDEO_MD5 = "video_md5"


#: Hex length of one value of each fixed-size signal type (vPDQ values are a list of frame hashes, see vpdq).
HASH_HEX_LENGTHS: dict[SignalType, int] = {
    SignalType.PDQ: 64,
    SignalType.MD5: 32,
    SignalType.SHA1: 40,
    SignalType.SHA256: 64,
    SignalType.VIDEO_MD5: 32,
}

#: Signal types matched by equality (dictionary lookup) rather than by distance.
EXACT_SIGNAL_TYPES: frozenset[SignalType] = frozenset(
    {SignalType.MD5, SignalType.SHA1, SignalType.SHA256, SignalType.VIDEO_MD5}
)


class UnknownSignalTypeError(ValueError):
    """The name does not denote a signal type blindmatch knows."""


class InvalidHashError(ValueError):
    """A hash value is malformed for its signal type (wrong length, non-hex characters, wrong type)."""


def parse_signal_type(name: str | SignalType) -> SignalType:
    """Return the signal type called ``name`` (case-insensitive; ``pdq_signal``-style HMA names accepted)."""
    if isinstance(name, SignalType):
        return name
    if not isinstance(name, str):
        raise UnknownSignalTypeError(f"signal type must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    try:
        return SignalType(key)
    except ValueError:
        known = ", ".join(t.value for t in SignalType)
        raise UnknownSignalTypeError(f"unknown signal type {name!r} (known: {known})") from None


_ALIASES = {
    "pdq_signal": "pdq",
    "video_md5_signal": "video_md5",
    "md5_signal": "md5",
    "sha_1": "sha1",
    "sha_256": "sha256",
    "vpdq_signal": "vpdq",
}


def normalize_hash(signal_type: str | SignalType, value: object) -> str:
    """Validate ``value`` as a hash of ``signal_type`` and return its canonical lower-case hex form.

    Surrounding whitespace is tolerated; everything else that is not exactly the right number of hex digits is
    rejected with :class:`InvalidHashError`, whose message names the problem.
    """
    st = parse_signal_type(signal_type)
    if not isinstance(value, str):
        raise InvalidHashError(f"{st.value} hash must be a hex string, got {type(value).__name__}")
    text = value.strip()
    if st is SignalType.VPDQ:
        # A video's frame list: canonical form is vPDQ's compact text (HMA's JSON form is accepted too).
        from blindmatch.hashing.vpdq import VpdqHash

        parsed = VpdqHash.from_threatexchange(text) if text.startswith("[") else VpdqHash.from_compact(text)
        if not parsed.frames:
            raise InvalidHashError("vpdq value has no frames")
        return parsed.to_compact()
    expected = HASH_HEX_LENGTHS[st]
    if len(text) != expected:
        raise InvalidHashError(f"{st.value} hash must be {expected} hex digits, got {len(text)}: {_clip(text)!r}")
    bad = [c for c in text if c not in _HEX]
    if bad:
        raise InvalidHashError(f"{st.value} hash has non-hex character {bad[0]!r}: {_clip(text)!r}")
    return text.lower()


def hamming_distance_hex(a: str, b: str) -> int:
    """Hamming distance between two equal-length hex strings."""
    if len(a) != len(b):
        raise InvalidHashError(f"cannot compare hashes of different lengths ({len(a)} and {len(b)} hex digits)")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True, slots=True)
class SignalValue:
    """A validated (signal type, canonical hex value) pair."""

    signal_type: SignalType
    value: str

    @classmethod
    def parse(cls, signal_type: str | SignalType, value: object) -> SignalValue:
        st = parse_signal_type(signal_type)
        return cls(st, normalize_hash(st, value))
