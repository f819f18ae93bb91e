"""The records that cross stage boundaries: capture → anonymize → models → edge → server.

Two kinds live here:

* in-process records that carry pixels or arrays (``Frame``, ``AnonymizedFrame``,
  ``Detections``): frozen dataclasses, never serialised, never leave the device;
* wire records (``GeoFix``, ``Detection``, ``FrameRecord``, ``CountBin``): frozen pydantic
  models with a stable, versioned JSON form. That JSON *is* the sync format between the
  edge outbox and the server, so a field is only ever added with a default.

A ``FrameRecord`` has no pixels by construction: only aggregates and blurred evidence
(written separately, by file name) leave the device.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any, ClassVar, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
# Namespace for deterministic record ids: the same frame or bin always gets the same id,
# so a replayed upload is recognised as a duplicate by the server.
_RECORD_NAMESPACE = uuid.UUID("6f1c2f0e-7a51-4c1e-9d0b-766f69726965")


class RecordError(ValueError):
    """A record's JSON could not be read: names the record kind and what was wrong."""


def refuse_newer_schema(kind: str, version: int, supported: int) -> int:
    """Return ``version``, or refuse a document written by a newer voirie than this one."""
    if version > supported:
        raise ValueError(
            f"{kind} schema version {version} is newer than this software understands "
            f"({supported}); upgrade voirie"
        )
    return version


class WireRecord(BaseModel):
    """Base of every record that is serialised: frozen, unknown keys refused, versioned."""

    # allow_inf_nan=False: a NaN from a sensor or a model is refused, never stored.
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, allow_inf_nan=False)
    kind: ClassVar[str] = "record"

    schema_version: int = Field(default=SCHEMA_VERSION, alias="schema", ge=1)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        return refuse_newer_schema(cls.kind, value, SCHEMA_VERSION)

    def to_json(self) -> str:
        """One line of JSON, with the ``schema`` version first (the sync format)."""
        return self.model_dump_json(by_alias=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Parse one JSON document, raising ``RecordError`` that names the record kind."""
        try:
            return cls.model_validate_json(text)
        except ValueError as error:
            raise RecordError(f"invalid {cls.kind} JSON: {error}") from error


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must be timezone-aware (UTC); got a naive datetime")
    return value.astimezone(timezone.utc)


class FixMode(IntEnum):
    """gpsd's TPV mode: 0/1 no fix, 2 horizontal only, 3 with altitude."""

    UNKNOWN = 0
    NO_FIX = 1
    FIX_2D = 2
    FIX_3D = 3


class GeoFix(WireRecord):
    """One GNSS position fix (WGS 84)."""

    kind: ClassVar[str] = "geofix"

    lat: float = Field(ge=-90, le=90, description="latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees")
    time_utc: datetime
    mode: FixMode = FixMode.FIX_3D
    alt_m: float | None = None
    speed_mps: float | None = Field(default=None, ge=0)
    heading_deg: float | None = Field(default=None, ge=0, lt=360, description="track over ground, true north")
    eph_m: float | None = Field(default=None, ge=0, description="estimated horizontal error, metres (95 %)")
    hdop: float | None = Field(default=None, ge=0)

    @field_validator("time_utc")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return _utc(value)


@dataclass(frozen=True, eq=False)
class Frame:
    """A camera frame as captured: BGR uint8 pixels, times, position and identity.

    Pixels are raw (not anonymized): a ``Frame`` must never be written or sent. Only an
    ``AnonymizedFrame`` may be.
    """

    pixels: np.ndarray
    monotonic_s: float
    time_utc: datetime
    camera_id: str
    sequence: int
    fix: GeoFix | None = None
    distance_m: float | None = None  # along the survey track, when triggered by distance

    def __post_init__(self) -> None:
        _check_image(self.pixels, "Frame.pixels")
        if self.time_utc.tzinfo is None:
            raise ValueError("Frame.time_utc must be timezone-aware (UTC)")
        if self.sequence < 0:
            raise ValueError(f"Frame.sequence must be >= 0, got {self.sequence}")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def _check_image(pixels: Any, name: str) -> None:
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(pixels).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"{name} must be an HxWx3 uint8 BGR image, got shape {pixels.shape} dtype {pixels.dtype}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {pixels.shape}")


@dataclass(frozen=True, eq=False)
class AnonymizedFrame:
    """A ``Frame`` whose pixels have passed the anonymizer: safe to write and send."""

    frame: Frame
    faces_masked: int
    plates_masked: int
    anonymizer: str  # model ids and versions that did the masking, e.g. "centerface@1+plates@2"
    # Where the anonymizer's bands were placed: "calibrated", "estimated" (from the frames)
    # or "whole_frame" (horizon unknown: every pass covered the whole frame); None: not reported.
    horizon: str | None = None

    def __post_init__(self) -> None:
        if self.faces_masked < 0 or self.plates_masked < 0:
            raise ValueError("masked counts must be >= 0")
        if not self.anonymizer:
            raise ValueError("AnonymizedFrame.anonymizer must name the anonymizer that ran")

    @property
    def pixels(self) -> np.ndarray:
        return self.frame.pixels


class Detection(WireRecord):
    """One detected object, as it leaves the device: class, confidence, box, optional size."""

    kind: ClassVar[str] = "detection"

    class_name: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    box_xyxy: tuple[float, float, float, float] = Field(description="pixels: x1, y1, x2, y2")
    length_m: float | None = Field(default=None, ge=0, description="crack length on the road, metres")
    area_m2: float | None = Field(default=None, ge=0, description="damage area on the road, square metres")
    track_id: int | None = None

    @model_validator(mode="after")
    def _ordered_box(self) -> Self:
        x1, y1, x2, y2 = self.box_xyxy
        if not all(math.isfinite(v) for v in self.box_xyxy):
            raise ValueError(f"box must be finite, got {self.box_xyxy}")
        if x2 < x1 or y2 < y1:
            raise ValueError(f"box must be x1 <= x2 and y1 <= y2, got {self.box_xyxy}")
        return self


@dataclass(frozen=True, eq=False)
class Detections:
    """Detections in one image as parallel arrays (the supervision layout).

    ``class_names`` maps ``class_id`` to a label; ``length_m``/``area_m2`` hold NaN where the
    size is unknown (no calibration). ``outlines`` (from segmentation models) holds, per
    detection, the damage's shape in image pixels: a centreline (K×2) for a crack, a polygon
    for an area; sizing measures it instead of the box. Index with a boolean mask or integer
    array to select.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    class_names: tuple[str, ...]
    length_m: np.ndarray | None = None
    area_m2: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    outlines: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.outlines is not None and len(self.outlines) != n:
            raise ValueError(f"Detections.outlines must have {n} entries, got {len(self.outlines)}")
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must have shape (N, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "length_m", "area_m2", "tracker_id"):
            values = getattr(self, name)
            if values is not None and values.shape != (n,):
                raise ValueError(f"Detections.{name} must have shape ({n},), got {values.shape}")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names)):
            raise ValueError(
                f"Detections.class_id must index class_names ({len(self.class_names)} names), "
                f"got ids {sorted(set(self.class_id.tolist()))}"
            )

    @classmethod
    def empty(cls, class_names: tuple[str, ...] = ()) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            class_names=tuple(class_names),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else np.asarray(values)[index]

        return Detections(
            xyxy=np.asarray(self.xyxy)[index].reshape(-1, 4),
            confidence=pick(self.confidence),
            class_id=pick(self.class_id),
            class_names=self.class_names,
            length_m=pick(self.length_m),
            area_m2=pick(self.area_m2),
            tracker_id=pick(self.tracker_id),
            metadata=dict(self.metadata),
            outlines=None if self.outlines is None else tuple(
                self.outlines[i] for i in np.arange(len(self))[index].reshape(-1).tolist()),
        )

    def names(self) -> list[str]:
        return [self.class_names[i] for i in self.class_id.tolist()]

    def to_records(self) -> list[Detection]:
        """Convert to wire records (what a ``FrameRecord`` carries)."""

        def optional(values: np.ndarray | None, i: int) -> float | None:
            if values is None or not math.isfinite(float(values[i])):
                return None
            return float(values[i])

        return [
            Detection(
                class_name=self.class_names[int(self.class_id[i])],
                confidence=float(np.clip(self.confidence[i], 0, 1)),
                box_xyxy=tuple(float(v) for v in self.xyxy[i]),
                length_m=optional(self.length_m, i),
                area_m2=optional(self.area_m2, i),
                track_id=None if self.tracker_id is None else int(self.tracker_id[i]),
            )
            for i in range(len(self))
        ]


class QualityScores(WireRecord):
    """Why a frame was judged usable: the inputs of the quality gate."""

    kind: ClassVar[str] = "quality"

    sharpness: float = Field(ge=0, description="variance of the Laplacian (higher is sharper)")
    brightness: float = Field(ge=0, le=255, description="mean grey level")
    dark_fraction: float = Field(ge=0, le=1, description="share of pixels at or below 10")
    bright_fraction: float = Field(ge=0, le=1, description="share of pixels at or above 245")


class FrameRecord(WireRecord):
    """What leaves the device for one kept survey frame. No raw pixels, ever."""

    kind: ClassVar[str] = "frame_record"

    record_id: str
    device_id: str = Field(min_length=1, max_length=64)
    survey_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    sequence: int = Field(ge=0)
    time_utc: datetime
    fix: GeoFix
    distance_m: float | None = Field(default=None, ge=0)
    image_width: int = Field(gt=0)
    image_height: int = Field(gt=0)
    detections: tuple[Detection, ...] = ()
    quality: QualityScores | None = None
    model_id: str | None = None
    model_version: str | None = None
    anonymizer: str = Field(min_length=1)
    faces_masked: int = Field(default=0, ge=0)
    plates_masked: int = Field(default=0, ge=0)
    image_file: str | None = Field(default=None, description="name of the blurred JPEG evidence, if kept")
    calibration_id: str | None = None

    @field_validator("time_utc")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @staticmethod
    def make_id(device_id: str, survey_id: str, camera_id: str, sequence: int) -> str:
        """Deterministic id: the same frame always maps to the same record id."""
        return str(uuid.uuid5(_RECORD_NAMESPACE, f"frame/{device_id}/{survey_id}/{camera_id}/{sequence}"))


class CountBin(WireRecord):
    """Counts of one class crossing one line in one direction during one time bin."""

    kind: ClassVar[str] = "count_bin"

    record_id: str
    device_id: str = Field(min_length=1, max_length=64)
    camera_id: str = Field(min_length=1, max_length=64)
    line_id: str = Field(min_length=1, max_length=64)
    direction: str = Field(min_length=1, max_length=64)
    class_name: str = Field(min_length=1, max_length=32)
    bin_start_utc: datetime
    bin_seconds: int = Field(default=900, gt=0, le=86400)
    count: int = Field(ge=0)
    mean_speed_kmh: float | None = Field(default=None, ge=0)
    # "no_data" marks a gap (camera down): it is not a zero count.
    status: Literal["ok", "no_data"] = "ok"

    @field_validator("bin_start_utc")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @staticmethod
    def make_id(device_id: str, camera_id: str, line_id: str, direction: str, class_name: str, bin_start: datetime) -> str:
        key = f"count/{device_id}/{camera_id}/{line_id}/{direction}/{class_name}/{_utc(bin_start).isoformat()}"
        return str(uuid.uuid5(_RECORD_NAMESPACE, key))


# ---- fleet: heartbeats and model rollout (device ⇄ server) ---------------------------

_SHA256 = r"^[0-9a-f]{64}$"


class ModelStatus(WireRecord):
    """One model installed on a device, identified by its registry name and file checksum."""

    kind: ClassVar[str] = "model_status"

    model_id: str = Field(min_length=1, max_length=128, description="registry name, e.g. damage-default")
    version: str | None = Field(default=None, max_length=64)
    sha256: str = Field(pattern=_SHA256, description="sha256 of the ONNX file the device runs")


class RolloutReport(WireRecord):
    """What a device did with a model offer; sent on the heartbeat after it tried."""

    kind: ClassVar[str] = "rollout_report"

    offer_id: str = Field(min_length=1, max_length=64)
    status: Literal["applied", "refused", "rolled_back"]
    detail: str = Field(default="", max_length=500, description="why it was refused, in words")


class Heartbeat(WireRecord):
    """A device's periodic health report. The server derives clock skew from ``time_utc``."""

    kind: ClassVar[str] = "heartbeat"

    device_id: str = Field(min_length=1, max_length=64)
    software_version: str = Field(min_length=1, max_length=64)
    models: tuple[ModelStatus, ...] = Field(default=(), max_length=32)
    disk_free_bytes: int = Field(ge=0)
    queue_depth: int = Field(default=0, ge=0, description="records waiting in the outbox")
    pending_evidence: int = Field(default=0, ge=0, description="evidence photos waiting in the outbox")
    quarantined_records: int = Field(default=0, ge=0, description="records set aside after the server kept refusing them")
    oldest_pending_utc: datetime | None = None
    last_fix_utc: datetime | None = Field(default=None, description="time of the last GNSS fix")
    time_utc: datetime = Field(description="the device clock when the heartbeat was made")
    mode: Literal["survey", "count", "idle"] = "idle"
    rollout: RolloutReport | None = None
    # Where the anonymizer placed its bands for the last photo: an uncalibrated box shows as
    # "estimated" or "whole_frame" (None: not surveying, or an older agent).
    anonymizer_horizon: Literal["calibrated", "estimated", "whole_frame"] | None = None

    @field_validator("oldest_pending_utc", "last_fix_utc", "time_utc")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class ModelOffer(WireRecord):
    """A model the server asks one device to install: where to fetch it and what it must hash to.

    ``manifest`` is a ``voirie.models.registry`` manifest listing ``variant``'s file; the
    device checks it, the size and the sha256 before it swaps anything.
    """

    kind: ClassVar[str] = "model_offer"

    offer_id: str = Field(min_length=1, max_length=64)
    model_id: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    variant: str = Field(min_length=1, max_length=32)
    sha256: str = Field(pattern=_SHA256)
    bytes: int = Field(gt=0)
    url: str = Field(min_length=1, max_length=500, description="path on the server, device token required")
    manifest: dict[str, Any]
