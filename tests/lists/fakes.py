"""Local fake hash-sharing servers (in-process httpx transports); nothing here talks to a remote host."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

NS = "https://hashsharing.ncmec.org/hashsharing/v2"


@dataclass
class NcmecItem:
    ts: str  # ISO timestamp, compared as string (same format throughout)
    xml: str


@dataclass
class FakeNcmec:
    """Serves ``GET /v2/entries?from=&to=[&start=&size=]`` like the NCMEC hash-sharing API (XML pages)."""

    username: str = "user"
    password: str = "secret"
    page_size: int = 2
    items: list[NcmecItem] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)  # statuses to answer before serving normally
    retry_after: str | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    next_host: str | None = None  # put an absolute URL to this host into paging/next (attack test)

    def image(self, ts: str, nid: str, *, pdq: str | None = None, md5: str | None = None, cls: str = "A1") -> None:
        fps = (f"<pdq>{pdq}</pdq>" if pdq else "") + (f"<md5>{md5}</md5>" if md5 else "")
        self.items.append(
            NcmecItem(
                ts,
                f"<image><member id='7'>Member Seven</member><timestamp>{ts}</timestamp><id>{nid}</id>"
                f"<classification>{cls}</classification><fingerprints>{fps}</fingerprints></image>",
            )
        )

    def delete_image(self, ts: str, nid: str) -> None:
        self.items.append(NcmecItem(ts, f"<deletedImage><member id='7'>M</member><id>{nid}</id></deletedImage>"))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, text="unauthorised")
        if self.fail_with:
            status = self.fail_with.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return httpx.Response(status, text="try later", headers=headers)
        if request.url.path != "/npo/v2/entries":
            return httpx.Response(404)
        q = request.url.params
        start, end = q["from"], q["to"]
        offset = int(q.get("start", "0"))
        window = sorted((i for i in self.items if start < i.ts <= end), key=lambda i: i.ts)
        page = window[offset : offset + self.page_size]
        body = "".join(i.xml for i in page)
        paging = ""
        if offset + self.page_size < len(window):
            nxt = "/v2/entries?" + urlencode({"from": start, "to": end, "start": offset + self.page_size})
            if self.next_host:
                nxt = f"https://{self.next_host}{nxt}"
            paging = f"<paging><next>{nxt.replace('&', '&amp;')}</next></paging>"
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<queryResult xmlns="{NS}">\n'
            f'<images count="{len(page)}">{body}</images>\n{paging}</queryResult>\n'
        )
        return httpx.Response(200, text=xml, headers={"content-type": "application/xml"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@dataclass
class FakeStopNcii:
    """Serves ``GET /v1/FetchHashes`` like the StopNCII API (JSON)."""

    subscription_key: str = "sub"
    function_key: str = "fn"
    records: list[dict[str, object]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def add(self, ts: int, value: str, status: str = "Active", signal_type: str = "ImagePDQ") -> None:
        self.records.append(
            {
                "lastModtimestamp": ts,
                "signalType": signal_type,
                "hashValue": value,
                "hashStatus": status,
                "caseNumbers": {"case-1": status},
                "CSPFeedbacks": [],
            }
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if (
            request.headers.get("Ocp-Apim-Subscription-Key") != self.subscription_key
            or request.headers.get("x-functions-key") != self.function_key
        ):
            return httpx.Response(403, text="bad keys")
        if self.fail_with:
            return httpx.Response(self.fail_with.pop(0))
        q = request.url.params
        start = int(q["startTimestamp"])
        size = int(q["pageSize"])
        offset = int(q.get("nextPageToken", "0") or "0")
        window = sorted(
            (r for r in self.records if int(r["lastModtimestamp"]) >= start),  # type: ignore[call-overload]
            key=lambda r: r["lastModtimestamp"],
        )  # type: ignore[arg-type,return-value]
        page = window[offset : offset + size]
        more = offset + size < len(window)
        latest = max([int(r["lastModtimestamp"]) for r in window] + [start - 1])  # type: ignore[call-overload]
        body = {
            "count": len(page),
            "nextPageToken": str(offset + size) if more else "",
            "nextSetTimestamp": latest + 1,
            "hasMoreRecords": more,
            "hashRecords": page,
        }
        return httpx.Response(200, content=json.dumps(body), headers={"content-type": "application/json"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
