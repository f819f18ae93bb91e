"""Grades per model version: each section's newest survey graded again with the detections a
re-analysing model (``voirie reanalyse``) found on its stored photos.

The device's own detections keep making the current grades (``sections``); a re-analysis
adds rows to ``model_grades`` instead, so the map and a section's history can put one model
version beside another without either overwriting the other.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from voirie.server.core.config import Settings
from voirie.server.models import AnalysisRow, DetectionRow, FrameRow, ModelGrade, Section
from voirie.server.queries import SectionFilter

logger = logging.getLogger(__name__)

MODEL_KEY = re.compile(r"^(?P<model_id>[^@\s]{1,128})@(?P<model_version>[^@\s]{1,128})$")


def parse_model_key(key: str) -> tuple[str, str]:
    """``"damage-yolo11n@0.3.0"`` → ``("damage-yolo11n", "0.3.0")``; ValueError otherwise."""
    match = MODEL_KEY.match(key)
    if match is None:
        raise ValueError(f"model must be written id@version (e.g. damage-yolo11n@0.3.0), got {key!r}")
    return match["model_id"], match["model_version"]


def _analysed_frames(session: Session, newest_survey: dict[str, str]) -> dict[tuple[str, str, str], list[Any]]:
    """(model id, version, section) → the frames of the section's newest survey that version analysed."""
    rows = session.execute(
        select(FrameRow.record_id, FrameRow.section_id, FrameRow.survey_id, FrameRow.time_utc, FrameRow.image_width,
               FrameRow.image_height, AnalysisRow.model_id, AnalysisRow.model_version)
        .join(AnalysisRow, AnalysisRow.record_id == FrameRow.record_id)
        .where(FrameRow.section_id.is_not(None)))
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for row in rows:
        if newest_survey.get(row.section_id) == row.survey_id:
            groups[(row.model_id, row.model_version, row.section_id)].append(row)
    return groups


def _reanalysed_detections(session: Session) -> dict[tuple[str, str], dict[str, list[Any]]]:
    found: dict[tuple[str, str], dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    query = select(DetectionRow).where(DetectionRow.reanalysed.is_(True), DetectionRow.review_status != "rejected")
    for d in session.scalars(query):
        found[(d.model_id, d.model_version)][d.record_id].append(d)
    return found


def grade_model_versions(session: Session, settings: Settings) -> int:
    """Rewrite ``model_grades`` from the re-analysed detections; returns the rows written."""
    from voirie.server.conditions import condition_feature, grade_group  # conditions calls us: late, no cycle

    sections = {s.section_id: s for s in session.scalars(select(Section).where(Section.survey_id.is_not(None)))}
    groups = _analysed_frames(session, {sid: s.survey_id for sid, s in sections.items()})
    detections = _reanalysed_detections(session)
    rows = []
    for (model_id, version, section_id), frames in groups.items():
        section = sections[section_id]
        graded = grade_group(section, frames, detections[(model_id, version)], settings.frame_footprint_m)
        graded.update(model_version=f"{model_id}@{version}", survey_id=section.survey_id)
        rows.append({"section_id": section_id, "model_id": model_id, "model_version": version,
                     **{k: graded[k] for k in ("survey_id", "surveyed_at", "pci", "grade", "confidence", "frames",
                                               "damage")},
                     "feature_json": condition_feature(section, graded)})
    session.execute(delete(ModelGrade))
    if rows:
        session.execute(insert(ModelGrade), rows)
    return len(rows)


def model_feature_texts(session: Session, model_id: str, model_version: str, f: SectionFilter) -> list[str]:
    """Feature texts of the sections graded by one model version (grade and damage filters apply)."""
    query = select(ModelGrade.feature_json, ModelGrade.damage).where(
        ModelGrade.model_id == model_id, ModelGrade.model_version == model_version)
    if f.grade_min is not None:
        query = query.where(ModelGrade.grade >= f.grade_min)
    if f.grade_max is not None:
        query = query.where(ModelGrade.grade <= f.grade_max)
    rows = session.execute(query.order_by(ModelGrade.section_id))
    return [r.feature_json for r in rows if f.damage_class is None or (r.damage or {}).get(f.damage_class)]


def is_analysed(session: Session, model_id: str, model_version: str) -> bool:
    """Whether that model version re-analysed any photo: the first row found, not the listing's counts."""
    return session.scalar(select(AnalysisRow.id).where(
        AnalysisRow.model_id == model_id, AnalysisRow.model_version == model_version).limit(1)) is not None


def model_versions(session: Session) -> list[dict[str, Any]]:
    """The versions a map can show: the devices' (as surveyed) and every re-analysis."""
    surveyed = session.execute(select(FrameRow.model_version, func.count()).group_by(FrameRow.model_version)
                               .order_by(FrameRow.model_version)).all()
    graded = dict(((r.model_id, r.model_version), r[2]) for r in session.execute(
        select(ModelGrade.model_id, ModelGrade.model_version, func.count())
        .group_by(ModelGrade.model_id, ModelGrade.model_version)))
    analysed = session.execute(
        select(AnalysisRow.model_id, AnalysisRow.model_version, func.count(), func.max(AnalysisRow.analysed_at))
        .group_by(AnalysisRow.model_id, AnalysisRow.model_version)
        .order_by(AnalysisRow.model_id, AnalysisRow.model_version)).all()
    return ([{"model": None, "model_version": version, "source": "device", "photos": count, "sections": None,
              "analysed_at": None} for version, count in surveyed]
            + [{"model": f"{model_id}@{version}", "model_id": model_id, "model_version": version,
                "source": "reanalysis", "photos": count, "sections": graded.get((model_id, version), 0),
                "analysed_at": last.isoformat() if last else None}
               for model_id, version, count, last in analysed])


def section_model_grades(session: Session, section_id: str) -> list[dict[str, Any]]:
    """One section's grade under each re-analysing model version (for its history panel)."""
    rows = session.scalars(select(ModelGrade).where(ModelGrade.section_id == section_id)
                           .order_by(ModelGrade.model_id, ModelGrade.model_version))
    return [{"model": f"{g.model_id}@{g.model_version}", "survey_id": g.survey_id,
             "surveyed_at": g.surveyed_at.isoformat(), "pci": g.pci, "grade": g.grade, "confidence": g.confidence,
             "frames": g.frames, "damage": g.damage} for g in rows]
