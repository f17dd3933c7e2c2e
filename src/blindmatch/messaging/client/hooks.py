"""Extension point for checking media before it is encrypted and sent.

``before_media_send(media_bytes)`` is called by :class:`MessengerClient` with the plaintext of every image or video
just before encryption; it returns ``None`` to allow sending or raises to stop it. Private matching plugs in here:
:func:`blindmatch.messaging.detection.attach_private_check` installs a check that verifies the signed table and
sends a threshold voucher for each image. The default below performs no check and says so; a client built
without ``attach_private_check`` (or ``media_check=``) sends media unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MediaCheck", "before_media_send"]

MediaCheck = Callable[[bytes], None]


def before_media_send(media_bytes: bytes) -> None:
    """Default hook: performs NO matching (install one with ``attach_private_check``); always allows."""
    return None
