"""Ingest of record batches: validated, device-checked, transactional, idempotent by record id.

A batch is parsed completely before anything is written: one bad record refuses the whole
batch with an error naming its index and field, so a device never has a half-written batch
to reason about. Records already stored (same deterministic id) are reported as duplicates
and left untouched, which is what lets the edge outbox replay after days offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voirie.records import CountBin, FrameRecord
from voirie.server.crud import set_meta
from voirie.server.models import CountBinRow, DetectionRow, FrameRow, IngestBatch, utcnow

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


class _FrameItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["frame_record"]
    record: FrameRecord


class _CountItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["count_bin"]
    record: CountBin


class ParsedBatch(BaseModel):
    """A batch with every record validated (what ``IngestRequest`` documents)."""

    model_config = ConfigDict(extra="forbid")
    batch_id: str = Field(min_length=1, max_length=128)
    device_id: str = Field(min_length=1, max_length=64)
    records: list[Annotated[_FrameItem | _CountItem, Field(discriminator="kind")]]


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    """``{"index", "field", "message"}`` from a pydantic error (index when inside a record)."""
    loc = list(error["loc"])
    if len(loc) >= 2 and loc[0] == "records" and isinstance(loc[1], int):
        rest = loc[2:]
        if rest and rest[0] in RECORD_TYPES:
            rest = rest[1:]
        if rest and rest[0] == "record":
            rest = rest[1:]
        field_name = ".".join(map(str, rest)) or ("kind" if "tag" in error["type"] else "record")
        return {"index": loc[1], "field": field_name, "message": error["msg"]}
    return {"field": ".".join(map(str, loc)) or "body", "message": error["msg"]}


def decode_batch(body: bytes, device_id: str, max_records: int = 100_000) -> tuple[str, list[FrameRecord | CountBin]]:
    """Parse and validate a batch straight from JSON bytes (one pass in pydantic-core) and
    check every record belongs to ``device_id``; raise ``IngestError``."""
    try:
        batch = ParsedBatch.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors()
        if problems and problems[0]["type"] == "json_invalid":
            raise IngestError(400, [{"field": "body", "message": f"not valid JSON: {problems[0]['msg']}"}]) from error
        raise IngestError(422, [_problem(p) for p in problems[:100]]) from error
    if len(batch.records) > max_records:
        raise IngestError(413, [{"field": "records", "message": f"{len(batch.records)} records; at most "
                                                                f"{max_records} per batch"}])
    if batch.device_id != device_id:
        raise IngestError(403, [{"field": "device_id", "message":
                                 f"token belongs to {device_id!r}, batch says {batch.device_id!r}"}])
    for index, item in enumerate(batch.records):
        if item.record.device_id != device_id:
            raise IngestError(403, [{"index": index, "field": "device_id", "message":
                                     f"record of device {item.record.device_id!r}; this token is {device_id!r}"}])
    return batch.batch_id, [item.record for item in batch.records]


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


def _write(session: Session, batch_id: str, device_id: str, records: list[FrameRecord | CountBin]) -> IngestResult:
    result = IngestResult(batch_id=batch_id)
    known = session.get(IngestBatch, batch_id)
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
        session.add(IngestBatch(batch_id=batch_id, device_id=device_id,
                                accepted=len(result.accepted), duplicates=len(result.duplicates)))
    elif result.accepted:
        # A known id with new records is not a replay: store them (records are idempotent, and
        # refusing would strand them on the device) but do not say "replayed".
        logger.warning("batch id %s reused by %s with %d new records", batch_id, device_id, len(result.accepted))
        result.replayed = False
    if frames:
        set_meta(session, "conditions_dirty", "1")
    return result


def ingest_batch(session: Session, body: bytes, device_id: str, max_records: int = 100_000) -> IngestResult:
    """Validate a JSON batch and store it in one transaction; a concurrent replay that
    races us is retried once (the second pass sees its records as duplicates)."""
    batch_id, records = decode_batch(body, device_id, max_records)
    for attempt in range(2):
        try:
            result = _write(session, batch_id, device_id, records)
            session.commit()
            logger.debug("batch %s: %d accepted, %d duplicates", batch_id,
                         len(result.accepted), len(result.duplicates))
            return result
        except IntegrityError:
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")
