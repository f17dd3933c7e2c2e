"""Service settings, read once from the environment.

Everything has a safe default so that ``make run`` works on a fresh machine: an embedded SQLite file under
``./var``, no URL fetching (an open URL fetcher is a server-side request forgery hole), and API keys required.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ConfigError", "Settings"]


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of the blindmatch service."""

    data_dir: Path = Path("var")
    database_url: str = ""
    #: Plain API keys given through the environment (hashed in memory); keys made with ``blindmatch keys create``
    #: live hashed in ``data_dir/api-keys``.
    api_keys: tuple[str, ...] = ()
    max_upload_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 100_000_000
    #: Refresh the in-memory indexes from the database at most this often (seconds) on lookups.
    index_refresh_seconds: float = 5.0
    demo: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'blindmatch.sqlite3'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def api_key_file(self) -> Path:
        return self.data_dir / "api-keys"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``BLINDMATCH_*`` environment variables; keyword overrides win."""
        e = dict(os.environ if env is None else env)
        keys = tuple(k.strip() for k in e.get("BLINDMATCH_API_KEYS", "").split(",") if k.strip())
        values: dict[str, object] = {
            "data_dir": Path(e.get("BLINDMATCH_DATA_DIR", "var")),
            "database_url": e.get("BLINDMATCH_DATABASE_URL", ""),
            "api_keys": keys,
            "max_upload_bytes": _int(e, "BLINDMATCH_MAX_UPLOAD_BYTES", 64 * 1024 * 1024),
            "max_pixels": _int(e, "BLINDMATCH_MAX_PIXELS", 100_000_000),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
