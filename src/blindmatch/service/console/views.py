"""Rendering: one Jinja2 environment over ``templates/``, autoescaping on, and the small filters the pages use.

Pages are rendered here and nowhere else so that every HTML response gets the same escaping rules; the
templates never mark user-supplied text safe (file names, report texts and appeal texts come from users).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from blindmatch.service.console.security import security_headers

__all__ = ["FLASH", "TEMPLATE_DIR", "render"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

#: Messages shown after a redirect (``?done=<key>``): a fixed table, so a crafted link cannot put text of its
#: choosing on a reviewer's screen.
FLASH: Mapping[str, str] = {
    "confirm": "Decision recorded: confirmed.",
    "dismiss": "Decision recorded: dismissed as a false positive.",
    "escalate": "Decision recorded: escalated to a supervisor.",
    "enforced": "Enforcement recorded; the statement of reasons is stored.",
    "released": "The notice was released to the user.",
    "appeal": "Appeal decided.",
    "logout": "You are logged out.",
    "hold": "Legal hold placed: no purge or destruction while it lasts.",
    "hold_lifted": "Legal hold lifted; the reason is in the case history.",
    "destroyed": "Evidence destroyed on request; hashes and history are kept.",
    "filed": "Filed with the CyberTipline: the report is finished.",
    "filing": "The CyberTipline filing did not finish; its stored state is shown below.",
    "retracted": "The CyberTipline report was retracted.",
    "staff_disabled": "Account disabled; its sessions have ended.",
    "staff_enabled": "Account enabled again.",
}


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value.replace("T", " ")[:19] + " UTC"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int) -> str:
    step = 1024.0
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < step:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= step
    return f"{value:.1f} GiB"


def _build_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["size"] = _size
    return env


_ENV = _build_env()


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with ``context`` into a response that carries the console's security headers."""
    html = _ENV.get_template(template).render(**context)
    all_headers = security_headers()
    if headers:
        all_headers.update(headers)
    return HTMLResponse(html, status_code=status_code, headers=all_headers)
