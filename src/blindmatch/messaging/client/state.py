"""Local client state, encrypted at rest.

Everything a device must remember (its vodozemac account and Olm sessions, pinned contact keys, message history
including franking data for reports, ids already processed) is one JSON document sealed with AES-256-GCM under a
32-byte *local key*; vodozemac pickles inside are additionally encrypted by vodozemac with a key derived from it.
The local key is kept in ``local.key`` (mode 0600) next to the state unless the caller supplies its own (e.g. from
an OS keychain). Writes go to a temporary file, are fsynced and atomically renamed, so a crash leaves either the
old or the new state; the client saves *before* acknowledging deliveries, so nothing acked is ever lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from blindmatch.messaging.client.errors import StateError

__all__ = ["STATE_FILE", "derive_pickle_key", "load_local_key", "load_state", "save_state"]

STATE_FILE = "state.bin"
KEY_FILE = "local.key"
AAD = b"blindmatch-client-state-v1"


def load_local_key(state_dir: Path, *, create: bool) -> bytes:
    path = state_dir / KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise StateError(f"{path} must hold 32 bytes")
        return key
    if not create:
        raise StateError(f"no local key at {path}: register this device first")
    state_dir.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def derive_pickle_key(local_key: bytes) -> bytes:
    return hmac.new(local_key, b"blindmatch-vodozemac-pickle", hashlib.sha256).digest()


def save_state(state_dir: Path, local_key: bytes, state: dict[str, Any]) -> None:
    raw = json.dumps(state, separators=(",", ":")).encode("utf-8")
    nonce = os.urandom(12)
    blob = nonce + AESGCM(local_key).encrypt(nonce, raw, AAD)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_state(state_dir: Path, local_key: bytes) -> dict[str, Any]:
    path = state_dir / STATE_FILE
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise StateError(f"no client state at {path}: register this device first") from None
    if len(blob) < 28:
        raise StateError(f"{path} is truncated")
    try:
        raw = AESGCM(local_key).decrypt(blob[:12], blob[12:], AAD)
    except InvalidTag:
        raise StateError(f"{path} does not decrypt with this local key (wrong key or corrupted file)") from None
    obj = json.loads(raw)
    if not isinstance(obj, dict) or obj.get("v") != 1:
        raise StateError(f"{path} has an unknown format")
    return obj
