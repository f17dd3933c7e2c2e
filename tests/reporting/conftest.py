"""A fresh fake CyberTipline on a real local socket for each test that asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from blindmatch.reporting.client import CyberTiplineClient
from blindmatch.reporting.fake_ncmec import FakeCyberTipline, run_fake_server


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeCyberTipline, str]]:
    with run_fake_server(FakeCyberTipline("usr123", "pswd123")) as served:
        yield served


@pytest.fixture
def client(fake_server: tuple[FakeCyberTipline, str]) -> Iterator[CyberTiplineClient]:
    _, url = fake_server
    with CyberTiplineClient(url, "usr123", "pswd123", timeout=5, sleep=lambda _s: None) as c:
        yield c
