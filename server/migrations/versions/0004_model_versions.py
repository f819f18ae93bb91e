"""Model versions: detections say which model found them, re-analysis keeps its ledger
(``analyses``) and its grades per model version (``model_grades``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detections") as batch:
        batch.add_column(sa.Column("model_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("model_version", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("reanalysed", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_detections_model", "detections", ["reanalysed", "model_id", "model_version"])
    # The device's detections were made by its frame's model: say so on the rows already stored.
    op.execute("UPDATE detections SET model_version = (SELECT frames.model_version FROM frames "
               "WHERE frames.record_id = detections.record_id)")
    op.create_table(
        "analyses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("detections", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["frames.record_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "model_id", "model_version", name="uq_analyses_photo_model"),
    )
    op.create_table(
        "model_grades",
        sa.Column("section_id", sa.String(length=96), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("surveyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pci", sa.Float(), nullable=False),
        sa.Column("grade", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("frames", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("damage", sa.JSON(), nullable=False),
        sa.Column("feature_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["section_id"], ["sections.section_id"]),
        sa.PrimaryKeyConstraint("section_id", "model_id", "model_version"),
    )


def downgrade() -> None:
    op.drop_table("model_grades")
    op.drop_table("analyses")
    op.drop_index("ix_detections_model", table_name="detections")
    with op.batch_alter_table("detections") as batch:
        batch.drop_column("reanalysed")
        batch.drop_column("model_version")
        batch.drop_column("model_id")
