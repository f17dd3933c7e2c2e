"""Reading and writing custodian signing keys (Ed25519, PEM) and the warn-before-send key — the I/O edge of the
table tools.

Private keys are written with mode 0600 and never overwritten; public keys are accepted as PEM files or as 64 hex
characters, so a user can paste the key fingerprint published by the custodian.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InvalidScalarError, PrivacyError
from .group import Scalar

__all__ = [
    "KeyFileError",
    "load_private_key",
    "load_public_key",
    "load_warn_key",
    "public_key_hex",
    "write_new_private_key",
    "write_new_warn_key",
]


class KeyFileError(PrivacyError, ValueError):
    """A key file is missing, unreadable, of the wrong type, or would be overwritten."""


def _write_new_secret(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_new_private_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_new_secret(path, pem)
    return key


def write_new_warn_key(path: Path) -> Scalar:
    """A fresh warn-before-send key ``α_w`` (64 hex digits, mode 0600, never overwritten): the OPRF server's secret,
    independent of the table key."""
    key = Scalar.random()
    _write_new_secret(path, key.raw.hex().encode() + b"\n")
    return key


def load_warn_key(path: Path) -> Scalar:
    try:
        return Scalar.decode(bytes.fromhex(path.read_text(encoding="ascii").strip()))
    except (OSError, ValueError, InvalidScalarError) as exc:
        raise KeyFileError(f"cannot read a warn key (64 hex digits) from {path}: {exc}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot read an Ed25519 private key from {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key")
    return key


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_public_key(spec: str) -> Ed25519PublicKey:
    """``spec`` is 64 hex characters (the raw key) or the path of a PEM public or private key."""
    text = spec.strip()
    if len(text) == 64:
        try:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
        except ValueError:
            pass
    path = Path(spec)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{spec!r} is neither 64 hex characters nor a readable key file ({exc.strerror})") from None
    try:
        pub = serialization.load_pem_public_key(data)
    except ValueError:
        return load_private_key(path).public_key()
    if not isinstance(pub, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return pub
