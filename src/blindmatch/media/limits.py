"""Resource limits for decoding untrusted images."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "DecodeLimits"]


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds applied to every decode, so a hostile file costs at most a bounded amount of memory and time.

    ``max_pixels`` is checked against the header before any pixel is decoded: a 50 kB PNG can announce
    100 000 × 100 000 pixels (a decompression bomb) and would need 30 GB once decoded. The default (64 MP)
    admits every phone and most camera photos; memory for one decode stays under ~1 GB including the hashing
    buffers.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 64_000_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError(f"limits must be positive, got {self}")


DEFAULT_LIMITS = DecodeLimits()
