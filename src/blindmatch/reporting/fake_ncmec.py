"""A local stand-in for the CyberTipline Reporting API, for tests, demos and the console's end-to-end runs.

It behaves like the documented service where it matters to a client: HTTP Basic auth, XML bodies validated
against our XSD (response code 4100 when invalid), report ids from ``/submit``, multipart ``/upload`` returning a
file id and the file's MD5, ``/fileinfo`` only for a file of that report, ``/finish`` listing the files, and
``/retract`` only before finishing. Calls out of order get the documented codes (5001 report does not exist,
5102 report already finished). Faults can be injected per endpoint (an HTTP 5xx, an error code, or "did the work,
then lost the answer") so the client's retries and the driver's crash recovery can be tested.

It never stores the uploaded bytes, only their size and digests: the fake has no reason to hold evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blindmatch.reporting.cybertipline import (
    AUTH_REQUIRED,
    REPORT_ALREADY_FINISHED,
    REPORT_NOT_FOUND,
    SERVER_ERROR,
    SUCCESS,
    VALIDATION_FAILED,
    build_done_response_xml,
    build_response_xml,
)
from blindmatch.reporting.errors import SchemaValidationError
from blindmatch.reporting.schema import validate

__all__ = ["FakeCyberTipline", "FakeFile", "FakeReport", "Fault", "run_fake_server"]

_MAX_BODY = 64 * 1024 * 1024


@dataclass
class FakeFile:
    file_id: str
    name: str
    size: int
    md5: str
    sha256: str
    details_xml: bytes | None = None


@dataclass
class FakeReport:
    report_id: str
    xml: bytes
    files: dict[str, FakeFile] = field(default_factory=dict)
    finished: bool = False
    retracted: bool = False


@dataclass(frozen=True)
class Fault:
    """An injected failure for the next call of an endpoint.

    ``http_status`` alone answers with that status without doing anything; ``code`` answers with that response code;
    ``after_processing=True`` does the work first and then answers ``http_status`` (the answer is "lost").
    """

    http_status: int | None = None
    code: int | None = None
    after_processing: bool = False


class FakeCyberTipline:
    """The fake service's state and its Starlette app (``.app``)."""

    def __init__(self, username: str = "usr123", password: str = "pswd123") -> None:
        self._auth = (username, password)
        self._lock = threading.Lock()
        self._ids = itertools.count(4564654)
        self.reports: dict[str, FakeReport] = {}
        self.calls: list[str] = []
        self._faults: dict[str, list[Fault]] = {}
        self.app = Starlette(
            routes=[
                Route("/status", self._status, methods=["GET"]),
                Route("/xsd", self._xsd, methods=["GET"]),
                Route("/submit", self._submit, methods=["POST"]),
                Route("/upload", self._upload, methods=["POST"]),
                Route("/fileinfo", self._fileinfo, methods=["POST"]),
                Route("/finish", self._finish, methods=["POST"]),
                Route("/retract", self._retract, methods=["POST"]),
            ]
        )

    # --- test hooks --------------------------------------------------------------------------------------------

    def inject(self, endpoint: str, fault: Fault, times: int = 1) -> None:
        """Make the next ``times`` calls to ``endpoint`` fail as ``fault`` says."""
        with self._lock:
            self._faults.setdefault(endpoint, []).extend([fault] * times)

    def count(self, endpoint: str) -> int:
        return sum(1 for c in self.calls if c == endpoint)

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self._auth[0]) and secrets.compare_digest(password, self._auth[1])

    @staticmethod
    def _xml(body: bytes, status: int = 200) -> Response:
        return Response(body, status_code=status, media_type="text/xml; charset=utf-8")

    def _answer(self, code: int, description: str, **ids: str | None) -> Response:
        return self._xml(build_response_xml(code, description, **ids))

    async def _guard(self, endpoint: str, request: Request) -> tuple[Response | None, Fault | None]:
        """Auth, body size and injected faults; returns (early response, fault to apply after processing)."""
        with self._lock:
            self.calls.append(endpoint)
            queue = self._faults.get(endpoint) or []
            fault = queue.pop(0) if queue else None
        if not self._authorised(request):
            return self._xml(build_response_xml(AUTH_REQUIRED, "Authentication required"), 401), None
        if int(request.headers.get("content-length") or 0) > _MAX_BODY:
            return self._answer(VALIDATION_FAILED, "Request too large"), None
        if fault is not None and not fault.after_processing:
            if fault.http_status is not None:
                return Response(b"injected failure", status_code=fault.http_status), None
            return self._answer(fault.code if fault.code is not None else SERVER_ERROR, "Injected failure"), None
        return None, fault

    @staticmethod
    def _late(fault: Fault | None, response: Response) -> Response:
        if fault is not None and fault.http_status is not None:
            return Response(b"answer lost", status_code=fault.http_status)
        return response

    def _open_report(self, report_id: str) -> tuple[FakeReport | None, Response | None]:
        report = self.reports.get(report_id)
        if report is None or report.retracted:
            return None, self._answer(REPORT_NOT_FOUND, "Report does not exist", report_id=report_id)
        if report.finished:
            return None, self._answer(REPORT_ALREADY_FINISHED, "Report already finished", report_id=report_id)
        return report, None

    # --- endpoints ---------------------------------------------------------------------------------------------

    async def _status(self, request: Request) -> Response:
        early, fault = await self._guard("status", request)
        return early or self._late(fault, self._answer(SUCCESS, "Success"))

    async def _xsd(self, request: Request) -> Response:
        early, _ = await self._guard("xsd", request)
        if early is not None:
            return early
        data = resources.files("blindmatch.reporting").joinpath("schemas/cybertipline.xsd").read_bytes()
        return self._xml(data)

    async def _submit(self, request: Request) -> Response:
        early, fault = await self._guard("submit", request)
        if early is not None:
            return early
        body = await request.body()
        try:
            validate(body, "report")
        except SchemaValidationError as exc:
            return self._answer(VALIDATION_FAILED, f"Validation failed: {'; '.join(exc.problems[:3])}")
        with self._lock:
            report_id = str(next(self._ids))
            self.reports[report_id] = FakeReport(report_id, body)
        return self._late(fault, self._answer(SUCCESS, "Success", report_id=report_id))

    async def _upload(self, request: Request) -> Response:
        early, fault = await self._guard("upload", request)
        if early is not None:
            return early
        form = await request.form()
        report_id, upload = form.get("id"), form.get("file")
        if not isinstance(report_id, str) or not isinstance(upload, UploadFile):
            return self._answer(VALIDATION_FAILED, "upload needs form fields 'id' and 'file'")
        data = await upload.read()
        with self._lock:
            report, problem = self._open_report(report_id)
            if report is None:
                assert problem is not None
                return problem
            file_id = uuid.uuid4().hex
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            report.files[file_id] = FakeFile(
                file_id, upload.filename or "", len(data), md5, hashlib.sha256(data).hexdigest()
            )
        return self._late(fault, self._answer(SUCCESS, "Success", report_id=report_id, file_id=file_id, hash=md5))

    async def _fileinfo(self, request: Request) -> Response:
        early, fault = await self._guard("fileinfo", request)
        if early is not None:
            return early
        body = await request.body()
        try:
            root = validate(body, "fileDetails")
        except SchemaValidationError as exc:
            return self._answer(VALIDATION_FAILED, f"Validation failed: {'; '.join(exc.problems[:3])}")
        report_id, file_id = root.findtext("reportId") or "", root.findtext("fileId") or ""
        with self._lock:
            report, problem = self._open_report(report_id)
            if report is None:
                assert problem is not None
                return problem
            if file_id not in report.files:
                return self._answer(VALIDATION_FAILED, f"fileId {file_id} is not part of report {report_id}")
            report.files[file_id].details_xml = body
        return self._late(fault, self._answer(SUCCESS, "Success", report_id=report_id))

    async def _finish(self, request: Request) -> Response:
        return await self._close_report("finish", request)

    async def _retract(self, request: Request) -> Response:
        return await self._close_report("retract", request)

    async def _close_report(self, endpoint: Literal["finish", "retract"], request: Request) -> Response:
        """``finish`` and ``retract`` both end an open report: one marks it finished and lists its files, the
        other withdraws it."""
        early, fault = await self._guard(endpoint, request)
        if early is not None:
            return early
        report_id = str((await request.form()).get("id") or "")
        with self._lock:
            report, problem = self._open_report(report_id)
            if report is None:
                assert problem is not None
                return problem
            if endpoint == "retract":
                report.retracted = True
                return self._late(fault, self._answer(SUCCESS, "Success", report_id=report_id))
            report.finished = True
            file_ids = list(report.files)
        return self._late(fault, self._xml(build_done_response_xml(report_id, file_ids)))


@contextmanager
def run_fake_server(fake: FakeCyberTipline | None = None) -> Iterator[tuple[FakeCyberTipline, str]]:
    """Serve a fake on 127.0.0.1 (a free port) in a background thread; yields ``(fake, base_url)``."""
    fake = fake or FakeCyberTipline()
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-cybertipline", daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("the fake CyberTipline server did not start")
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the fake CyberTipline server did not start within 5 s")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
