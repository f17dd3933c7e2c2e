"""The demo end to end, against the in-process relay with the benign demo list: every step and what it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blindmatch.messaging.chat import run_demo
from blindmatch.service.routes_detection import demo_detection_relay


def _by_step(steps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in steps}


def test_demo_three_users_group_report_and_threshold(tmp_path: Path, shared_data: Path) -> None:
    relay = demo_detection_relay(tmp_path / "relay", shared_data / "images" / "listed", threshold=3)
    steps = run_demo(
        tmp_path / "demo",
        shared_data=shared_data,
        transport=relay.transport,
        detection_key=relay.custodian_key_hex,
        moderator_key=relay.api_key,
        detection_threshold=3,
    )
    by = _by_step(steps)
    assert by["registered"]["users"] == ["alice", "bob", "carol"]
    assert by["safety numbers compared (alice and bob)"]["match"] is True

    text = by["alice sent bob a text"]
    [copy] = text["relay_saw"]["messages"][0]["ciphertext_copies"]
    assert copy["to"] == "bob/primary" and copy["alg"] == "olm" and copy["bytes"] > text["plaintext_bytes"]

    assert "no-media mode" in by["image refused in no-media mode"]["error"]
    photo = by["alice sent bob an innocent photo (voucher first, then the encrypted upload)"]
    assert [v["status"] for v in photo["relay_saw"]["vouchers"]] == [202]
    [upload] = photo["relay_saw"]["encrypted_uploads"]
    assert upload["status"] == 201 and upload["bytes"] == photo["plaintext_bytes"] + 28  # nonce + GCM tag
    assert by["bob received and decrypted"]["identical"] is True

    keys = by["alice created a group; her Megolm key went to each member over Olm"]["relay_saw"]["messages"]
    assert {c["to"] for m in keys for c in m["ciphertext_copies"]} == {"bob/primary", "carol/primary"}
    assert {c["alg"] for m in keys for c in m["ciphertext_copies"]} == {"olm"}
    group = by["group messages: one Megolm ciphertext per member device (plus bob's and carol's room keys)"]
    algs = [c["alg"] for m in group["relay_saw"]["messages"] for c in m["ciphertext_copies"]]
    assert algs.count("megolm") == 6  # three group messages, two other members each
    assert len(group["relay_saw"]["encrypted_uploads"]) == 1  # bob's photo in the group, encrypted
    received = by["group members received"]["received"]
    bodies = {u: {(m["from"], m["kind"], m["body"]) for m in received[u]} for u in received}
    assert bodies["alice"] == {("bob", "image", "the park"), ("carol", "text", "I'll bring cake")}
    assert ("carol", "text", "I'll bring cake") in bodies["bob"]
    assert {("alice", "text", "Picnic on Saturday?"), ("bob", "image", "the park")} <= bodies["carol"]

    reported = by["bob reported alice's message; the relay checked franking before accepting"]
    assert reported["sender"] == "alice" and reported["messages"] == 4  # the message + 3 earlier ones from alice
    [sealed] = reported["relay_saw"]["sealed_reports"]
    assert sealed["status"] == 201 and sealed["bytes"] > 1000
    assert by["an altered report is rejected"]["status"] == 422

    sent = by["carol sent listed stand-ins (JPEG re-encoded), each preceded by a voucher"]
    learned = by["what the relay learned from the vouchers"]
    event = by["threshold event recorded: the case for moderation"]
    assert len(sent["images"]) == 3 and sent["bob_received"] == 3
    assert len(sent["relay_saw"]["vouchers"]) == 3 and len(sent["relay_saw"]["encrypted_uploads"]) == 3
    assert learned["vouchers_received"] == 3 and learned["vouchers_opened"] == 3
    assert learned["vouchers_received_all_accounts"] == 5  # + alice's and bob's innocent photos, never opened
    assert learned["table_entries"] == 224
    assert event["verified"] == 3 and event["account"] == "carol/primary"
    assert {e.split(":")[0] for e in event["entries"]} == set(sent["images"])
    cases = by["moderation opened cases (threshold event and bob's franked report)"]
    assert cases["sources"] == ["threshold", "user_report"] and len(cases["cases"]) == 2
    assert cases["left_for_explicit_ingest"] == []  # the relay had already asked moderation to open both


def test_demo_without_detection_says_so(tmp_path: Path, shared_data: Path) -> None:
    from blindmatch.service.routes_relay import in_process_relay

    steps = run_demo(tmp_path / "demo", shared_data=shared_data, transport=in_process_relay(tmp_path / "relay"))
    assert steps[-2]["step"] == "private detection not shown"
    assert _by_step(steps)["bob received and decrypted"]["identical"] is True
