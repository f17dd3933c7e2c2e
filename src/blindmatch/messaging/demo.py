"""``blindmatch demo``: a scripted three-person conversation that shows every piece, and what the relay saw.

Alice, Bob and Carol register, compare safety numbers, exchange text and (benign, innocent) photos, chat as a
Megolm group, and Bob reports a harassing message with franking (an altered copy of the report is rejected). Then
Carol sends listed stand-in images (benign photos playing the part of list entries) until her account crosses the
relay's threshold, and the relay records a threshold event for moderation. Each step carries ``relay_saw``: the
requests as they crossed the wire (ciphertext copies and their sizes, encrypted uploads, vouchers), recorded by a
:class:`~blindmatch.messaging.wiretap.Wiretap` between the clients and the relay, and, for detection, the relay's
own counters (vouchers received and opened) and its event.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path
from typing import Any

import httpx

from blindmatch.messaging.client.client import MessengerClient, ReceivedMessage
from blindmatch.messaging.client.errors import RelayAPIError
from blindmatch.messaging.detection import attach_private_check
from blindmatch.messaging.errors import ConsentRequiredError
from blindmatch.messaging.wiretap import Wiretap

__all__ = ["run_demo"]

USERS = ("alice", "bob", "carol")


def _innocent_images(shared_data: Path | None, count: int) -> list[bytes]:
    if shared_data is not None:
        found = sorted((Path(shared_data) / "images" / "innocent").glob("*.jpg"))[:count]
        if len(found) == count:
            return [p.read_bytes() for p in found]
    from PIL import Image

    out = []
    for i in range(count):
        buf = io.BytesIO()
        Image.radial_gradient("L").rotate(30 * i).convert("RGB").save(buf, "JPEG")
        out.append(buf.getvalue())
    return out


def _listed_images(shared_data: Path | None, limit: int) -> list[tuple[str, bytes]]:
    """Benign listed stand-ins, JPEG re-encoded (quality 70) as a sender's copy would plausibly be."""
    if shared_data is None:
        return []
    from PIL import Image

    out = []
    for path in sorted((Path(shared_data) / "images" / "listed").glob("*.jpg"))[:limit]:
        buf = io.BytesIO()
        with Image.open(path) as im:
            im.convert("RGB").save(buf, "JPEG", quality=70)
        out.append((path.name, buf.getvalue()))
    return out


def run_demo(
    workdir: Path | None = None,
    *,
    shared_data: Path | None = None,
    relay_url: str = "http://relay.local",
    transport: httpx.AsyncBaseTransport | None = None,
    detection_key: str | None = None,
    moderator_key: str | None = None,
    detection_threshold: int = 3,
) -> list[dict[str, Any]]:
    """Run the scripted conversation; returns the steps (for the CLI to print).

    Give a running relay's ``relay_url``, or an in-process one as ``transport``. With ``detection_key`` (the
    custodian key to pin) and ``moderator_key`` (the relay's service API key) every image goes through private
    matching (and gets its upload receipt), and Carol sends listed stand-ins from ``shared_data`` until the relay's
    threshold (``detection_threshold``, which must be what the relay runs with) is crossed
    (``blindmatch.service.routes_detection.demo_detection_relay`` builds such a relay). Without ``detection_key``
    the demo reads the custodian key from the relay's ``/detection/trust`` (a convenience a real client must not
    rely on: it pins the key out of band), so images still carry vouchers and upload receipts; without
    ``moderator_key`` the threshold part is skipped.
    """
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="blindmatch-demo-"))
    tap = Wiretap(transport if transport is not None else httpx.AsyncHTTPTransport())
    detect = detection_key is not None and moderator_key is not None
    steps: list[dict[str, Any]] = []

    def step(what: str, mark: int | None = None, **data: Any) -> None:
        entry: dict[str, Any] = {"step": what, **data}
        if mark is not None:
            entry["relay_saw"] = tap.summary(tap.since(mark))
        steps.append(entry)

    async def trusted_key() -> str | None:
        """The custodian key: given, or (demo convenience only) read from the relay's ``/trust``."""
        if detection_key is not None:
            return detection_key
        async with httpx.AsyncClient(base_url=relay_url, transport=transport) as http:
            r = await http.get("/relay/v1/detection/trust")
        if r.status_code != 200:
            return None
        step(
            "custodian key read from the relay's /detection/trust",
            note="a real client pins it out of band; the demo trusts the relay it was pointed at",
        )
        return str(r.json()["public_key"])

    async def run() -> None:
        c = {u: await MessengerClient.register(relay_url, base / u, u, transport=tap) for u in USERS}
        alice, bob, carol = c["alice"], c["bob"], c["carol"]
        key = await trusted_key()
        if key is not None:
            for client in c.values():
                # the detection calls go through the tap as well when the relay is in-process
                attach_private_check(client, key, transport=tap if transport is not None else None, min_threshold=1)
        step("registered", users=list(USERS), relay_saw={"stored": "public identity keys and signed prekeys only"})
        n1, n2 = await alice.add_contact("bob"), await bob.add_contact("alice")
        step("safety numbers compared (alice and bob)", alice_sees=n1, bob_sees=n2, match=n1 == n2)
        await carol.add_contact("bob")

        m = tap.mark()
        text = "Hi Bob! Lunch tomorrow?"
        await alice.send_text("bob", text)
        step("alice sent bob a text", m, plaintext_bytes=len(text.encode()))

        photos = _innocent_images(shared_data, 2)
        try:
            await alice.send_image("bob", photos[0])
        except ConsentRequiredError as exc:
            step("image refused in no-media mode", error=str(exc))
        for u in ("alice", "bob", "carol"):
            await c[u].set_consent(True)
        step("alice, bob and carol consented to the media policy")
        m = tap.mark()
        await alice.send_image("bob", photos[0], caption="the view from here")
        step(
            "alice sent bob an innocent photo" + (" (voucher first, then the encrypted upload)" if key else ""),
            m,
            plaintext_bytes=len(photos[0]),
        )
        got = await bob.receive()
        photo = next(x for x in got if x.kind == "image")
        same = await bob.download_attachment(photo.message_id) == photos[0]
        step(
            "bob received and decrypted",
            messages=[{"kind": x.kind, "body": x.body} for x in got],
            image_bytes=len(photos[0]),
            identical=same,
        )

        m = tap.mark()
        gid = await alice.create_group("picnic", ["bob", "carol"])
        step("alice created a group; her Megolm key went to each member over Olm", m, group=gid)
        m = tap.mark()
        received: dict[str, list[ReceivedMessage]] = {u: [] for u in USERS}
        await alice.send_text(gid, "Picnic on Saturday?")
        received["bob"] += await bob.receive()  # bob learns the group (room key) before he posts to it
        await bob.send_image(gid, photos[1], caption="the park")
        received["carol"] += await carol.receive()
        await carol.send_text(gid, "I'll bring cake")
        step("group messages: one Megolm ciphertext per member device (plus bob's and carol's room keys)", m)
        for u in USERS:
            received[u] += await c[u].receive()
        step(
            "group members received",
            received={u: [{"from": x.sender, "kind": x.kind, "body": x.body} for x in received[u]] for u in USERS},
        )

        m = tap.mark()
        await alice.send_text("bob", "you are worthless and everyone hates you")
        got = await bob.receive()
        report = await bob.report(got[-1].message_id, "harassment")
        step("bob reported alice's message; the relay checked franking before accepting", m, **report)
        for msg in bob.state["messages"]:
            if msg["message_id"] == got[-1].message_id:
                msg["franked"]["payload"]["body"] = "I never said this"
        try:
            await bob.report(got[-1].message_id, "altered")
        except RelayAPIError as exc:
            step("an altered report is rejected", status=exc.status, error=exc.detail)

        if detect:
            assert moderator_key is not None
            await _detection(carol, bob, moderator_key)
        else:
            step("private detection not shown", reason="no custodian key / moderator key given to the demo")
        for client in c.values():
            await client.aclose()
        await tap.close_inner()

    async def _detection(sender: MessengerClient, to: MessengerClient, mod_key: str) -> None:
        listed = _listed_images(shared_data, 4 * detection_threshold)
        if not listed:
            step("private detection not shown", reason="no listed stand-in images found in shared_data")
            return
        mod = {"Authorization": f"Bearer {mod_key}"}
        async with httpx.AsyncClient(base_url=relay_url, transport=transport) as http:

            async def moderator(path: str) -> Any:
                r = await http.get("/relay/v1/detection" + path, headers=mod)
                r.raise_for_status()
                return r.json()

            before = (await moderator("/stats"))["counters"]
            sent: list[str] = []
            events: list[Any] = []
            m = tap.mark()
            for name, data in listed:
                await sender.send_image(to.user_id, data, caption="")
                sent.append(name)
                events = (await moderator("/events"))["events"]
                if events:
                    break
            stats = await moderator("/stats")
            # the relay asks the moderation service to open cases as soon as a threshold event is recorded or a
            # report accepted (after answering); an explicit ingest finds nothing left, and the case feed lists them
            r = await http.post("/v1/moderation/ingest", headers=mod)
            ingest: Any = r.json() if r.status_code == 200 else {"status": r.status_code, "detail": r.text[:200]}
            r = await http.get("/v1/moderation/cases", params={"status": "all"}, headers=mod)
            feed: Any = r.json() if r.status_code == 200 else {"status": r.status_code, "detail": r.text[:200]}
        got = await to.receive()
        step(
            f"{sender.user_id} sent listed stand-ins (JPEG re-encoded), each preceded by a voucher",
            m,
            images=sent,
            bob_received=len(got),
        )
        after = stats["counters"]
        step(
            "what the relay learned from the vouchers",
            vouchers_received=after.get("received", 0) - before.get("received", 0),
            vouchers_opened=after.get("opened", 0) - before.get("opened", 0),
            vouchers_received_all_accounts=after.get("received", 0),
            threshold=detection_threshold,
            table_entries=stats["table"]["entries"],
            note="vouchers of innocent photos never open; below the threshold none open",
        )
        if not events:
            step("no threshold event", reason=f"the threshold was not crossed after {len(sent)} listed images")
            return
        ev = events[0]
        step(
            "threshold event recorded: the case for moderation",
            account=ev["account"],
            verified=ev["verified"],
            collisions=ev["collisions"],
            synthetic=ev["synthetic"],
            entries=[x["entry_id"] for v in ev["matches"] for x in v["matches"]],
        )
        if feed.get("cases"):
            step(
                "moderation opened cases (threshold event and bob's franked report)",
                cases=[c["case_id"] for c in feed["cases"]],
                sources=sorted(c["source"] for c in feed["cases"]),
                technologies=sorted({t for c in feed["cases"] for t in c["technologies"]}),
                left_for_explicit_ingest=ingest.get("opened", ingest),
            )
        else:
            step("moderation did not open a case", answer=ingest, feed=feed)

    asyncio.run(run())
    step("state kept in", path=str(base))
    return steps
