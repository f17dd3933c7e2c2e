"""CLI for moderation: ``audit verify``, ``staff create``, ``moderation ingest``, ``moderation purge``.

Three typer sub-apps for ``cli.py`` to register: ``audit_app`` as ``audit``, ``staff_app`` as ``staff`` and
``moderation_app`` as ``moderation``. Each command opens the service on the configured data directory and
database (``BLINDMATCH_DATA_DIR``, ``BLINDMATCH_DATABASE_URL``) and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

__all__ = ["audit_app", "moderation_app", "staff_app"]

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained moderation audit log.")
staff_app = typer.Typer(no_args_is_help=True, help="Moderation staff accounts (console logins).")
moderation_app = typer.Typer(no_args_is_help=True, help="Moderation jobs: ingest detections, purge evidence.")


@audit_app.callback()
def _audit_group() -> None:
    """The hash-chained moderation audit log (a group even with one command, so ``audit verify`` always works)."""


@staff_app.callback()
def _staff_group() -> None:
    """Moderation staff accounts (console logins)."""


EXIT_FAILED = 1
EXIT_ERROR = 2


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")


def _service() -> Any:
    from blindmatch.service.config import Settings
    from blindmatch.service.moderation import ModerationConfig, ModerationService
    from blindmatch.service.storage.database import Database

    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    return ModerationService(db, settings.data_dir, ModerationConfig.from_extra(settings.extra))


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every link of the audit chain and the signed head anchor; exit 1 naming the first bad record."""
    from blindmatch.moderation.errors import ModerationError

    try:
        result = _service().audit_verify()
    except ModerationError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    _emit(
        {
            "ok": result.ok,
            "records": result.records,
            "last_seq": result.last_seq,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem.value if result.problem else None,
            "message": result.message,
        }
    )
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@staff_app.command("create")
def staff_create(
    username: Annotated[str, typer.Argument(help="Login name (a-z, 0-9, '.', '_', '-').")],
    role: Annotated[str, typer.Option(help="reviewer, supervisor or admin.")] = "reviewer",
) -> None:
    """Create a staff account. The password is read from BLINDMATCH_STAFF_PASSWORD or prompted (never an argument:
    arguments end up in shell history and process lists)."""
    from blindmatch.moderation.errors import ModerationError

    password = os.environ.get("BLINDMATCH_STAFF_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        staff = _service().create_staff(username, password, role, actor="cli")
    except ModerationError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    _emit({"id": staff.id, "username": staff.username, "role": staff.role.value})


@moderation_app.command("ingest")
def moderation_ingest() -> None:
    """Open cases from new threshold events and relay reports (idempotent: run it as often as you like)."""
    r = _service().ingest()
    _emit(
        {
            "opened": list(r.case_ids),
            "threshold_events": r.threshold_events,
            "relay_reports": r.relay_reports,
            "errors": list(r.errors),
        }
    )


@moderation_app.command("purge")
def moderation_purge(
    now: Annotated[
        str | None, typer.Option(help="Decide as of this ISO time instead of now (it really deletes).")
    ] = None,
) -> None:
    """Delete evidence past its retention period (never under legal hold); each deletion is audited."""
    at = None
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError:
            _fail(f"--now must be an ISO 8601 time, got {now!r}")
    r = _service().purge(at)
    _emit({"purged": list(r.purged), "kept_on_hold": r.kept_on_hold, "checked": r.checked})
