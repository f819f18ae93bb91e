"""The low-zoom overview: sections merged along their road into longer pieces.

A 20 m section is under a pixel at zoom 10, and a 5,000 km network has 250,000 of them:
tiles made from raw sections there would be megabytes and seconds. Every recompute merges
consecutive sections of a road (same ``segment_id``, id order) into pieces of at least a
level's length, each level four times the previous one, and stores them in
``section_overview``; a tile below ``RAW_FROM_ZOOM`` reads the level that keeps its pieces
a few pixels long. A piece's grade comes from the length-weighted PCI of its graded
sections (as streets are graded); ``grade_max`` keeps the worst one visible.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from voirie.server.models import Section, SectionOverview
from voirie.server.queries import damage_summary

logger = logging.getLogger(__name__)

# Level → shortest piece (m). Level k serves zoom 13 - k (the last one every zoom below): a
# tile one zoom out covers 4x the area with 4x longer pieces, so every tile holds about as
# many features as a zoom-13 tile of raw sections (measured: bench/scale.py, docs/deploy.md).
OVERVIEW_LEVELS = {1: 100.0, 2: 400.0, 3: 1600.0, 4: 6400.0}
RAW_FROM_ZOOM = 13
METRES_PER_DEGREE = 111_320.0
_INSERT_CHUNK = 5000


def overview_level(zoom: int) -> int | None:
    """The overview level a tile at ``zoom`` reads; None: the raw sections."""
    if zoom >= RAW_FROM_ZOOM:
        return None
    return min(max(OVERVIEW_LEVELS), RAW_FROM_ZOOM - zoom)


@dataclass
class _Piece:
    """Consecutive sections of one road and what the map shows of them."""

    segment_id: str
    sections: int
    length_m: float
    coords: list[np.ndarray]
    graded_m: float = 0.0
    pci_m: float = 0.0  # Σ pci × length of the graded sections
    grade_max: float | None = None
    surveyed_at: datetime | None = None
    damage: Counter = field(default_factory=Counter)

    def absorb(self, other: _Piece) -> None:
        """Append the next piece of the same road."""
        self.sections += other.sections
        self.length_m += other.length_m
        self.coords.extend(other.coords)
        self.graded_m += other.graded_m
        self.pci_m += other.pci_m
        self.damage.update(other.damage)
        if other.grade_max is not None:
            self.grade_max = max(self.grade_max or other.grade_max, other.grade_max)
        if other.surveyed_at is not None:
            self.surveyed_at = max(self.surveyed_at or other.surveyed_at, other.surveyed_at)


def _section_piece(section: Section, coords: np.ndarray, condition: dict[str, Any]) -> _Piece:
    piece = _Piece(section.segment_id, 1, section.length_m, [coords])
    if condition.get("pci") is not None:
        piece.graded_m, piece.pci_m = section.length_m, condition["pci"] * section.length_m
        piece.grade_max, piece.surveyed_at = condition["grade"], condition["surveyed_at"]
        piece.damage.update(condition.get("damage") or {})
    return piece


def _merge(pieces: list[_Piece], min_length: float) -> list[_Piece]:
    """Greedy merge of one road's consecutive pieces to ``min_length``; a short tail joins
    the piece before it (a road shorter than ``min_length`` stays one piece)."""
    merged: list[_Piece] = []
    for piece in pieces:
        if not merged or merged[-1].length_m >= min_length:
            merged.append(_Piece(piece.segment_id, 0, 0.0, []))
        merged[-1].absorb(piece)
    if len(merged) > 1 and merged[-1].length_m < min_length:
        merged[-2].absorb(merged.pop())
    return merged


def _rows(level: int, roads: dict[str, list[_Piece]], min_length: float) -> list[dict[str, Any]]:
    pieces = [(segment_id, n, p) for segment_id, items in roads.items() for n, p in enumerate(items)]
    if not pieces:
        return []
    coords = [np.concatenate(p.coords) for _, _, p in pieces]
    owner = np.repeat(np.arange(len(coords)), [len(c) for c in coords])
    lines = shapely.linestrings(np.concatenate(coords), indices=owner)
    # Drop detail finer than a tenth of a piece: invisible at the zooms this level serves.
    lines = shapely.simplify(lines, min_length / 10 / METRES_PER_DEGREE, preserve_topology=False)
    bounds, wkts = shapely.bounds(lines), shapely.to_wkt(lines, rounding_precision=7)
    rows = []
    for (segment_id, n, p), wkt, (minx, miny, maxx, maxy) in zip(pieces, wkts, bounds):
        pci = p.pci_m / p.graded_m if p.graded_m else None
        rows.append({"piece_id": f"{level}:{segment_id}:{n}", "level": level, "segment_id": segment_id,
                     "sections": p.sections, "length_m": round(p.length_m, 1), "geometry_wkt": wkt,
                     "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy,
                     "pci": None if pci is None else round(pci, 1),
                     "grade": None if pci is None else round(1 + 4 * (100 - pci) / 100, 2),
                     "grade_max": p.grade_max, "surveyed_at": p.surveyed_at, "damage": dict(p.damage),
                     **damage_summary(p.damage)})
    return rows


def rebuild_overview(session: Session, sections: dict[str, Section], current: dict[str, dict[str, Any]]) -> int:
    """Replace ``section_overview`` from the sections and their current conditions; rows written."""
    session.execute(delete(SectionOverview))
    ordered = sorted(sections.values(), key=lambda s: (s.segment_id, s.section_id))
    geometries = shapely.from_wkt([s.geometry_wkt for s in ordered])
    roads: dict[str, list[_Piece]] = defaultdict(list)
    for section, geometry in zip(ordered, geometries):
        if geometry is None or shapely.get_type_id(geometry) != 1:  # only LineStrings chain end to end
            continue
        roads[section.segment_id].append(_section_piece(section, shapely.get_coordinates(geometry),
                                                        current.get(section.section_id, {})))
    written = 0
    for level, min_length in OVERVIEW_LEVELS.items():
        roads = {segment_id: _merge(items, min_length) for segment_id, items in roads.items()}
        rows = _rows(level, roads, min_length)
        for start in range(0, len(rows), _INSERT_CHUNK):
            session.execute(insert(SectionOverview), rows[start:start + _INSERT_CHUNK])
        written += len(rows)
    logger.info("overview: %d pieces from %d sections", written, len(ordered))
    return written
