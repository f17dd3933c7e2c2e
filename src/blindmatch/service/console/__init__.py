"""The moderation console: server-rendered pages (Jinja2 + htmx, no build step) over the moderation facade.

:func:`install_console` is the one call ``create_app`` makes: the routes under ``/console``, the static files
under ``/console/static``, and the per-app runtime (cookie settings, login rate limiter).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from blindmatch.service.console.demo import ensure_demo_case, ensure_demo_staff
from blindmatch.service.console.runtime import ConsoleRuntime
from blindmatch.service.console.security import ConsoleConfig, LoginRateLimiter
from blindmatch.service.deps import AppState
from blindmatch.service.moderation import ModerationService

__all__ = ["STATIC_DIR", "install_console"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def install_console(app: FastAPI, config: ConsoleConfig | None = None) -> None:
    """Add the console to ``app`` (whose state must register ``services["moderation"]``).

    In demo mode (``make run``) it also creates the demo staff accounts and one demo case, so the console can be
    tried at once."""
    config = config or ConsoleConfig.from_env()
    app.state.console = ConsoleRuntime(config=config, limiter=LoginRateLimiter(config))
    state = getattr(app.state, "blindmatch", None)
    if isinstance(state, AppState) and state.settings.demo:
        service = state.services.get("moderation")
        if isinstance(service, ModerationService):
            ensure_demo_staff(service, state.settings.data_dir)
            ensure_demo_case(service, state.settings.data_dir)
    # Imported here, not at module level: the route modules import the reporting adapters, which import this
    # package's errors; importing them lazily keeps ``blindmatch.service.console.errors`` importable on its own.
    from blindmatch.service.console.routes import router
    from blindmatch.service.console.routes_admin import admin_router
    from blindmatch.service.console.routes_case_ops import case_ops_router

    for r in (router, case_ops_router, admin_router):
        app.include_router(r)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
