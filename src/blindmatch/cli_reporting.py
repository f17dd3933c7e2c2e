"""CLI for reporting: ``report transparency --year`` and ``report export``.

A typer sub-app for ``cli.py`` (registered as ``report``). Both commands open the service on the configured data
directory and database (``BLINDMATCH_DATA_DIR``, ``BLINDMATCH_DATABASE_URL``) like the moderation commands.
``export`` acts as a staff member: it authenticates them (password from ``BLINDMATCH_STAFF_PASSWORD`` or a
prompt), so the export is checked against their role and recorded under their name in the audit log.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["report_app"]

report_app = typer.Typer(no_args_is_help=True, help="Reports to authorities and the yearly transparency report.")

EXIT_ERROR = 2


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def _as_staff(user: str) -> tuple[Any, Any, Any]:
    """The moderation service, the authenticated staff member (password from BLINDMATCH_STAFF_PASSWORD or a
    prompt, never an argument) and the settings; exits 2 on a wrong name or password."""
    from blindmatch.cli_moderation import _service
    from blindmatch.service.config import Settings

    password = os.environ.get("BLINDMATCH_STAFF_PASSWORD") or typer.prompt("password", hide_input=True)
    service = _service()
    staff = service.authenticate(user, password)
    if staff is None:
        _fail(f"wrong user name or password for {user!r}")
    return service, staff, Settings.from_env()


@report_app.command("transparency")
def report_transparency(
    year: Annotated[int, typer.Option(help="Calendar year the report covers.")],
    out: Annotated[Path, typer.Option(help="Directory for transparency-<year>.html and .csv.")] = Path("reports"),
    service_name: Annotated[str, typer.Option(help="Service name printed in the report.")] = "blindmatch",
) -> None:
    """Matches, reviews, confirmations and false positives per technology, reports per recipient, actions, appeals
    and reversals, retention policy: HTML with charts, and CSV (EU 2021/1232 art. 3(1)(g)(vii), DSA art. 15)."""
    from blindmatch.cli_moderation import _service
    from blindmatch.reporting.commands import write_transparency_report
    from blindmatch.reporting.errors import ReportingError
    from blindmatch.reporting.from_moderation import figures_from_year_stats

    if not 1970 <= year <= 9999:
        _fail(f"--year must be a calendar year, got {year}")
    from blindmatch.moderation.checkpoint import public_key_hex

    service = _service()
    stats = service.year_stats(year)
    try:
        figures = figures_from_year_stats(
            stats,
            stats.reports_by_recipient,
            service_name=service_name,
            audit_checkpoint_key=public_key_hex(service.audit_checkpoint_key()),
        )
        written = write_transparency_report(year, figures, out)
    except ReportingError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    sys.stdout.write(json.dumps({"html": str(written.html), "csv": str(written.csv)}) + "\n")


@report_app.command("export")
def report_export(
    case_id: Annotated[int, typer.Argument(help="A confirmed case.")],
    user: Annotated[str, typer.Option(help="Staff member exporting (needs the export permission).")],
    recipient: Annotated[str, typer.Option(help="cybertipline, eu-centre or uk-nca.")] = "cybertipline",
    out: Annotated[Path, typer.Option(help="Directory for the exported document (mode 0600).")] = Path("reports"),
) -> None:
    """Write a confirmed case's report document for one recipient (nothing is sent; the export is audited)."""
    from blindmatch.moderation.errors import ModerationError
    from blindmatch.service.console.errors import ExportError, ExportUnavailableError
    from blindmatch.service.console.export import ReportingSettings, export_case_report

    service, staff, settings = _as_staff(user)
    try:
        exported = export_case_report(
            service, staff, case_id, recipient, ReportingSettings.from_extra(settings.extra, demo=settings.demo)
        )
    except (ExportError, ExportUnavailableError, ModerationError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / exported.filename
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(exported.content)
    sys.stdout.write(json.dumps({"path": str(path), "bytes": len(exported.content)}) + "\n")


@report_app.command("submit")
def report_submit(
    case_id: Annotated[int, typer.Argument(help="A confirmed case.")],
    user: Annotated[str, typer.Option(help="Staff member filing (needs the export permission).")],
    allow_resubmit: Annotated[
        bool, typer.Option(help="After a person checked an ambiguous /submit: submit again.")
    ] = False,
) -> None:
    """File a confirmed case with the CyberTipline (or resume its filing) up to 'finished'; sets the legal hold.

    Credentials and URL from BLINDMATCH_CYBERTIP_USERNAME / _PASSWORD / _URL (default: NCMEC's test host); the
    production host is refused unless BLINDMATCH_CYBERTIP_ALLOW_PRODUCTION=true."""
    from blindmatch.moderation.errors import ModerationError
    from blindmatch.reporting.errors import ReportingError
    from blindmatch.service.console.errors import ExportError, ExportUnavailableError
    from blindmatch.service.console.export import ReportingSettings
    from blindmatch.service.report_submission import CyberTipSettings, submit_case_report

    service, staff, settings = _as_staff(user)
    try:
        sub = submit_case_report(
            service,
            staff,
            case_id,
            ReportingSettings.from_extra(settings.extra, demo=settings.demo),
            CyberTipSettings.from_extra(settings.extra),
            allow_resubmit=allow_resubmit,
        )
    except (ExportError, ExportUnavailableError, ModerationError, ReportingError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    sys.stdout.write(json.dumps({"case": case_id, "state": sub.state.value, "report_id": sub.report_id}) + "\n")
