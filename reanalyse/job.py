"""A re-analysis job: pending photos → engine → detections and ledger rows, committed batch by
batch, then the grades per model version recomputed.

Each batch's detections and its ledger rows (``analyses``) are written in one transaction,
and the ledger's unique (photo, model, version) key refuses a second copy, so a job killed
at any point and started again stores every photo's detections exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from voirie.models import ModelError
from voirie.models.registry import find_model
from voirie.reanalyse.analyser import Photo
from voirie.reanalyse.archive import count_pending, pending_photos
from voirie.reanalyse.engines import LocalEngine, RayEngine, Result
from voirie.reanalyse.errors import ReanalyseError
from voirie.server.conditions import ConditionService
from voirie.server.core.config import Settings
from voirie.server.crud import set_meta
from voirie.server.models import AnalysisRow, DetectionRow, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReanalyseOptions:
    """What to re-analyse and where."""

    model: str
    since: datetime | None = None
    engine: Literal["local", "ray"] = "local"
    address: str | None = None  # a Ray cluster (ray://… or host:port); None starts or joins a local one
    workers: int = 2  # Ray actors, one ONNX Runtime session each
    batch_size: int = 16  # photos per engine batch and per committed transaction
    page: int = 1000  # photos read from the database at a time
    limit: int | None = None  # stop after this many photos (trials, benchmarks)

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise ReanalyseError(f"engine must be 'local' or 'ray', got {self.engine!r}")
        if self.workers < 1 or self.batch_size < 1 or self.page < 1 or (self.limit is not None and self.limit < 0):
            raise ReanalyseError("workers, batch size and page must be >= 1 and limit >= 0")


@dataclass
class ReanalyseReport:
    """What a run did."""

    model: str
    engine: str
    pending: int = 0
    analysed: int = 0
    detections: int = 0
    seconds: float = 0.0
    first_batch_s: float = 0.0  # start-up: engine start (Ray actors loading the model) to the first results
    first_batch_photos: int = 0
    graded_generation: str = ""
    failed_ids: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Photos that could not be read or decoded."""
        return len(self.failed_ids)

    @property
    def photos_per_s(self) -> float:
        """End to end, start-up included."""
        return self.analysed / self.seconds if self.seconds else 0.0

    @property
    def steady_photos_per_s(self) -> float:
        """After the first batch: the rate a long job runs at."""
        rest = self.seconds - self.first_batch_s
        return (self.analysed - self.first_batch_photos) / rest if rest > 0 else 0.0


def resolve_model(name: str) -> tuple[str, str]:
    """A registered model's (id, version); a clear error listing the known names otherwise."""
    try:
        manifest, _ = find_model(name)
    except ModelError as error:
        raise ReanalyseError(f"cannot re-analyse: {error}") from error
    return manifest.name, manifest.version


def _engine(options: ReanalyseOptions, expected: tuple[str, str]) -> LocalEngine | RayEngine:
    if options.engine == "ray":
        return RayEngine(options.model, expected, options.workers, options.address, options.batch_size)
    engine = LocalEngine(options.model, options.batch_size)
    loaded = (engine.analyser.model_id, engine.analyser.model_version)
    if loaded != expected:
        raise ReanalyseError(f"loaded {loaded[0]}@{loaded[1]} for {options.model!r}, "
                             f"expected {expected[0]}@{expected[1]}")
    return engine


def _limited(pages: Iterable[list[Photo]], limit: int | None) -> Iterator[list[Photo]]:
    left = limit
    for page in pages:
        if left is not None:
            page, left = page[:left], left - min(left, len(page))
        if page:
            yield page
        if left == 0:
            return


def write_results(factory: sessionmaker, model: tuple[str, str], results: list[Result]) -> int:
    """Store one batch (detections + ledger) in one transaction; returns the photos stored.
    Photos another run stored meanwhile are left out (retried once on a unique-key race)."""
    for attempt in range(2):
        try:
            return _write_once(factory, model, results)
        except IntegrityError:
            if attempt:
                raise
            logger.info("another job stored some of these photos meanwhile; writing the rest")
    raise AssertionError("unreachable")


def _write_once(factory: sessionmaker, model: tuple[str, str], results: list[Result]) -> int:
    model_id, version = model
    tag = hashlib.sha256(f"{model_id}@{version}".encode()).hexdigest()[:12]  # detection ids stay short
    analysed = {photo.record_id: found for photo, found in results if found is not None}
    with factory() as session:
        done = set(session.scalars(select(AnalysisRow.record_id).where(
            AnalysisRow.record_id.in_(list(analysed)), AnalysisRow.model_id == model_id,
            AnalysisRow.model_version == version)))
        fresh = {record_id: found for record_id, found in analysed.items() if record_id not in done}
        rows = [{"detection_id": f"{record_id}:{tag}:{i}", "record_id": record_id, "class_name": d.class_name,
                 "confidence": d.confidence, "x1": d.box_xyxy[0], "y1": d.box_xyxy[1], "x2": d.box_xyxy[2],
                 "y2": d.box_xyxy[3], "length_m": None, "area_m2": None, "review_status": "unreviewed",
                 "reviewed_class": None, "model_id": model_id, "model_version": version, "reanalysed": True}
                for record_id, found in fresh.items() for i, d in enumerate(found)]
        ledger = [{"record_id": record_id, "model_id": model_id, "model_version": version,
                   "detections": len(found), "analysed_at": utcnow()} for record_id, found in fresh.items()]
        if rows:
            session.execute(insert(DetectionRow.__table__), rows)
        if ledger:
            session.execute(insert(AnalysisRow.__table__), ledger)
        session.commit()
    return len(fresh)


def run_reanalysis(settings: Settings, factory: sessionmaker, options: ReanalyseOptions) -> ReanalyseReport:
    """Analyse every pending photo with ``options.model``, then regrade per model version."""
    model = resolve_model(options.model)
    report = ReanalyseReport(model=f"{model[0]}@{model[1]}", engine=options.engine)
    with factory() as session:
        report.pending = count_pending(session, *model, options.since)
    if options.limit is not None:
        report.pending = min(report.pending, options.limit)
    logger.info("%d photos to analyse with %s on the %s engine", report.pending, report.model, options.engine)
    engine = _engine(options, model)
    started = time.perf_counter()
    pages = _limited(pending_photos(factory, settings.evidence_dir, *model, options.since, options.page),
                     options.limit)
    for results in engine.run(pages):
        report.analysed += write_results(factory, model, results)
        if not report.first_batch_s:
            report.first_batch_s, report.first_batch_photos = time.perf_counter() - started, report.analysed
        report.failed_ids += [photo.record_id for photo, found in results if found is None]
        report.detections += sum(len(found) for _, found in results if found)
        logger.info("%s: %d/%d photos analysed", report.model, report.analysed, report.pending)
    report.seconds = time.perf_counter() - started
    report.graded_generation = regrade(settings, factory)
    return report


def regrade(settings: Settings, factory: sessionmaker) -> str:
    """Recompute grades now (the devices' and every model version's); returns the generation."""
    with factory() as session:
        set_meta(session, "conditions_dirty", "1")
        session.commit()
    return ConditionService(settings, factory).ensure_current()
