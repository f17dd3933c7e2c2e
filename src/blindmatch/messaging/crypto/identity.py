"""Device identities and signed one-time prekeys, on top of a vodozemac ``Account``.

A device owns an Ed25519 signing key (its identity) and a Curve25519 key (Olm's identity key). One-time keys are
Curve25519 keys the device publishes so that others can start an Olm session while it is offline; each is signed
with the Ed25519 identity key over (user, device, key id, key) so that a relay cannot substitute its own keys
(which would let it read the first message) nor move a key from one device to another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import vodozemac

from blindmatch.messaging.crypto.encoding import b64d, frame
from blindmatch.messaging.errors import IdentityError, PrekeyError

__all__ = [
    "DeviceIdentity",
    "DeviceKeys",
    "SignedPrekey",
    "registration_message",
    "validate_name",
    "verify_device_signature",
    "verify_prekey",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9+/=_-]{1,64}$")
PREKEY_DOMAIN = "blindmatch-prekey-v1"
REGISTRATION_DOMAIN = "blindmatch-device-v1"


def validate_name(value: object, what: str) -> str:
    """User and device ids: 1-63 of ``[a-z0-9._-]``, starting with a letter or digit."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise IdentityError(f"{what} must be 1-63 characters of a-z, 0-9, '.', '_' or '-', got {value!r}")
    return value


def _ed25519(key: str, what: str = "ed25519 key") -> vodozemac.Ed25519PublicKey:
    b64d(key, field=what, length=32)
    try:
        return vodozemac.Ed25519PublicKey.from_base64(key)
    except (vodozemac.KeyException, ValueError) as exc:
        raise IdentityError(f"{what} is not a valid Ed25519 public key: {exc}") from None


def curve25519(key: str, what: str = "curve25519 key") -> vodozemac.Curve25519PublicKey:
    b64d(key, field=what, length=32)
    try:
        return vodozemac.Curve25519PublicKey.from_base64(key)
    except (vodozemac.KeyException, ValueError) as exc:
        raise IdentityError(f"{what} is not a valid Curve25519 public key: {exc}") from None


def _verify(ed_key: str, message: bytes, signature: str, error: type[Exception], what: str) -> None:
    pub = _ed25519(ed_key)
    b64d(signature, field=f"{what} signature", length=64)
    try:
        sig = vodozemac.Ed25519Signature.from_base64(signature)
        pub.verify_signature(message, sig)
    except (vodozemac.SignatureException, vodozemac.KeyException, ValueError):
        raise error(f"{what} signature does not verify with the identity key") from None


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """The public half of a device: what the relay stores and what contacts pin."""

    user_id: str
    device_id: str
    ed25519: str
    curve25519: str

    def validate(self) -> DeviceKeys:
        validate_name(self.user_id, "user id")
        validate_name(self.device_id, "device id")
        _ed25519(self.ed25519)
        curve25519(self.curve25519)
        return self


@dataclass(frozen=True, slots=True)
class SignedPrekey:
    key_id: str
    key: str
    signature: str


def prekey_message(user_id: str, device_id: str, key_id: str, key: str) -> bytes:
    return frame(PREKEY_DOMAIN, user_id, device_id, key_id, b64d(key, field="prekey", length=32))


def registration_message(keys: DeviceKeys) -> bytes:
    """What a device signs to prove, at registration, that it holds the identity key it uploads."""
    return frame(REGISTRATION_DOMAIN, keys.user_id, keys.device_id, keys.ed25519, keys.curve25519)


def verify_prekey(owner: DeviceKeys, prekey: SignedPrekey) -> vodozemac.Curve25519PublicKey:
    """Check a claimed prekey's signature by ``owner``'s identity key; return the key ready for Olm."""
    if not isinstance(prekey.key_id, str) or not _KEY_ID.match(prekey.key_id):
        raise PrekeyError(f"prekey id must be 1-64 base64url characters, got {prekey.key_id!r}")
    try:
        msg = prekey_message(owner.user_id, owner.device_id, prekey.key_id, prekey.key)
        pub = curve25519(prekey.key, "prekey")
    except IdentityError as exc:
        raise PrekeyError(str(exc)) from None
    except ValueError as exc:
        raise PrekeyError(f"prekey is malformed: {exc}") from None
    _verify(owner.ed25519, msg, prekey.signature, PrekeyError, "prekey")
    return pub


def verify_device_signature(keys: DeviceKeys, signature: str) -> None:
    """Check the registration signature (proof of possession of the Ed25519 identity key)."""
    _verify(keys.ed25519, registration_message(keys), signature, IdentityError, "registration")


class DeviceIdentity:
    """A device's private state: the vodozemac ``Account`` plus who it belongs to.

    Pickles are encrypted by vodozemac with a 32-byte pickle key held by the caller (the client's local key).
    """

    def __init__(self, user_id: str, device_id: str, account: vodozemac.Account | None = None) -> None:
        self.user_id = validate_name(user_id, "user id")
        self.device_id = validate_name(device_id, "device id")
        self.account = account or vodozemac.Account()

    @property
    def keys(self) -> DeviceKeys:
        return DeviceKeys(
            self.user_id,
            self.device_id,
            self.account.ed25519_key.to_base64(),
            self.account.curve25519_key.to_base64(),
        )

    def sign(self, message: bytes) -> str:
        return self.account.sign(message).to_base64()

    def registration_signature(self) -> str:
        return self.sign(registration_message(self.keys))

    def new_prekeys(self, count: int) -> list[SignedPrekey]:
        """Generate ``count`` fresh one-time keys, sign them and mark them published.

        vodozemac keeps the private halves until a pre-key message consumes one.
        """
        if not 1 <= count <= self.account.max_number_of_one_time_keys // 2:
            raise PrekeyError(f"can generate 1..{self.account.max_number_of_one_time_keys // 2} prekeys at once")
        self.account.generate_one_time_keys(count)
        out = []
        for key_id, pub in sorted(self.account.one_time_keys.items()):
            key = pub.to_base64()
            sig = self.sign(prekey_message(self.user_id, self.device_id, key_id, key))
            out.append(SignedPrekey(key_id, key, sig))
        self.account.mark_keys_as_published()
        return out

    def pickle(self, pickle_key: bytes) -> str:
        return self.account.pickle(pickle_key)

    @classmethod
    def from_pickle(cls, user_id: str, device_id: str, pickled: str, pickle_key: bytes) -> DeviceIdentity:
        try:
            account = vodozemac.Account.from_pickle(pickled, pickle_key)
        except (vodozemac.PickleException, ValueError) as exc:
            raise IdentityError(f"cannot restore the device account (wrong local key?): {exc}") from None
        return cls(user_id, device_id, account)
