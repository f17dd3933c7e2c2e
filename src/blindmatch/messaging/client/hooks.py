"""Extension point for checking media before it is encrypted and sent.

``before_media_send(media_bytes)`` is called by :class:`MessengerClient` with the plaintext of every image or video
just before encryption; it returns ``None`` to allow sending or raises to stop it. The private matching of
:mod:`blindmatch.privacy` will plug in here. **No check is performed yet**: the default below allows everything,
and says so, rather than pretending to scan. Pass ``media_check=`` to the client to install a real one.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MediaCheck", "before_media_send"]

MediaCheck = Callable[[bytes], None]


def before_media_send(media_bytes: bytes) -> None:
    """Default hook: performs NO matching (private matching is not wired yet); always allows."""
    return None
