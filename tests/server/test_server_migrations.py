"""Alembic migrations against real databases (SQLite and PostgreSQL): head equals the models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect

from voirie.server.core.schema import EXTENSION_TABLES, alembic_config, is_ours, upgrade_to_head
from voirie.server.models import Base

alembic = pytest.importorskip("alembic", reason="Alembic not installed (pip install 'voirie[postgres]')")
from alembic import command  # noqa: E402 - only once Alembic is known to be there
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402


@pytest.fixture
def empty_engine(fresh_database: Callable[[], str], tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(fresh_database() or f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    try:
        yield engine
    finally:
        engine.dispose()


def differences(engine: Engine) -> list:
    """What Alembic would still have to change for the database to match the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": is_ours})
        return compare_metadata(context, Base.metadata)


def test_an_empty_database_upgraded_to_head_equals_the_models(empty_engine):
    upgrade_to_head(empty_engine)
    assert differences(empty_engine) == []
    tables = set(inspect(empty_engine).get_table_names()) - EXTENSION_TABLES
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_a_database_made_before_migrations_is_stamped_then_upgraded(empty_engine):
    with empty_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")  # the tables create_all used to make
        connection.exec_driver_sql("DROP TABLE alembic_version")
    if empty_engine.dialect.name == "postgresql":
        assert differences(empty_engine) != []  # 32-bit integers then
    upgrade_to_head(empty_engine)
    assert differences(empty_engine) == []
    if empty_engine.dialect.name == "postgresql":  # ids past 2**31 can be handed out
        with empty_engine.connect() as connection:
            kinds = connection.exec_driver_sql("SELECT DISTINCT data_type FROM information_schema.sequences").all()
        assert kinds == [("bigint",)]


def test_downgrade_to_base_leaves_no_tables(empty_engine):
    upgrade_to_head(empty_engine)
    with empty_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(empty_engine).get_table_names()) - EXTENSION_TABLES == {"alembic_version"}
