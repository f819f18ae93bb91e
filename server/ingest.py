"""Ingest of record batches: validated, device-checked, transactional, idempotent by record id.

A batch is parsed completely before anything is written: one bad record refuses the whole
batch with an error naming its index and field, so a device never has a half-written batch
to reason about. Records already stored (same deterministic id) are reported as duplicates
and left untouched, which is what lets the edge outbox replay after days offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voirie.records import CountBin, FrameRecord
from voirie.server.crud import set_meta
from voirie.server.models import CountBinRow, DetectionRow, FrameRow, IngestBatch, IngestRequest, utcnow

logger = logging.getLogger(__name__)

RECORD_TYPES = {"frame_record": FrameRecord, "count_bin": CountBin}


class IngestError(ValueError):
    """A batch was refused; ``status`` is the HTTP status, ``errors`` the details."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"batch refused ({status}): {errors[:3]}")
        self.status = status
        self.errors = errors


@dataclass
class IngestResult:
    batch_id: str
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    replayed: bool = False


def parse_batch(request: IngestRequest, device_id: str) -> list[FrameRecord | CountBin]:
    """Validate every record and check it belongs to ``device_id``; raise ``IngestError``."""
    if request.device_id != device_id:
        raise IngestError(403, [{"field": "device_id", "message":
                                 f"token belongs to {device_id!r}, batch says {request.device_id!r}"}])
    records, errors = [], []
    for index, item in enumerate(request.records):
        try:
            record = RECORD_TYPES[item.kind].model_validate(item.record)
        except ValidationError as error:
            for problem in error.errors():
                errors.append({"index": index, "field": ".".join(str(p) for p in problem["loc"]),
                               "message": problem["msg"]})
            continue
        if record.device_id != device_id:
            raise IngestError(403, [{"index": index, "field": "device_id", "message":
                                     f"record of device {record.device_id!r}; this token is {device_id!r}"}])
        records.append(record)
    if errors:
        raise IngestError(422, errors)
    return records


def _frame_row(record: FrameRecord, now: Any) -> dict[str, Any]:
    return {
        "record_id": record.record_id, "device_id": record.device_id, "survey_id": record.survey_id,
        "camera_id": record.camera_id, "sequence": record.sequence, "time_utc": record.time_utc,
        "lat": record.fix.lat, "lon": record.fix.lon, "heading_deg": record.fix.heading_deg,
        "image_width": record.image_width, "image_height": record.image_height,
        "model_version": record.model_version, "image_file": record.image_file, "has_evidence": False,
        "section_id": None, "record_json": record.to_json(), "received_at": now,
    }


def _detection_rows(record: FrameRecord) -> list[dict[str, Any]]:
    return [
        {"detection_id": f"{record.record_id}:{i}", "record_id": record.record_id,
         "class_name": d.class_name, "confidence": d.confidence,
         "x1": d.box_xyxy[0], "y1": d.box_xyxy[1], "x2": d.box_xyxy[2], "y2": d.box_xyxy[3],
         "length_m": d.length_m, "area_m2": d.area_m2, "review_status": "unreviewed", "reviewed_class": None}
        for i, d in enumerate(record.detections)
    ]


def _existing_ids(session: Session, records: list[FrameRecord | CountBin]) -> set[str]:
    found: set[str] = set()
    for model, row in ((FrameRecord, FrameRow), (CountBin, CountBinRow)):
        ids = [r.record_id for r in records if isinstance(r, model)]
        for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 900]
            found.update(session.scalars(select(row.record_id).where(row.record_id.in_(chunk))))
    return found


def _write(session: Session, request: IngestRequest, device_id: str,
           records: list[FrameRecord | CountBin]) -> IngestResult:
    result = IngestResult(batch_id=request.batch_id)
    known = session.get(IngestBatch, request.batch_id)
    if known is not None and known.device_id != device_id:
        raise IngestError(409, [{"field": "batch_id", "message": "batch id already used by another device"}])
    result.replayed = known is not None
    existing, now = _existing_ids(session, records), utcnow()
    frames, detections, bins = [], [], []
    for record in records:
        if record.record_id in existing:
            result.duplicates.append(record.record_id)
            continue
        existing.add(record.record_id)  # a record twice in one batch is stored once
        result.accepted.append(record.record_id)
        if isinstance(record, FrameRecord):
            frames.append(_frame_row(record, now))
            detections.extend(_detection_rows(record))
        else:
            bins.append({**record.model_dump(exclude={"schema_version"}), "received_at": now})
    for model, rows in ((FrameRow, frames), (DetectionRow, detections), (CountBinRow, bins)):
        if rows:  # Core insert on the table: the ORM bulk path costs ~3x more per row
            session.execute(insert(model.__table__), rows)
    if known is None:
        session.add(IngestBatch(batch_id=request.batch_id, device_id=device_id,
                                accepted=len(result.accepted), duplicates=len(result.duplicates)))
    if frames:
        set_meta(session, "conditions_dirty", "1")
    return result


def ingest_batch(session: Session, request: IngestRequest, device_id: str) -> IngestResult:
    """Store a batch in one transaction; a concurrent replay that races us is retried once."""
    records = parse_batch(request, device_id)
    for attempt in range(2):
        try:
            result = _write(session, request, device_id, records)
            session.commit()
            logger.debug("batch %s: %d accepted, %d duplicates", request.batch_id,
                         len(result.accepted), len(result.duplicates))
            return result
        except IntegrityError:
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")
