"""The blindmatch HTTP service: hashing, matching and list management, plus HMA-compatible routes.

``create_app`` wires the storage, the matcher and the API-key ring into a FastAPI app; the routes live in
:mod:`blindmatch.service.routes_api` (blindmatch's own ``/v1`` API) and :mod:`blindmatch.service.routes_hma`
(the subset of Hasher-Matcher-Actioner's API that lets HMA users switch without rewriting their clients).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from blindmatch import __version__
from blindmatch.hashing.signals import InvalidHashError, UnknownSignalTypeError
from blindmatch.index.errors import MatchIndexError
from blindmatch.lists.errors import ListError
from blindmatch.media import MediaError
from blindmatch.moderation.errors import (
    AppealError,
    AuditChainError,
    AuthenticationError,
    EvidenceIntegrityError,
    EvidencePurgedError,
    InvalidTransitionError,
    LegalHoldError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    SameReviewerError,
    StaffExistsError,
    TwoPersonRuleError,
)
from blindmatch.service.auth import ApiKeyRing
from blindmatch.service.config import Settings
from blindmatch.service.console import install_console
from blindmatch.service.deps import AppState
from blindmatch.service.matching import Matcher, UnknownListError
from blindmatch.service.moderation import ModerationConfig, ModerationService
from blindmatch.service.moderation_intake import match_bytes
from blindmatch.service.routes_api import router as api_router
from blindmatch.service.routes_detection import router as detection_router
from blindmatch.service.routes_hma import router as hma_router
from blindmatch.service.routes_moderation import router as moderation_router
from blindmatch.service.routes_relay import router as relay_router
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.errors import ListExistsError, ListNotFoundError, StorageError
from blindmatch.service.storage.list_store import ListStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)


#: Specific errors and the HTTP status each maps to; the body names the error class and says what was wrong.
#: Order matters only for readability: Starlette picks the most specific class in the exception's MRO.
_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (MediaError, 422),
    (InvalidHashError, 400),
    (UnknownSignalTypeError, 400),
    (ListError, 400),
    (MatchIndexError, 400),
    (ListNotFoundError, 404),
    (UnknownListError, 404),
    (ListExistsError, 409),
    (StorageError, 500),
    (ModerationError, 400),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (StaffExistsError, 409),
    (InvalidTransitionError, 409),
    (TwoPersonRuleError, 409),
    (SameReviewerError, 409),
    (AppealError, 409),
    (LegalHoldError, 409),
    (EvidencePurgedError, 410),
    (EvidenceIntegrityError, 500),
    (AuditChainError, 500),
)


def _error_handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=status)

    return handle


def build_services(settings: Settings) -> tuple[Database, ListStore, Matcher]:
    """Open (and migrate) the database and build the matcher from the last index snapshots."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    store = ListStore(db)
    matcher = Matcher(store, settings.index_dir, refresh_seconds=settings.index_refresh_seconds)
    return db, store, matcher


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    db, store, matcher = build_services(settings)
    if settings.demo:
        from blindmatch.service.demo import ensure_demo

        ensure_demo(store)
    matcher.refresh()
    matcher.save()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        matcher.save()
        db.dispose()

    app = FastAPI(
        title="blindmatch",
        version=__version__,
        summary="Hash, match and manage lists of known abuse imagery (benign stand-ins in the demo).",
        lifespan=lifespan,
    )
    keys = ApiKeyRing.load(settings.api_key_file, settings.api_keys)
    app.state.blindmatch = AppState(
        settings=settings, keys=keys, services={"db": db, "store": store, "matcher": matcher}
    )
    moderation = ModerationService(
        db,
        settings.data_dir,
        ModerationConfig.from_extra(settings.extra),
        match_media=lambda data: match_bytes(matcher, data),
    )
    app.state.blindmatch.services["moderation"] = moderation
    app.state.blindmatch.services["account_guard"] = moderation.is_blocked  # the relay refuses blocked senders
    #: the relay asks the guard again when this changes (an enforcement or appeal decision was just committed)
    app.state.blindmatch.services["account_guard_version"] = lambda: moderation.enforcement_generation
    app.include_router(api_router)
    app.include_router(hma_router)
    app.include_router(relay_router)
    app.include_router(detection_router)
    app.include_router(moderation_router)
    install_console(app)  # /console pages and /console/static

    for exc_class, status in _ERROR_STATUS:
        app.add_exception_handler(exc_class, _error_handler(status))
    return app
