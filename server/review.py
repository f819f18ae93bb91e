"""Human review of detections and the YOLO export of corrections for retraining."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from voirie.server.crud import set_meta
from voirie.server.models import DetectionRow, FrameRow, ReviewCreate, ReviewRow, utcnow

logger = logging.getLogger(__name__)

STATUS = {"confirm": "confirmed", "relabel": "relabelled", "reject": "rejected"}
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def zip_entry_stem(record_id: str) -> str:
    """A zip entry name part that cannot climb out of its folder (record ids are UUIDs since
    ingest checks them; rows stored before that may not be)."""
    stem = _UNSAFE_NAME_CHARS.sub("_", record_id)[:64].lstrip(".")
    return stem or "_"


class ReviewError(ValueError):
    """A review could not be applied (unknown detection, relabel without a class…)."""


def apply_review(session: Session, detection_id: str, review: ReviewCreate, reviewer: str) -> ReviewRow:
    """Record a review, update the detection and flag grades for recompute (commits)."""
    detection = session.get(DetectionRow, detection_id)
    if detection is None:
        raise ReviewError(f"no detection {detection_id!r}")
    if review.action == "relabel" and not review.new_class:
        raise ReviewError("relabel needs new_class")
    old = detection.reviewed_class or detection.class_name
    detection.review_status = STATUS[review.action]
    detection.reviewed_class = review.new_class if review.action == "relabel" else None
    row = ReviewRow(detection_id=detection_id, action=review.action, old_class=old,
                    new_class=review.new_class if review.action == "relabel" else None,
                    reviewer=reviewer, note=review.note, at=utcnow())
    session.add(row)
    set_meta(session, "conditions_dirty", "1")
    session.commit()
    logger.info("%s %s detection %s", reviewer, review.action, detection_id)
    return row


def yolo_export(session: Session) -> bytes:
    """Zip of YOLO labels for every frame with at least one reviewed detection.

    Confirmed and relabelled boxes are written under their final class; rejected ones are
    left out (they are the false positives to unlearn); unreviewed boxes of the same frame
    are kept as the model said. ``classes.txt`` gives the class index order; ``images.txt``
    lists the evidence JPEG per label file.
    """
    device = DetectionRow.reanalysed.is_(False)  # re-analyses are compared, not reviewed into training labels
    reviewed = set(session.scalars(select(DetectionRow.record_id).where(DetectionRow.review_status != "unreviewed",
                                                                       device)))
    frames = {f.record_id: f for f in session.scalars(select(FrameRow).where(FrameRow.record_id.in_(reviewed)))}
    boxes: dict[str, list[tuple[str, DetectionRow]]] = defaultdict(list)
    for d in session.scalars(select(DetectionRow).where(DetectionRow.record_id.in_(reviewed), device)):
        if d.review_status != "rejected":
            boxes[d.record_id].append((d.reviewed_class or d.class_name, d))
    classes = sorted({name for items in boxes.values() for name, _ in items})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("classes.txt", "\n".join(" ".join(name.split()) for name in classes) + "\n")
        images = []
        for record_id in sorted(reviewed):
            frame = frames[record_id]
            lines = [_yolo_line(classes.index(name), d, frame) for name, d in boxes.get(record_id, [])]
            stem = zip_entry_stem(record_id)
            archive.writestr(f"labels/{stem}.txt", "".join(lines))
            image_file = " ".join((frame.image_file or "").split())  # no tab or newline inside a TSV cell
            images.append(f"{stem}.txt\t{image_file}\t/api/v1/evidence/{stem}")
        archive.writestr("images.txt", "\n".join(images) + "\n")
    return buffer.getvalue()


def _yolo_line(class_index: int, d: DetectionRow, frame: FrameRow) -> str:
    w, h = frame.image_width, frame.image_height
    cx, cy = (d.x1 + d.x2) / 2 / w, (d.y1 + d.y2) / 2 / h
    return f"{class_index} {cx:.6f} {cy:.6f} {(d.x2 - d.x1) / w:.6f} {(d.y2 - d.y1) / h:.6f}\n"
