"""Alembic environment for blindmatch: generic, targets the shared ``Base.metadata``.

Other packages add their models by importing :class:`blindmatch.service.storage.base.Base` and adding a revision
under ``versions/``; their model modules must be imported in :func:`_load_models` so autogenerate sees them.
"""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import create_engine

from blindmatch.service.storage.base import Base

#: Modules defining ORM models; import failures of optional ones are tolerated.
MODEL_MODULES = (
    "blindmatch.service.storage.models",
    "blindmatch.service.storage.relay",
    "blindmatch.service.detection",
    "blindmatch.service.storage.moderation",
)


def _load_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


_load_models()
target_metadata = Base.metadata
config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    conn = config.attributes.get("connection")
    if conn is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()
        return
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
