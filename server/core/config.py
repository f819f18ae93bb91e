"""Server settings read from the environment (pydantic-settings), one ``Settings`` per app.

``DATABASE_URL`` is read as is (the usual name for it); every other setting is
``VOIRIE_<NAME>``. The default database is one SQLite file (WAL) in the data directory,
so a roads department can start with zero setup and move to PostgreSQL by changing one URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Everything the server needs to run; every field has bounds and a description."""

    model_config = SettingsConfigDict(env_prefix="VOIRIE_", extra="forbid")

    data_dir: Path = Field(default=Path("data"), description="where the database and evidence live")
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "VOIRIE_DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; empty means sqlite:///<data_dir>/voirie.sqlite3",
    )
    section_length_m: float = Field(default=20.0, gt=1, le=1000, description="length of a road section")
    match_tolerance_m: float = Field(default=15.0, gt=0, le=200, description="max frame-to-section distance")
    heading_tolerance_deg: float = Field(default=45.0, gt=0, le=90, description="max frame vs road bearing gap")
    default_width_m: float = Field(default=6.0, gt=0, le=100, description="road width when the network has none")
    frame_footprint_m: float = Field(default=4.0, gt=0, le=50, description="road length one frame covers")
    metric_crs: str | None = Field(default=None, description="metric CRS (e.g. EPSG:2154); default: UTM zone")
    evidence_max_bytes: int = Field(default=512_000, gt=1000, le=20_000_000, description="evidence JPEG cap")
    max_batch_records: int = Field(default=5000, gt=0, le=100_000, description="records per ingest batch")
    max_body_bytes: int = Field(default=64_000_000, gt=1000, description="ingest body cap after gunzip")
    max_detections_per_record: int = Field(
        default=1000, ge=1, le=100_000,
        description="detections one frame record may carry (more is refused with 422; bounds export memory)")
    evidence_max_pixels: int = Field(default=40_000_000, ge=10_000, le=200_000_000,
                                     description="decoded pixels an evidence JPEG may have (decompression bombs)")
    tile_url: str | None = Field(default=None, description="optional raster tile URL template for the map")
    tile_attribution: str = Field(default="", max_length=300)
    map_tiles_from_sections: int = Field(
        default=10_000, ge=0, le=100_000_000,
        description="past this many sections the map page draws vector tiles (/tiles) instead of one GeoJSON")
    tile_cache_mb: float = Field(default=64.0, ge=0, le=65_536, description="memory for rendered vector tiles (0: none)")
    max_request_bytes: int = Field(default=1_000_000, gt=1000, description="body cap of other write endpoints")
    import_max_bytes: int = Field(default=2_000_000_000, gt=1000, description="body cap of admin bulk uploads: state restore, road network")
    heartbeat_max_bytes: int = Field(default=64_000, gt=1000, le=10_000_000, description="heartbeat body cap")
    heartbeat_stale_s: float = Field(default=600.0, gt=0, description="no heartbeat for this long: stale")
    heartbeat_history: int = Field(default=500, ge=1, le=100_000, description="heartbeats kept per device")
    model_max_bytes: int = Field(default=512_000_000, gt=1000, description="largest ONNX an admin may upload")
    device_rate_per_s: float = Field(default=100.0, gt=0, description="device requests per second (sustained)")
    device_rate_burst: int = Field(default=500, ge=1, description="device requests allowed in a burst")
    public_read: bool = Field(default=True, description="reads without a viewer key (map for the public)")
    public_photos: bool = Field(default=False, description="evidence photos without a viewer key (needs public_read)")
    api_docs: bool = Field(default=False, description="serve the Swagger UI at /docs (loads scripts from a CDN)")
    bootstrap_admin_key: str | None = Field(
        default=None, min_length=24, description="admin API key created at start if missing (first run)"
    )

    @field_validator("tile_url")
    @classmethod
    def _http_tiles(cls, value: str | None) -> str | None:
        from voirie.server.core.headers import tile_source

        tile_source(value)  # the CSP names its origin, so it must have one
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'voirie.sqlite3').resolve()}"
        return self

    @property
    def models_dir(self) -> Path:
        """Folder of ONNX files uploaded for rollout, one per model name and version."""
        return self.data_dir / "models"

    @property
    def evidence_dir(self) -> Path:
        """Folder of blurred evidence JPEGs, one per frame record id."""
        return self.data_dir / "evidence"
