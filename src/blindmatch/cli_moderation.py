"""CLI for moderation: ``audit verify|checkpoint|public-key``, ``staff create``, ``moderation ingest|purge``.

Three typer sub-apps for ``cli.py`` to register: ``audit_app`` as ``audit``, ``staff_app`` as ``staff`` and
``moderation_app`` as ``moderation``. Each command opens the service on the configured data directory and
database (``BLINDMATCH_DATA_DIR``, ``BLINDMATCH_DATABASE_URL``) and prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
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


def _read_checkpoints(paths: list[Path]) -> list[Any]:
    """Checkpoints from files holding one JSON object each, or JSON Lines (one per line, as a holder appends)."""
    from blindmatch.moderation.checkpoint import CheckpointError, parse_checkpoint

    out = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read checkpoint file {path}: {exc}")
        try:
            whole = json.loads(text)
            objects = [whole] if isinstance(whole, dict) else None
        except ValueError:
            objects = None
        if objects is None:
            objects = []
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        objects.append(json.loads(line))
                    except ValueError:
                        _fail(f"{path}:{n}: not a JSON checkpoint")
        for obj in objects:
            try:
                out.append(parse_checkpoint(obj))
            except CheckpointError as exc:
                _fail(f"{path}: {exc}")
    return out


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A file of held checkpoints (JSON, or JSON Lines); repeatable. Each must be in the log."),
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="The published checkpoint key (hex); default: this service's own.")
    ] = None,
) -> None:
    """Check every link of the audit chain and the signed head anchor, and that the log still holds every given
    checkpoint; exit 1 naming the first problem."""
    from blindmatch.moderation.checkpoint import public_key_from_hex
    from blindmatch.moderation.errors import ModerationError

    found: list[dict[str, Any]] = []
    try:
        key = public_key_from_hex(public_key) if public_key else None
        held = _read_checkpoints(checkpoint or [])
        if held or key is not None:
            result, checks = _service().audit_verify_checkpoints(held, key)
            found = [
                {"at": c.checkpoint.at, "head": c.checkpoint.head, "seq": c.seq, "ok": c.problem is None}
                for c in checks
            ]
        else:
            result = _service().audit_verify()
    except ModerationError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    report: dict[str, Any] = {
        "ok": result.ok,
        "records": result.records,
        "last_seq": result.last_seq,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem.value if result.problem else None,
        "message": result.message,
    }
    if checkpoint:
        report["checkpoints"] = found
    _emit(report)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[Path | None, typer.Option(help="Also append the checkpoint to this JSON Lines file.")] = None,
) -> None:
    """Sign the log's current head for publication (run it on a schedule; give the output to outside holders).
    It carries no record count, only the time and the head hash; its issue is itself audited."""
    from blindmatch.moderation.errors import ModerationError

    try:
        cp = _service().audit_checkpoint("operator")
    except ModerationError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    line = json.dumps(cp.to_json(), separators=(",", ":"))
    if out is not None:
        with out.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    sys.stdout.write(line + "\n")


@audit_app.command("public-key")
def audit_public_key() -> None:
    """The Ed25519 public key (hex) and key id that verify this service's checkpoints: publish it once."""
    from blindmatch.moderation.checkpoint import key_id, public_key_hex

    key = _service().audit_checkpoint_key()
    _emit({"public_key": public_key_hex(key), "key_id": key_id(key)})


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
