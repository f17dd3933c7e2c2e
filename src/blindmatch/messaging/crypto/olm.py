"""1:1 encryption between two devices with Olm (vodozemac), wrapped so every failure is a messaging error.

A sender starts an outbound session from the peer's identity key and one *verified* one-time prekey; until the
peer answers, every message is a pre-key message (type 0) from which the peer builds the inbound session. A device
keeps a list of sessions per peer device (both sides may start one at the same time) and tries each on receipt.
"""

from __future__ import annotations

import vodozemac

from blindmatch.messaging.crypto.envelope import Envelope
from blindmatch.messaging.crypto.identity import DeviceIdentity, DeviceKeys, SignedPrekey, curve25519, verify_prekey
from blindmatch.messaging.errors import DecryptionError, EnvelopeError

__all__ = ["olm_decrypt", "olm_encrypt", "start_session"]


def start_session(me: DeviceIdentity, peer: DeviceKeys, prekey: SignedPrekey) -> vodozemac.Session:
    """Outbound session to ``peer`` using a claimed prekey, after checking the peer signed it."""
    otk = verify_prekey(peer, prekey)
    try:
        return me.account.create_outbound_session(curve25519(peer.curve25519), otk)
    except (vodozemac.SessionCreationException, ValueError) as exc:
        raise DecryptionError(f"cannot start an Olm session with {peer.user_id}/{peer.device_id}: {exc}") from None


def olm_encrypt(me: DeviceIdentity, session: vodozemac.Session, plaintext: bytes) -> Envelope:
    msg_type, ct = session.encrypt(plaintext).to_parts()
    return Envelope("olm", me.account.curve25519_key.to_base64(), ct, olm_type=msg_type)


def olm_decrypt(
    me: DeviceIdentity, sessions: list[vodozemac.Session], env: Envelope
) -> tuple[vodozemac.Session, bytes, bool]:
    """Decrypt with a known session, or (pre-key message) create the inbound session.

    Returns (session, plaintext, created). Tampered, replayed or foreign messages raise :class:`DecryptionError`.
    """
    if env.alg != "olm":
        raise EnvelopeError(f"not an Olm envelope: {env.alg}")
    try:
        message = vodozemac.AnyOlmMessage.from_parts(env.olm_type, env.ciphertext)
    except (vodozemac.DecodeException, ValueError) as exc:
        raise DecryptionError(f"malformed Olm message: {exc}") from None
    prekey = message.to_pre_key() if env.olm_type == 0 else None
    for s in sessions:
        if prekey is not None and not s.session_matches(prekey):
            continue
        try:
            return s, s.decrypt(message), False
        except (vodozemac.OlmDecryptionException, vodozemac.DecodeException, ValueError):
            continue
    if prekey is None:
        raise DecryptionError("no Olm session can decrypt this message (tampered, replayed or unknown session)")
    try:
        session, plaintext = me.account.create_inbound_session(curve25519(env.sender_key), prekey)
    except (vodozemac.SessionCreationException, vodozemac.KeyException, ValueError) as exc:
        raise DecryptionError(f"cannot create an inbound Olm session: {exc}") from None
    return session, plaintext, True
