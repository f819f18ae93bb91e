"""Map matching: each frame to the nearest section within a tolerance whose bearing agrees
with the car's heading (either direction of travel; a frame without heading matches on
distance alone). Vectorised with shapely 2's STRtree."""

from __future__ import annotations

import logging

import numpy as np
import shapely
from shapely import STRtree

logger = logging.getLogger(__name__)


class SectionIndex:
    """Metric section lines with a spatial index."""

    def __init__(self, section_ids: list[str], lines_m: list[shapely.LineString]) -> None:
        if len(section_ids) != len(lines_m):
            raise ValueError(f"{len(section_ids)} ids for {len(lines_m)} lines")
        self.section_ids = np.asarray(section_ids, dtype=object)
        self.lines = np.asarray(lines_m, dtype=object)
        self.tree = STRtree(self.lines) if len(self.lines) else None

    def match(self, xy: np.ndarray, headings: np.ndarray, tolerance_m: float,
              heading_tolerance_deg: float) -> list[str | None]:
        """Section id per point (None when nothing is close and heading-consistent)."""
        result: list[str | None] = [None] * len(xy)
        if self.tree is None or not len(xy):
            return result
        points = shapely.points(xy)
        point_idx, line_idx = self.tree.query(points, predicate="dwithin", distance=tolerance_m)
        if not len(point_idx):
            return result
        lines, pts = self.lines[line_idx], points[point_idx]
        distance = shapely.distance(pts, lines)
        ok = _heading_ok(lines, pts, headings[point_idx], heading_tolerance_deg)
        order = np.lexsort((distance, point_idx))  # by point, nearest first
        for k in order:
            if ok[k] and result[point_idx[k]] is None:
                result[point_idx[k]] = self.section_ids[line_idx[k]]
        return result


def _heading_ok(lines: np.ndarray, points: np.ndarray, headings: np.ndarray, tolerance: float) -> np.ndarray:
    """Whether the line's local bearing is within ``tolerance`` of the heading (mod 180°)."""
    along = shapely.line_locate_point(lines, points)
    length = shapely.length(lines)
    a = shapely.line_interpolate_point(lines, np.clip(along - 1.0, 0, length))
    b = shapely.line_interpolate_point(lines, np.clip(along + 1.0, 0, length))
    ax, ay = shapely.get_x(a), shapely.get_y(a)
    bx, by = shapely.get_x(b), shapely.get_y(b)
    bearing = np.degrees(np.arctan2(bx - ax, by - ay)) % 360.0
    gap = np.abs((headings - bearing) % 180.0)
    gap = np.minimum(gap, 180.0 - gap)
    return np.isnan(headings) | (gap <= tolerance)
