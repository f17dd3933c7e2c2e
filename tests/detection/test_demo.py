"""The demo's private-detection step, against the in-process relay with the benign demo list."""

from __future__ import annotations

from pathlib import Path

from blindmatch.messaging.chat import run_demo
from blindmatch.service.routes_detection import demo_detection_relay


def test_demo_crosses_the_threshold_and_shows_the_event(tmp_path: Path, shared_data: Path) -> None:
    relay = demo_detection_relay(tmp_path / "relay", shared_data / "images" / "listed", threshold=3)
    steps = run_demo(
        tmp_path / "demo",
        shared_data=shared_data,
        transport=relay.transport,
        detection_key=relay.custodian_key_hex,
        moderator_key=relay.api_key,
        detection_threshold=3,
    )
    by = {s["step"]: s for s in steps}
    assert by["bob decrypted the image"]["identical"] is True  # the earlier steps still work
    sent = by["alice sent listed stand-ins (JPEG re-encoded), each preceded by a voucher"]
    seen = by["what the relay saw"]
    event = by["threshold event recorded for moderation"]
    assert len(sent["images"]) == 3 and sent["bob_received"] == 3
    assert seen["vouchers_received"] == 3 and seen["vouchers_opened"] == 3 and seen["table_entries"] == 224
    assert event["verified"] == 3 and event["account"] == "alice/primary"
    assert {e.split(":")[0] for e in event["entries"]} == set(sent["images"])


def test_demo_without_detection_says_so(tmp_path: Path, shared_data: Path) -> None:
    from blindmatch.service.routes_relay import in_process_relay

    steps = run_demo(tmp_path / "demo", shared_data=shared_data, transport=in_process_relay(tmp_path / "relay"))
    assert steps[-2]["step"] == "private detection not shown"
