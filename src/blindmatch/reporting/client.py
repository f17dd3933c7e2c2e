"""HTTP client for the CyberTipline Reporting API (submit, upload, fileinfo, finish, retract, status).

Design choices, each for a reason:

- **Production is opt-in.** The production host is refused unless ``allow_production=True`` is passed by the
  caller that read an explicit setting; a test or a demo can therefore never file a real report by accident.
  Plain ``http`` is refused except for loopback (the local fake server).
- **Retries only where repeating is harmless.** A request that never left (connection refused, connect timeout) is
  retried for every call. A request that may have reached the server (read timeout, dropped connection, HTTP 5xx)
  is retried only for ``status``, ``fileinfo``, ``finish`` and ``retract``, whose repetition cannot create a second
  report or a second file; ``submit`` and ``upload`` raise :class:`CyberTiplineTransportError` instead and leave
  the decision to the submission driver, which knows what it has stored.
- **Errors say what happened.** A non-zero ``responseCode`` raises :class:`CyberTiplineAPIError` with the code and
  the server's description; bad credentials raise :class:`CyberTiplineAuthError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from blindmatch.reporting.cybertipline import AUTH_REQUIRED, ApiResponse, parse_response
from blindmatch.reporting.errors import (
    CyberTiplineAPIError,
    CyberTiplineAuthError,
    CyberTiplineTransportError,
    ProductionNotAllowedError,
    ResponseParseError,
)

__all__ = ["PRODUCTION_URL", "TEST_URL", "CyberTiplineClient", "UploadResult"]

PRODUCTION_URL = "https://report.cybertip.org/ispws"
TEST_URL = "https://exttest.cybertip.org/ispws"
_PRODUCTION_HOSTS = frozenset({"report.cybertip.org"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAYBE_SENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class UploadResult:
    """What ``/upload`` returns: the server's id for the file and the hash it computed (MD5 per the docs)."""

    file_id: str
    hash: str | None


class CyberTiplineClient:
    """A synchronous client; one instance per set of credentials. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        allow_production: bool = False,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = httpx.URL(base_url)
        host = (url.host or "").lower().rstrip(".")
        if not host:
            raise ValueError(f"base_url {base_url!r} has no host")
        if host in _PRODUCTION_HOSTS and not allow_production:
            raise ProductionNotAllowedError(
                f"{base_url} is the production CyberTipline; pass allow_production=True only from an explicit setting"
            )
        if url.scheme != "https" and not (url.scheme == "http" and host in _LOOPBACK):
            raise ValueError(f"base_url must use https (plain http only on loopback), got {base_url!r}")
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("retries and backoff must be >= 0 and timeout > 0")
        self.base_url = str(url).rstrip("/")
        self.production = host in _PRODUCTION_HOSTS
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> CyberTiplineClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- endpoints -------------------------------------------------------------------------------------------

    def status(self) -> ApiResponse:
        """``GET /status``: are we reachable and authenticated?"""
        return self._call("status", "GET", idempotent=True)

    def submit(self, report_xml: bytes) -> str:
        """``POST /submit``: open a report; returns its report id."""
        answer = self._call("submit", "POST", idempotent=False, content=report_xml, headers=_XML)
        if not answer.report_id:
            raise ResponseParseError("submit succeeded without a reportId")
        return answer.report_id

    def upload(self, report_id: str, file_name: str, data: bytes) -> UploadResult:
        """``POST /upload`` (multipart ``id`` + ``file``): attach one file; returns its file id."""
        answer = self._call(
            "upload",
            "POST",
            idempotent=False,
            data={"id": report_id},
            files={"file": (file_name, data, "application/octet-stream")},
        )
        if not answer.file_id:
            raise ResponseParseError("upload succeeded without a fileId")
        return UploadResult(answer.file_id, answer.hash)

    def fileinfo(self, file_details_xml: bytes) -> None:
        """``POST /fileinfo``: describe an uploaded file."""
        self._call("fileinfo", "POST", idempotent=True, content=file_details_xml, headers=_XML)

    def finish(self, report_id: str) -> tuple[str, ...]:
        """``POST /finish``: close the report (from now on it is filed); returns the file ids it holds."""
        return self._call("finish", "POST", idempotent=True, data={"id": report_id}).file_ids

    def retract(self, report_id: str) -> None:
        """``POST /retract``: cancel a report that is not finished."""
        self._call("retract", "POST", idempotent=True, data={"id": report_id})

    # --- transport -------------------------------------------------------------------------------------------

    def _call(self, endpoint: str, method: str, *, idempotent: bool, **kwargs: Any) -> ApiResponse:
        url = f"{self.base_url}/{endpoint}"
        attempt = 0
        while True:
            problem: str
            try:
                response = self._http.request(method, url, **kwargs)
            except _NOT_SENT as exc:
                problem = f"could not connect ({type(exc).__name__}: {exc})"
            except _MAYBE_SENT as exc:
                problem = f"request may have reached the server ({type(exc).__name__}: {exc})"
                if not idempotent:
                    raise CyberTiplineTransportError(f"{endpoint}: {problem}; not retried (not idempotent)") from exc
            else:
                if response.status_code == 401:
                    raise CyberTiplineAuthError(f"{endpoint}: the server refused our credentials (HTTP 401)")
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    if not idempotent:
                        raise CyberTiplineTransportError(f"{endpoint}: {problem}; not retried (not idempotent)")
                else:
                    return self._answer(endpoint, response)
            if attempt >= self._retries:
                raise CyberTiplineTransportError(f"{endpoint}: {problem} (after {attempt + 1} attempts)")
            self._sleep(self._backoff * (2**attempt))
            attempt += 1

    @staticmethod
    def _answer(endpoint: str, response: httpx.Response) -> ApiResponse:
        try:
            answer = parse_response(response.content)
        except ResponseParseError as exc:
            raise ResponseParseError(f"{endpoint}: HTTP {response.status_code}: {exc}") from exc
        if answer.code == AUTH_REQUIRED:
            raise CyberTiplineAuthError(f"{endpoint}: {answer.description or 'authentication required'}")
        if not answer.ok:
            raise CyberTiplineAPIError(endpoint, answer.code, answer.description)
        return answer


_XML = {"Content-Type": "text/xml; charset=utf-8"}
