"""Recipients behind one interface: the same case as CyberTipline XML and as EU Centre / UK NCA JSON."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from blindmatch.reporting.commands import export_case
from blindmatch.reporting.errors import HumanConfirmationRequiredError, UnknownRecipientError
from blindmatch.reporting.model import MatchDetails, ReportPolicy, Technology
from blindmatch.reporting.recipients import (
    EU_FORMAT,
    UK_FORMAT,
    Recipient,
    get_recipient,
    recipient_names,
)
from blindmatch.reporting.schema import validate

from .helpers import gradient_png, make_case


def test_registry_and_interface() -> None:
    assert recipient_names() == ("cybertipline", "eu-centre", "uk-nca")
    for name in recipient_names():
        adapter = get_recipient(name)
        assert isinstance(adapter, Recipient) and adapter.name == name
    with pytest.raises(UnknownRecipientError, match="known: cybertipline"):
        get_recipient("interpol")


def test_cybertipline_export_is_the_validated_report() -> None:
    data = get_recipient("cybertipline").export(make_case())
    assert validate(data, "report").findtext("personOrUserReported/espIdentifier") == "user-7f3a"


@pytest.mark.parametrize(("name", "fmt"), [("eu-centre", EU_FORMAT), ("uk-nca", UK_FORMAT)])
def test_json_exports_carry_the_case(name: str, fmt: str) -> None:
    blobs = [gradient_png(20), gradient_png(21)]
    case = make_case(blobs, viewed=(False, True))
    doc = json.loads(get_recipient(name).export(case))
    assert doc["format"] == fmt and doc["version"] == 1 and doc["case_reference"] == "case-0001"
    assert doc["incident"]["type"].startswith("Child Pornography")
    assert doc["reported_account"]["id"] == "user-7f3a"
    assert doc["reported_account"]["permanently_disabled"]["user_notified"] is False
    assert doc["service"] == {
        "kind": "chat",
        "client": "Example Messenger",
        "conversation": "conversation 9",
        "content": None,
        "additional_info": None,
    }
    for i, blob in enumerate(blobs):
        f = doc["files"][i]
        assert f["hashes"]["sha256"] == hashlib.sha256(blob).hexdigest()
        assert f["hashes"]["md5"] == hashlib.md5(blob).hexdigest()
        assert f["viewed_by_provider"] is (i == 1)
        assert f["detections"][0] == {
            "technology": "pdq",
            "list": "hotline",
            "entry_id": f"entry-{i}",
            "distance": 12 + i,
            "threshold": 31,
            "list_source": "Example Hotline",
        }
        assert "industry_classification" not in f
    allowed = json.loads(get_recipient(name, ReportPolicy(allow_industry_classification=True)).export(case))
    assert allowed["files"][0]["industry_classification"] == "A1"


def test_eu_export_needs_human_confirmation_for_material_that_is_not_a_known_hash() -> None:
    case = make_case([gradient_png(30)], human_confirmed=False)
    reported_only = dataclasses.replace(case.files[0], matches=(MatchDetails(Technology.USER_REPORT),))
    unconfirmed = dataclasses.replace(case, files=(reported_only,))
    with pytest.raises(HumanConfirmationRequiredError, match="2021/1232"):
        get_recipient("eu-centre").export(unconfirmed)
    get_recipient("eu-centre").export(case)  # a known-hash match needs no confirmation
    confirmed = json.loads(get_recipient("eu-centre").export(dataclasses.replace(unconfirmed, human_confirmed=True)))
    assert confirmed["human_confirmed"] is True and confirmed["files"][0]["known_hash_match"] is False
    get_recipient("uk-nca").export(unconfirmed)  # the UK export has no such rule


def test_json_keeps_hostile_text_exactly() -> None:
    hostile = 'nul\x00 "quote" </script> \ud800'
    doc = json.loads(get_recipient("uk-nca").export(make_case(screen_name=hostile)))
    assert doc["reported_account"]["screen_name"] == hostile


def test_export_case_writes_inside_the_output_folder(tmp_path: Path) -> None:
    case = dataclasses.replace(make_case(), case_id="../../etc/passwd")
    path = export_case(case, "eu-centre", tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600  # a case export is for the operator only
    assert path.parent == tmp_path and path.name == "_.._etc_passwd.eu-centre.json"
    assert json.loads(path.read_text())["case_reference"] == "../../etc/passwd"
    xml_path = export_case(case, "cybertipline", tmp_path)
    validate(xml_path.read_bytes(), "report")
