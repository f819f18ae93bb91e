"""Migration 0003 on a database that already holds sections (both backends): the new
columns get their defaults, a recompute is requested, PostGIS geometry follows the WKT."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from voirie.server.core.schema import alembic_config, upgrade_to_head

alembic = pytest.importorskip("alembic", reason="Alembic not installed (pip install 'voirie[postgres]')")
from alembic import command  # noqa: E402 - only once Alembic is known to be there

SECTION = ("INSERT INTO sections (section_id, segment_id, source, street, road_class, length_m, width_m, geometry_wkt,"
           " geometry_json, minx, miny, maxx, maxy, frames, damage) VALUES ('r1-0000', 'r1', 'network', '', '', 20, 6,"
           " 'LINESTRING (2.35 48.85, 2.3502 48.85)', '{}', 2.35, 48.85, 2.3502, 48.85, 0, '{}')")


def test_upgrading_a_database_with_sections_to_0003(fresh_database: Callable[[], str], tmp_path: Path):
    engine = create_engine(fresh_database() or f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0002")
            connection.execute(text(SECTION))
        upgrade_to_head(engine)
        with engine.connect() as connection:
            row = connection.execute(text("SELECT damage_total, damage_classes FROM sections")).one()
            dirty = connection.execute(text("SELECT value FROM meta WHERE key = 'conditions_dirty'")).scalar()
            assert tuple(row) == (0, "") and dirty == "1"
            assert connection.execute(text("SELECT COUNT(*) FROM section_overview")).scalar() == 0
            if engine.dialect.name == "postgresql" and connection.execute(
                    text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
                x = connection.execute(text("SELECT ST_X(ST_StartPoint(geom)) FROM sections")).scalar()
                assert x == pytest.approx(2.35 * 20037508.342789244 / 180)  # Web Mercator metres
    finally:
        engine.dispose()
