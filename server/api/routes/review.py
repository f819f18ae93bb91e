"""Review of detections by inspectors; corrections exported as YOLO labels."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select

from voirie.server.api.deps import InspectorDep, ReaderDep, SessionDep
from voirie.server.models import ReviewCreate, ReviewPublic, ReviewRow
from voirie.server.review import ReviewError, apply_review, yolo_export

logger = logging.getLogger(__name__)
router = APIRouter(tags=["review"])


@router.post("/detections/{detection_id}/review", response_model=ReviewPublic, status_code=201,
             responses={404: {}, 422: {}}, summary="Confirm, relabel or reject a detection (inspector)")
def review_detection(detection_id: str, review: ReviewCreate, session: SessionDep, key: InspectorDep) -> ReviewRow:
    """Confirm, relabel or reject a detection (inspector)."""
    try:
        return apply_review(session, detection_id, review, reviewer=key.name)
    except ReviewError as error:
        status = 404 if str(error).startswith("no detection") else 422
        raise HTTPException(status_code=status, detail=str(error)) from error


@router.get("/reviews", response_model=list[ReviewPublic], summary="Review log, newest first")
def list_reviews(session: SessionDep, _: ReaderDep) -> list[ReviewRow]:
    """Review log, newest first."""
    return list(session.scalars(select(ReviewRow).order_by(ReviewRow.id.desc()).limit(1000)))


@router.get("/exports/yolo-corrections.zip", summary="Reviewed frames as YOLO labels (inspector)")
def export_yolo(session: SessionDep, _: InspectorDep) -> Response:
    """Reviewed frames as YOLO labels (inspector)."""
    return Response(yolo_export(session), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="yolo-corrections.zip"'})
