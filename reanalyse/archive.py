"""The stored evidence photos still to analyse for one model version, read page by page.

Pages are keyed on the record id, so memory stays bounded however large the archive, and a
photo the ledger (``analyses``) lists for this model version is never handed out again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from pathlib import Path

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from voirie.reanalyse.analyser import Photo
from voirie.reanalyse.errors import ReanalyseError
from voirie.server.models import AnalysisRow, FrameRow

logger = logging.getLogger(__name__)


def parse_since(text: str | None) -> datetime | None:
    """``--since`` as an aware UTC time: a date (``2024-05-01``) or an ISO time with a zone."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ReanalyseError(f"--since must be a date (2024-05-01) or an ISO time, got {text!r}") from error
    if len(text) <= 10:  # a bare date: from the start of that day, UTC
        value = datetime.combine(date.fromisoformat(text), time(), timezone.utc)
    if value.tzinfo is None:
        raise ReanalyseError(f"--since {text!r} has no time zone; add one (e.g. {text}+00:00)")
    return value.astimezone(timezone.utc)


def _pending_query(model_id: str, model_version: str, since: datetime | None, after: str, page: int):  # noqa: ANN202
    done = exists().where(and_(AnalysisRow.record_id == FrameRow.record_id, AnalysisRow.model_id == model_id,
                               AnalysisRow.model_version == model_version))
    query = (select(FrameRow.record_id, FrameRow.image_width, FrameRow.image_height)
             .where(FrameRow.has_evidence.is_(True), FrameRow.record_id > after, ~done)
             .order_by(FrameRow.record_id).limit(page))
    return query if since is None else query.where(FrameRow.time_utc >= since)


def pending_photos(factory: sessionmaker, evidence_dir: Path, model_id: str, model_version: str,
                   since: datetime | None = None, page: int = 1000) -> Iterator[list[Photo]]:
    """Pages of photos with evidence (taken at or after ``since``) not yet analysed by this version."""
    after = ""
    while True:
        with factory() as session:
            rows = session.execute(_pending_query(model_id, model_version, since, after, page)).all()
        if not rows:
            return
        after = rows[-1].record_id
        yield [Photo(r.record_id, str(evidence_dir / f"{r.record_id}.jpg"), r.image_width, r.image_height)
               for r in rows]


def count_pending(session: Session, model_id: str, model_version: str, since: datetime | None) -> int:
    """How many photos a run would analyse (for the progress line)."""
    query = _pending_query(model_id, model_version, since, "", 1).order_by(None).limit(None)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
