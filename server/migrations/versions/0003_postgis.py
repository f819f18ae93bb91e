"""PostGIS geometry and the low-zoom overview for vector tiles.

* ``section_overview``: sections merged along their road, rebuilt at every recompute (all
  databases); ``sections.damage_total`` and ``damage_classes`` (what tiles carry).
* On PostgreSQL with PostGIS available: ``geom`` columns in EPSG:3857 generated from
  ``geometry_wkt`` on ``sections`` and ``section_overview``, with GiST indexes (bbox filters,
  ``ST_AsMVT`` tiles). Without PostGIS the server keeps its portable bbox columns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

from voirie.server.spatial import GEOMETRY_COLUMN, GEOMETRY_TABLES, geometry_index_name

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

logger = logging.getLogger(__name__)


def _create_overview() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "section_overview",
        sa.Column("piece_id", sa.String(length=120), nullable=False),
        sa.Column("level", big, nullable=False),
        sa.Column("segment_id", sa.String(length=64), nullable=False),
        sa.Column("sections", big, nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("geometry_wkt", sa.Text(), nullable=False),
        sa.Column("minx", sa.Float(), nullable=False),
        sa.Column("miny", sa.Float(), nullable=False),
        sa.Column("maxx", sa.Float(), nullable=False),
        sa.Column("maxy", sa.Float(), nullable=False),
        sa.Column("pci", sa.Float(), nullable=True),
        sa.Column("grade", sa.Float(), nullable=True),
        sa.Column("grade_max", sa.Float(), nullable=True),
        sa.Column("surveyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("damage", sa.JSON(), nullable=False),
        sa.Column("damage_total", big, nullable=False),
        sa.Column("damage_classes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("piece_id"),
    )
    op.create_index("ix_section_overview_bbox", "section_overview", ["level", "minx", "miny", "maxx", "maxy"])


def _postgis_available() -> bool:
    """PostGIS is there, or can be created here (a savepoint keeps the upgrade going when not)."""
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return False
    if connection.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first() is None:
        logger.warning("PostGIS is not installed: tiles and bbox filters use the portable columns")
        return False
    savepoint = connection.begin_nested()
    try:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except DBAPIError as error:
        savepoint.rollback()
        logger.warning("cannot create the PostGIS extension (%s): ask a superuser to run "
                       "CREATE EXTENSION postgis, then re-run the migration", error.orig)
        return False
    savepoint.commit()
    return True


def _add_damage_columns() -> None:
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("sections", sa.Column("damage_total", big, nullable=False, server_default="0"))
    op.add_column("sections", sa.Column("damage_classes", sa.Text(), nullable=False, server_default=""))
    # The new columns and the overview are filled by a recompute: ask for one on the next read.
    op.execute("DELETE FROM meta WHERE key = 'conditions_dirty'")
    op.execute("INSERT INTO meta (key, value) VALUES ('conditions_dirty', '1')")


def upgrade() -> None:
    _create_overview()
    _add_damage_columns()
    if not _postgis_available():
        return
    for table in GEOMETRY_TABLES:
        # Generated from the WKT the server already writes: no writer has to know about it.
        op.execute(f"ALTER TABLE {table} ADD COLUMN {GEOMETRY_COLUMN} geometry(Geometry, 3857) GENERATED ALWAYS AS "
                   f"(ST_Transform(ST_GeomFromText(geometry_wkt, 4326), 3857)) STORED")
        op.execute(f"CREATE INDEX {geometry_index_name(table)} ON {table} USING gist ({GEOMETRY_COLUMN})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {geometry_index_name('sections')}")
        op.execute(f"ALTER TABLE sections DROP COLUMN IF EXISTS {GEOMETRY_COLUMN}")
    with op.batch_alter_table("sections") as batch:  # SQLite rebuilds the table to drop columns
        batch.drop_column("damage_classes")
        batch.drop_column("damage_total")
    op.drop_index("ix_section_overview_bbox", table_name="section_overview")
    op.drop_table("section_overview")
