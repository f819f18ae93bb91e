"""64-bit integers on PostgreSQL: INTEGER is 32-bit there, while ingest accepts any value
that fits 64 bits (a device's disk_free_bytes past 2 GB was refused with a 500).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

WIDENED = {
    "api_keys": ("id",),
    "ingest_batches": ("accepted", "duplicates"),
    "frames": ("sequence", "image_width", "image_height"),
    "reviews": ("id",),
    "count_bins": ("bin_seconds", "count"),
    "sections": ("frames",),
    "fleet_status": ("queue_depth", "disk_free_bytes"),
    "heartbeats": ("id",),
    "fleet_models": ("bytes",),
}


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine, sequence_type: str) -> None:
    # SQLite's INTEGER is already 64-bit (and its INTEGER PRIMARY KEY must stay INTEGER).
    if op.get_context().dialect.name == "sqlite":
        return
    for table, columns in WIDENED.items():
        for column in columns:
            op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=False)
            if column == "id":  # a SERIAL's sequence has its own type, which caps the ids it hands out
                op.execute(f"ALTER SEQUENCE {table}_id_seq AS {sequence_type}")


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger(), "bigint")


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer(), "integer")
