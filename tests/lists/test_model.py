from __future__ import annotations

import pytest

from blindmatch.hashing.signals import SignalType
from blindmatch.lists import (
    HashList,
    InvalidEntryError,
    InvalidListError,
    make_entry,
    stable_entry_id,
    validate_list_name,
)

PDQ = "f" * 64


@pytest.mark.parametrize("name", ["ncmec", "iwf-2026", "a", "list_1.v2", "MY_BANK"])
def test_valid_list_names(name: str) -> None:
    assert validate_list_name(name) == name


@pytest.mark.parametrize("name", ["", "-lead", "trail-", "has space", "a/b", "x" * 65, "é", "_lead"])
def test_invalid_list_names(name: str) -> None:
    with pytest.raises(InvalidListError):
        validate_list_name(name)


def test_hash_list_validates_threshold() -> None:
    assert HashList("x").pdq_threshold == 31
    with pytest.raises(InvalidListError, match="between 0 and 128"):
        HashList("x", pdq_threshold=200)
    with pytest.raises(InvalidListError):
        HashList("x", pdq_threshold=True)


def test_make_entry_normalises_and_generates_stable_id() -> None:
    e = make_entry(signal_type="PDQ", value="  " + "AB" * 32 + " ")
    assert e.signal_type is SignalType.PDQ
    assert e.value == "ab" * 32
    assert e.entry_id == stable_entry_id(SignalType.PDQ, "ab" * 32) == "pdq:" + "ab" * 32
    assert make_entry(signal_type="pdq", value="ab" * 32).entry_id == e.entry_id


def test_classification_is_kept_verbatim() -> None:
    e = make_entry(
        signal_type="md5",
        value="0" * 32,
        classification_scheme="NCMEC",
        classification_label=" A1 ",
    )
    assert e.classification_label == " A1 "
    assert e.classification_scheme == "NCMEC"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signal_type": "pdq", "value": "f" * 63}, "64 hex digits"),
        ({"signal_type": "pdq", "value": "g" * 64}, "non-hex"),
        ({"signal_type": "photodna", "value": "ab"}, "unknown signal type"),
        ({"signal_type": "vpdq", "value": "ab"}, "vpdq"),
        ({"signal_type": "md5", "value": 5}, "hex string"),
        ({"signal_type": "md5", "value": "0" * 32, "entry_id": "   "}, "blank"),
        ({"signal_type": "md5", "value": "0" * 32, "entry_id": "x" * 201}, "longer"),
        ({"signal_type": "md5", "value": "0" * 32, "entry_id": "a\nb"}, "control"),
        ({"signal_type": "md5", "value": "0" * 32, "metadata": [1]}, "metadata"),
        ({"signal_type": "md5", "value": "0" * 32, "source_org": 3}, "source_org"),
    ],
)
def test_make_entry_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEntryError, match=message):
        make_entry(**kwargs)  # type: ignore[arg-type]


def test_content_key_ignores_store_fields_but_not_metadata() -> None:
    a = make_entry(signal_type="pdq", value=PDQ, metadata={"a": [1, 2]})
    b = make_entry(signal_type="pdq", value=PDQ, metadata={"a": [1, 2]})
    c = make_entry(signal_type="pdq", value=PDQ, metadata={"a": [2, 1]})
    assert a.content_key() == b.content_key() != c.content_key()
