"""Group encryption with Megolm: one outbound ratchet per sender per group, keys shared to members over Olm.

Megolm messages are signed by the session's own key, so a receiver must bind each session id to the device that
shared it over Olm (an authenticated channel) and reject messages whose envelope claims another sender. Replays
are detected by remembering (session id, message index) pairs.
"""

from __future__ import annotations

import vodozemac

from blindmatch.messaging.crypto.envelope import Envelope
from blindmatch.messaging.errors import DecryptionError, EnvelopeError

__all__ = ["GroupReceiver", "GroupSender"]


class GroupSender:
    def __init__(self, sender_key: str, session: vodozemac.GroupSession | None = None) -> None:
        self.sender_key = sender_key
        self.session = session or vodozemac.GroupSession()

    @property
    def session_id(self) -> str:
        return self.session.session_id

    def session_key(self) -> str:
        """The key to send to each member over Olm (it lets them decrypt from the current index on)."""
        return self.session.session_key.to_base64()

    def encrypt(self, plaintext: bytes) -> Envelope:
        ct = self.session.encrypt(plaintext).to_bytes()
        return Envelope("megolm", self.sender_key, ct, session_id=self.session_id)


class GroupReceiver:
    """Inbound Megolm sessions keyed by session id, each bound to the sender that shared it."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[str, vodozemac.InboundGroupSession]] = {}
        self.seen: set[tuple[str, int]] = set()

    def add_key(self, sender_key: str, session_key: str) -> str:
        try:
            inbound = vodozemac.InboundGroupSession(vodozemac.SessionKey(session_key))
        except (vodozemac.SessionKeyDecodeException, ValueError) as exc:
            raise DecryptionError(f"invalid Megolm session key: {exc}") from None
        known = self.sessions.get(inbound.session_id)
        if known is not None and known[0] != sender_key:
            raise DecryptionError("a different device already shared this Megolm session id")
        self.sessions[inbound.session_id] = (sender_key, inbound)
        return inbound.session_id

    def decrypt(self, env: Envelope) -> bytes:
        if env.alg != "megolm":
            raise EnvelopeError(f"not a Megolm envelope: {env.alg}")
        entry = self.sessions.get(env.session_id)
        if entry is None:
            raise DecryptionError(f"no key for Megolm session {env.session_id}")
        owner, inbound = entry
        if owner != env.sender_key:
            raise DecryptionError("Megolm message claims a sender other than the device that shared its key")
        try:
            out = inbound.decrypt(vodozemac.MegolmMessage.from_bytes(env.ciphertext))
        except (vodozemac.MegolmDecryptionException, vodozemac.DecodeException, ValueError) as exc:
            raise DecryptionError(f"cannot decrypt Megolm message: {exc}") from None
        marker = (env.session_id, out.message_index)
        if marker in self.seen:
            raise DecryptionError(f"replayed Megolm message (index {out.message_index})")
        self.seen.add(marker)
        return out.plaintext
