"""``Database``: one engine and session factory for a URL, plus programmatic Alembic migrations.

SQLite is the default (one file, nothing to run); each connection gets WAL journaling (readers do not block the
writer), foreign keys on (SQLite leaves them off by default, which would silently keep orphan rows) and a busy
timeout (a second writer waits instead of failing at once). PostgreSQL is used through psycopg 3.

Migrations ship inside the package (``migrations/``) and are run with Alembic's API, so an installed package can
create or upgrade its schema without an ``alembic.ini``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from blindmatch.service.storage.errors import DatabaseURLError, MigrationError

__all__ = ["MIGRATIONS_DIR", "SQLITE_BUSY_TIMEOUT_MS", "Database", "normalize_url"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
_MIGRATION_LOCK_ID = 0x626C696E64  # "blind"


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://``/``postgres://`` URLs get the psycopg 3 driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError as exc:
        raise DatabaseURLError(f"cannot parse database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise DatabaseURLError(f"use the psycopg driver (postgresql+psycopg://), got {parsed.drivername}")
        return parsed
    if backend == "sqlite":
        return parsed
    raise DatabaseURLError(f"unsupported database backend {backend!r}: use sqlite:/// or postgresql+psycopg://")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite only opens a transaction before DML, so DDL (migrations) would autocommit statement by statement
    # and a failed or concurrent migration could leave half a schema. We emit BEGIN ourselves instead.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


_IMMEDIATE = "blindmatch_sqlite_begin_immediate"


def _sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Engine + session factory for one database URL."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            db = self.url.database
            if not db or db == ":memory:":
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"] = {"check_same_thread": False}
            else:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on normal exit, rolled back on any exception."""
        with self.session_factory() as s, s.begin():
            yield s

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%"))
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (default: the newest) with Alembic."""
        from alembic import command

        cfg = self._alembic_config()
        try:
            # SQLite: BEGIN IMMEDIATE takes the write lock first, so concurrent migrators wait for each other.
            with self.engine.connect().execution_options(**{_IMMEDIATE: True}) as conn, conn.begin():
                if self.is_postgresql:
                    # Two processes starting at once must not both create the tables: serialise migrations.
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise MigrationError(f"migration to {revision} failed: {exc}") from exc

    def head_revision(self) -> str | None:
        """The newest revision shipped with the package (what :meth:`migrate` upgrades to)."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def table_names(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        self.engine.dispose()
