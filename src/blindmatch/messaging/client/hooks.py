"""Extension point for checking media before it is encrypted and sent.

``before_media_send(media_bytes)`` is called by :class:`MessengerClient` with the plaintext of every image or video
just before encryption; it raises to stop the send, or returns the upload receipt the relay issued for the media's
voucher (base64, sent with the upload; see :mod:`blindmatch.messaging.receipts`), or ``None`` for no receipt.
Private matching plugs in here:
:func:`blindmatch.messaging.detection.attach_private_check` installs a check that verifies the signed table and
sends a threshold voucher for each image. The default below performs no check and says so; a client built
without ``attach_private_check`` (or ``media_check=``) sends media unchecked.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MediaCheck", "before_media_send"]

MediaCheck = Callable[[bytes], str | None]


def before_media_send(media_bytes: bytes) -> str | None:
    """Default hook: performs NO matching (install one with ``attach_private_check``) and has no receipt, so a
    relay that requires receipts refuses the upload."""
    return None
