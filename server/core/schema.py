"""The database schema at start: PostgreSQL (and any server database) by Alembic migrations,
SQLite by ``create_all``.

A server database is shared by API workers and outlives releases, so its schema moves only
through reviewed migrations (``server/migrations``). The default SQLite file keeps
``create_all``: zero setup, no Alembic needed on an edge-sized install, and its tables are
the same as revision 0001 (a test checks both against the models).
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.schema import CreateColumn

from voirie.server.models import Base
from voirie.server.spatial import is_postgis_object

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# The schema as ``create_all`` made it before migrations existed.
INITIAL_REVISION = "0001"
# Several API workers may start at once: one upgrades, the others wait (any fixed number).
_UPGRADE_LOCK_KEY = 0x766F6972
# Tables an extension owns (PostGIS's spatial reference list): never ours to migrate or drop.
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})


def is_ours(name: str | None, type_: str, parents: dict) -> bool:
    """Alembic ``include_name`` hook: leave extension tables and the PostGIS-only geometry
    columns (not in the portable models; see ``voirie.server.spatial``) out of comparisons."""
    if type_ == "table" and name in EXTENSION_TABLES:
        return False
    return not is_postgis_object(type_, name, parents)


def prepare_schema(engine: Engine) -> None:
    """Bring the database's tables to what this server version needs."""
    if engine.dialect.name == "sqlite":
        Base.metadata.create_all(engine)
        add_missing_columns(engine)
        return
    upgrade_to_head(engine)


def add_missing_columns(engine: Engine) -> None:
    """Add the columns (and their indexes) a newer server declares to tables an older one made.

    ``create_all`` never alters an existing table, so a SQLite file from before a migration
    that added columns would miss them; each such column is nullable or has a server default.
    """
    with engine.begin() as connection:
        inspector = inspect(connection)
        for table in Base.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing = [column for column in table.columns if column.name not in present]
            if not missing:
                continue
            for column in missing:
                definition = CreateColumn(column).compile(dialect=connection.dialect)
                connection.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN {definition}')
            for index in table.indexes:
                index.create(connection, checkfirst=True)
            logger.info("added columns %s to table %s", [c.name for c in missing], table.name)


def alembic_config(connection: Connection):  # noqa: ANN201 - alembic is an optional import
    """An Alembic config that runs our migrations on ``connection``."""
    try:
        from alembic.config import Config
    except ImportError as error:
        raise RuntimeError("a PostgreSQL database needs Alembic: pip install 'voirie[postgres]'") from error
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration not applied yet, in one transaction."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
        config = alembic_config(connection)
        if _made_before_migrations(connection):
            logger.info("database made before migrations: marking it as revision %s", INITIAL_REVISION)
            command.stamp(config, INITIAL_REVISION)
        command.upgrade(config, "head")


def _made_before_migrations(connection: Connection) -> bool:
    # An older server made the tables with create_all and left no alembic_version behind.
    tables = set(inspect(connection).get_table_names())
    return "alembic_version" not in tables and "sections" in tables
