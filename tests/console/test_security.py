"""The console's security pieces on their own: CSRF comparison, cookie naming, login rate limit, headers."""

from __future__ import annotations

import pytest

from blindmatch.service.console.security import (
    CSP,
    MAX_TRACKED,
    ConsoleConfig,
    CsrfError,
    LoginRateLimitedError,
    LoginRateLimiter,
    check_csrf,
    new_token,
    security_headers,
)


def test_csrf_accepts_only_the_sessions_token() -> None:
    token = new_token()
    check_csrf(token, token)
    with pytest.raises(CsrfError, match="no CSRF token"):
        check_csrf(token, None)
    with pytest.raises(CsrfError, match="no CSRF token"):
        check_csrf(token, "")
    with pytest.raises(CsrfError, match="does not match"):
        check_csrf(token, new_token())
    with pytest.raises(CsrfError, match="bound"):
        check_csrf(None, token)


def test_tokens_are_random_and_long() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 for t in tokens)


def test_secure_cookies_use_the_host_prefix() -> None:
    assert ConsoleConfig().session_cookie == "bm_console"
    secure = ConsoleConfig(secure_cookies=True)
    assert secure.session_cookie.startswith("__Host-")
    assert secure.login_csrf_cookie.startswith("__Host-")
    assert ConsoleConfig.from_env({"BLINDMATCH_CONSOLE_SECURE_COOKIES": "true"}).secure_cookies
    assert not ConsoleConfig.from_env({}).secure_cookies
    with pytest.raises(ValueError, match="BLINDMATCH_CONSOLE_SECURE_COOKIES"):
        ConsoleConfig.from_env({"BLINDMATCH_CONSOLE_SECURE_COOKIES": "maybe"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_per_username_then_window_expires() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(ConsoleConfig(login_failures_per_user=3, login_window_seconds=60), clock)
    for _ in range(3):
        limiter.check("Alice", "10.0.0.1")
        limiter.failed("Alice", "10.0.0.1")
    with pytest.raises(LoginRateLimitedError) as exc:
        limiter.check("alice", "10.0.0.2")  # same user (case-insensitive) from another address
    assert 1 <= exc.value.retry_after <= 60
    limiter.check("bob", "10.0.0.2")  # other users are not locked out
    clock.now += 61
    limiter.check("alice", "10.0.0.1")


def test_rate_limit_per_address_across_usernames() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(ConsoleConfig(login_failures_per_user=100, login_failures_per_ip=4), clock)
    for i in range(4):
        limiter.failed(f"user{i}", "192.0.2.9")
    with pytest.raises(LoginRateLimitedError, match="address"):
        limiter.check("someone-new", "192.0.2.9")
    limiter.check("someone-new", "192.0.2.10")


def test_success_clears_the_username_but_not_the_address() -> None:
    limiter = LoginRateLimiter(ConsoleConfig(login_failures_per_user=2, login_failures_per_ip=3), Clock())
    limiter.failed("carol", "198.51.100.1")
    limiter.failed("carol", "198.51.100.1")
    with pytest.raises(LoginRateLimitedError):
        limiter.check("carol", "198.51.100.2")
    limiter.succeeded("carol")
    limiter.check("carol", "198.51.100.2")
    limiter.failed("dave", "198.51.100.1")
    with pytest.raises(LoginRateLimitedError, match="address"):
        limiter.check("carol", "198.51.100.1")


def test_headers_forbid_inline_script_framing_and_caching() -> None:
    headers = security_headers()
    assert headers["Content-Security-Policy"] == CSP
    assert "default-src 'self'" in CSP
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_expired_windows_are_forgotten_so_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(ConsoleConfig(login_window_seconds=60), clock)
    for i in range(MAX_TRACKED):
        limiter.failed(f"user{i}", "203.0.113.5")
    assert limiter.tracked() == MAX_TRACKED + 1
    clock.now += 61
    limiter.failed("late", "203.0.113.6")  # over the cap: the sweep drops every expired window
    assert limiter.tracked() == 2
