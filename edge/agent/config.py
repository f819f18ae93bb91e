"""Configuration of the unattended edge agent (``voirie edge run --config FILE``).

One TOML file per device. TOML, not YAML: the parser is in the standard library
(``tomllib``), it has no implicit typing (YAML 1.1 reads ``no``/``on`` as booleans and
``08:30`` as a sexagesimal number, which bites hand-edited device configs), and its
``[section]`` layout reads like the systemd and ini files a roads department's IT already
keeps. Validation is pydantic: unknown keys are refused, every number has bounds, and
every error names its key path (``server.heartbeat_s: ...``).

The counting mode reuses the counting config (``voirie count``) as it is: inline under
``[counting.counter]`` or by path (``counting.config_file``, TOML/YAML/JSON).
"""

from __future__ import annotations

import logging
import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from voirie.config import StrictConfig, error_report, report
from voirie.edge.count.config import ConfigError as CountConfigError
from voirie.edge.count.config import CountConfig, load_config, parse_config

logger = logging.getLogger(__name__)

TOKEN_ENV = "VOIRIE_DEVICE_TOKEN"
_ID = r"^[A-Za-z0-9_.-]+$"


class AgentConfigError(ValueError):
    """The agent configuration is invalid: one line per problem, each naming its key."""


class ServerConfig(StrictConfig):
    """Where records go and how hard the device pushes (the sync worker's settings)."""

    url: str = Field(pattern=r"^https?://", description="server base URL, e.g. https://voirie.example.org")
    token_file: Path | None = Field(default=None, description=f"file holding the device token (else ${TOKEN_ENV})")
    heartbeat_s: float = Field(default=60.0, ge=5, le=3600, description="seconds between fleet heartbeats")
    batch_records: int = Field(default=500, ge=1, le=10_000)
    batch_bytes: int = Field(default=1_000_000, ge=10_000, le=50_000_000)
    bandwidth_bytes_per_s: int | None = Field(default=None, ge=1_000, description="upload cap; none = no cap")
    backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=300.0, gt=0, le=86_400)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    poll_s: float = Field(default=2.0, gt=0, le=600, description="how often an empty outbox is looked at")

    @model_validator(mode="after")
    def _verify_backoff(self) -> Self:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self

    def read_token(self) -> SecretStr:
        """The device token from ``token_file`` or the environment; never logged."""
        if self.token_file is not None:
            try:
                token = self.token_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise AgentConfigError(f"server.token_file: cannot read {self.token_file}: {error.strerror}") from None
            if not token:
                raise AgentConfigError(f"server.token_file: {self.token_file} is empty")
            return SecretStr(token)
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise AgentConfigError(f"server: no device token: set server.token_file or ${TOKEN_ENV}")
        return SecretStr(token)


class OutboxConfig(StrictConfig):
    """The local SQLite outbox (records are never dropped; evidence may be, oldest first)."""

    disk_budget_mb: int = Field(default=2048, ge=16, le=1_000_000, description="outbox size limit on disk")
    evidence: bool = Field(default=True, description="queue the blurred JPEG of each survey photo")
    jpeg_quality: int = Field(default=85, ge=30, le=100)


class HealthConfig(StrictConfig):
    """Status file (always) and local HTTP health endpoint (optional, 127.0.0.1 only)."""

    status_interval_s: float = Field(default=5.0, ge=0.2, le=300, description="status file refresh period")
    http_port: int | None = Field(default=None, ge=1, le=65535, description="GET /health on 127.0.0.1:PORT")
    stall_after_s: float = Field(default=120.0, ge=5, le=3600,
                                 description="no frame for this long = unhealthy (and no watchdog ping)")


class LoggingConfig(StrictConfig):
    """Logs go to stderr (journald under systemd); JSON lines for log shippers."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class SurveyModeConfig(StrictConfig):
    """Survey car: camera or recorded video, gpsd or a track file; a photo every ``spacing_m``."""

    camera: str | None = Field(default=None, description="live camera: V4L2 index ('0') or rtsp:// URL")
    video: Path | None = Field(default=None, description="recorded drive (replay), with `track`")
    gpsd: str | None = Field(default=None, pattern=r"^[^:\s]+:\d{1,5}$", description="live GNSS: host:port")
    track: Path | None = Field(default=None, description="NMEA 0183 or GPX file of the recorded drive")
    video_start_utc: datetime | None = Field(default=None, description="UTC time of the video's first frame")
    survey_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=_ID,
                                  description="default: replay: from the track start; live: one per UTC day")
    camera_id: str = Field(default="cam0", min_length=1, max_length=64, pattern=_ID)
    spacing_m: float = Field(default=4.0, ge=0.5, le=100)
    model: str = Field(default="default", min_length=1, description="damage model: default, none, a name or .onnx")
    anonymize_timeout_s: float = Field(default=5.0, gt=0, le=60)
    calibration: Path | None = Field(default=None, description="camera calibration JSON (voirie calibrate): "
                                     "damage sizes in metres and the horizon the anonymizer follows")

    @model_validator(mode="after")
    def _verify_sources(self) -> Self:
        live, replay = (self.camera, self.gpsd), (self.video, self.track)
        if all(v is not None for v in live) and all(v is None for v in replay):
            return self
        if all(v is not None for v in replay) and all(v is None for v in live):
            return self
        raise ValueError("give either camera + gpsd (live) or video + track (replay), not a mix")

    @field_validator("video_start_utc")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("video_start_utc needs a time zone, e.g. 2025-05-14T08:30:00Z")
        return value

    @property
    def live(self) -> bool:
        return self.camera is not None


class CountingModeConfig(StrictConfig):
    """Pole camera: a video source counted into bins by the counting pipeline."""

    source: str = Field(min_length=1, description="video file, camera index ('0') or rtsp:// URL")
    start_utc: datetime | None = Field(default=None, description="video files: UTC time of the first frame")
    config_file: Path | None = Field(default=None, description="a `voirie count` config file")
    counter: dict[str, Any] | None = Field(default=None, description="the counting config, inline")

    @model_validator(mode="after")
    def _one_counter(self) -> Self:
        if (self.config_file is None) == (self.counter is None):
            raise ValueError("give exactly one of config_file or [counting.counter]")
        if self.start_utc is not None and self.start_utc.tzinfo is None:
            raise ValueError("start_utc needs a time zone, e.g. 2025-05-14T08:30:00Z")
        return self

    @property
    def live(self) -> bool:
        return self.source.isdigit() or "://" in self.source

    def count_config(self, device_id: str, source: str = "agent config") -> CountConfig:
        """The validated counting config, with this device's id (a conflicting one is refused)."""
        try:
            if self.config_file is not None:
                loaded = load_config(self.config_file)
            else:  # part of the agent's file: its keys are named by their full path there
                loaded = parse_config(self.counter, source, key_prefix="counting.counter.")
        except CountConfigError as error:
            raise AgentConfigError(str(error)) from None
        if "device_id" in loaded.model_fields_set and loaded.device_id != device_id:
            raise AgentConfigError(report("invalid counting config", [
                f"{source}: counting.counter.device_id: {loaded.device_id!r} differs from the agent's device_id "
                f"{device_id!r} (remove it)"]))
        return loaded.model_copy(update={"device_id": device_id})


class AgentConfig(StrictConfig):
    """Everything one edge box needs to run unattended."""

    mode: Literal["survey", "counting"]
    device_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    state_dir: Path = Field(description="outbox, resume state and status file live here")
    server: ServerConfig | None = Field(default=None, description="none: offline, records wait in the outbox")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    survey: SurveyModeConfig | None = None
    counting: CountingModeConfig | None = None

    @model_validator(mode="after")
    def _mode_section(self) -> Self:
        wanted, other = (self.survey, self.counting) if self.mode == "survey" else (self.counting, self.survey)
        if wanted is None:
            raise ValueError(f"mode is {self.mode!r} but the [{self.mode}] section is missing")
        if other is not None:
            raise ValueError(f"mode is {self.mode!r}: remove the [{'counting' if self.mode == 'survey' else 'survey'}] section")
        return self

    @property
    def status_path(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"


def _resolve(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file paths are relative to the config file, not to the service's cwd."""
    keys = {"state_dir": None, "server": ("token_file",), "survey": ("video", "track", "calibration"),
            "counting": ("config_file",)}
    out = dict(data)
    for key, inner in keys.items():
        if inner is None and isinstance(out.get(key), str):
            out[key] = str(base / out[key])
        elif inner and isinstance(out.get(key), dict):
            section = dict(out[key])
            for name in inner:
                if isinstance(section.get(name), str):
                    section[name] = str(base / section[name])
            out[key] = section
    return out


def parse_agent_config(data: dict[str, Any], source: str = "<dict>", base: Path | None = None) -> AgentConfig:
    """Validate a parsed mapping; ``AgentConfigError`` lists every problem with its key."""
    if base is not None:
        data = _resolve(data, base)
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as error:
        raise AgentConfigError(error_report(error, source, "invalid agent config")) from None
    if config.counting is not None and config.counting.counter is not None:
        # An inline counting config is part of this file: check it now, not at start-up.
        config.counting.count_config(config.device_id, source)
    return config


def load_agent_config(path: Path | str) -> AgentConfig:
    """Read and validate an agent TOML file."""
    path = Path(path)
    if not path.is_file():
        raise AgentConfigError(f"agent config not found: {path}")
    if path.suffix.lower() != ".toml":
        raise AgentConfigError(f"agent config {path} must be a .toml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AgentConfigError(f"cannot parse {path}: {error}") from None
    return parse_agent_config(data, str(path), path.resolve().parent)
