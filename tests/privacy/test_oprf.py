from __future__ import annotations

import os

import pytest

from blindmatch.privacy.errors import RateLimitedError, VoucherError
from blindmatch.privacy.group import Point, Scalar
from blindmatch.privacy.oprf import OprfClient, OprfServer, RateLimit, warn_before_send
from blindmatch.privacy.scheme import ExactTokenScheme

from .helpers import make_world


def test_client_learns_membership_locally() -> None:
    w = make_world(20)
    client = OprfClient(w.table, ExactTokenScheme())
    server = OprfServer(w.custodian.alpha)
    assert warn_before_send(client, lambda r: server.evaluate("a", r), w.listed[3])
    assert not warn_before_send(client, lambda r: server.evaluate("a", r), os.urandom(32))


def test_blinded_requests_for_the_same_image_differ() -> None:
    w = make_world(5)
    client = OprfClient(w.table, ExactTokenScheme())
    assert client.request(w.listed[0]).encode() != client.request(w.listed[0]).encode()


def test_answer_with_a_different_key_is_refused() -> None:
    w = make_world(5)
    client = OprfClient(w.table, ExactTokenScheme())
    rogue = OprfServer(Scalar.random())
    req = client.request(w.listed[0])
    with pytest.raises(VoucherError, match="table key"):
        client.matches(req, rogue.evaluate("a", req.encode()))


def test_rate_limit_per_account_and_window() -> None:
    w = make_world(5)
    now = [0.0]
    server = OprfServer(w.custodian.alpha, RateLimit(tokens_per_window=2, window_seconds=10), clock=lambda: now[0])
    one = Point.random().raw
    server.evaluate("a", one)
    server.evaluate("a", one)
    with pytest.raises(RateLimitedError):
        server.evaluate("a", one)
    server.evaluate("b", one)  # other accounts are unaffected
    now[0] = 11.0
    server.evaluate("a", one)
    assert server.rejected == {"a": 1}


def test_malformed_requests() -> None:
    server = OprfServer(Scalar.random())
    with pytest.raises(VoucherError):
        server.evaluate("a", b"")
    with pytest.raises(VoucherError):
        server.evaluate("a", b"\xff" * 32)
    with pytest.raises(VoucherError):
        server.evaluate("a", b"\x01" * 33)
