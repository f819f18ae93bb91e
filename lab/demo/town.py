"""A generated town around the surveyed drive, so the demo's works plan has choices to make.

The sample drive grades 0.17 km, where every budget buys the same works. A council plans a
whole network: this module lays out ≈ 250 km of streets on a jittered grid (main roads
every 1.6 km, collectors between them, residential streets in the blocks), gives each
street a surface age (years since it was last resurfaced, within its class's resurfacing
cycle, some streets overdue) and grades each 200 m section from the planner's own
deterioration curve for its family at that age, plus the scatter of a visual inspection.

The town goes into the demo server's database as *inventory* sections (graded by an earlier
inspection): the server keeps their condition until one of our surveys covers them, and
the surveyed drive, which no town street comes near, keeps the grades of its survey.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString
from sqlalchemy import create_engine, delete, insert, select
from sqlalchemy.orm import Session

from voirie.server.condition import grade_from_pci
from voirie.server.conditions import INVENTORY_SOURCE
from voirie.server.crud import set_meta
from voirie.server.geo import projector_for
from voirie.server.models import Section
from voirie.server.planning.deterioration import DEFAULT_CURVES, road_class_group
from voirie.server.queries import feature_json, properties

logger = logging.getLogger(__name__)

# (OSM highway value, carriageway width m, resurfacing cycle in years): what each grid line becomes.
ROAD_TYPES = {
    "primary": (9.0, 15.0),
    "secondary": (7.5, 18.0),
    "tertiary": (6.5, 20.0),
    "residential": (5.5, 24.0),
}
# Grid lines repeat this pattern: one main road, two collectors and five residential streets in eight.
LINE_PATTERN = ("primary", "residential", "residential", "tertiary", "residential", "residential",
                "secondary", "residential")
BLOCK_M = 200.0  # grid spacing: one section per block side
JITTER_M = 12.0  # crossings are not on a perfect grid
OVERDUE_SHARE = 0.2  # streets whose resurfacing slipped past the cycle (up to 1.4 cycles old)
INSPECTION_SCATTER_PCI = 5.0  # a visual inspection's PCI error around the family curve
DRIVE_CLEARANCE_M = 60.0  # no town section this close to a surveyed one (4× the frame matching tolerance)
INSPECTED_AT = datetime(2025, 9, 15, tzinfo=timezone.utc)
DEFAULT_CENTRE = (-0.0760, 47.2590)  # (lon, lat): Saumur, where the sample drive is
_NAMES = ("Jean Jaurès", "Victor Hugo", "Pasteur", "Gambetta", "de la Gare", "Émile Zola", "des Tilleuls",
          "du Moulin", "Foch", "de la Loire", "des Écoles", "du Château", "Molière", "des Vignes")
_PREFIX = {"primary": "Boulevard", "secondary": "Avenue", "tertiary": "Avenue", "residential": "Rue"}


@dataclass(frozen=True)
class TownSection:
    """One block side of the town with its inspected condition."""

    section_id: str
    street: str
    road_type: str  # OSM highway value; the planner's family is ``road_class_group(road_type)``
    age_years: float  # since the surface was last laid
    pci: float
    width_m: float
    line: LineString  # WGS 84 (lon, lat)
    length_m: float

    @property
    def family(self) -> str:
        """The planner's deterioration family (main / collector / local; all asphalt)."""
        return _family(self.road_type)

    @property
    def grade(self) -> float:
        """The server's 1 (very good) … 5 (very poor) grade of the PCI."""
        return grade_from_pci(self.pci)


def _family(road_type: str) -> str:
    return road_class_group(road_type) or "local"


def town_km(town: list[TownSection]) -> float:
    """Total street length of the town in km."""
    return sum(s.length_m for s in town) / 1000.0


def _grid_lines(n: int) -> np.ndarray:
    """Index of every block side: (direction 0 = east-west / 1 = north-south, line, block)."""
    return np.array([(d, line, block) for d in (0, 1) for line in range(n + 1) for block in range(n)])


def _block_sides(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Metric (x0, y0, x1, y1) of each block side of an n × n block grid centred on 0, and its index."""
    nodes = (np.arange(n + 1) - n / 2.0) * BLOCK_M
    jitter = rng.normal(0.0, JITTER_M, size=(n + 1, n + 1, 2))
    x = nodes[:, None] + jitter[..., 0]  # x[i, j]: crossing of north-south line i and east-west line j
    y = nodes[None, :] + jitter[..., 1]
    sides = _grid_lines(n)
    ends = np.empty((len(sides), 4))
    for k, (direction, line, block) in enumerate(sides):
        a, b = ((block, line), (block + 1, line)) if direction == 0 else ((line, block), (line, block + 1))
        ends[k] = (x[a], y[a], x[b], y[b])
    return ends, sides


def _grid_size(target_km: float) -> int:
    """Blocks per side so that the full grid is a little longer than the target (sides are trimmed)."""
    n = 1
    while 2 * n * (n + 1) * BLOCK_M / 1000.0 < target_km * 1.04:
        n += 1
    return n


def _trim(rng: np.random.Generator, keep: np.ndarray, lengths: np.ndarray, types: list[str],
          target_km: float) -> np.ndarray:
    """Drop random residential block sides (parks, dead ends) until the town is ≤ ``target_km``."""
    residential = rng.permutation(np.flatnonzero(keep & (np.array(types) == "residential")))
    excess_m = lengths[keep].sum() - target_km * 1000.0
    for k in residential:
        if excess_m <= 0:
            break
        keep[k] = False
        excess_m -= lengths[k]
    return keep


def _street_ages(rng: np.random.Generator, sides: np.ndarray, types: list[str]) -> np.ndarray:
    """Surface age of each block side: grid lines are cut into streets of 2–7 blocks, and a
    street was resurfaced in one go, so its blocks share an age."""
    ages = np.empty(len(sides))
    street_of = _street_index(rng, sides)
    for street in np.unique(street_of):
        members = np.flatnonzero(street_of == street)
        cycle = ROAD_TYPES[types[members[0]]][1]
        overdue = rng.random() < OVERDUE_SHARE
        age = rng.uniform(cycle, 1.4 * cycle) if overdue else rng.uniform(0.0, cycle)
        ages[members] = np.clip(age + rng.normal(0.0, 0.5, len(members)), 0.0, None)  # patching here and there
    return ages


def _street_index(rng: np.random.Generator, sides: np.ndarray) -> np.ndarray:
    """Street number of each block side (consecutive blocks of one grid line)."""
    street_of = np.empty(len(sides), dtype=int)
    street, remaining = -1, 0
    for k, (_, _, block) in enumerate(sides):
        if block == 0 or remaining == 0:
            street, remaining = street + 1, int(rng.integers(2, 8))
        street_of[k] = street
        remaining -= 1
    return street_of


def generate_town(seed: int = 19, target_km: float = 250.0, centre: tuple[float, float] = DEFAULT_CENTRE,
                  avoid: list[LineString] | None = None) -> list[TownSection]:
    """A deterministic town of ≈ ``target_km`` of streets around ``centre`` (lon, lat), none of
    them within ``DRIVE_CLEARANCE_M`` of the WGS 84 lines in ``avoid`` (the surveyed sections)."""
    if not np.isfinite(target_km) or not 1.0 <= target_km <= 5000.0:
        raise ValueError(f"target_km must be between 1 and 5000 km, got {target_km}")
    lon, lat = centre
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):  # UTM's extent
        raise ValueError(f"centre must be (lon, lat) in degrees within UTM's extent, got {centre}")
    rng = np.random.default_rng(seed)
    n = _grid_size(target_km)
    ends, sides = _block_sides(rng, n)
    types = [LINE_PATTERN[line % len(LINE_PATTERN)] for _, line, _ in sides]
    ages = _street_ages(rng, sides, types)
    projector = projector_for(lon, lat)
    cx, cy = projector.forward.transform(lon, lat)
    metric = shapely.linestrings(np.stack([ends[:, :2], ends[:, 2:]], axis=1) + (cx, cy))
    keep = np.ones(len(sides), dtype=bool)
    if avoid:
        near = shapely.union_all([projector.to_metric(line) for line in avoid]).buffer(DRIVE_CLEARANCE_M)
        keep &= ~shapely.intersects(metric, near)
    lengths = shapely.length(metric)
    keep = _trim(rng, keep, lengths, types, target_km)
    return _sections(rng, [projector.to_wgs84(m) for m in metric], sides, types, ages, lengths, keep)


def _sections(rng: np.random.Generator, lines: list[LineString], sides: np.ndarray, types: list[str],
              ages: np.ndarray, lengths: np.ndarray, keep: np.ndarray) -> list[TownSection]:
    town = []
    for k in np.flatnonzero(keep):
        direction, line, _ = sides[k]
        road_type = types[k]
        curve = DEFAULT_CURVES[f"{_family(road_type)}/asphalt"]
        pci = float(curve.pci_at(ages[k])) + rng.normal(0.0, INSPECTION_SCATTER_PCI)
        width = ROAD_TYPES[road_type][0] + rng.uniform(-0.5, 0.5)
        name = f"{_PREFIX[road_type]} {_NAMES[(line + 7 * direction) % len(_NAMES)]} {direction + 1}{line:02d}"
        town.append(TownSection(section_id=f"town-{len(town) + 1:05d}", street=name, road_type=road_type,
                                age_years=round(float(ages[k]), 1), pci=round(float(np.clip(pci, 5.0, 100.0)), 1),
                                width_m=round(float(width), 1), line=lines[k], length_m=round(float(lengths[k]), 1)))
    return town


def section_rows(town: list[TownSection]) -> list[dict[str, Any]]:
    """Rows of the server's ``sections`` table for the town (inventory sections, graded)."""
    rows = []
    for s in town:
        minx, miny, maxx, maxy = s.line.bounds
        geometry = {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in s.line.coords]}
        row = {"section_id": s.section_id, "segment_id": s.section_id, "source": INVENTORY_SOURCE,
               "street": s.street, "road_class": s.road_type, "length_m": s.length_m, "width_m": s.width_m,
               "geometry_wkt": shapely.to_wkt(s.line, rounding_precision=7), "geometry_json": json.dumps(geometry),
               "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "pci": s.pci, "grade": s.grade,
               "confidence": 0.7, "surveyed_at": INSPECTED_AT, "survey_id": "town-inspection-2025",
               "model_version": "visual inspection", "frames": 0, "damage": {}}
        row["feature_json"] = feature_json(s.section_id, row["geometry_json"], properties(SimpleNamespace(**row)))
        rows.append(row)
    return rows


def add_town_to_server(database_url: str, seed: int = 19, target_km: float = 250.0) -> list[TownSection]:
    """Generate the town around the sections already in the server's database (the surveyed
    drive) and insert it as inventory sections; the server regrades on its next read."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            session.execute(delete(Section).where(Section.source == INVENTORY_SOURCE))  # a rerun replaces it
            surveyed = shapely.from_wkt(list(session.scalars(select(Section.geometry_wkt))))
            centre = DEFAULT_CENTRE
            if len(surveyed):
                middle = shapely.union_all(surveyed).centroid
                centre = (middle.x, middle.y)
            town = generate_town(seed, target_km, centre, list(surveyed))
            session.execute(insert(Section), section_rows(town))
            set_meta(session, "conditions_dirty", "1")  # new generation: the map's caches refresh
            session.commit()
    finally:
        engine.dispose()
    logger.info("town of %.1f km (%d sections) added around %d surveyed sections", town_km(town), len(town),
                len(surveyed))
    return town
