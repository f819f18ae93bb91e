"""What happens to one photo: (mark, frame) -> gate -> anonymizer -> detector -> record -> sink.

    loop thread:    (mark, frame) -> quality gate -> anonymizer (fail-closed) ─┐
    finish thread:  damage detector (optional) -> FrameRecord -> PhotoSink  ◀──┘ in order
                    (files: ``SurveyWriter``; agent: the outbox)

``engine.run_survey`` is the loop that finds the (mark, frame) pairs; this module is the
per-photo work, its settings (``SurveyConfig``) and its counts (``SurveyStats``). With
``SurveyConfig.overlap`` (the default) the second half of a photo runs on its own thread
while the next photo is anonymized (``overlap.InOrderWorker``): records keep their order,
and ``drain()``, which ``run_survey`` calls at every end, waits for the last one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from geographiclib.geodesic import Geodesic

from voirie.anonymize import AnonymizationError
from voirie.capture.quality import QualityConfig, QualityGate
from voirie.capture.trigger import TriggerMark
from voirie.edge.survey.calibration import SurveyCalibration
from voirie.edge.survey.overlap import InOrderWorker
from voirie.models.sizing import size_detections
from voirie.records import AnonymizedFrame, Detections, Frame, FrameRecord, GeoFix

logger = logging.getLogger(__name__)


class Anonymizes(Protocol):
    name: str

    def __call__(self, frame: Frame) -> AnonymizedFrame: ...


class PhotoSink(Protocol):
    """Where a kept photo and its record go (``SurveyWriter``, the agent's ``OutboxPhotoSink``)."""

    def write(self, anonymized: AnonymizedFrame, record: FrameRecord) -> FrameRecord: ...


class DetectsDamage(Protocol):
    model_id: str
    model_version: str

    def detect(self, pixels: Any) -> Detections: ...


@dataclass(frozen=True)
class SurveyConfig:
    """Identity of the run and the knobs of the loop."""

    device_id: str = "edge-01"
    survey_id: str | None = None  # default: "survey-<UTC start>"
    camera_id: str = "cam0"
    spacing_m: float = 4.0
    max_offset_s: float = 0.1  # a mark with no frame this close is not photographed
    max_speed_mps: float = 70.0
    quality: QualityConfig = field(default_factory=QualityConfig)
    # Damage sizes in metres (and the anonymizer's horizon, set where it is built).
    calibration: SurveyCalibration | None = None
    # Both cores busy (docs/survey.md, "Speed"): the damage model and the write of a photo run
    # on a second thread while the next photo is anonymized, and a replay decodes ahead on a
    # third. False: everything on the loop thread, one photo at a time (the old loop, kept to
    # measure against and to debug).
    overlap: bool = True

    def __post_init__(self) -> None:
        if not 0.5 <= self.spacing_m <= 100:
            raise ValueError(f"spacing_m must be within [0.5, 100], got {self.spacing_m}")
        if not 0 < self.max_offset_s <= 1:
            raise ValueError(f"max_offset_s must be within (0, 1], got {self.max_offset_s}")


@dataclass
class SurveyStats:
    """What happened to every fix and frame of a run."""

    fixes: int = 0
    fixes_rejected: Counter = field(default_factory=Counter)
    marks: int = 0
    marks_unmatched: int = 0
    frames_read: int = 0
    frames_decoded: int = 0
    camera_dropped: int = 0  # live only: frames the bounded queue dropped
    matched: int = 0
    quality_rejected: Counter = field(default_factory=Counter)
    anonymization_dropped: int = 0
    detector_failed: int = 0
    written: int = 0
    faces_masked: int = 0
    plates_masked: int = 0
    # Photos per horizon the anonymizer placed its bands by: calibrated, estimated (from the
    # frames) or whole_frame (not known yet: every pass covered the whole frame).
    horizon: Counter = field(default_factory=Counter)
    detections: int = 0
    elapsed_s: float = 0.0
    # CPU seconds of the whole process during the run (all its threads: camera, gpsd, ONNX
    # Runtime): with the distance, what sizes a box and its energy for a city's network.
    cpu_s: float = 0.0
    distance_m: float = 0.0  # along the track, up to the last mark matched to a frame

    @property
    def frames_per_s(self) -> float:
        """Camera frames processed per second of wall time (the whole loop)."""
        return self.frames_read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def photos_per_s(self) -> float:
        """Photos fully processed (decoded, gated, anonymized, analysed, written) per second of wall time."""
        return self.written / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def photos_per_km(self) -> float:
        """Photos written per km surveyed (250 at 4 m spacing when none is lost)."""
        return self.written / (self.distance_m / 1000) if self.distance_m > 0 else 0.0

    @property
    def cpu_s_per_km(self) -> float:
        """CPU seconds spent per km surveyed."""
        return self.cpu_s / (self.distance_m / 1000) if self.distance_m > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        # asdict rebuilds a Counter from its (key, count) pairs, counting the pairs: copy them as dicts.
        out.update({f.name: dict(getattr(self, f.name)) for f in dataclasses.fields(self)
                    if isinstance(getattr(self, f.name), Counter)})
        out.update(frames_per_s=round(self.frames_per_s, 2), photos_per_s=round(self.photos_per_s, 2),
                   photos_per_km=round(self.photos_per_km, 1),
                   cpu_s_per_km=round(self.cpu_s_per_km, 1))
        return out


@dataclass
class SurveyResult:
    survey_dir: Path
    survey_id: str
    device_id: str
    stats: SurveyStats


def frame_position(mark: TriggerMark, frame_time: datetime) -> tuple[GeoFix, float]:
    """The mark's fix moved to the frame's instant (dead reckoning over <= 20 ms)."""
    dt = (frame_time - mark.time_utc).total_seconds()
    speed = mark.fix.speed_mps or 0.0
    shift = speed * dt
    fix = mark.fix
    if abs(shift) > 1e-3 and fix.heading_deg is not None:
        moved = Geodesic.WGS84.Direct(fix.lat, fix.lon, fix.heading_deg, shift)
        fix = fix.model_copy(update={"lat": moved["lat2"], "lon": moved["lon2"]})
    return fix.model_copy(update={"time_utc": frame_time}), max(0.0, mark.distance_m + shift)


@dataclass(frozen=True)
class _Kept:
    """A photo anonymized on the loop thread, waiting for its damage model, record and write."""

    anonymized: AnonymizedFrame
    fix: GeoFix
    distance_m: float
    quality: Any
    detector: DetectsDamage | None  # the one in place when the photo was taken (a switch may follow)


class SurveyPipeline:
    """From a matched (mark, frame) to a written record; every step counted in ``stats``."""

    def __init__(self, writer: PhotoSink, anonymizer: Anonymizes, detector: DetectsDamage | None,
                 config: SurveyConfig, survey_id: str) -> None:
        self.writer, self.anonymizer, self.detector = writer, anonymizer, detector
        self.config, self.survey_id = config, survey_id
        self.gate = QualityGate(config.quality)
        self.stats = SurveyStats()
        self._finisher: InOrderWorker[_Kept] | None = None

    def process(self, mark: TriggerMark, frame: Frame) -> None:
        """Gate and anonymize now; detect and write now or, overlapped, on the finish thread."""
        self.stats.matched += 1
        self.stats.distance_m = max(self.stats.distance_m, mark.distance_m)
        fix, distance = frame_position(mark, frame.time_utc)
        verdict = self.gate.check(frame.pixels, fix)
        if not verdict.kept:
            self.stats.quality_rejected[verdict.reason] += 1
            return
        frame = dataclasses.replace(frame, fix=fix, distance_m=distance)
        try:
            anonymized = self.anonymizer(frame)
        except AnonymizationError as error:  # fail closed: the frame is never written
            self.stats.anonymization_dropped += 1
            logger.warning("frame %d dropped, anonymization failed: %s", frame.sequence, error)
            return
        kept = _Kept(anonymized, fix, distance, verdict.scores, self.detector)
        if not self.config.overlap:
            self._finish(kept)
            return
        if self._finisher is None:
            self._finisher = InOrderWorker(self._finish)
        self._finisher.submit(kept)

    def drain(self) -> None:
        """Wait until every photo handed over is written (and end the finish thread)."""
        finisher, self._finisher = self._finisher, None
        if finisher is not None:
            finisher.close()

    def _finish(self, kept: _Kept) -> FrameRecord:
        """Detect, make the record, write it; count what was written."""
        anonymized = kept.anonymized
        detections, model, calibration_id = self._detect(anonymized, kept.detector)
        record = self._record(anonymized, kept.fix, kept.distance_m, detections, model, kept.quality, calibration_id)
        written = self.writer.write(anonymized, record)
        self.stats.written += 1
        self.stats.faces_masked += anonymized.faces_masked
        self.stats.plates_masked += anonymized.plates_masked
        self.stats.horizon[anonymized.horizon or "not reported"] += 1
        self.stats.detections += len(record.detections)
        return written

    def _detect(self, anonymized: AnonymizedFrame, detector: DetectsDamage | None
                ) -> tuple[tuple, tuple[str | None, str | None], str | None]:
        """Detections (sized in metres where calibrated), the model, the calibration used."""
        if detector is None:
            return (), (None, None), None
        try:
            found = detector.detect(anonymized.pixels)
        except Exception as error:  # noqa: BLE001 - a model failure must not lose the photo
            self.stats.detector_failed += 1
            logger.warning("damage detector failed on frame %d: %r", anonymized.frame.sequence, error)
            return (), (None, None), None  # no model id: "not analysed", not "no damage"
        calibration = self.config.calibration
        plane = calibration.plane_for(anonymized.frame.width, anonymized.frame.height) if calibration else None
        if plane is not None:
            found = size_detections(found, plane)
        calibration_id = calibration.calibration_id if plane is not None else None
        return tuple(found.to_records()), (detector.model_id, detector.model_version), calibration_id

    def _record(self, anonymized: AnonymizedFrame, fix: GeoFix, distance: float, detections: tuple,
                model: tuple[str | None, str | None], quality, calibration_id: str | None = None) -> FrameRecord:
        frame, c = anonymized.frame, self.config
        return FrameRecord(
            record_id=FrameRecord.make_id(c.device_id, self.survey_id, frame.camera_id, frame.sequence),
            device_id=c.device_id, survey_id=self.survey_id, camera_id=frame.camera_id,
            sequence=frame.sequence, time_utc=frame.time_utc, fix=fix, distance_m=distance,
            image_width=frame.width, image_height=frame.height, detections=detections, quality=quality,
            model_id=model[0], model_version=model[1], anonymizer=anonymized.anonymizer,
            faces_masked=anonymized.faces_masked, plates_masked=anonymized.plates_masked,
            calibration_id=calibration_id,
        )


def default_survey_id(start: datetime) -> str:
    """The survey id of a run that names none: ``survey-<UTC start>``."""
    return "survey-" + start.strftime("%Y%m%dT%H%M%SZ")
