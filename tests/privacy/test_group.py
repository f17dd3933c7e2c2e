from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindmatch.privacy.errors import GroupError, InvalidPointError, InvalidScalarError
from blindmatch.privacy.group import GROUP_ORDER, Point, Scalar, hash_to_point

scalars = st.integers(min_value=1, max_value=GROUP_ORDER - 1).map(Scalar.from_int)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01" * 31, b"\x01" * 33, bytes(32), b"\xff" * 32, (GROUP_ORDER + 1).to_bytes(32, "little")],
)
def test_decode_rejects_malformed_identity_and_wrong_length(data: bytes) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(data)


def test_decode_rejects_non_canonical_field_element() -> None:
    # p = 2^255 - 19 encodes the field element 0 non-canonically; ristretto255 must refuse it.
    p = (2**255 - 19).to_bytes(32, "little")
    with pytest.raises(InvalidPointError):
        Point.decode(p)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(InvalidPointError):
        Point.decode("ab" * 16)  # type: ignore[arg-type]


def test_scalar_decode_rejects_unreduced() -> None:
    with pytest.raises(InvalidScalarError):
        Scalar.decode(GROUP_ORDER.to_bytes(32, "little"))
    with pytest.raises(InvalidScalarError):
        Scalar.decode(b"\x00" * 31)


def test_zero_scalar_multiplication_is_an_error() -> None:
    with pytest.raises(GroupError):
        Point.random().mul(Scalar.from_int(0))
    with pytest.raises(GroupError):
        Point.base_mul(Scalar.from_int(GROUP_ORDER))


@settings(max_examples=25, deadline=None)
@given(a=scalars, b=scalars)
def test_scalar_mult_is_a_group_action(a: Scalar, b: Scalar) -> None:
    p = Point.random()
    assert p.mul(a).mul(b) == p.mul(a * b)
    if (a + b).to_int() != 0:
        assert p.mul(a) + p.mul(b) == p.mul(a + b)
    assert p.mul(a).mul(a.invert()) == p
    assert Point.decode(p.mul(a).encode()) == p.mul(a)


def test_hash_to_point_is_domain_separated_and_deterministic() -> None:
    assert hash_to_point(b"token", b"x") == hash_to_point(b"token", b"x")
    assert hash_to_point(b"token", b"x") != hash_to_point(b"dummy", b"x")
    # framing: ("ab","c") and ("a","bc") must differ
    assert hash_to_point(b"d", b"ab", b"c") != hash_to_point(b"d", b"a", b"bc")


def test_secret_scalars_do_not_print() -> None:
    assert "hidden" in repr(Scalar.random())


@pytest.mark.parametrize("data", [b"\x01" * 31, bytes(32), b"\xff" * 32, (2**255 - 19).to_bytes(32, "little")])
def test_decode_mul_rejects_what_decode_rejects(data: bytes) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode_mul(data, Scalar.random())


def test_decode_mul_equals_decode_then_mul() -> None:
    p, s = Point.random(), Scalar.random()
    assert Point.decode_mul(p.raw, s) == p.mul(s)
