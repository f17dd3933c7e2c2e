"""Crash-safe snapshots of named numpy arrays plus a small JSON header.

Why a custom container rather than ``np.savez``: we need (1) a checksum so that a truncated or bit-flipped file is
rejected with a clear error instead of loading a silently wrong index, (2) a format version and kind tag, and
(3) atomic replacement: the new snapshot is written to a temporary file in the same directory, fsynced and then
``os.replace``d over the old one, so a crash mid-write leaves the previous snapshot untouched.

Layout: ``MAGIC`` (8 bytes) | header length (8 bytes, little-endian) | header (UTF-8 JSON) | array payloads, each
aligned to 64 bytes. The header lists every array's dtype, shape, offset and length, and the SHA-256 of the payload.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from blindmatch.index.errors import SnapshotCorruptError, SnapshotError, SnapshotVersionError

__all__ = ["MAGIC", "read_snapshot", "write_snapshot"]

MAGIC = b"BMIDXSN1"
_ALIGN = 64
_MAX_HEADER = 1 << 20
_ALLOWED_DTYPES = frozenset({"|u1", "<u2", "<u4", "<u8", "<i8", "|b1", "<i4"})


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def write_snapshot(
    path: Path, kind: str, version: int, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]
) -> int:
    """Atomically write ``arrays`` and ``meta`` to ``path``; return the number of bytes written."""
    path = Path(path)
    entries: list[dict[str, Any]] = []
    offset = 0
    prepared: list[np.ndarray] = []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        entries.append(
            {"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes}
        )
        prepared.append(a)
        offset += a.nbytes + _pad(a.nbytes)
    digest = hashlib.sha256()
    for a in prepared:
        digest.update(a.reshape(-1).view(np.uint8).data)
        digest.update(b"\0" * _pad(a.nbytes))
    header = {"kind": kind, "version": version, "meta": dict(meta), "arrays": entries, "sha256": digest.hexdigest()}
    head = json.dumps(header, sort_keys=True).encode()
    prefix = MAGIC + len(head).to_bytes(8, "little") + head
    prefix += b"\0" * _pad(len(prefix))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(prefix)
            for a in prepared:
                fh.write(a.reshape(-1).view(np.uint8).data)
                fh.write(b"\0" * _pad(a.nbytes))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return len(prefix) + offset


def read_snapshot(
    path: Path, kind: str, version: int, verify: bool = True
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a snapshot written by :func:`write_snapshot`; return ``(meta, arrays)``.

    Raises :class:`SnapshotCorruptError` on any structural or checksum mismatch and :class:`SnapshotVersionError`
    when the kind or version differs. ``verify=False`` skips the payload checksum (faster for huge trusted files).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _read_open(fh, path, kind, version, verify)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {path} does not exist") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc}") from exc


def _read_open(
    fh: Any, path: Path, kind: str, version: int, verify: bool
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    size = os.fstat(fh.fileno()).st_size
    first = fh.read(16)
    if len(first) < 16 or first[:8] != MAGIC:
        raise SnapshotCorruptError(f"{path} is not a blindmatch index snapshot (bad magic)")
    head_len = int.from_bytes(first[8:16], "little")
    if head_len > _MAX_HEADER or 16 + head_len > size:
        raise SnapshotCorruptError(f"{path}: header length {head_len} is invalid (truncated file?)")
    try:
        header = json.loads(fh.read(head_len).decode())
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
        got_kind, got_version = header["kind"], header["version"]
        entries = list(header["arrays"])
        expected_sha = str(header["sha256"])
        meta = header["meta"]
        if not isinstance(meta, dict):
            raise ValueError("meta is not an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SnapshotCorruptError(f"{path}: unreadable header ({exc})") from exc
    if got_kind != kind:
        raise SnapshotVersionError(f"{path} holds a {got_kind!r} snapshot, expected {kind!r}")
    if got_version != version:
        raise SnapshotVersionError(f"{path} has format version {got_version}, this code reads version {version}")
    start = 16 + head_len
    start += _pad(start)
    payload_len = size - start
    fh.seek(start)
    digest = hashlib.sha256()
    arrays: dict[str, np.ndarray] = {}
    expected_off = 0
    try:
        for e in entries:
            dtype = str(e["dtype"])
            if dtype not in _ALLOWED_DTYPES:
                raise ValueError(f"dtype {dtype} not allowed")
            shape = tuple(int(s) for s in e["shape"])
            off, nbytes = int(e["offset"]), int(e["nbytes"])
            dt = np.dtype(dtype)
            if any(s < 0 for s in shape) or nbytes != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
                raise ValueError(f"array {e['name']} has inconsistent shape and size")
            if off != expected_off or off + nbytes + _pad(nbytes) > payload_len:
                raise ValueError(f"array {e['name']} lies outside the payload (truncated file?)")
            arr = np.empty(shape, dtype=dt)
            buf = arr.reshape(-1).view(np.uint8).data
            if arr.size and fh.readinto(buf) != nbytes:
                raise ValueError(f"array {e['name']} is truncated")
            pad = fh.read(_pad(nbytes))
            if verify:
                digest.update(buf)
                digest.update(pad)
            arrays[str(e["name"])] = arr
            expected_off = off + nbytes + _pad(nbytes)
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotCorruptError(f"{path}: bad array table ({exc})") from exc
    if expected_off != payload_len:
        raise SnapshotCorruptError(f"{path}: payload is {payload_len} bytes, header describes {expected_off}")
    if verify and digest.hexdigest() != expected_sha:
        raise SnapshotCorruptError(f"{path}: checksum mismatch (file truncated or altered)")
    return meta, arrays
