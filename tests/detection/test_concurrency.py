"""Two relay workers taking vouchers of one account at once lose no share (row lock / SQLite write lock)."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import FastAPI

from blindmatch.privacy.api import verify_table
from blindmatch.privacy.client import ClientAccount, VoucherClient
from blindmatch.service.detection import DetectionService
from blindmatch.service.routes_detection import get_detection

from .conftest import THRESHOLD, Listed, pdq_from_image_path


def test_two_workers_one_account(app: FastAPI, data_dir: Path, listed: list[Listed]) -> None:
    a = get_detection(app.state.blindmatch)
    b = DetectionService(a.db, a.store, a.matcher, data_dir / "detection", a.config)  # a second worker process
    assert b.table.table_bytes == a.table.table_bytes
    table = verify_table(a.table.table_bytes, [a.keys.signing.public_key()])
    client = VoucherClient(table, a.scheme, ClientAccount.create("alice/primary", THRESHOLD), a.config)
    vouchers = []
    for x in listed[:8]:
        r = pdq_from_image_path(x.path)
        vouchers.append(client.make_voucher(r.hash_bytes, r.margins, synthetic=False))
    errors: list[BaseException] = []

    def work(svc: DetectionService, items: list[bytes]) -> None:
        try:
            for v in items:
                svc.receive("alice/primary", v)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(svc, vouchers[i::2])) for i, svc in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.stats()["counters"]["received"] == 8 and a.stats()["counters"]["opened"] == 8
    events = a.events()
    assert sum(e["verified"] for e in events) == 8  # every match reported once, none lost
    assert len(events) == 8 - THRESHOLD + 1  # one event at recovery, then one per further match


def test_workers_share_one_rebuilt_table(app: FastAPI, data_dir: Path) -> None:
    """After a list change the first worker builds the table; the second serves that one, not a table of its own."""
    from blindmatch.lists.model import make_entry

    from .conftest import LIST

    a = get_detection(app.state.blindmatch)
    b = DetectionService(a.db, a.store, a.matcher, data_dir / "detection", a.config)
    v1 = a.table.list_version
    a.store.add_entries(LIST, [make_entry(list_name=LIST, signal_type="pdq", value="cd" * 32, entry_id="x")])
    assert a.refresh() is True and a.table.list_version == v1 + 1
    assert b.refresh() is True
    assert b.table.table_bytes == a.table.table_bytes and b.table.list_version == v1 + 1
    assert a.refresh() is False and b.refresh() is False
    assert a.refresh(force=True) is True and a.table.list_version == v1 + 2
