"""Demo staff for ``make run``: an admin, a supervisor and a reviewer, so the console can be tried at once, and
one demo case (a benign stand-in photo "found" by scanning against the demo list) so the queue is not empty.

Passwords are random per data directory and written to ``<data_dir>/demo-console-logins`` (mode 0600), never
printed in logs or fixed in the code: a demo left running on a reachable address must not have known logins.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from blindmatch.moderation.errors import StaffExistsError
from blindmatch.service.demo import default_demo_dir, generated_demo_images
from blindmatch.service.moderation import ModerationService

__all__ = ["DEMO_CASE_MARKER", "DEMO_STAFF", "LOGINS_FILE", "ensure_demo_case", "ensure_demo_staff"]

LOGINS_FILE = "demo-console-logins"
#: Written once the demo case is opened, so a restart does not open another.
DEMO_CASE_MARKER = "demo-console-case"
#: (username, role) of the demo accounts.
DEMO_STAFF: tuple[tuple[str, str], ...] = (
    ("demo-admin", "admin"),
    ("demo-supervisor", "supervisor"),
    ("demo-reviewer", "reviewer"),
)


def _read_logins(path: Path) -> dict[str, str]:
    lines: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.split(maxsplit=1)[0] if line.strip() else ""
            if name and not name.startswith("#"):
                lines[name] = line
    return lines


def ensure_demo_staff(service: ModerationService, data_dir: Path) -> Path:
    """Create the demo accounts that do not exist yet and record their passwords; return the logins file."""
    path = data_dir / LOGINS_FILE
    lines = _read_logins(path)
    created = False
    for username, role in DEMO_STAFF:
        password = secrets.token_urlsafe(15)
        try:
            service.create_staff(username, password, role, actor="demo")
        except StaffExistsError:
            continue
        lines[username] = f"{username} {password} {role}"
        created = True
    if created:
        data_dir.mkdir(parents=True, exist_ok=True)
        body = "# username password role — console at /console/login (demo only)\n" + "\n".join(lines.values()) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        path.chmod(0o600)
        sys.stderr.write(f"demo console logins (admin, supervisor, reviewer) written to {path}\n")
    return path


def _demo_image() -> tuple[str, bytes]:
    directory = default_demo_dir()
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                return path.name, path.read_bytes()
    return generated_demo_images(1)[0]


def ensure_demo_case(service: ModerationService, data_dir: Path) -> int | None:
    """Open one scan case from the first demo stand-in, once per data directory; its id, or None if already done
    (or if the demo list does not match it, which would mean the demo list is missing)."""
    marker = data_dir / DEMO_CASE_MARKER
    if marker.exists() or service.match_media is None:
        return None
    name, data = _demo_image()
    matches = service.match_media(data)
    if not matches:
        return None
    case_id = service.open_from_scan(data, name, list(matches), source="demo", subject_user="demo-user")
    marker.write_text(f"{case_id}\n", encoding="utf-8")
    return case_id
