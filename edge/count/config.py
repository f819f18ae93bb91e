"""Counting configuration for one pole camera: detector, counting lines, bins, health.

Read once at start-up and validated whole (``voirie count --validate-config``): unknown
keys are refused, every number has bounds and every error names its key path, e.g.
``lines.0.end: start and end must differ``.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from voirie.config import StrictConfig, error_report

logger = logging.getLogger(__name__)

# What the counter reports. Buses are counted with trucks (Telraam's "heavy vehicles").
CLASSES = ("pedestrian", "bicycle", "motorcycle", "car", "truck_bus")
ClassName = Literal["pedestrian", "bicycle", "motorcycle", "car", "truck_bus"]
Point = tuple[float, float]
_ID = r"^[A-Za-z0-9_.-]+$"


class ConfigError(ValueError):
    """The counting configuration is invalid: one line per problem, each with its key path."""


class LineConfig(StrictConfig):
    """A counting line (a segment) with its two named directions.

    ``directions[0]`` is counted when a track moves from the right-hand side of the arrow
    ``start → end`` (as drawn on the screen) to its left-hand side; ``directions[1]`` the
    other way. For a line drawn top to bottom, ``directions[0]`` is left-to-right.
    """

    id: str = Field(min_length=1, max_length=64, pattern=_ID, description="line name in the CountBins")
    start: Point
    end: Point
    coords: Literal["pixel", "ground"] = Field(default="pixel", description="pixels or metres on the ground plane")
    directions: tuple[str, str] = ("in", "out")
    hysteresis: float = Field(default=6.0, ge=0, le=500, description="half-width of the dead band around the line")
    min_travel: float = Field(default=15.0, ge=0, le=5000, description="distance a track must move between sides")
    classes: tuple[ClassName, ...] | None = Field(default=None, description="count only these classes")

    @model_validator(mode="after")
    def _verify_geometry(self) -> Self:
        if self.start == self.end:
            raise ValueError(f"start and end must differ, got {self.start} twice")
        if self.directions[0] == self.directions[1] or not all(d.strip() for d in self.directions):
            raise ValueError(f"directions must be two different non-empty names, got {self.directions}")
        return self


class SizeRule(StrictConfig):
    """Background detector: a blob at most this long and wide (metres) is this class."""

    class_name: ClassName
    max_length_m: float = Field(gt=0, le=40, description="extent along the longer side")
    max_height_ratio: float = Field(default=100.0, gt=0, description="upper bound of height / length")
    min_height_ratio: float = Field(default=0.0, ge=0, description="lower bound of height / length")


# Side-on sizes: length along the road and height; first matching rule wins.
DEFAULT_SIZE_RULES = (
    SizeRule(class_name="pedestrian", max_length_m=1.2, min_height_ratio=1.4),
    SizeRule(class_name="bicycle", max_length_m=2.0),
    SizeRule(class_name="motorcycle", max_length_m=2.9),
    SizeRule(class_name="car", max_length_m=6.8),
    SizeRule(class_name="truck_bus", max_length_m=30.0),
)


class BackgroundDetectorConfig(StrictConfig):
    """Detector for a fixed camera where no model runs: background subtraction + blobs.

    ``history`` is long (60 s at 25 f/s) so a vehicle waiting a few seconds on the line is
    not learnt into the background (which would split the next vehicle passing there).
    """

    type: Literal["background"] = "background"
    method: Literal["mog2", "knn"] = "mog2"
    history: int = Field(default=1500, ge=20, le=20000, description="frames in the background model")
    var_threshold: float = Field(default=25.0, gt=0, le=1000)
    min_area_m2: float = Field(default=0.25, gt=0, le=100, description="smaller blobs are noise")
    size_rules: tuple[SizeRule, ...] = Field(default=DEFAULT_SIZE_RULES, min_length=1)


DEFAULT_COUNT_MODEL = "count-default"  # YOLOX-Nano COCO, shipped in the model zoo (Apache-2.0)


class OnnxDetectorConfig(StrictConfig):
    """A YOLO-format ONNX model with COCO classes (ultralytics or YOLOX layout).

    ``model`` is a registry name (``voirie models list``) or a path to an ONNX file; the
    default is the shipped ``count-default``, so a config without ``[detector]`` counts.
    """

    type: Literal["onnx"] = "onnx"
    model: str = Field(default=DEFAULT_COUNT_MODEL, min_length=1, description="registry name or ONNX file path")
    confidence: float = Field(default=0.3, gt=0, lt=1)
    class_map: dict[str, ClassName] = Field(
        default={
            "person": "pedestrian", "bicycle": "bicycle", "motorcycle": "motorcycle",
            "car": "car", "bus": "truck_bus", "truck": "truck_bus",
        },
        description="model label -> counted class; other labels are ignored",
    )

    @field_validator("model", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value


class TrackerConfig(StrictConfig):
    """ByteTrack settings (the `trackers` library)."""

    lost_track_seconds: float = Field(default=2.0, gt=0, le=60)
    min_consecutive: int = Field(default=2, ge=1, le=30)
    min_iou: float = Field(default=0.1, gt=0, lt=1)
    rider_share: float = Field(default=0.3, gt=0, le=10, description=(
        "a person track is a bicycle/motorcycle when its two-wheeler evidence is at least this share of its "
        "pedestrian evidence"))
    min_mean_confidence: float = Field(default=0.25, ge=0, lt=1, description=(
        "a track whose detections averaged a lower confidence (a roof rack, a shadow) is not counted"))
    settle_seconds: float = Field(default=10.0, ge=0, le=120, description=(
        "a crossing's class is decided when its track ends, or this long after the crossing"))


class HealthConfig(StrictConfig):
    """How a bad stream is recognised: gaps, frozen frames, light changes."""

    max_frame_gap_s: float = Field(default=2.0, gt=0, le=600, description="a longer pause is a gap (no data)")
    frozen_after_s: float = Field(default=30.0, gt=0, le=3600, description="identical frames for this long = frozen")
    min_coverage: float = Field(default=0.5, gt=0, le=1, description="share of a bin observed to report it 'ok'")
    light_change_fraction: float = Field(default=0.6, gt=0, le=1, description="foreground share that means a light change")
    mode_confirm_s: float = Field(default=2.0, ge=0, le=60, description=(
        "leaving IR counts once colour has held this long (a coloured car crossing a grey scene is not a switch)"))
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


DetectorConfig = Annotated[BackgroundDetectorConfig | OnnxDetectorConfig, Field(discriminator="type")]


class CountConfig(StrictConfig):
    """Everything one counting camera needs."""

    device_id: str = Field(default="pole-1", min_length=1, max_length=64, pattern=_ID)
    camera_id: str = Field(default="cam-1", min_length=1, max_length=64, pattern=_ID)
    bin_seconds: int = Field(default=900, ge=60, le=3600, description="aggregation bin (Telraam: 900)")
    detector: DetectorConfig = Field(default_factory=OnnxDetectorConfig)
    detect_width: int = Field(default=640, ge=160, le=3840, description="frames are resized to this width to detect")
    detect_every: int = Field(default=1, ge=1, le=10, description="detect on every k-th frame, track in between")
    pixels_per_metre: float | None = Field(default=None, gt=0, le=1000, description="ground scale until calibrated")
    calibration: Path | None = Field(default=None, description="camera calibration file; replaces pixels_per_metre")
    anchor: Literal["bottom_center", "center"] = "bottom_center"
    lines: tuple[LineConfig, ...] = Field(min_length=1)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    debug_snapshot: bool = Field(default=False, description="keep one anonymized frame per bin (opt-in)")

    @field_validator("detector", mode="before")
    @classmethod
    def _onnx_unless_named(cls, value: Any) -> Any:
        # `[detector]` with only `model = …` means the ONNX detector, the default.
        if isinstance(value, dict) and "type" not in value:
            return {"type": "onnx", **value}
        return value

    @field_validator("bin_seconds")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if 86400 % value:
            raise ValueError(f"bin_seconds must divide a day (e.g. 300, 900, 3600), got {value}")
        return value

    @model_validator(mode="after")
    def _verify_lines(self) -> Self:
        ids = [line.id for line in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError(f"line ids must be unique, got {ids}")
        ground = [line.id for line in self.lines if line.coords == "ground"]
        scaled = self.pixels_per_metre is not None or self.calibration is not None
        if ground and not scaled:
            raise ValueError(f"lines {ground} use ground coordinates: set calibration or pixels_per_metre")
        if self.detector.type == "background" and not scaled:
            raise ValueError("the background detector classifies by size in metres: set calibration or pixels_per_metre")
        return self


def parse_config(data: dict[str, Any], source: str = "<dict>", key_prefix: str = "") -> CountConfig:
    """Validate a parsed config mapping; raise ``ConfigError`` listing every problem
    (``key_prefix``: the section's path when the mapping is part of a larger file)."""
    try:
        return CountConfig.model_validate(data)
    except ValidationError as error:
        # A detector's loc carries the union tag ("background"/"onnx"), which is no key.
        raise ConfigError(error_report(error, source, "invalid counting config", key_prefix=key_prefix,
                                       skip_keys=("background", "onnx"))) from None


def _read_mapping(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError) as error:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"cannot parse {path}: {error}") from None
    raise ConfigError(f"unknown config format {suffix!r} for {path}: use .toml, .json or .yaml")


def load_config(path: Path | str) -> CountConfig:
    """Read and validate a TOML, JSON or YAML counting config file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"counting config not found: {path}")
    data = _read_mapping(path)
    if not isinstance(data, dict):
        raise ConfigError(f"counting config {path} must be a mapping at the top level, got {type(data).__name__}")
    return parse_config(data, str(path))
