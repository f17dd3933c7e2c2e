"""``MessengerClient``: register a device, add contacts, send and receive end-to-end encrypted messages, report.

One client = one device of one user, with its state in ``state_dir`` (see :mod:`.state`). 1:1 messages are
encrypted per recipient device with Olm; each carries a fresh franking key and commitment, and received messages
are checked against their commitment before they are shown. Media (images, videos) and links require that the
account consented to the media policy: without consent the client refuses them with
:class:`ConsentRequiredError` (and the relay refuses attachment uploads), while plain text keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import vodozemac

from blindmatch.messaging.client.api import RelayAPI
from blindmatch.messaging.client.errors import ContactError, IdentityChangedError, RelayAPIError, StateError
from blindmatch.messaging.client.hooks import MediaCheck, before_media_send
from blindmatch.messaging.client.links import contains_link
from blindmatch.messaging.client.state import derive_pickle_key, load_local_key, load_state, save_state
from blindmatch.messaging.crypto.attachments import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    decrypt_attachment,
    encrypt_attachment,
)
from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.crypto.envelope import (
    AttachmentRef,
    Payload,
    decode_envelope,
    decode_payload,
    encode_envelope,
    encode_payload,
)
from blindmatch.messaging.crypto.franking import commitment, new_franking_key, verify_commitment
from blindmatch.messaging.crypto.identity import DeviceIdentity, DeviceKeys, SignedPrekey, validate_name
from blindmatch.messaging.crypto.megolm import GroupReceiver, GroupSender
from blindmatch.messaging.crypto.olm import olm_decrypt, olm_encrypt, start_session
from blindmatch.messaging.crypto.reports import FrankedMessage, seal_report
from blindmatch.messaging.crypto.safety import safety_number
from blindmatch.messaging.errors import ConsentRequiredError, MessagingError
from blindmatch.messaging.relay import CONSENT_POLICY_VERSION, Delivery

__all__ = ["MessengerClient", "ReceivedMessage", "dm_conversation_id"]

PREKEY_BATCH = 20
PREKEY_LOW_WATER = 5


def dm_conversation_id(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"dm:{x}:{y}"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    conversation_id: str
    sender: str
    kind: str
    body: str
    seq: int
    server_ts_ms: int
    attachments: tuple[AttachmentRef, ...]


def _keys_json(k: DeviceKeys) -> dict[str, str]:
    return {"user_id": k.user_id, "device_id": k.device_id, "ed25519": k.ed25519, "curve25519": k.curve25519}


def _keys_from(obj: dict[str, Any]) -> DeviceKeys:
    return DeviceKeys(obj["user_id"], obj["device_id"], obj["ed25519"], obj["curve25519"]).validate()


class MessengerClient:
    """One device's messenger. Use :meth:`register` once, then :meth:`open`; call :meth:`aclose` when done."""

    def __init__(
        self,
        state_dir: Path,
        local_key: bytes,
        state: dict[str, Any],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        media_check: MediaCheck = before_media_send,
    ) -> None:
        self.state_dir = state_dir
        self._local_key = local_key
        self._pickle_key = derive_pickle_key(local_key)
        self.state = state
        self.identity = DeviceIdentity.from_pickle(
            state["user_id"], state["device_id"], state["account"], self._pickle_key
        )
        self.sessions: dict[str, list[vodozemac.Session]] = {
            peer: [vodozemac.Session.from_pickle(p, self._pickle_key) for p in pickles]
            for peer, pickles in state["sessions"].items()
        }
        state.setdefault("groups", {})
        state.setdefault("inbound_groups", {})
        state.setdefault("megolm_seen", [])
        self.group_out: dict[str, GroupSender] = {
            gid: GroupSender(
                self.identity.keys.curve25519, vodozemac.GroupSession.from_pickle(g["outbound"], self._pickle_key)
            )
            for gid, g in state["groups"].items()
            if g.get("outbound")
        }
        self.group_in = GroupReceiver()
        for sid, meta in state["inbound_groups"].items():
            inbound = vodozemac.InboundGroupSession.from_pickle(meta["pickle"], self._pickle_key)
            self.group_in.sessions[sid] = (meta["sender_key"], inbound)
        self.group_in.seen = {(sid, int(i)) for sid, i in state["megolm_seen"]}
        self.api = RelayAPI(state["base_url"], state["token"], transport)
        self.media_check = media_check
        self._lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------------

    @classmethod
    async def register(
        cls,
        base_url: str,
        state_dir: Path,
        user_id: str,
        device_id: str = "primary",
        *,
        local_key: bytes | None = None,
        linked_from: MessengerClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        media_check: MediaCheck = before_media_send,
    ) -> MessengerClient:
        """Create the device's keys, register them with the relay, upload signed prekeys, save state.

        An additional device of an existing user is registered with ``linked_from`` = an open client of one of
        that user's devices (the relay only lets an existing device add devices to an account).
        """
        validate_name(user_id, "user id")
        validate_name(device_id, "device id")
        state_dir = Path(state_dir)
        if (state_dir / "state.bin").exists():
            raise StateError(f"{state_dir} already holds a registered device; use MessengerClient.open")
        key = local_key or load_local_key(state_dir, create=True)
        state_dir.mkdir(parents=True, exist_ok=True)
        ident = DeviceIdentity(user_id, device_id)
        if linked_from is not None and linked_from.user_id != user_id:
            raise StateError("a device can only be linked from another device of the same user")
        api = RelayAPI(base_url, linked_from.state["token"] if linked_from is not None else None, transport)
        try:
            body = _keys_json(ident.keys) | {"signature": ident.registration_signature()}
            token = (await api.call("POST", "/accounts", json=body))["token"]
        finally:
            await api.aclose()
        state: dict[str, Any] = {
            "v": 1,
            "base_url": base_url,
            "user_id": user_id,
            "device_id": device_id,
            "token": token,
            "account": ident.pickle(derive_pickle_key(key)),
            "sessions": {},
            "contacts": {},
            "messages": [],
            "seen": [],
            "rejected": [],
            "consent": {"granted": False, "policy_version": None},
        }
        save_state(state_dir, key, state)
        client = cls(state_dir, key, state, transport=transport, media_check=media_check)
        await client.replenish_prekeys(force=True)
        return client

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        local_key: bytes | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        media_check: MediaCheck = before_media_send,
    ) -> MessengerClient:
        state_dir = Path(state_dir)
        key = local_key or load_local_key(state_dir, create=False)
        return cls(state_dir, key, load_state(state_dir, key), transport=transport, media_check=media_check)

    async def aclose(self) -> None:
        await self.api.aclose()

    async def __aenter__(self) -> MessengerClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def user_id(self) -> str:
        return str(self.state["user_id"])

    @property
    def device_id(self) -> str:
        return str(self.state["device_id"])

    def save(self) -> None:
        self.state["account"] = self.identity.pickle(self._pickle_key)
        self.state["sessions"] = {p: [s.pickle(self._pickle_key) for s in ss] for p, ss in self.sessions.items()}
        for gid, sender in self.group_out.items():
            self.state["groups"][gid]["outbound"] = sender.session.pickle(self._pickle_key)
        for sid, (sender_key, inbound) in self.group_in.sessions.items():
            self.state["inbound_groups"][sid]["pickle"] = inbound.pickle(self._pickle_key)
            self.state["inbound_groups"][sid]["sender_key"] = sender_key
        self.state["megolm_seen"] = sorted([sid, i] for sid, i in self.group_in.seen)
        save_state(self.state_dir, self._local_key, self.state)

    async def replenish_prekeys(self, *, force: bool = False) -> int:
        """Top the relay's stock of this device's one-time prekeys back up when it runs low."""
        count = int((await self.api.call("GET", "/prekeys/count"))["count"])
        if count >= PREKEY_LOW_WATER and not force:
            return count
        fresh = self.identity.new_prekeys(PREKEY_BATCH)
        self.save()  # the private halves must be on disk before the public halves are handed out
        body = {"prekeys": [{"key_id": p.key_id, "key": p.key, "signature": p.signature} for p in fresh]}
        return int((await self.api.call("POST", "/prekeys", json=body))["count"])

    # -- contacts ---------------------------------------------------------------------------------------------

    async def add_contact(self, user_id: str, *, accept_new_keys: bool = False) -> str:
        """Fetch and pin ``user_id``'s device keys (trust on first use); return the safety number to compare.

        If keys were pinned before and changed, raise :class:`IdentityChangedError` unless ``accept_new_keys``.
        """
        validate_name(user_id, "user id")
        try:
            listing = await self.api.call("GET", f"/users/{user_id}/devices")
        except RelayAPIError as exc:
            if exc.status == 404:
                raise ContactError(f"no user {user_id!r} on this relay") from None
            raise
        devices = [_keys_from(d) for d in listing["devices"]]
        if any(d.user_id != user_id for d in devices):
            raise ContactError("the relay returned devices of another user")
        pinned = self.state["contacts"].get(user_id)
        if pinned is not None and not accept_new_keys:
            old = {(d["device_id"], d["ed25519"], d["curve25519"]) for d in pinned["devices"]}
            new = {(d.device_id, d.ed25519, d.curve25519) for d in devices}
            changed = {o[0] for o in old} & {n[0] for n in new if n not in old}
            if changed:
                raise IdentityChangedError(f"{user_id}'s identity keys changed for devices {sorted(changed)}")
        if pinned is not None:  # sessions with a device whose keys changed belong to the old identity: drop them
            before = {d["device_id"]: (d["ed25519"], d["curve25519"]) for d in pinned["devices"]}
            for d in devices:
                if before.get(d.device_id, (d.ed25519, d.curve25519)) != (d.ed25519, d.curve25519):
                    self.sessions.pop(f"{user_id}/{d.device_id}", None)
        same_devices = pinned is not None and sorted(d["ed25519"] for d in pinned["devices"]) == sorted(
            d.ed25519 for d in devices
        )
        self.state["contacts"][user_id] = {
            "devices": [_keys_json(d) for d in devices],
            # a new or changed device changes the safety number: it must be compared again
            "verified": bool(pinned and pinned.get("verified")) and same_devices,
        }
        self.save()
        return self.safety_number(user_id)

    def safety_number(self, user_id: str) -> str:
        contact = self.state["contacts"].get(user_id)
        if contact is None:
            raise ContactError(f"{user_id} is not a contact; add_contact first")
        theirs = [_keys_from(d) for d in contact["devices"]]
        return safety_number([self.identity.keys], theirs)

    def mark_verified(self, user_id: str, number: str) -> None:
        """Record that the safety number was compared out of band; refuses a number that does not match."""
        if number.replace(" ", "") != self.safety_number(user_id).replace(" ", ""):
            raise IdentityChangedError(f"safety number for {user_id} does not match")
        self.state["contacts"][user_id]["verified"] = True
        self.save()

    def _own_other_devices(self) -> list[DeviceKeys]:
        mine = self.state["contacts"].get(self.user_id, {}).get("devices", [])
        return [_keys_from(d) for d in mine if d["device_id"] != self.device_id]

    async def refresh_devices(self) -> None:
        """Re-read this user's own device list (linked devices get copies of what this device sends) and keep
        the old pin if the relay's answer conflicts with it."""
        with contextlib.suppress(MessagingError):
            await self.add_contact(self.user_id)

    def _contact_devices(self, user_id: str) -> list[DeviceKeys]:
        contact = self.state["contacts"].get(user_id)
        if contact is None:
            raise ContactError(f"{user_id} is not a contact; call add_contact first")
        return [_keys_from(d) for d in contact["devices"]]

    # -- consent ----------------------------------------------------------------------------------------------

    async def set_consent(self, granted: bool) -> dict[str, Any]:
        """Grant or withdraw consent to the media policy (recorded server-side with time and policy version)."""
        body = {"granted": granted, "policy_version": CONSENT_POLICY_VERSION}
        out: dict[str, Any] = await self.api.call("PUT", "/consent", json=body)
        self.state["consent"] = {"granted": granted, "policy_version": CONSENT_POLICY_VERSION}
        self.save()
        return out

    async def consent_status(self) -> dict[str, Any]:
        out: dict[str, Any] = await self.api.call("GET", "/consent")
        self.state["consent"] = {"granted": bool(out["granted"]), "policy_version": out["policy_version"]}
        self.save()
        return out

    def _require_consent(self, what: str) -> None:
        c = self.state["consent"]
        if not (c.get("granted") and c.get("policy_version") == CONSENT_POLICY_VERSION):
            raise ConsentRequiredError(
                f"cannot send {what}: this account has not consented to the media policy "
                f"{CONSENT_POLICY_VERSION} (no-media mode: text only). Call set_consent(True) to enable media."
            )

    # -- sending ----------------------------------------------------------------------------------------------

    async def send_text(self, to: str, text: str) -> dict[str, Any]:
        """Send text; text containing a link is a link message and needs consent."""
        if contains_link(text):
            return await self.send_link(to, text)
        return await self._send(to, "text", text, ())

    async def send_link(self, to: str, text: str) -> dict[str, Any]:
        self._require_consent("links")
        return await self._send(to, "link", text, ())

    async def send_image(self, to: str, data: bytes, *, mime: str = "image/jpeg", caption: str = "") -> dict[str, Any]:
        return await self._send_media(to, "image", data, mime, caption)

    async def send_video(self, to: str, data: bytes, *, mime: str = "video/mp4", caption: str = "") -> dict[str, Any]:
        return await self._send_media(to, "video", data, mime, caption)

    async def _send_media(self, to: str, kind: str, data: bytes, mime: str, caption: str) -> dict[str, Any]:
        self._require_consent(f"{kind}s")
        if caption and contains_link(caption):
            self._require_consent("links")
        receipt = self.media_check(data)  # raises to stop the send; see hooks.before_media_send
        enc = encrypt_attachment(data)
        up = await self.api.upload(enc.blob, receipt=receipt)
        ref = AttachmentRef(str(up["blob_id"]), enc.key, enc.size, enc.sha256, mime)
        return await self._send(to, kind, caption, (ref,))

    async def _session_for(self, peer: DeviceKeys) -> vodozemac.Session:
        key = f"{peer.user_id}/{peer.device_id}"
        sessions = self.sessions.get(key)
        if sessions:
            return sessions[-1]
        claimed = await self.api.call("POST", f"/users/{peer.user_id}/devices/{peer.device_id}/claim")
        dev = _keys_from(claimed["device"])
        if (dev.ed25519, dev.curve25519) != (peer.ed25519, peer.curve25519):
            raise IdentityChangedError(f"relay returned different keys for {key} than the pinned ones")
        p = claimed["prekey"]
        session = start_session(self.identity, peer, SignedPrekey(p["key_id"], p["key"], p["signature"]))
        self.sessions[key] = [session]
        return session

    async def create_group(self, name: str, members: list[str]) -> str:
        """Create a group (fixed membership) and share this device's Megolm key with every member device over Olm.

        Returns the group id (``g:<hex>``), usable as ``to`` in the ``send_*`` methods.
        """
        if not members or len(members) > 100:
            raise ContactError("a group needs 1..100 other members")
        for m in members:
            await self._ensure_contact(m)
        gid = "g:" + secrets.token_hex(12)
        everyone = sorted({self.user_id, *members})
        self.state["groups"][gid] = {"name": name[:200], "members": everyone, "creator": self.user_id, "shared": []}
        async with self._lock:
            await self._group_sender(gid)
        self.save()
        return gid

    def groups(self) -> dict[str, dict[str, Any]]:
        return {gid: {"name": g["name"], "members": g["members"]} for gid, g in self.state["groups"].items()}

    async def _ensure_contact(self, user_id: str) -> None:
        if user_id not in self.state["contacts"]:
            await self.add_contact(user_id)

    async def _olm_copies(self, devices: list[DeviceKeys], plaintext: bytes) -> list[dict[str, str]]:
        copies = []
        for dev in devices:
            session = await self._session_for(dev)
            env = olm_encrypt(self.identity, session, plaintext)
            copies.append({"user_id": dev.user_id, "device_id": dev.device_id, "envelope": b64e(encode_envelope(env))})
        return copies

    def _payload(self, conv: str, to: str, kind: str, body: str, atts: tuple[AttachmentRef, ...] = ()) -> Payload:
        return Payload(
            message_id=uuid.uuid4().hex,
            conversation_id=conv,
            sender=self.user_id,
            sender_device=self.device_id,
            recipient=to,
            sent_at_ms=int(time.time() * 1000),
            kind=kind,
            body=body,
            nf=new_franking_key(),
            attachments=atts,
        )

    async def _group_sender(self, gid: str) -> GroupSender:
        """This device's outbound Megolm session for ``gid``, its key shared with every member device not yet
        holding it (one Olm ``room_key`` message per member)."""
        g = self.state["groups"][gid]
        sender = self.group_out.get(gid)
        if sender is None:
            sender = GroupSender(self.identity.keys.curve25519)
            self.group_out[gid] = sender
            g["outbound"] = sender.session.pickle(self._pickle_key)
            g["shared"] = []
        for member in g["members"]:
            if member == self.user_id:
                todo = [d for d in self._own_other_devices() if f"{d.user_id}/{d.device_id}" not in g["shared"]]
            else:
                await self._ensure_contact(member)
                todo = [d for d in self._contact_devices(member) if f"{d.user_id}/{d.device_id}" not in g["shared"]]
            if not todo:
                continue
            info = {"group": gid, "name": g["name"], "members": g["members"], "session_key": sender.session_key()}
            payload = self._payload(gid, member, "room_key", json.dumps(info))
            copies = await self._olm_copies(todo, encode_payload(payload))
            self.save()
            req = {
                "message_id": payload.message_id,
                "conversation_id": gid,
                "commitment": b64e(commitment(payload)),
                "recipients": copies,
            }
            await self._post_idempotent(req)
            g["shared"].extend(f"{d.user_id}/{d.device_id}" for d in todo)
            self.save()
        return sender

    async def _send(self, to: str, kind: str, body: str, atts: tuple[AttachmentRef, ...]) -> dict[str, Any]:
        async with self._lock:
            if to.startswith("g:"):
                if to not in self.state["groups"]:
                    raise ContactError(f"unknown group {to!r}")
                conv = to
                sender = await self._group_sender(to)
                payload = self._payload(conv, to, kind, body, atts)
                wire = b64e(encode_envelope(sender.encrypt(encode_payload(payload))))
                copies = [
                    {"user_id": d.user_id, "device_id": d.device_id, "envelope": wire}
                    for m in self.state["groups"][to]["members"]
                    for d in (self._own_other_devices() if m == self.user_id else self._contact_devices(m))
                ]
            else:
                if to == self.user_id:
                    raise ContactError("cannot send a 1:1 message to yourself")
                devices = self._contact_devices(to) + self._own_other_devices()  # own devices get a sync copy
                conv = dm_conversation_id(self.user_id, to)
                payload = self._payload(conv, to, kind, body, atts)
                copies = await self._olm_copies(devices, encode_payload(payload))
            self.save()  # ratchets advanced: persist before the relay can deliver
            req = {
                "message_id": payload.message_id,
                "conversation_id": conv,
                "commitment": b64e(commitment(payload)),
                "recipients": copies,
            }
            result: dict[str, Any] = await self._post_idempotent(req)
            self.state["messages"].append(
                {
                    "dir": "out",
                    "message_id": payload.message_id,
                    "conversation_id": conv,
                    "peer": to,
                    "sender": self.user_id,
                    "kind": kind,
                    "body": body,
                    "att": [a.to_json() for a in atts],
                    "seq": result["seq"],
                    "server_ts": result["server_ts"],
                }
            )
            self.save()
            return result

    async def _post_idempotent(self, req: dict[str, Any], attempts: int = 5) -> dict[str, Any]:
        """POST a message, retrying transport failures with the same message id (the relay de-duplicates)."""
        for i in range(attempts):
            try:
                out: dict[str, Any] = await self.api.call("POST", "/messages", json=req)
                return out
            except RelayAPIError as exc:
                if exc.status != 0 or i == attempts - 1:
                    raise
                await asyncio.sleep(0.2 * (i + 1))
        raise AssertionError("unreachable")

    # -- receiving --------------------------------------------------------------------------------------------

    async def receive(self, *, limit: int = 100) -> list[ReceivedMessage]:
        """Poll the relay once, process everything pending, ack it, and return the new messages."""
        out: list[ReceivedMessage] = []
        await self.refresh_devices()
        while True:
            raw = (await self.api.call("GET", "/inbox", params={"limit": limit}))["deliveries"]
            if not raw:
                break
            deliveries = [Delivery.from_json(d) for d in raw]
            got = await self._process(deliveries)
            out.extend(got)
            await self.api.call("POST", "/inbox/ack", json={"delivery_ids": [d.delivery_id for d in deliveries]})
            if len(raw) < limit:
                break
        with contextlib.suppress(RelayAPIError):
            await self.replenish_prekeys()
        return out

    async def listen(self, *, until: int = 1, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Receive over the WebSocket until ``until`` messages arrived or ``timeout`` seconds passed."""
        import websockets

        out: list[ReceivedMessage] = []
        deadline = time.monotonic() + timeout
        async with websockets.connect(self.api.ws_url) as ws:
            await ws.send(json.dumps({"token": self.state["token"]}))
            while len(out) < until:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
                except TimeoutError:
                    break
                if "deliveries" not in frame:
                    continue
                deliveries = [Delivery.from_json(d) for d in frame["deliveries"]]
                out.extend(await self._process(deliveries))
                await ws.send(json.dumps({"delivery_ids": [d.delivery_id for d in deliveries]}))
        return out

    async def _peer_keys(self, user_id: str, device_id: str) -> DeviceKeys:
        for d in self.state["contacts"].get(user_id, {}).get("devices", []):
            if d["device_id"] == device_id:
                return _keys_from(d)
        await self.add_contact(user_id)  # first contact from a stranger: pin their keys (unverified)
        for d in self.state["contacts"][user_id]["devices"]:
            if d["device_id"] == device_id:
                return _keys_from(d)
        raise ContactError(f"unknown device {user_id}/{device_id}")

    async def _process(self, deliveries: list[Delivery]) -> list[ReceivedMessage]:
        out = []
        async with self._lock:
            seen = set(self.state["seen"])
            for d in deliveries:
                marker = f"{d.sender}/{d.sender_device}/{d.message_id}"
                if marker in seen:
                    continue  # at-least-once delivery: already processed, just ack again
                try:
                    msg = await self._open(d)
                except RelayAPIError:
                    # transient (e.g. fetching an unknown sender's keys failed): keep what was processed, do not
                    # mark this one seen, and let the caller skip the ack so the relay delivers it again
                    self.save()
                    raise
                except (MessagingError, KeyError, ValueError, TypeError) as exc:
                    msg = None
                    self.state["rejected"].append({"delivery": marker, "reason": f"{type(exc).__name__}: {exc}"})
                seen.add(marker)
                self.state["seen"].append(marker)
                if msg is not None:
                    out.append(msg)
            self.save()  # before the caller acks
        return out

    async def _open(self, d: Delivery) -> ReceivedMessage | None:
        if d.recipient != self.user_id:
            raise ContactError("delivery addressed to another user")
        if (d.sender, d.sender_device) == (self.user_id, self.device_id):
            raise ContactError("delivery claims to come from this very device")
        peer = await self._peer_keys(d.sender, d.sender_device)
        env = decode_envelope(d.envelope)
        if env.sender_key != peer.curve25519:
            raise IdentityChangedError("envelope sender key is not the pinned key of the sending device")
        if env.alg == "megolm":
            meta = self.state["inbound_groups"].get(env.session_id)
            if meta is None or meta["group"] != d.conversation_id or meta["sender"] != d.sender:
                raise ContactError("Megolm session was not shared for this group by this sender")
            plaintext = self.group_in.decrypt(env)
        else:
            key = f"{peer.user_id}/{peer.device_id}"
            session, plaintext, created = olm_decrypt(self.identity, self.sessions.get(key, []), env)
            if created:
                self.sessions.setdefault(key, []).append(session)
        payload = decode_payload(plaintext)
        group = d.conversation_id.startswith("g:")
        own_copy = d.sender == self.user_id and not group  # a copy of what another device of ours sent
        if env.alg == "megolm":
            expected_to = d.conversation_id
        elif own_copy:
            if payload.recipient == self.user_id:
                raise ContactError("a sync copy must name the peer it was sent to")
            expected_to = payload.recipient
        else:
            expected_to = self.user_id
        if (payload.sender, payload.sender_device, payload.recipient, payload.message_id) != (
            d.sender,
            d.sender_device,
            expected_to,
            d.message_id,
        ):
            raise ContactError("payload metadata disagrees with the relay's routing data")
        peer_user = payload.recipient if own_copy else d.sender
        expected_conv = d.conversation_id if group else dm_conversation_id(peer_user, self.user_id)
        if payload.conversation_id != d.conversation_id or payload.conversation_id != expected_conv:
            raise ContactError("payload conversation id is not this conversation")
        if (payload.kind == "room_key") != (group and env.alg == "olm"):
            raise ContactError("room keys travel over Olm in group conversations only (and nothing else does)")
        verify_commitment(payload, d.commitment)
        if payload.kind == "room_key":
            self._accept_room_key(d, env.sender_key, payload.body)
            return None
        if group and self.user_id not in self.state["groups"].get(d.conversation_id, {}).get("members", []):
            raise ContactError("message for a group this device is not a member of")
        franked = FrankedMessage(payload, d.commitment, d.tag, d.sender, d.sender_device, d.recipient, d.server_ts_ms)
        self.state["messages"].append(
            {
                "dir": "out" if d.sender == self.user_id else "in",
                "message_id": payload.message_id,
                "conversation_id": payload.conversation_id,
                "peer": d.conversation_id if group else peer_user,
                "sender": d.sender,
                "kind": payload.kind,
                "body": payload.body,
                "att": [a.to_json() for a in payload.attachments],
                "seq": d.seq,
                "server_ts": d.server_ts_ms,
                "franked": franked.to_json(),
            }
        )
        return ReceivedMessage(
            payload.message_id,
            payload.conversation_id,
            d.sender,
            payload.kind,
            payload.body,
            d.seq,
            d.server_ts_ms,
            payload.attachments,
        )

    def _accept_room_key(self, d: Delivery, sender_key: str, body: str) -> None:
        info = json.loads(body)
        if not isinstance(info, dict) or info.get("group") != d.conversation_id:
            raise ContactError("room key names another group")
        members = info.get("members")
        if not isinstance(members, list) or self.user_id not in members or d.sender not in members:
            raise ContactError("room key for a group that does not include both sender and this user")
        gid = d.conversation_id
        if gid not in self.state["groups"]:
            self.state["groups"][gid] = {
                "name": str(info.get("name", ""))[:200],
                "members": sorted(str(m) for m in members),
                "creator": d.sender,
                "shared": [],
            }
        elif d.sender not in self.state["groups"][gid]["members"]:
            raise ContactError("room key from a non-member")
        sid = self.group_in.add_key(sender_key, str(info["session_key"]))
        self.state["inbound_groups"][sid] = {"group": gid, "sender": d.sender, "sender_key": sender_key, "pickle": ""}

    async def download_attachment(self, message_id: str, index: int = 0) -> bytes:
        """Fetch, decrypt and check (size, SHA-256) an attachment of a stored message."""
        msg = self._message(message_id)
        if not 0 <= index < len(msg["att"]):
            raise ContactError(f"message {message_id} has no attachment {index}")
        ref = AttachmentRef.from_json(msg["att"][index])
        if ref.size > DEFAULT_MAX_ATTACHMENT_BYTES:
            raise ContactError("attachment announces a size above the client limit")
        blob = await self.api.download(ref.blob_id, ref.size + 28)
        return decrypt_attachment(blob, ref.key, size=ref.size, sha256=ref.sha256)

    # -- history and reports ----------------------------------------------------------------------------------

    def _message(self, message_id: str) -> dict[str, Any]:
        for m in self.state["messages"]:
            if m["message_id"] == message_id:
                return dict(m)
        raise ContactError(f"no message {message_id!r}")

    def conversations(self) -> list[dict[str, Any]]:
        """One summary per conversation, most recent first: id, peer, message count, last message."""
        convs: dict[str, dict[str, Any]] = {}
        for m in self.state["messages"]:
            c = convs.setdefault(
                m["conversation_id"],
                {"conversation_id": m["conversation_id"], "peer": m["peer"], "messages": 0, "last": None},
            )
            c["messages"] += 1
            if c["last"] is None or (m["server_ts"], m["seq"]) >= (c["last"]["server_ts"], c["last"]["seq"]):
                c["last"] = {k: m[k] for k in ("message_id", "sender", "kind", "body", "seq", "server_ts")}
        return sorted(convs.values(), key=lambda c: c["last"]["server_ts"], reverse=True)

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages in relay order (sequence numbers)."""
        rows = [m for m in self.state["messages"] if m["conversation_id"] == conversation_id]
        return [{k: v for k, v in m.items() if k != "franked"} for m in sorted(rows, key=lambda m: m["seq"])]

    async def report(self, message_id: str, reason: str = "") -> dict[str, Any]:
        """Report a received message (plus up to 5 earlier ones from the same sender) to the moderators."""
        msg = self._message(message_id)
        if msg["dir"] != "in":
            raise ContactError("only received messages can be reported")
        reported = FrankedMessage.from_json(msg["franked"])
        earlier = [
            FrankedMessage.from_json(m["franked"])
            for m in sorted(self.state["messages"], key=lambda m: (m["server_ts"], m["seq"]))
            if m["dir"] == "in"
            and m["sender"] == msg["sender"]
            and m["message_id"] != message_id
            and (m["server_ts"], m["seq"]) <= (msg["server_ts"], msg["seq"])
        ]
        mod = await self.api.call("GET", "/moderation-key")
        public = b64d(mod["public_key"], field="moderation key", length=32)
        sealed = seal_report(public, self.user_id, reported, earlier, reason)
        out: dict[str, Any] = await self.api.call("POST", "/reports", json={"sealed": b64e(sealed)})
        return out

    async def notices(self) -> list[dict[str, Any]]:
        """Statements of reasons for actions taken on this account (DSA art. 17), once the provider released
        them, each with its appeal window and any appeals filed."""
        out: dict[str, Any] = await self.api.call("GET", "/notices")
        return list(out["notices"])

    async def appeal(self, action_id: int, text: str) -> dict[str, Any]:
        """File an internal complaint against an action on this account; a different reviewer decides it."""
        if not text.strip():
            raise MessagingError("an appeal needs a text saying why the decision is wrong")
        out: dict[str, Any] = await self.api.call("POST", "/appeals", json={"action_id": action_id, "text": text})
        return out
