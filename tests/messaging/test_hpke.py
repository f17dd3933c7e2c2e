"""HPKE: the library suite we use agrees with RFC 9180 (test vector A.2.1) through an independent key schedule."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from blindmatch.messaging.crypto.hpke import ModerationKey, hpke_open, hpke_seal
from blindmatch.messaging.errors import HpkeError

# RFC 9180, A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, mode_base, sequence number 0.
INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")
SK_RM = bytes.fromhex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
PK_RM = bytes.fromhex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a")
SK_EM = bytes.fromhex("f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600")
ENC = bytes.fromhex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a")
KEY = bytes.fromhex("ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91")
BASE_NONCE = bytes.fromhex("5c4d98150661b848853b547f")
PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")
AAD = bytes.fromhex("436f756e742d30")
CT = bytes.fromhex("1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28")


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _lextract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _lexpand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def reference_receiver(sk_r: bytes, enc: bytes, info: bytes) -> tuple[bytes, bytes]:
    """RFC 9180 SetupBaseR written from the spec's pseudocode, for this suite only: returns (key, base_nonce)."""
    kem_suite = b"KEM" + (0x20).to_bytes(2, "big")
    priv = X25519PrivateKey.from_private_bytes(sk_r)
    dh = priv.exchange(X25519PublicKey.from_public_bytes(enc))
    pk_r = priv.public_key().public_bytes_raw()
    eae_prk = _lextract(kem_suite, b"", b"eae_prk", dh)
    shared = _lexpand(kem_suite, eae_prk, b"shared_secret", enc + pk_r, 32)
    suite = b"HPKE" + (0x20).to_bytes(2, "big") + (1).to_bytes(2, "big") + (3).to_bytes(2, "big")
    ctx = b"\x00" + _lextract(suite, b"", b"psk_id_hash", b"") + _lextract(suite, b"", b"info_hash", info)
    secret = _lextract(suite, shared, b"secret", b"")
    return _lexpand(suite, secret, b"key", ctx, 32), _lexpand(suite, secret, b"base_nonce", ctx, 12)


def test_reference_key_schedule_matches_rfc_vector() -> None:
    assert X25519PrivateKey.from_private_bytes(SK_EM).public_key().public_bytes_raw() == ENC
    assert X25519PrivateKey.from_private_bytes(SK_RM).public_key().public_bytes_raw() == PK_RM
    key, nonce = reference_receiver(SK_RM, ENC, INFO)
    assert (key, nonce) == (KEY, BASE_NONCE)
    assert ChaCha20Poly1305(key).encrypt(nonce, PT, AAD) == CT


def test_library_seal_is_rfc9180_base_mode() -> None:
    # A blob sealed by our hpke_seal must open with the RFC's key schedule (first message, empty AAD).
    sealed = hpke_seal(PK_RM, b"report body", INFO)
    key, nonce = reference_receiver(SK_RM, sealed[:32], INFO)
    assert ChaCha20Poly1305(key).decrypt(nonce, sealed[32:], b"") == b"report body"


def test_library_opens_reference_sealed_blob() -> None:
    # And the other direction: a blob built with the RFC vector's ephemeral key opens with our hpke_open.
    key, nonce = reference_receiver(SK_RM, ENC, INFO)
    blob = ENC + ChaCha20Poly1305(key).encrypt(nonce, PT, b"")
    assert hpke_open(X25519PrivateKey.from_private_bytes(SK_RM), blob, INFO) == PT


def test_wrong_key_context_or_tampering_rejected() -> None:
    mk = ModerationKey.generate()
    sealed = hpke_seal(mk.public_bytes, b"secret", b"ctx")
    assert mk.open(sealed, b"ctx") == b"secret"
    with pytest.raises(HpkeError):
        mk.open(sealed, b"other ctx")
    with pytest.raises(HpkeError):
        ModerationKey.generate().open(sealed, b"ctx")
    bad = bytearray(sealed)
    bad[-1] ^= 1
    with pytest.raises(HpkeError):
        mk.open(bytes(bad), b"ctx")
    with pytest.raises(HpkeError):
        mk.open(sealed[:20], b"ctx")
    assert ModerationKey.from_private_bytes(mk.private_bytes()).public_bytes == mk.public_bytes
