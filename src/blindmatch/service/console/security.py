"""The console's web security: session cookie, CSRF check, login rate limit, response headers.

Reviewers of abuse reports are a target: a stolen session shows evidence and can ban people. So the console
trusts the browser as little as a server-rendered app can:

* The session cookie is ``HttpOnly`` (scripts cannot read it), ``SameSite=Strict`` (no other site can make the
  browser send it, the first CSRF barrier) and, when the service runs behind TLS, ``Secure`` with the
  ``__Host-`` prefix (the browser then refuses the cookie from plain HTTP, from a sub-domain, or with a path).
* Every POST carries the session's CSRF token, as a form field or, for htmx requests, in ``X-CSRF-Token``; it is
  compared in constant time with the token the facade stored for the session. SameSite alone is not enough:
  older browsers ignore it, and a same-site sub-domain could still forge requests.
* Login attempts are limited per username *and* per client address, so neither guessing one reviewer's password
  from many addresses nor many usernames from one address gets far.
* Responses carry a CSP of ``default-src 'self'`` with no inline script (htmx is configured through a ``<meta>``
  tag, never ``eval``), ``frame-ancestors 'none'`` / ``X-Frame-Options: DENY`` against click-jacking, and
  ``Referrer-Policy: no-referrer`` so case URLs never leak. Console pages and evidence are ``no-store``: a shared
  workstation's cache or the back button after logout must not show a case.

Everything here is independent of the moderation facade; :mod:`.routes` wires it to the facade's sessions.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from blindmatch.service.console.errors import ConsoleError

__all__ = [
    "CSP",
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "MAX_TRACKED",
    "ConsoleConfig",
    "ConsoleSecurityError",
    "CsrfError",
    "LoginRateLimitedError",
    "LoginRateLimiter",
    "NotLoggedInError",
    "check_csrf",
    "new_token",
    "security_headers",
]

CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Before login there is no session to bind a CSRF token to; the login form uses a double-submit cookie instead
#: (a random value both in this cookie and in the form), which stops login CSRF (logging a victim into an
#: attacker's account).
LOGIN_CSRF_COOKIE = "bm_console_login_csrf"

#: ``img-src blob:`` lets console.js show a revealed image fetched by POST (the clear bytes never get a URL the
#: browser could cache or another page could load); everything else comes from this origin only.
#: Above this many tracked usernames + addresses, expired windows are swept on the next failure.
MAX_TRACKED = 10_000

CSP = (
    "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ConsoleSecurityError(ConsoleError):
    """Base class of the console's security refusals."""


class CsrfError(ConsoleSecurityError):
    """A POST came without the session's CSRF token, or with a different one."""


class NotLoggedInError(ConsoleSecurityError):
    """No valid console session (no cookie, unknown or expired session)."""


class LoginRateLimitedError(ConsoleSecurityError):
    """Too many failed logins for this username or from this address; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """How the console sets its cookie and limits logins."""

    #: Behind TLS: ``Secure`` cookies with the ``__Host-`` prefix. Off by default because ``make run`` serves
    #: plain HTTP on loopback, where a Secure cookie would never come back.
    secure_cookies: bool = False
    #: Failed logins allowed per username, and per client address, within ``login_window_seconds``.
    login_failures_per_user: int = 5
    login_failures_per_ip: int = 20
    login_window_seconds: float = 900.0

    @property
    def session_cookie(self) -> str:
        return "__Host-bm_console" if self.secure_cookies else "bm_console"

    @property
    def login_csrf_cookie(self) -> str:
        return f"__Host-{LOGIN_CSRF_COOKIE}" if self.secure_cookies else LOGIN_CSRF_COOKIE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleConfig:
        """``BLINDMATCH_CONSOLE_SECURE_COOKIES=true`` when the service is reached over HTTPS."""
        e = os.environ if env is None else env
        return cls(secure_cookies=_flag(e, "BLINDMATCH_CONSOLE_SECURE_COOKIES"))


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def check_csrf(expected: str | None, presented: str | None) -> None:
    """Raise :class:`CsrfError` unless ``presented`` equals the session's ``expected`` token (constant time)."""
    if not expected:
        raise CsrfError("no CSRF token is bound to this session")
    if not presented:
        raise CsrfError(f"the request carries no CSRF token (form field {CSRF_FORM_FIELD!r} or {CSRF_HEADER} header)")
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        raise CsrfError("the CSRF token does not match this session")


def security_headers() -> dict[str, str]:
    """Headers every console response carries (pages, fragments, evidence images and downloads alike)."""
    return {
        "Content-Security-Policy": CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


class LoginRateLimiter:
    """Sliding-window count of failed logins per username and per client address (in memory, thread-safe).

    In memory because a console is served by one process per deployment in this project; several workers each
    keep their own window, which multiplies the allowance by the worker count but never removes it.
    """

    def __init__(self, config: ConsoleConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._by_user: dict[str, deque[float]] = {}
        self._by_ip: dict[str, deque[float]] = {}

    def _prune(self, window: deque[float], now: float) -> None:
        horizon = now - self._config.login_window_seconds
        while window and window[0] <= horizon:
            window.popleft()

    def _retry_after(self, window: deque[float], now: float) -> int:
        return max(1, int(window[0] + self._config.login_window_seconds - now + 0.999))

    def check(self, username: str, ip: str) -> None:
        """Raise :class:`LoginRateLimitedError` if this username or address has used up its failures."""
        now = self._clock()
        with self._lock:
            user = self._by_user.get(username.lower())
            if user is not None:
                self._prune(user, now)
                if len(user) >= self._config.login_failures_per_user:
                    raise LoginRateLimitedError(
                        "too many failed logins for this username; try again later", self._retry_after(user, now)
                    )
            addr = self._by_ip.get(ip)
            if addr is not None:
                self._prune(addr, now)
                if len(addr) >= self._config.login_failures_per_ip:
                    raise LoginRateLimitedError(
                        "too many failed logins from this address; try again later", self._retry_after(addr, now)
                    )

    def failed(self, username: str, ip: str) -> None:
        now = self._clock()
        with self._lock:
            self._by_user.setdefault(username.lower(), deque()).append(now)
            self._by_ip.setdefault(ip, deque()).append(now)
            if len(self._by_user) + len(self._by_ip) > MAX_TRACKED:
                self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Forget windows with no failure left in them, so guessing many usernames cannot grow memory forever."""
        for table in (self._by_user, self._by_ip):
            for key in list(table):
                self._prune(table[key], now)
                if not table[key]:
                    del table[key]

    def tracked(self) -> int:
        """How many usernames and addresses currently have a window (for tests and monitoring)."""
        with self._lock:
            return len(self._by_user) + len(self._by_ip)

    def succeeded(self, username: str) -> None:
        """A correct password clears the username's failures (not the address's: one good account must not
        reset a guessing run against others from the same address)."""
        with self._lock:
            self._by_user.pop(username.lower(), None)
