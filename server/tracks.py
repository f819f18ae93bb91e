"""Sections derived from survey tracks where the city gave no network (or the car left it).

Unmatched frames are grouped per survey and camera in sequence order and cut into runs at
gaps and U-turns; a run mostly covered by sections made from an earlier run (the same
street driven twice) is not turned into new sections, so repeated passes share sections.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
from shapely.geometry import LineString

from voirie.server.geo import Projector
from voirie.server.matching import SectionIndex
from voirie.server.network import RoadSegment, section_rows

logger = logging.getLogger(__name__)


def split_runs(xy: np.ndarray, max_gap_m: float) -> list[np.ndarray]:
    """Index arrays of consecutive points without a gap > ``max_gap_m`` or a U-turn."""
    if len(xy) < 2:
        return [np.arange(len(xy))]
    steps = np.diff(xy, axis=0)
    gaps = np.hypot(steps[:, 0], steps[:, 1])
    bearings = np.degrees(np.arctan2(steps[:, 0], steps[:, 1]))
    turn = np.abs((np.diff(bearings) + 180) % 360 - 180)
    cut = gaps > max_gap_m
    cut[1:] |= turn > 150  # a U-turn starts a new run (the way back is another pass)
    bounds = np.flatnonzero(cut) + 1
    return np.split(np.arange(len(xy)), bounds)


def derive_sections(groups: dict[tuple[str, str], np.ndarray], xy: np.ndarray, projector: Projector,
                    settings: Any) -> list[dict[str, Any]]:
    """New section rows from unmatched frames; ``groups`` maps (survey, camera) → point indices
    in sequence order, ``xy`` holds metric coordinates of every frame."""
    rows: list[dict[str, Any]] = []
    made_ids: list[str] = []
    made_lines: list[LineString] = []
    for (survey_id, camera_id), indices in sorted(groups.items()):
        for run in split_runs(xy[indices], max_gap_m=max(25.0, 3 * settings.frame_footprint_m)):
            points = xy[indices[run]]
            if len(points) < 2:
                continue
            if made_lines and _mostly_covered(points, made_ids, made_lines, settings):
                continue
            line_m = LineString(points).simplify(0.5)
            if line_m.length < 2.0:
                continue
            key = f"{survey_id}/{camera_id}/{int(indices[run][0])}".encode()
            segment_id = "trk-" + hashlib.sha1(key).hexdigest()[:12]
            segment = RoadSegment(segment_id, "", "", None, projector.to_wgs84(line_m))
            new = section_rows(segment, projector, settings.section_length_m, settings.default_width_m,
                               source="derived")
            rows.extend(new)
            made_ids.extend(r["section_id"] for r in new)
            made_lines.extend(_pieces(line_m, len(new)))
    logger.info("derived %d sections from survey tracks", len(rows))
    return rows


def _pieces(line_m: LineString, count: int) -> list[LineString]:
    from shapely.ops import substring

    step = line_m.length / count
    return [substring(line_m, i * step, (i + 1) * step) for i in range(count)]


def _mostly_covered(points: np.ndarray, ids: list[str], lines: list[LineString], settings: Any) -> bool:
    index = SectionIndex(ids, lines)
    nan = np.full(len(points), np.nan)
    matched = index.match(points, nan, settings.match_tolerance_m, settings.heading_tolerance_deg)
    return sum(m is not None for m in matched) > 0.5 * len(points)
