"""Recompute: match frames to sections, derive missing sections, grade every section.

The newest survey of a section decides its current condition (a newer survey supersedes
older ones); the condition of every (section, survey) pair is kept in ``section_history``
for change detection. Rejected detections are left out, relabelled ones count under their
new class, so human review changes grades.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import shapely
from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from voirie.server.condition import distress_of, pci_from_quantities
from voirie.server.core.config import Settings
from voirie.server.crud import get_meta, set_meta
from voirie.server.geo import Projector, projector_for
from voirie.server.matching import SectionIndex
from voirie.server.model_grades import grade_model_versions
from voirie.server.models import DetectionRow, FrameRow, Meta, Section, SectionHistory
from voirie.server.overview import rebuild_overview
from voirie.server.queries import PROPERTY_NAMES, damage_summary, feature_json, properties
from voirie.server.tracks import derive_sections

logger = logging.getLogger(__name__)

INVENTORY_SOURCE = "inventory"  # sections.source of a section graded by an imported inspection


def _metric_index(session: Session, projector: Projector) -> tuple[SectionIndex, dict[str, Section]]:
    sections = {s.section_id: s for s in session.scalars(select(Section))}
    lines = shapely.from_wkt([s.geometry_wkt for s in sections.values()])
    metric = projector.to_metric(lines) if len(lines) else []
    return SectionIndex(list(sections), list(metric)), sections


def match_frames(session: Session, settings: Settings) -> int:
    """Assign ``frames.section_id``; derive sections for frames no section is near."""
    frames = session.execute(select(FrameRow.record_id, FrameRow.lon, FrameRow.lat, FrameRow.heading_deg,
                                    FrameRow.survey_id, FrameRow.camera_id, FrameRow.sequence,
                                    FrameRow.section_id)).all()
    if not frames:
        return 0
    lon, lat = np.array([f.lon for f in frames]), np.array([f.lat for f in frames])
    projector = projector_for(float(lon.mean()), float(lat.mean()), settings.metric_crs)
    x, y = projector.forward.transform(lon, lat)
    xy = np.column_stack([x, y])
    headings = np.array([np.nan if f.heading_deg is None else f.heading_deg for f in frames])
    index, _ = _metric_index(session, projector)
    matched = index.match(xy, headings, settings.match_tolerance_m, settings.heading_tolerance_deg)
    missing = [i for i, m in enumerate(matched) if m is None]
    if missing:
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i in sorted(missing, key=lambda i: (frames[i].survey_id, frames[i].camera_id, frames[i].sequence)):
            groups[(frames[i].survey_id, frames[i].camera_id)].append(i)
        rows = derive_sections({k: np.array(v) for k, v in groups.items()}, xy, projector, settings)
        if rows:
            session.execute(insert(Section), rows)
            index, _ = _metric_index(session, projector)
            again = index.match(xy[missing], headings[missing], settings.match_tolerance_m,
                                settings.heading_tolerance_deg)
            for i, section_id in zip(missing, again):
                matched[i] = section_id
    # Only the frames whose section changed: a regrade after a survey leaves the older frames
    # where they were, and rewriting them all would leave a million dead rows on PostgreSQL.
    changed = [{"record_id": f.record_id, "section_id": s} for f, s in zip(frames, matched) if f.section_id != s]
    if changed:
        session.execute(update(FrameRow), changed)
    return sum(m is not None for m in matched)


def _effective(d: Any) -> str:
    return d.reviewed_class if d.review_status == "relabelled" and d.reviewed_class else d.class_name


def _quantity(d: Any, distress: str, frame: Any, width_m: float, footprint_m: float) -> float:
    """m² / m / count of one detection: calibrated size when the device sent one, else
    its share of the image times the road area one frame covers (relative extent)."""
    bw, bh = (d.x2 - d.x1) / frame.image_width, (d.y2 - d.y1) / frame.image_height
    if distress == "pothole":
        return 1.0
    if distress == "long_trans":
        return d.length_m if d.length_m is not None else float(np.hypot(bw * width_m, bh * footprint_m))
    return d.area_m2 if d.area_m2 is not None else bw * bh * width_m * footprint_m


def grade_group(section: Section, frames: list[Any], detections: dict[str, list[Any]],
                footprint_m: float) -> dict[str, Any]:
    """Condition of one section from one survey's frames."""
    coverage = min(1.0, len(frames) * footprint_m / section.length_m)
    scale = min(1.0, section.length_m / (len(frames) * footprint_m))  # overlapping frames
    quantities: Counter[str] = Counter()
    damage: Counter[str] = Counter()
    confidences = []
    for frame in frames:
        for d in detections.get(frame.record_id, ()):
            name = _effective(d)
            damage[name] += 1
            distress = distress_of(name)
            if distress is None:
                continue
            quantities[distress] += scale * _quantity(d, distress, frame, section.width_m, footprint_m)
            confidences.append(1.0 if d.review_status in ("confirmed", "relabelled") else d.confidence)
    condition = pci_from_quantities(dict(quantities), section.length_m * section.width_m)
    confidence = coverage * (float(np.mean(confidences)) if confidences else 1.0)
    versions = Counter(f.model_version or "unknown" for f in frames)
    return {"pci": condition.pci, "grade": condition.grade, "confidence": round(confidence, 3),
            "surveyed_at": max(f.time_utc for f in frames), "model_version": versions.most_common(1)[0][0],
            "frames": len(frames), "damage": dict(damage)}


def grade_sections(session: Session, settings: Settings) -> int:
    """Grade every (section, survey); newest survey → current; all → history."""
    sections = {s.section_id: s for s in session.scalars(select(Section))}
    frames = session.execute(select(FrameRow.record_id, FrameRow.section_id, FrameRow.survey_id,
                                    FrameRow.time_utc, FrameRow.model_version, FrameRow.image_width,
                                    FrameRow.image_height).where(FrameRow.section_id.is_not(None))).all()
    detections: dict[str, list[Any]] = defaultdict(list)
    for d in session.execute(select(DetectionRow).where(DetectionRow.review_status != "rejected",
                                                       DetectionRow.reanalysed.is_(False))).scalars():
        detections[d.record_id].append(d)
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for f in frames:
        groups[(f.section_id, f.survey_id)].append(f)
    history, current = [], {}
    for (section_id, survey_id), members in groups.items():
        graded = grade_group(sections[section_id], members, detections, settings.frame_footprint_m)
        history.append({"section_id": section_id, "survey_id": survey_id,
                        **{k: graded[k] for k in ("surveyed_at", "pci", "grade", "confidence", "model_version")}})
        if section_id not in current or graded["surveyed_at"] > current[section_id]["surveyed_at"]:
            current[section_id] = {**graded, "survey_id": survey_id}
    session.execute(delete(SectionHistory))
    if history:
        session.execute(insert(SectionHistory), history)
    # An inventory section was graded by an earlier inspection, not by our frames: it keeps
    # that condition until one of our surveys covers it (then the survey, being newer, wins).
    updates = [_section_update(s, current.get(sid, EMPTY)) for sid, s in sections.items()
               if sid in current or s.source != INVENTORY_SOURCE]
    if updates:
        session.execute(update(Section.__table__).where(Section.section_id == bindparam("sid")), updates)
    rebuild_overview(session, sections, _shown_conditions(sections, current))
    return len(current)


EMPTY = {"pci": None, "grade": None, "confidence": None, "surveyed_at": None, "survey_id": None,
         "model_version": None, "frames": 0, "damage": {}}


def _shown_conditions(sections: dict[str, Section], current: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The condition each section shows after this recompute (what the overview merges): its
    newest survey's, else an inventory section's own inspection, else none."""
    shown = {}
    for sid, section in sections.items():
        if sid in current:
            shown[sid] = current[sid]
        elif section.source == INVENTORY_SOURCE:
            shown[sid] = {"pci": section.pci, "grade": section.grade, "surveyed_at": section.surveyed_at,
                          "damage": section.damage}
    return shown


def condition_feature(section: Section, condition: dict[str, Any]) -> str:
    """The section's stored Feature text with ``condition`` (the keys of ``EMPTY``) as its grade."""
    props = properties(SimpleNamespace(**{**{n: getattr(section, n) for n in PROPERTY_NAMES}, **condition}))
    return feature_json(section.section_id, section.geometry_json, props)


def _section_update(section: Section, condition: dict[str, Any]) -> dict[str, Any]:
    """Parameters of one section's UPDATE: condition columns and the stored Feature text."""
    values = {name: condition[name] for name in EMPTY}
    return {"sid": section.section_id, **values, **damage_summary(values["damage"]),
            "feature_json": condition_feature(section, values)}


def refresh_statistics(session: Session) -> None:
    """PostgreSQL: re-read the table statistics a recompute just rewrote (every section row,
    the whole overview), so the tile and bbox queries are planned on the GiST indexes at once
    rather than after autovacuum gets to it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE sections, section_overview"))
        session.commit()


class ConditionService:
    """Keeps grades current: recomputes lazily when ingest or review marked them dirty."""

    def __init__(self, settings: Settings, session_factory: sessionmaker) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], bytes] = {}

    def ensure_current(self) -> str:
        """Recompute if needed; returns the *generation* of the grades, a random token kept
        in the database and renewed by every recompute (so several workers agree on it, and
        a restored state can never reuse a cached token)."""
        with self._lock, self.session_factory() as session:
            generation = get_meta(session, "generation", "0")
            if get_meta(session, "conditions_dirty", "0") != "1":
                return generation
            # Claim the work with an UPDATE: it takes the database write lock, so another
            # process (a second worker, a CLI import) waits and then finds nothing to do.
            claim = update(Meta).where(Meta.key == "conditions_dirty", Meta.value == "1").values(value="0")
            if session.execute(claim).rowcount != 1:
                session.rollback()
                return get_meta(session, "generation", "0")
            matched = match_frames(session, self.settings)
            graded = grade_sections(session, self.settings)
            grade_model_versions(session, self.settings)
            generation = uuid.uuid4().hex
            set_meta(session, "generation", generation)
            session.commit()
            refresh_statistics(session)
            logger.info("recomputed conditions: %d frames matched, %d sections graded", matched, graded)
            return generation

    def cached(self, generation: str, key: str, build: Callable[[], bytes]) -> bytes:
        """A response body for ``key`` at ``generation`` (built once per generation): the
        map reloads the same GeoJSON many times between surveys."""
        with self._lock:
            body = self._cache.get((generation, key))
        if body is None:
            body = build()
            with self._lock:
                if len(self._cache) >= 32 or any(g != generation for g, _ in self._cache):
                    self._cache.clear()
                self._cache[(generation, key)] = body
        return body

    def mark_dirty(self, session: Session) -> None:
        """Flag that grades must be recomputed (caller commits)."""
        set_meta(session, "conditions_dirty", "1")
