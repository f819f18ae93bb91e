"""Alembic environment: runs on the connection ``voirie.server.core.schema`` hands over,
or, for the ``alembic`` command line, on the configured ``DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from voirie.server.core.schema import is_ours
from voirie.server.models import Base


def _run(connection: Connection) -> None:
    # compare_type: a column whose type changed (INTEGER -> BIGINT) is a migration too.
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                      include_name=is_ours)
    with context.begin_transaction():
        context.run_migrations()


def _run_on_configured_database() -> None:
    from voirie.server.core.config import Settings
    from voirie.server.core.db import make_engine

    with make_engine(Settings()).connect() as connection:
        _run(connection)
        connection.commit()


def _main() -> None:
    handed_over = context.config.attributes.get("connection")
    if handed_over is not None:
        _run(handed_over)
    else:
        _run_on_configured_database()


# Alembic runs this file with its context set up; imported any other way (a test that imports
# every module) there is nothing to migrate.
if hasattr(context, "config"):
    _main()
