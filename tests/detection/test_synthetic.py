"""With synthetic vouchers on, the relay still recovers, verifies every real match and counts the synthetic ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from blindmatch.messaging.client import MessengerClient
from blindmatch.messaging.detection import attach_private_check
from blindmatch.service.app import create_app
from blindmatch.service.config import Settings
from blindmatch.service.routes_detection import get_detection

from .conftest import MOD_KEY, THRESHOLD, Listed, fill_list, recompress

BASE = "http://relay.test"


def test_synthetic_vouchers_through_the_relay(
    tmp_path: Path, db_url: str, listed: list[Listed], pinned_key: str, data_dir: Path
) -> None:
    # At most 3 of the 8 vouchers are synthetic, so at least 5 >= t are real and the relay's bounded recovery
    # (subset search while opened <= t + 2 * max_synthetic, then Berlekamp-Welch) must find the key.
    extra = {
        "detection_threshold": str(THRESHOLD),
        "detection_synthetic_probability": "0.4",
        "detection_max_synthetic": "3",
    }
    app = create_app(Settings(data_dir=data_dir, database_url=db_url, api_keys=(MOD_KEY,), extra=extra))
    fill_list(app, listed)
    transport = httpx.ASGITransport(app=app)

    async def run() -> int:
        alice = await MessengerClient.register(BASE, tmp_path / "alice", "alice", transport=transport)
        bob = await MessengerClient.register(BASE, tmp_path / "bob", "bob", transport=transport)
        await alice.add_contact("bob")
        await alice.set_consent(True)
        check = attach_private_check(alice, pinned_key, transport=transport, min_threshold=THRESHOLD)
        for x in listed[:8]:
            await alice.send_image("bob", recompress(x.path))
        assert len(await bob.receive()) == 8
        await alice.aclose()
        await bob.aclose()
        return int(check.state.data["account"]["synthetic_sent"])

    synthetic_sent = asyncio.run(run())
    svc = get_detection(app.state.blindmatch)
    counters = svc.stats()["counters"]
    # A synthetic voucher replaces the real one for that image, so real matches = 8 - synthetic.
    assert counters["received"] == 8 and counters["opened"] == 8
    assert counters["verified"] == 8 - synthetic_sent
    assert counters.get("synthetic", 0) == synthetic_sent
    events = svc.events()
    assert events and sum(e["verified"] for e in events) == 8 - synthetic_sent
