"""Reading uploads within limits, and hashing them, shared by the ``/v1`` and HMA routes."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from blindmatch.hashing.files import FileHashes, hash_bytes
from blindmatch.media import DecodeLimits, MediaTooLargeError
from blindmatch.service.config import Settings

_CHUNK = 1 << 20


def read_upload(upload: UploadFile, settings: Settings) -> bytes:
    """The upload's bytes; more than ``max_upload_bytes`` is refused without reading the rest."""
    limit = settings.max_upload_bytes
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = upload.file.read(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise MediaTooLargeError(f"upload is over the {limit}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def limits_for(settings: Settings) -> DecodeLimits:
    return DecodeLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)


def hash_upload(upload: UploadFile, settings: Settings, *, fast: bool = False, dihedral: bool = False) -> FileHashes:
    data = read_upload(upload, settings)
    return hash_bytes(data, fast=fast, dihedral=dihedral, limits=limits_for(settings), path=upload.filename)


def file_hashes_dict(h: FileHashes) -> dict[str, object]:
    """The API's view: every field, with the upload's name under ``filename`` (it is not a server path)."""
    out = h.as_dict()
    return {"filename": out.pop("path"), **out}
