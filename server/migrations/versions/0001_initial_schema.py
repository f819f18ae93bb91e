"""Initial schema: the tables as create_all made them before migrations existed
(32-bit INTEGER columns on PostgreSQL; 0002 widens them).

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-06 08:59:08.010499
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('count_bins',
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('line_id', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=64), nullable=False),
    sa.Column('class_name', sa.String(length=32), nullable=False),
    sa.Column('bin_start_utc', sa.DateTime(timezone=True), nullable=False),
    sa.Column('bin_seconds', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('mean_speed_kmh', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('record_id')
    )
    op.create_index(op.f('ix_count_bins_bin_start_utc'), 'count_bins', ['bin_start_utc'], unique=False)
    op.create_index(op.f('ix_count_bins_device_id'), 'count_bins', ['device_id'], unique=False)
    op.create_table('count_cameras',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('camera_id')
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('fleet_models',
    sa.Column('model_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('variant', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('bytes', sa.Integer(), nullable=False),
    sa.Column('manifest_json', sa.Text(), nullable=False),
    sa.Column('uploaded', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('model_id', 'version')
    )
    op.create_table('frames',
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('survey_id', sa.String(length=64), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('time_utc', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('heading_deg', sa.Float(), nullable=True),
    sa.Column('image_width', sa.Integer(), nullable=False),
    sa.Column('image_height', sa.Integer(), nullable=False),
    sa.Column('model_version', sa.String(length=128), nullable=True),
    sa.Column('image_file', sa.String(length=256), nullable=True),
    sa.Column('has_evidence', sa.Boolean(), nullable=False),
    sa.Column('section_id', sa.String(length=96), nullable=True),
    sa.Column('record_json', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('record_id')
    )
    op.create_index(op.f('ix_frames_device_id'), 'frames', ['device_id'], unique=False)
    op.create_index(op.f('ix_frames_section_id'), 'frames', ['section_id'], unique=False)
    op.create_index(op.f('ix_frames_survey_id'), 'frames', ['survey_id'], unique=False)
    op.create_table('meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('section_history',
    sa.Column('section_id', sa.String(length=96), nullable=False),
    sa.Column('survey_id', sa.String(length=64), nullable=False),
    sa.Column('surveyed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pci', sa.Float(), nullable=False),
    sa.Column('grade', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('model_version', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('section_id', 'survey_id')
    )
    op.create_table('sections',
    sa.Column('section_id', sa.String(length=96), nullable=False),
    sa.Column('segment_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('street', sa.String(length=200), nullable=False),
    sa.Column('road_class', sa.String(length=64), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('width_m', sa.Float(), nullable=False),
    sa.Column('geometry_wkt', sa.Text(), nullable=False),
    sa.Column('geometry_json', sa.Text(), nullable=False),
    sa.Column('minx', sa.Float(), nullable=False),
    sa.Column('miny', sa.Float(), nullable=False),
    sa.Column('maxx', sa.Float(), nullable=False),
    sa.Column('maxy', sa.Float(), nullable=False),
    sa.Column('pci', sa.Float(), nullable=True),
    sa.Column('grade', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('surveyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('survey_id', sa.String(length=64), nullable=True),
    sa.Column('model_version', sa.String(length=128), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('damage', sa.JSON(), nullable=False),
    sa.Column('feature_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('section_id')
    )
    op.create_index('ix_sections_bbox', 'sections', ['minx', 'miny', 'maxx', 'maxy'], unique=False)
    op.create_index(op.f('ix_sections_segment_id'), 'sections', ['segment_id'], unique=False)
    op.create_table('detections',
    sa.Column('detection_id', sa.String(length=80), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('class_name', sa.String(length=64), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('x1', sa.Float(), nullable=False),
    sa.Column('y1', sa.Float(), nullable=False),
    sa.Column('x2', sa.Float(), nullable=False),
    sa.Column('y2', sa.Float(), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=True),
    sa.Column('area_m2', sa.Float(), nullable=True),
    sa.Column('review_status', sa.String(length=16), nullable=False),
    sa.Column('reviewed_class', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['frames.record_id'], ),
    sa.PrimaryKeyConstraint('detection_id')
    )
    op.create_index(op.f('ix_detections_record_id'), 'detections', ['record_id'], unique=False)
    op.create_table('fleet_status',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device_time_utc', sa.DateTime(timezone=True), nullable=False),
    sa.Column('skew_s', sa.Float(), nullable=False),
    sa.Column('software_version', sa.String(length=64), nullable=False),
    sa.Column('queue_depth', sa.Integer(), nullable=False),
    sa.Column('oldest_pending_utc', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_fix_utc', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disk_free_bytes', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('heartbeat_json', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('heartbeats',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('skew_s', sa.Float(), nullable=False),
    sa.Column('heartbeat_json', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_heartbeats_device_id'), 'heartbeats', ['device_id'], unique=False)
    op.create_table('ingest_batches',
    sa.Column('batch_id', sa.String(length=128), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('batch_id')
    )
    op.create_table('model_offers',
    sa.Column('offer_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('model_id', sa.String(length=128), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('offer_id')
    )
    op.create_index(op.f('ix_model_offers_device_id'), 'model_offers', ['device_id'], unique=False)
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('detection_id', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('old_class', sa.String(length=64), nullable=False),
    sa.Column('new_class', sa.String(length=64), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['detection_id'], ['detections.detection_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_reviews_detection_id'), 'reviews', ['detection_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reviews_detection_id'), table_name='reviews')
    op.drop_table('reviews')
    op.drop_index(op.f('ix_model_offers_device_id'), table_name='model_offers')
    op.drop_table('model_offers')
    op.drop_table('ingest_batches')
    op.drop_index(op.f('ix_heartbeats_device_id'), table_name='heartbeats')
    op.drop_table('heartbeats')
    op.drop_table('fleet_status')
    op.drop_index(op.f('ix_detections_record_id'), table_name='detections')
    op.drop_table('detections')
    op.drop_index(op.f('ix_sections_segment_id'), table_name='sections')
    op.drop_index('ix_sections_bbox', table_name='sections')
    op.drop_table('sections')
    op.drop_table('section_history')
    op.drop_table('meta')
    op.drop_index(op.f('ix_frames_survey_id'), table_name='frames')
    op.drop_index(op.f('ix_frames_section_id'), table_name='frames')
    op.drop_index(op.f('ix_frames_device_id'), table_name='frames')
    op.drop_table('frames')
    op.drop_table('fleet_models')
    op.drop_table('devices')
    op.drop_table('count_cameras')
    op.drop_index(op.f('ix_count_bins_device_id'), table_name='count_bins')
    op.drop_index(op.f('ix_count_bins_bin_start_utc'), table_name='count_bins')
    op.drop_table('count_bins')
    op.drop_table('api_keys')
