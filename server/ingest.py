"""Ingest of record batches: validated, device-checked, transactional, idempotent by record id.

A batch is parsed completely before anything is written: one bad record refuses the whole
batch with an error naming its index and field, so a device never has a half-written batch
to reason about. Records already stored (same deterministic id) are reported as duplicates
and left untouched, which is what lets the edge outbox replay after days offline.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voirie.records import CountBin, FrameRecord
from voirie.server.bulk import bulk_insert
from voirie.server.crud import set_meta
from voirie.server.models import CountBinRow, DetectionRow, FrameRow, IngestBatch, utcnow

logger = logging.getLogger(__name__)

RECORD_TYPES = {"frame_record": FrameRecord, "count_bin": CountBin}
# Ids that reach the map page, file names and logs: a safe charset and length, so no id can
# carry markup or a path (the page escapes everything too; this is the second wall).
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SAFE_ID_TEXT = "1-64 characters from A-Z a-z 0-9 . _ : -"
_ID_FIELDS = {FrameRecord: ("survey_id", "camera_id"), CountBin: ("camera_id", "line_id", "direction")}
# SQLite and PostgreSQL integers are 64-bit signed: a larger value must be a 422, not a 500.
INT64_MAX = 2**63 - 1


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
    batch_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
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


def derived_id(record: FrameRecord | CountBin) -> str:
    """The id a record's own fields derive (what the edge computes with ``make_id``)."""
    if isinstance(record, FrameRecord):
        return FrameRecord.make_id(record.device_id, record.survey_id, record.camera_id, record.sequence)
    return CountBin.make_id(record.device_id, record.camera_id, record.line_id, record.direction,
                            record.class_name, record.bin_start_utc)


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """(path, why) of the first value no database column can hold: an integer beyond 64 bits
    or text that is not valid Unicode (a lone surrogate cannot be encoded as UTF-8)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (path, f"integer out of range (at most {INT64_MAX})") if abs(value) > INT64_MAX else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "text is not valid Unicode (lone surrogate)"
        return None
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, child in children:
        found = unstorable(child, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _int_fields(record: FrameRecord | CountBin) -> list[tuple[str, int | None]]:
    """The record's integers by field path (read directly: a full dump would cost ~3x the parse)."""
    if isinstance(record, CountBin):
        return [("schema", record.schema_version), ("count", record.count)]
    return [("schema", record.schema_version), ("sequence", record.sequence), ("image_width", record.image_width),
            ("image_height", record.image_height), ("faces_masked", record.faces_masked),
            ("plates_masked", record.plates_masked),
            *((f"detections.{i}.track_id", d.track_id) for i, d in enumerate(record.detections))]


def _too_large_int(record: FrameRecord | CountBin) -> tuple[str, str] | None:
    # Lone surrogates need no check here: pydantic's JSON parser refuses them (400).
    for name, value in _int_fields(record):
        if value is not None and abs(value) > INT64_MAX:
            return name, f"integer out of range (at most {INT64_MAX})"
    return None


def _text_problem(record: FrameRecord | CountBin) -> tuple[str, str] | None:
    """Labels shown on the map and written to exports: bounded, one line, no control characters."""
    texts = [("class_name", record.class_name, 32)] if isinstance(record, CountBin) else [
        *((f"detections.{i}.class_name", d.class_name, 64) for i, d in enumerate(record.detections)),
        ("model_id", record.model_id, 128), ("model_version", record.model_version, 128),
        ("image_file", record.image_file, 256), ("anonymizer", record.anonymizer, 500)]
    for name, text, limit in texts:
        if text is not None and (len(text) > limit or not text.isprintable()):
            return name, f"must be at most {limit} printable characters"
    return None


def record_problem(record: FrameRecord | CountBin, device_id: str, max_detections: int) -> tuple[int, str, str] | None:
    """(status, field, message) when a parsed record must be refused, else None."""
    if record.device_id != device_id:
        return 403, "device_id", f"record of device {record.device_id!r}; this token is {device_id!r}"
    problem = _too_large_int(record) or _text_problem(record)
    if problem is not None:
        return 422, *problem
    for name in _ID_FIELDS[type(record)]:
        if not SAFE_ID.match(getattr(record, name)):
            return 422, name, f"{name} must be {SAFE_ID_TEXT}"
    if isinstance(record, FrameRecord) and len(record.detections) > max_detections:
        return 422, "detections", f"{len(record.detections)} detections; at most {max_detections} per frame record"
    # The id is derived from the record's fields, so one device cannot take another's ids
    # (squatting would make the owner's real upload look like a duplicate and be pruned).
    if record.record_id != derived_id(record):
        return 422, "record_id", f"record_id must be {derived_id(record)!r}, derived from the record's own fields"
    return None


def decode_batch(body: bytes, device_id: str, max_records: int = 100_000,
                 max_detections: int = 1000) -> tuple[str, list[FrameRecord | CountBin]]:
    """Parse and validate a batch straight from JSON bytes (one pass in pydantic-core) and
    check every record belongs to ``device_id`` with the id its fields derive; raise ``IngestError``."""
    try:
        batch = ParsedBatch.model_validate_json(body)
    except ValidationError as error:
        problems = error.errors()
        if problems and problems[0]["type"] == "json_invalid":
            raise IngestError(400, [{"field": "body", "message": f"not valid JSON: {problems[0]['msg']}"}]) from error
        raise IngestError(422, [_problem(p) for p in problems[:100]]) from error
    except OverflowError as error:  # a time zone offset that pushes a date past year 1 or 9999
        raise IngestError(422, [{"field": "records", "message": f"a date is out of range: {error}"}]) from error
    if len(batch.records) > max_records:
        raise IngestError(413, [{"field": "records", "message": f"{len(batch.records)} records; at most "
                                                                f"{max_records} per batch"}])
    if batch.device_id != device_id:
        raise IngestError(403, [{"field": "device_id", "message":
                                 f"token belongs to {device_id!r}, batch says {batch.device_id!r}"}])
    for index, item in enumerate(batch.records):
        problem = record_problem(item.record, device_id, max_detections)
        if problem is not None:
            status, field_name, message = problem
            raise IngestError(status, [{"index": index, "field": field_name, "message": message}])
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
         "length_m": d.length_m, "area_m2": d.area_m2, "review_status": "unreviewed", "reviewed_class": None,
         "model_id": record.model_id, "model_version": record.model_version, "reanalysed": False}
        for i, d in enumerate(record.detections)
    ]


def _existing_ids(session: Session, records: list[FrameRecord | CountBin], device_id: str) -> set[str]:
    """Ids of ``records`` already stored for ``device_id``; refuses ids stored by another
    device (only rows squatted before ids were checked can do that)."""
    found: set[str] = set()
    for model, row in ((FrameRecord, FrameRow), (CountBin, CountBinRow)):
        ids = [r.record_id for r in records if isinstance(r, model)]
        for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 900]
            for record_id, owner in session.execute(select(row.record_id, row.device_id)
                                                    .where(row.record_id.in_(chunk))):
                if owner != device_id:
                    raise IngestError(409, [{"field": "record_id", "message":
                                             f"record {record_id} is stored for another device"}])
                found.add(record_id)
    return found


def _write(session: Session, batch_id: str, device_id: str, records: list[FrameRecord | CountBin]) -> IngestResult:
    result = IngestResult(batch_id=batch_id)
    known = session.get(IngestBatch, batch_id)
    if known is not None and known.device_id != device_id:
        raise IngestError(409, [{"field": "batch_id", "message": "batch id already used by another device"}])
    result.replayed = known is not None
    existing, now = _existing_ids(session, records, device_id), utcnow()
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
        bulk_insert(session, model.__table__, rows)  # COPY / driver executemany: see voirie.server.bulk
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


def ingest_batch(session: Session, body: bytes, device_id: str, max_records: int = 100_000,
                 max_detections: int = 1000) -> IngestResult:
    """Validate a JSON batch and store it in one transaction; a concurrent replay that
    races us is retried once (the second pass sees its records as duplicates)."""
    batch_id, records = decode_batch(body, device_id, max_records, max_detections)
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
