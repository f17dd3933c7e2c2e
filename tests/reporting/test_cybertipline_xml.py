"""The CyberTipline documents: valid against our XSD, the right values in the documented places, hostile input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from blindmatch.reporting.cybertipline import (
    build_file_details_xml,
    build_report_xml,
    build_response_xml,
    clean_text,
    parse_response,
)
from blindmatch.reporting.errors import InvalidReportInputError, ResponseParseError, SchemaValidationError
from blindmatch.reporting.model import (
    MAX_FREE_TEXT,
    AccountDisabled,
    Incident,
    IncidentType,
    ReportedUser,
    ReportFile,
    ReportPolicy,
)
from blindmatch.reporting.schema import schema, validate

from .helpers import T0, gradient_png, make_case


def _parse(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    assert schema().validate(root), schema().error_log
    return root


def test_report_has_documented_fields_with_case_values() -> None:
    case = make_case()
    root = _parse(build_report_xml(case))
    assert root.tag == "report"
    assert [c.tag for c in root] == [
        "incidentSummary",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "additionalInfo",
    ]
    assert (
        root.findtext("incidentSummary/incidentType") == "Child Pornography (possession, manufacture, and distribution)"
    )
    assert dt.datetime.fromisoformat(root.findtext("incidentSummary/incidentDateTime") or "") == T0
    assert root.findtext("internetDetails/chatImIncident/chatClient") == "Example Messenger"
    assert root.findtext("internetDetails/chatImIncident/chatRoomName") == "conversation 9"
    assert root.findtext("reporter/reportingPerson/email") == "safety@example.org"
    assert root.findtext("reporter/contactPerson/email") == "legal@example.org"
    assert root.findtext("reporter/legalURL") == "https://example.org/legal"
    user = root.find("personOrUserReported")
    assert user is not None
    assert [c.tag for c in user] == [
        "espIdentifier",
        "espService",
        "screenName",
        "displayName",
        "accountPermanentlyDisabled",
    ]
    assert user.findtext("espIdentifier") == "user-7f3a"
    assert user.findtext("screenName") == "sender_42"
    disabled = user.find("accountPermanentlyDisabled")
    assert disabled is not None and disabled.text == "true"
    assert dt.datetime.fromisoformat(disabled.get("disabledDate") or "") == T0 + dt.timedelta(hours=1)
    assert disabled.get("userNotified") == "false"
    assert disabled.get("userNotifiedDate") is None
    assert "case-0001" in (root.findtext("additionalInfo") or "")


def test_temporarily_disabled_account_carries_its_dates() -> None:
    case = make_case()
    temp = AccountDisabled(
        T0, user_notified=True, user_notified_at=T0 + dt.timedelta(minutes=1), reenabled_at=T0 + dt.timedelta(days=2)
    )
    user = dataclasses.replace(case.reported_user, permanently_disabled=None, temporarily_disabled=temp)  # type: ignore[type-var]
    root = _parse(build_report_xml(dataclasses.replace(case, reported_user=user)))
    el = root.find("personOrUserReported/accountTemporarilyDisabled")
    assert el is not None and root.find("personOrUserReported/accountPermanentlyDisabled") is None
    assert el.get("userNotified") == "true"
    assert dt.datetime.fromisoformat(el.get("reenabledDate") or "") == T0 + dt.timedelta(days=2)
    assert dt.datetime.fromisoformat(el.get("userNotifiedDate") or "") == T0 + dt.timedelta(minutes=1)


def test_file_details_carry_original_hashes_viewed_flag_and_match() -> None:
    blobs = [gradient_png(5), gradient_png(6)]
    case = make_case(blobs, viewed=(True, False))
    for i, blob in enumerate(blobs):
        root = _parse(build_file_details_xml("4564654", f"file{i}", case.files[i], ReportPolicy()))
        assert root.findtext("reportId") == "4564654" and root.findtext("fileId") == f"file{i}"
        assert root.findtext("originalFileName") == f"photo-{i}.png"
        assert root.findtext("fileViewedByEsp") == ("true" if i == 0 else "false")
        assert root.findtext("publiclyAvailable") == "false"
        hashes = {el.get("hashType"): el.text for el in root.findall("originalFileHash")}
        assert hashes == {
            "MD5": hashlib.md5(blob).hexdigest(),
            "SHA1": hashlib.sha1(blob).hexdigest(),
            "SHA256": hashlib.sha256(blob).hexdigest(),
        }
        pairs = [
            {p.findtext("name"): p.findtext("value") for p in d.findall("nameValuePair")}
            for d in root.findall("details")
        ]
        assert pairs[0] == {
            "matchTechnology": "pdq",
            "matchList": "hotline",
            "matchEntryId": f"entry-{i}",
            "matchDistance": str(12 + i),
            "matchThreshold": "31",
            "matchListSource": "Example Hotline",
        }
        assert pairs[1] == {"PDQ": case.files[i].pdq}
        tags = [c.tag for c in root]
        assert tags.index("fileViewedByEsp") < tags.index("originalFileHash") < tags.index("details")


def test_industry_classification_only_when_policy_allows() -> None:
    case = make_case()
    f = case.files[0]
    assert f.industry_classification is not None
    default = _parse(build_file_details_xml("1", "a", f, ReportPolicy()))
    assert default.find("industryClassification") is None
    allowed = _parse(build_file_details_xml("1", "a", f, ReportPolicy(allow_industry_classification=True)))
    assert allowed.findtext("industryClassification") == "A1"
    unclassified = dataclasses.replace(f, industry_classification=None)
    none_given = _parse(
        build_file_details_xml("1", "a", unclassified, ReportPolicy(allow_industry_classification=True))
    )
    assert none_given.find("industryClassification") is None


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("nul\x00byte", "nul[U+0000]byte"),
        ("bell\x07and\x1bescape", "bell[U+0007]and[U+001B]escape"),
        ("lone\ud800surrogate", "lone[U+D800]surrogate"),
        ("</screenName><injected>1</injected>", "</screenName><injected>1</injected>"),
        ('quote"amp&lt<', 'quote"amp&lt<'),
    ],
)
def test_hostile_strings_are_kept_visible_and_cannot_break_the_document(hostile: str, expected: str) -> None:
    case = make_case(screen_name=hostile)
    root = _parse(build_report_xml(case))
    assert root.findtext("personOrUserReported/screenName") == expected
    assert root.find(".//injected") is None


def test_huge_strings_are_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidReportInputError) as err:
        make_case(screen_name="x" * 10_000)
    assert err.value.field == "reported_user.screen_name"
    case = make_case()
    with pytest.raises(InvalidReportInputError, match="additional_info"):
        dataclasses.replace(case, additional_info="y" * (MAX_FREE_TEXT + 1))
    # at the limit it is accepted and validates
    _parse(build_report_xml(dataclasses.replace(case, additional_info="y" * (MAX_FREE_TEXT - 100))))


def test_escaping_that_overflows_a_field_limit_is_a_schema_error_not_a_silent_cut() -> None:
    case = make_case(screen_name="\x01" * 200)  # 200 characters, but 1,600 once made visible
    with pytest.raises(SchemaValidationError, match="screenName"):
        build_report_xml(case)


def test_model_rejects_bad_values_with_specific_errors() -> None:
    with pytest.raises(InvalidReportInputError, match=r"incident\.occurred_at.*timezone"):
        Incident(IncidentType.CHILD_PORNOGRAPHY, dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidReportInputError, match=r"file\.md5"):
        ReportFile("a.png", "zz", "0" * 40, "0" * 64)
    with pytest.raises(InvalidReportInputError, match="permanent disabling"):
        ReportedUser("u", permanently_disabled=AccountDisabled(T0, reenabled_at=T0 + dt.timedelta(days=1)))
    with pytest.raises(InvalidReportInputError, match=r"reported_user\.esp_identifier"):
        ReportedUser("  ")
    with pytest.raises(InvalidReportInputError, match="email"):
        dataclasses.replace(make_case().reporter.reporting_person, email="not-an-email").check("x")


def test_schema_rejects_documents_outside_what_we_emit() -> None:
    good = build_report_xml(make_case())
    no_email = good.replace(b"<email>safety@example.org</email>", b"")
    with pytest.raises(SchemaValidationError, match="reportingPerson"):
        validate(no_email, "report")
    wrong_type = good.replace(b"Child Pornography (possession, manufacture, and distribution)", b"Something Else")
    with pytest.raises(SchemaValidationError):
        validate(wrong_type, "report")
    with pytest.raises(SchemaValidationError, match="root element"):
        validate(good, "fileDetails")
    swapped = good.replace(b"<reporter>", b"<reporterX>").replace(b"</reporter>", b"</reporterX>")
    with pytest.raises(SchemaValidationError):
        validate(swapped, "report")


def test_responses_parse_and_hostile_responses_are_refused() -> None:
    ok = parse_response(build_response_xml(0, "Success", report_id="4564654"))
    assert ok.ok and ok.report_id == "4564654"
    err = parse_response(build_response_xml(4100, "Validation failed"))
    assert not err.ok and err.code == 4100
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<reportResponse><responseCode>0</responseCode><responseDescription>&b;</responseDescription>"
        b"</reportResponse>"
    )
    with pytest.raises(ResponseParseError, match="document type"):
        parse_response(bomb)
    with pytest.raises(ResponseParseError):
        parse_response(b"<html>502 Bad Gateway</html>")
    with pytest.raises(ResponseParseError):
        parse_response(b"not xml at all")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_screen_name_builds_a_valid_document_or_fails_clearly(name: str) -> None:
    try:
        case = make_case(screen_name=name)
    except InvalidReportInputError:
        assert len(name) > 255 or not name.strip()
        return
    try:
        root = _parse(build_report_xml(case))
    except SchemaValidationError:
        assert len(clean_text(name)) > 255 or not clean_text(name)  # made visible, it no longer fits
        return
    assert root.findtext("personOrUserReported/screenName") == clean_text(name)
