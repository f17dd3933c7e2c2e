"""Shared fixtures: the benign data set, and a database URL for each backend the suite runs on.

The data lives outside the repository (``../shared/data``); tests read it in place and never copy it.
PostgreSQL tests use the server on 127.0.0.1:5432 (trust auth). Each test gets a fresh database, dropped after.
Locally, an unreachable PostgreSQL skips those tests naming the missing server; under ``CI=true`` it fails instead,
so a CI run can never pass while silently skipping half the storage suite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the suite once on a clean clone, and a chance failure there blocks a release: under CI=true Hypothesis
# derives each test's examples from the test itself (same inputs every run). Local runs keep fresh random inputs,
# so fuzzing still explores; a failure it finds is printed with a reproduction blob.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("BLINDMATCH_DATA", REPO_ROOT.parent / "shared" / "data"))
PG_ADMIN_URL = os.environ.get("BLINDMATCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The benign evaluation data (``../shared/data``); see its README."""
    if not (SHARED_DATA / "README.md").exists():
        if os.environ.get("CI"):
            pytest.fail(f"benign data set not found at {SHARED_DATA}")
        pytest.skip(f"needs the benign data set at {SHARED_DATA} (external, not in the repo)")
    return SHARED_DATA


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (SQLAlchemy URL); dropped after the test."""
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required in CI: {problem}")
        pytest.skip(f"needs PostgreSQL at {PG_ADMIN_URL} (external service not reachable: {problem})")
    import psycopg

    name = f"bm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_BASE.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'blindmatch.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blindmatch.sqlite3'}"
    else:
        yield request.getfixturevalue("pg_url")
