"""Private detection routes (``/relay/v1/detection/...``).

Public: ``GET /table`` (the signed blinded table, bytes), ``GET /trust`` (the custodian's public key; clients pin
it out of band and must not take it from here on trust), ``GET /config`` (protocol parameters).
Device-authenticated: ``POST /vouchers`` (one voucher, raw bytes). Its answer is the same whether the voucher
opened or not (``202 {"accepted": true}``): anything else would tell a client which of its images are listed.
With a blinded receipt request (header ``X-Blindmatch-Receipt-Request``) from a consenting, unblocked account the
answer also carries ``"receipt"``: the blind upload receipt ``POST /relay/v1/attachments`` requires
(:mod:`blindmatch.messaging.receipts`). ``POST /unchecked`` issues one for media the client cannot check (videos),
and counts it; ``GET /receipt-key`` is the key receipts are issued under.
Service API key: ``GET /events`` (threshold events with verified matches), ``GET /stats`` (totals over all
accounts), ``POST /refresh`` (rebuild the table now if the lists changed).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, BackgroundTasks, Depends, Header, HTTPException, Query, Request, Response

from blindmatch.messaging.crypto.encoding import b64d, b64e
from blindmatch.messaging.errors import EncodingError
from blindmatch.messaging.receipts import RECEIPT_REQUEST_HEADER, ReceiptError
from blindmatch.privacy.errors import DuplicateShareError, DuplicateVoucherError, PrivacyError, WrongTableError
from blindmatch.service.deps import ApiKey, AppState, get_state
from blindmatch.service.detection import DetectionKeys, DetectionService, account_name, config_json, detection_config
from blindmatch.service.matching import Matcher
from blindmatch.service.routes_relay import Device, Relay, RelayServices, account_blocked, open_moderation_cases
from blindmatch.service.storage.database import Database
from blindmatch.service.storage.list_store import ListStore
from blindmatch.service.storage.relay import AuthenticatedDevice

__all__ = ["DemoDetectionRelay", "demo_detection_relay", "get_detection", "in_process_detection_relay", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/relay/v1/detection", tags=["detection"])
_BUILD_LOCK = threading.Lock()
TABLE_ID_HEADER = "X-Blindmatch-Table-Id"


def get_detection(state: Annotated[AppState, Depends(get_state)]) -> DetectionService:
    """The detection service, built on first use (which builds or loads the table) from the app's services."""
    svc = state.services.get("detection")
    if svc is None:
        with _BUILD_LOCK:
            svc = state.services.get("detection")
            if svc is None:
                db, store, matcher = state.services["db"], state.services["store"], state.services["matcher"]
                assert isinstance(db, Database) and isinstance(store, ListStore) and isinstance(matcher, Matcher)
                svc = DetectionService(
                    db, store, matcher, state.settings.data_dir / "detection", detection_config(state.settings.extra)
                )
                state.services["detection"] = svc
    assert isinstance(svc, DetectionService)
    return svc


Detection = Annotated[DetectionService, Depends(get_detection)]


@router.get("/table")
def table(detection: Detection) -> Response:
    detection.refresh()
    t = detection.table
    return Response(
        t.table_bytes,
        media_type="application/octet-stream",
        headers={TABLE_ID_HEADER: t.table_id.hex(), "Cache-Control": "no-cache"},
    )


@router.get("/trust")
def trust(detection: Detection) -> dict[str, str]:
    return detection.trust()


@router.get("/config")
def config(detection: Detection) -> dict[str, Any]:
    return config_json(detection.config)


def _receipt_request(raw: str | None) -> bytes | None:
    if raw is None:
        return None
    try:
        return b64d(raw, field="receipt request", length=32)
    except EncodingError as exc:
        raise HTTPException(400, f"ReceiptError: {exc}") from None


async def _may_upload(request: Request, relay: RelayServices, device: AuthenticatedDevice) -> bool:
    """Receipts go only to accounts that could use them: consenting and not blocked."""
    granted, policy, _ = await asyncio.to_thread(relay.store.consent, device.user_id)
    from blindmatch.messaging.relay import CONSENT_POLICY_VERSION

    if not (granted and policy == CONSENT_POLICY_VERSION):
        return False
    return await account_blocked(request.app.state.blindmatch, device.user_id) is None


def _issue(relay: RelayServices, blinded: bytes) -> str:
    try:
        return b64e(relay.receipts.issue(blinded))
    except ReceiptError as exc:
        raise HTTPException(400, f"ReceiptError: {exc}") from None


@router.post("/vouchers", status_code=202)
async def voucher(
    detection: Detection,
    relay: Relay,
    device: Device,
    request: Request,
    background: BackgroundTasks,
    receipt_request: Annotated[str | None, Header(alias=RECEIPT_REQUEST_HEADER)] = None,
) -> dict[str, Any]:
    """Take one voucher from a device. 400 malformed, 409 replayed or made against a retired table.

    The answer (and the receipt in it) does not depend on whether the voucher opened."""
    blinded = _receipt_request(receipt_request)
    limit = detection.config.voucher_bytes
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise HTTPException(413, f"VoucherTooLarge: a voucher is exactly {limit} bytes")
    try:
        outcome = await asyncio.to_thread(detection.receive, account_name(device.user_id, device.device_id), bytes(buf))
    except WrongTableError as exc:
        raise HTTPException(409, f"WrongTableError: {exc}; fetch the current table") from None
    except (DuplicateVoucherError, DuplicateShareError) as exc:
        raise HTTPException(409, f"{type(exc).__name__}: {exc}") from None
    except PrivacyError as exc:
        raise HTTPException(400, f"{type(exc).__name__}: {exc}") from None
    out: dict[str, Any] = {"accepted": True}
    if blinded is not None and await _may_upload(request, relay, device):
        out["receipt"] = _issue(relay, blinded)
    if outcome.event is not None and outcome.event.matches:
        # Open the moderation case after the answer is sent: the answer's timing must not tell the sender that
        # their account just crossed the threshold.
        background.add_task(open_moderation_cases, request.app.state.blindmatch)
    return out


@router.post("/unchecked")
async def unchecked(
    relay: Relay,
    device: Device,
    request: Request,
    receipt_request: Annotated[str | None, Header(alias=RECEIPT_REQUEST_HEADER)] = None,
) -> dict[str, Any]:
    """An upload receipt for media the client cannot check (videos: private video matching is not built).

    Counted per account, so the moderation side can see who uploads unchecked media (and how much)."""
    blinded = _receipt_request(receipt_request)
    if blinded is None:
        raise HTTPException(400, f"ReceiptError: the {RECEIPT_REQUEST_HEADER} header is required")
    if not await _may_upload(request, relay, device):
        raise HTTPException(403, "ReceiptRefused: the account has no media consent or is blocked")
    account = account_name(device.user_id, device.device_id)
    relay.unchecked[account] += 1
    log.info("upload receipt for unchecked media issued to %s", account)
    return {"receipt": _issue(relay, blinded)}


@router.get("/receipt-key")
def receipt_key(relay: Relay) -> dict[str, str]:
    """The relay's receipt public key ``K = k·G`` (clients pin it on first use)."""
    return {"public_key": b64e(relay.receipts.public_key), "suite": "ristretto255-VOPRF-DLEQ"}


@router.get("/events")
def events(
    detection: Detection,
    _: ApiKey,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"events": detection.events(after=after, limit=limit)}


@router.get("/stats")
def stats(detection: Detection, relay: Relay, _: ApiKey) -> dict[str, Any]:
    out = detection.stats()
    out["unchecked_receipts"] = dict(relay.unchecked)
    return out


@router.post("/refresh")
def refresh(detection: Detection, _: ApiKey) -> dict[str, Any]:
    rebuilt = detection.refresh()
    t = detection.table
    return {"rebuilt": rebuilt, "list_version": t.list_version, "entries": t.entries, "table_id": t.table_id.hex()}


def in_process_detection_relay(
    data_dir: Path,
    *,
    api_key: str,
    threshold: int = 10,
    synthetic_probability: float = 0.02,
    demo_images: Path | None = None,
    database_url: str = "",
) -> httpx.ASGITransport:
    """A relay app (fresh SQLite under ``data_dir`` unless ``database_url``) with detection configured, the
    service API key ``api_key``, and, if ``demo_images`` is given, the demo list of those benign stand-ins."""
    from blindmatch.service.app import create_app
    from blindmatch.service.config import Settings

    settings = Settings(
        data_dir=Path(data_dir),
        database_url=database_url,
        api_keys=(api_key,),
        extra={"detection_threshold": str(threshold), "detection_synthetic_probability": str(synthetic_probability)},
    )
    app = create_app(settings)
    if demo_images is not None:
        from blindmatch.service.demo import ensure_demo

        services = app.state.blindmatch.services
        ensure_demo(services["store"], Path(demo_images))
        services["matcher"].refresh()
    return httpx.ASGITransport(app=app)


@dataclass(frozen=True)
class DemoDetectionRelay:
    """What ``run_demo`` needs to show private detection: the relay, the key to pin, the moderator's API key."""

    transport: httpx.ASGITransport
    custodian_key_hex: str
    api_key: str


def demo_detection_relay(data_dir: Path, listed_images: Path | None, *, threshold: int = 3) -> DemoDetectionRelay:
    """An in-process relay for ``blindmatch demo`` with the demo list of ``listed_images`` (benign stand-ins) and a
    low threshold; the custodian key is read from its file, as an operator would publish it out of band."""
    api_key = secrets.token_urlsafe(24)
    transport = in_process_detection_relay(
        data_dir, api_key=api_key, threshold=threshold, synthetic_probability=0.0, demo_images=listed_images
    )
    key = DetectionKeys.load_or_create(Path(data_dir) / "detection").public_hex
    return DemoDetectionRelay(transport, key, api_key)
