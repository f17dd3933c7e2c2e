"""A small retrying HTTP GET for the hash-sharing adapters.

Hash-sharing APIs rate-limit (429) and have bad minutes (5xx, dropped connections). Those are retried with
exponential backoff, honouring ``Retry-After`` when the server sends seconds; authentication and other client
errors are not retried (retrying cannot fix them) and surface as :class:`SyncHTTPError` with the status.
``sleep`` is injectable so tests can check the backoff without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from blindmatch.lists.errors import SyncHTTPError

__all__ = ["RETRY_STATUSES", "RetryPolicy", "get_with_retries"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return float(min(max(float(retry_after), 0.0), self.max_delay))
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        return float(min(self.base_delay * (2 ** (attempt - 1)), self.max_delay))


def get_with_retries(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    policy: RetryPolicy,
    what: str,
) -> httpx.Response:
    """GET ``url``; return the 2xx response or raise :class:`SyncHTTPError` naming ``what`` was fetched."""
    last: str = ""
    status: int | None = None
    for attempt in range(1, policy.max_attempts + 1):
        try:
            resp = client.get(url, params=params)
        except httpx.TransportError as exc:
            last, status = f"{type(exc).__name__}: {exc}", None
            retry_after = None
        else:
            if resp.is_success:
                return resp
            status = resp.status_code
            if status in (401, 403):
                raise SyncHTTPError(f"{what}: authentication refused (HTTP {status})", status=status)
            if status not in RETRY_STATUSES:
                raise SyncHTTPError(f"{what}: HTTP {status}: {resp.text[:200]}", status=status)
            last = f"HTTP {status}"
            retry_after = resp.headers.get("Retry-After")
        if attempt < policy.max_attempts:
            policy.sleep(policy.delay(attempt, retry_after))
    raise SyncHTTPError(f"{what}: gave up after {policy.max_attempts} attempts ({last})", status=status)
