"""Database tables (SQLAlchemy 2 ORM) and the API's Create/Public variants (pydantic).

Types are portable (no SQLite-only column types) so the same models run on PostgreSQL.
Geometry is kept as WKT/GeoJSON text in WGS 84 plus a bounding box for ``bbox`` queries;
metric work happens in memory with shapely + pyproj.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        TypeDecorator, UniqueConstraint, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Aware UTC now (stored times are always UTC)."""
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC (naive on SQLite)."""
        if value is not None and value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {value!r}: times are stored in UTC")
        if value is None or dialect.name != "sqlite":
            return value
        # SQLite stores text without a zone. utcoffset() + replace, not astimezone(): the
        # latter is ~10x slower with pydantic's tzinfo and this runs per row on ingest.
        offset = value.utcoffset()
        return (value - offset if offset else value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# Every integer is 64-bit, as ingest validates them (INT64_MAX): PostgreSQL's INTEGER is
# 32-bit, so a device's disk_free_bytes or a frame sequence past 2**31 would fail there.
# SQLite keeps plain INTEGER (already 64-bit), which an INTEGER PRIMARY KEY needs to autoincrement.
BigInt = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Device(Base):
    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.device_id"))
    accepted: Mapped[int] = mapped_column(BigInt)
    duplicates: Mapped[int] = mapped_column(BigInt)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FrameRow(Base):
    __tablename__ = "frames"
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    survey_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInt)
    time_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    image_width: Mapped[int] = mapped_column(BigInt)
    image_height: Mapped[int] = mapped_column(BigInt)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    image_file: Mapped[str | None] = mapped_column(String(256), nullable=True)
    has_evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    section_id: Mapped[str | None] = mapped_column(String(96), nullable=True, index=True)
    record_json: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DetectionRow(Base):
    __tablename__ = "detections"
    detection_id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<record_id>:<index>"
    record_id: Mapped[str] = mapped_column(String(64), ForeignKey("frames.record_id"), index=True)
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    review_status: Mapped[str] = mapped_column(String(16), default="unreviewed")
    reviewed_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Which model found it. ``reanalysed`` rows come from ``voirie reanalyse`` running another
    # model on the stored photo; the device's own detections (False) alone make the current grades.
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reanalysed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


Index("ix_detections_model", DetectionRow.reanalysed, DetectionRow.model_id, DetectionRow.model_version)


class AnalysisRow(Base):
    """The re-analysis ledger: one row per (photo, model version) analysed, written in the same
    transaction as its detections, so a job resumed after a crash skips what is done."""

    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("record_id", "model_id", "model_version", name="uq_analyses_photo_model"),)
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(String(64), ForeignKey("frames.record_id"))
    model_id: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    detections: Mapped[int] = mapped_column(BigInt)
    analysed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ReviewRow(Base):
    """Audit log of human review: who changed which detection, when, from what to what."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    detection_id: Mapped[str] = mapped_column(String(80), ForeignKey("detections.detection_id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    old_class: Mapped[str] = mapped_column(String(64))
    new_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CountBinRow(Base):
    """Exactly the ``CountBin`` fields plus ``received_at`` (mobility views read this)."""

    __tablename__ = "count_bins"
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(64))
    class_name: Mapped[str] = mapped_column(String(32))
    bin_start_utc: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    bin_seconds: Mapped[int] = mapped_column(BigInt)
    count: Mapped[int] = mapped_column(BigInt)
    mean_speed_kmh: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CountCamera(Base):
    """Where a counting camera stands (set by an admin): its place on the mobility map."""

    __tablename__ = "count_cameras"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Section(Base):
    """A piece of road of about ``section_length_m`` with its current condition."""

    __tablename__ = "sections"
    section_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    segment_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))  # "network", "derived" or "inventory"
    street: Mapped[str] = mapped_column(String(200), default="")
    road_class: Mapped[str] = mapped_column(String(64), default="")
    length_m: Mapped[float] = mapped_column(Float)
    width_m: Mapped[float] = mapped_column(Float)
    geometry_wkt: Mapped[str] = mapped_column(Text)
    geometry_json: Mapped[str] = mapped_column(Text)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    pci: Mapped[float | None] = mapped_column(Float, nullable=True)
    grade: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    surveyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    survey_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)
    frames: Mapped[int] = mapped_column(BigInt, default=0)
    damage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # class -> count
    # Damage as vector tiles carry it, kept with the grade so a tile reads columns, not JSON:
    # the total and the classes as "|a|b|" (a map filter tests one class as a substring).
    damage_total: Mapped[int] = mapped_column(BigInt, default=0)
    damage_classes: Mapped[str] = mapped_column(Text, default="")
    # The section as a GeoJSON Feature, rewritten whenever it is graded: serving the map is
    # then a string join, not 12,500 dict encodings per request.
    feature_json: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_sections_bbox", Section.minx, Section.miny, Section.maxx, Section.maxy)


class SectionOverview(Base):
    """Sections merged along their road into pieces of at least a level's length, for the
    vector tiles' low zooms (a 20 m section is under a pixel there). Rebuilt by every
    recompute; on PostGIS a generated ``geom`` column (migration 0003) indexes it."""

    __tablename__ = "section_overview"
    piece_id: Mapped[str] = mapped_column(String(120), primary_key=True)  # "<level>:<segment_id>:<n>"
    level: Mapped[int] = mapped_column(BigInt)
    segment_id: Mapped[str] = mapped_column(String(64))
    sections: Mapped[int] = mapped_column(BigInt)
    length_m: Mapped[float] = mapped_column(Float)
    geometry_wkt: Mapped[str] = mapped_column(Text)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    pci: Mapped[float | None] = mapped_column(Float, nullable=True)  # length-weighted over graded sections
    grade: Mapped[float | None] = mapped_column(Float, nullable=True)
    grade_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    surveyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # the newest
    damage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # class -> count, summed
    damage_total: Mapped[int] = mapped_column(BigInt, default=0)
    damage_classes: Mapped[str] = mapped_column(Text, default="")


Index("ix_section_overview_bbox", SectionOverview.level, SectionOverview.minx, SectionOverview.miny,
      SectionOverview.maxx, SectionOverview.maxy)


class SectionHistory(Base):
    """Condition of a section per survey: kept for change detection (what got worse)."""

    __tablename__ = "section_history"
    section_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    surveyed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pci: Mapped[float] = mapped_column(Float)
    grade: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ModelGrade(Base):
    """A section's condition from one re-analysing model version (its newest survey's photos
    that this version analysed): what the map shows with ``?model=id@version``."""

    __tablename__ = "model_grades"
    section_id: Mapped[str] = mapped_column(String(96), ForeignKey("sections.section_id"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(128), primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    surveyed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pci: Mapped[float] = mapped_column(Float)
    grade: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(BigInt)
    damage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    feature_json: Mapped[str] = mapped_column(Text)


class Meta(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# ---- API variants -------------------------------------------------------------------

class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    name: str = Field(default="", max_length=200)


class CountCameraPlace(BaseModel):
    """Where a counting camera stands."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CountCameraPublic(BaseModel):
    """A counting camera as the mobility page lists it."""

    camera_id: str
    name: str
    lat: float | None
    lon: float | None
    lines: list[str]
    first_bin_utc: datetime | None
    last_bin_utc: datetime | None


class DevicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    device_id: str
    name: str
    active: bool
    created_at: datetime


class DeviceCreated(DevicePublic):
    token: str = Field(description="shown once; the server keeps only its hash")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "inspector", "admin"]


class ApiKeyPublic(BaseModel):
    """A key as listings show it: never the secret (only its hash is stored)."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: str
    created_at: datetime


class ApiKeyCreated(BaseModel):
    id: int
    name: str
    role: str
    key: str = Field(description="shown once; the server keeps only its hash")


class IngestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["frame_record", "count_bin"]
    record: dict[str, Any]


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_id: str = Field(min_length=1, max_length=128)
    device_id: str = Field(min_length=1, max_length=64)
    records: list[IngestItem]


class IngestResponse(BaseModel):
    batch_id: str
    accepted: list[str]
    duplicates: list[str]
    replayed: bool


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["confirm", "relabel", "reject"]
    new_class: str | None = Field(default=None, min_length=1, max_length=64)
    note: str = Field(default="", max_length=500)


class ReviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    detection_id: str
    action: str
    old_class: str
    new_class: str | None
    reviewer: str
    at: datetime


# ---- fleet: heartbeats, model rollout ------------------------------------------------

class FleetStatus(Base):
    """The latest heartbeat of each device (one row per device, replaced on every heartbeat)."""

    __tablename__ = "fleet_status"
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.device_id"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    device_time_utc: Mapped[datetime] = mapped_column(UtcDateTime)
    skew_s: Mapped[float] = mapped_column(Float)
    software_version: Mapped[str] = mapped_column(String(64))
    queue_depth: Mapped[int] = mapped_column(BigInt)
    oldest_pending_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_fix_utc: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    disk_free_bytes: Mapped[int] = mapped_column(BigInt)
    mode: Mapped[str] = mapped_column(String(16))
    heartbeat_json: Mapped[str] = mapped_column(Text)


class HeartbeatRow(Base):
    """Bounded history of heartbeats per device (``heartbeat_history`` newest are kept)."""

    __tablename__ = "heartbeats"
    id: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.device_id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    skew_s: Mapped[float] = mapped_column(Float)
    heartbeat_json: Mapped[str] = mapped_column(Text)


class FleetModel(Base):
    """A model uploaded for rollout: its manifest, the variant offered and its checksum."""

    __tablename__ = "fleet_models"
    model_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    variant: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInt)
    manifest_json: Mapped[str] = mapped_column(Text)
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ModelOfferRow(Base):
    """One model offered to one device, and what the device reported back."""

    __tablename__ = "model_offers"
    offer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), ForeignKey("devices.device_id"), index=True)
    model_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="offered")  # offered|applied|refused|rolled_back|superseded
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeviceFleetPublic(DevicePublic):
    """A device as the fleet listing shows it: registration plus its latest heartbeat."""

    last_heartbeat_at: datetime | None = None
    skew_s: float | None = Field(default=None, description="device clock minus server receive time")
    software_version: str | None = None
    queue_depth: int | None = None
    oldest_pending_utc: datetime | None = None
    last_fix_utc: datetime | None = None
    disk_free_bytes: int | None = None
    mode: str | None = None
    models: list[dict[str, Any]] = Field(default_factory=list)
    quarantined_records: int = Field(default=0, description="records the device set aside after repeated refusals")
    stale: bool = Field(description="no heartbeat yet, or none for longer than heartbeat_stale_s")


class HeartbeatReply(BaseModel):
    """The server's answer to a heartbeat: its clock, the skew it saw, and maybe an offer."""

    received_at_utc: datetime
    skew_s: float
    offer: dict[str, Any] | None = Field(default=None, description="a ModelOffer record, when one is pending")


class ModelUpload(BaseModel):
    """Step 1 of an upload: the registry manifest and which variant's file will follow."""

    model_config = ConfigDict(extra="forbid")
    manifest: dict[str, Any]
    variant: str | None = Field(default=None, max_length=32, description="default: manifest default_variant")


class FleetModelPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    model_id: str
    version: str
    variant: str
    sha256: str
    bytes: int
    uploaded: bool
    created_at: datetime


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_ids: list[str] | None = Field(default=None, max_length=10_000, description="None: every active device")


class OfferPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    offer_id: str
    device_id: str
    model_id: str
    version: str
    status: str
    detail: str
    created_at: datetime
    updated_at: datetime
