"""The API client against the fake server on a real socket, and its retry rules against scripted transports."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from blindmatch.reporting.client import PRODUCTION_URL, TEST_URL, CyberTiplineClient
from blindmatch.reporting.cybertipline import build_file_details_xml, build_report_xml, build_response_xml
from blindmatch.reporting.errors import (
    CyberTiplineAPIError,
    CyberTiplineAuthError,
    CyberTiplineTransportError,
    ProductionNotAllowedError,
)
from blindmatch.reporting.fake_ncmec import FakeCyberTipline, Fault
from blindmatch.reporting.model import ReportPolicy

from .helpers import gradient_png, make_case


@pytest.mark.parametrize(
    "url", [PRODUCTION_URL, "https://REPORT.cybertip.org/ispws", "https://report.cybertip.org./ispws/"]
)
def test_production_url_refused_without_explicit_flag(url: str) -> None:
    with pytest.raises(ProductionNotAllowedError):
        CyberTiplineClient(url, "u", "p")
    with CyberTiplineClient(url, "u", "p", allow_production=True) as c:  # allowed, and no request is made
        assert c.production


def test_plain_http_only_on_loopback() -> None:
    with pytest.raises(ValueError, match="https"):
        CyberTiplineClient("http://exttest.cybertip.org/ispws", "u", "p")
    with CyberTiplineClient(TEST_URL, "u", "p") as c:
        assert not c.production


def test_status_and_bad_credentials(fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient) -> None:
    _, url = fake_server
    assert client.status().ok
    with CyberTiplineClient(url, "usr123", "wrong") as bad, pytest.raises(CyberTiplineAuthError):
        bad.status()


def test_full_report_through_the_api(fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient) -> None:
    fake, _ = fake_server
    blob = gradient_png(3)
    case = make_case([blob])
    report_id = client.submit(build_report_xml(case))
    upload = client.upload(report_id, "photo-0.png", blob)
    assert upload.hash == hashlib.md5(blob).hexdigest()
    client.fileinfo(build_file_details_xml(report_id, upload.file_id, case.files[0], ReportPolicy()))
    assert client.finish(report_id) == (upload.file_id,)
    stored = fake.reports[report_id]
    assert stored.finished and stored.files[upload.file_id].sha256 == hashlib.sha256(blob).hexdigest()
    assert b"<fileViewedByEsp>true</fileViewedByEsp>" in (stored.files[upload.file_id].details_xml or b"")
    # after finishing, nothing more can be added or retracted
    for call in (lambda: client.upload(report_id, "x.png", blob), lambda: client.retract(report_id)):
        with pytest.raises(CyberTiplineAPIError) as err:
            call()
        assert err.value.code == 5102


def test_out_of_order_and_invalid_calls_get_documented_codes(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    case = make_case([gradient_png(4)])
    with pytest.raises(CyberTiplineAPIError) as err:
        client.upload("999", "a.png", b"abc")
    assert err.value.code == 5001
    with pytest.raises(CyberTiplineAPIError) as err:
        client.submit(b"<report><incidentSummary/></report>")
    assert err.value.code == 4100 and "Validation failed" in err.value.description
    report_id = client.submit(build_report_xml(case))
    with pytest.raises(CyberTiplineAPIError) as err:
        client.fileinfo(build_file_details_xml(report_id, "not-a-file-of-this-report", case.files[0], ReportPolicy()))
    assert err.value.code == 4100
    client.retract(report_id)
    with pytest.raises(CyberTiplineAPIError) as err:
        client.finish(report_id)
    assert err.value.code == 5001


def test_idempotent_calls_are_retried_others_are_not(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    report_id = client.submit(build_report_xml(make_case([])))
    fake.inject("finish", Fault(http_status=503), times=2)
    assert client.finish(report_id) == ()
    assert fake.count("finish") == 3
    fake.inject("submit", Fault(http_status=503))
    before = len(fake.reports)
    with pytest.raises(CyberTiplineTransportError, match="not idempotent"):
        client.submit(build_report_xml(make_case([])))
    assert fake.count("submit") == 2 and len(fake.reports) == before
    fake.inject("status", Fault(http_status=500), times=10)
    with pytest.raises(CyberTiplineTransportError, match="after 4 attempts"):
        client.status()


def test_error_code_from_server_is_reported(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, _ = fake_server
    fake.inject("status", Fault(code=3100))
    with pytest.raises(CyberTiplineAPIError) as err:
        client.status()
    assert err.value.code == 3100 and err.value.endpoint == "status"


def _scripted(failures: list[Exception]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if failures:
            raise failures.pop(0)
        return httpx.Response(200, content=build_response_xml(0, "Success", report_id="7", file_id="f", hash="h"))

    return httpx.MockTransport(handler), seen


def test_request_that_never_left_is_retried_even_for_submit() -> None:
    transport, seen = _scripted([httpx.ConnectError("refused"), httpx.ConnectError("refused")])
    with CyberTiplineClient(TEST_URL, "u", "p", transport=transport, sleep=lambda _s: None) as c:
        assert c.submit(b"<report/>") == "7"
    assert seen == ["/ispws/submit"] * 3


def test_upload_that_may_have_arrived_is_not_retried() -> None:
    transport, seen = _scripted([httpx.ReadTimeout("slow")])
    with (
        CyberTiplineClient(TEST_URL, "u", "p", transport=transport, sleep=lambda _s: None) as c,
        pytest.raises(CyberTiplineTransportError, match="may have reached"),
    ):
        c.upload("7", "a.png", b"x")
    assert seen == ["/ispws/upload"]
    transport, seen = _scripted([httpx.ReadTimeout("slow")])
    with CyberTiplineClient(TEST_URL, "u", "p", transport=transport, sleep=lambda _s: None) as c:
        c.retract("7")
    assert seen == ["/ispws/retract"] * 2


def test_fake_refuses_entity_tricks_and_serves_its_schema(
    fake_server: tuple[FakeCyberTipline, str], client: CyberTiplineClient
) -> None:
    fake, url = fake_server
    xxe = b'<?xml version="1.0"?><!DOCTYPE report [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + build_report_xml(
        make_case([])
    ).split(b"?>", 1)[1].replace(b"sender_42", b"&x;")
    with pytest.raises(CyberTiplineAPIError) as err:
        client.submit(xxe)
    assert err.value.code == 4100 and fake.reports == {}
    ok = httpx.get(f"{url}/xsd", auth=("usr123", "pswd123"))
    assert ok.status_code == 200 and b"<xs:schema" in ok.content
    for path in ("/xsd", "/status"):
        assert httpx.get(f"{url}{path}").status_code == 401
    for path in ("/submit", "/upload", "/fileinfo", "/finish", "/retract"):
        assert httpx.post(f"{url}{path}", content=b"<report/>").status_code == 401
