"""What the console keeps per app (its config and login limiter) and how a request reaches the facade.

The moderation facade is registered by ``create_app`` as ``services["moderation"]``; the console never builds
its own, so the console, the JSON API and the CLI act on the same cases, sessions and audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from blindmatch.service.console.security import ConsoleConfig, LoginRateLimiter
from blindmatch.service.deps import get_state
from blindmatch.service.moderation import ModerationService

__all__ = ["ConsoleNotConfiguredError", "ConsoleRuntime", "get_moderation", "get_runtime"]


class ConsoleNotConfiguredError(RuntimeError):
    """The app was built without the moderation facade or without :func:`install_console`."""


@dataclass
class ConsoleRuntime:
    config: ConsoleConfig
    limiter: LoginRateLimiter


def get_runtime(request: Request) -> ConsoleRuntime:
    runtime = getattr(request.app.state, "console", None)
    if not isinstance(runtime, ConsoleRuntime):
        raise ConsoleNotConfiguredError("the console was not installed on this app (install_console)")
    return runtime


def get_moderation(request: Request) -> ModerationService:
    service = get_state(request).services.get("moderation")
    if not isinstance(service, ModerationService):
        raise ConsoleNotConfiguredError("no moderation service registered as services['moderation']")
    return service
