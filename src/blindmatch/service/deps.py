"""Request-scoped access to the service's shared state, and the API-key guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from blindmatch.service.auth import ApiKeyRing
from blindmatch.service.config import Settings

__all__ = ["AppState", "get_state", "require_api_key"]


@dataclass
class AppState:
    """Everything the routes share; built once by :func:`blindmatch.service.app.create_app`."""

    settings: Settings
    keys: ApiKeyRing
    services: dict[str, object]


def get_state(request: Request) -> AppState:
    state = request.app.state.blindmatch
    assert isinstance(state, AppState)
    return state


def require_api_key(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """Accept ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; return the key's label."""
    state = get_state(request)
    presented = x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Authorization header must be 'Bearer <api key>'")
        presented = token
    label = state.keys.check(presented)
    if label is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid API key is required (Authorization: Bearer <key> or X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return label


ApiKey = Annotated[str, Depends(require_api_key)]
State = Annotated[AppState, Depends(get_state)]
