"""Read and validate the sections CSV the server exports, and the survey history CSV."""

from __future__ import annotations

import csv
import logging
import math
from datetime import date, datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voirie.server.planning.deterioration import road_class_group
from voirie.server.planning.model import PlanningInputError, Section

logger = logging.getLogger(__name__)

SECTION_COLUMNS = ("section_id", "street", "road_class", "length_m", "width_m", "pci", "grade",
                   "confidence", "surveyed_at", "model_version", "geometry_wkt")
HISTORY_COLUMNS = ("section_id", "surveyed_at", "pci")
MAX_LISTED_ERRORS = 10
DEFAULT_WIDTH_M = {"main": 9.0, "collector": 7.0, "local": 5.5}


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"surveyed_at {text!r} is not an ISO date") from None


def _parse_float(text: str, column: str, low: float, high: float, optional: bool) -> float | None:
    text = text.strip()
    if not text:
        if optional:
            return None
        raise ValueError(f"{column} is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{column} must be in [{low}, {high}], got {value}")
    return value


def section_from_row(row: dict[str, str]) -> Section:
    """One CSV row to a ``Section``; a row without PCI is a section with no survey."""
    section_id = (row.get("section_id") or "").strip()
    if not section_id:
        raise ValueError("section_id is empty")
    length = _parse_float(row["length_m"], "length_m", 0.0, 1e5, optional=False)
    width = _parse_float(row["width_m"], "width_m", 0.0, 200.0, optional=True)
    if width is None:  # unknown width: a typical carriageway of the class, so costs stay plausible
        width = DEFAULT_WIDTH_M.get(road_class_group(row["road_class"]) or "local", 5.5)
    if length <= 0 or width <= 0:
        raise ValueError(f"length_m and width_m must be positive, got {length} × {width}")
    return Section(
        section_id=section_id,
        street=row["street"].strip() or section_id,
        road_class=row["road_class"].strip() or "local",
        length_m=length,
        width_m=width,
        pci=_parse_float(row["pci"], "pci", 0.0, 100.0, optional=True),
        surveyed_at=_parse_date(row["surveyed_at"]),
        surface=(row.get("surface") or "asphalt").strip(),
        grade=row["grade"].strip(),
        confidence=_parse_float(row["confidence"], "confidence", 0.0, 100.0, optional=True),
        geometry_wkt=row["geometry_wkt"].strip(),
    )


def section_from_properties(properties: Mapping[str, Any]) -> Section:
    """A ``Section`` from the server's section properties (numbers, datetimes or None).

    What the lead passes to ``create_planning_router(get_sections=...)``: e.g.
    ``[section_from_properties({**properties(r), "geometry_wkt": r.geometry_wkt}) for r in rows]``.
    """
    def text(value: Any) -> str:
        if value is None:
            return ""
        return value.isoformat() if isinstance(value, (date, datetime)) else str(value)

    row = {column: text(properties.get(column)) for column in (*SECTION_COLUMNS, "surface")}
    try:
        return section_from_row(row)
    except ValueError as error:
        raise PlanningInputError(f"section {row['section_id'] or '?'}: {error}") from None


def _open_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise PlanningInputError(f"{path}: missing columns {missing}; found {reader.fieldnames}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PlanningInputError(f"cannot read {path}: {error}") from error


def load_sections_csv(path: Path) -> list[Section]:
    """Every section of the file; any bad row makes it fail with the rows listed."""
    sections: list[Section] = []
    errors: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(_open_rows(Path(path), SECTION_COLUMNS), start=2):
        try:
            section = section_from_row(row)
        except ValueError as error:
            errors.append(f"line {line} ({row.get('section_id', '?')}): {error}")
            continue
        if section.section_id in seen:
            errors.append(f"line {line}: duplicate section_id {section.section_id!r}")
        seen.add(section.section_id)
        sections.append(section)
    if errors:
        listed = "; ".join(errors[:MAX_LISTED_ERRORS])
        more = f" (and {len(errors) - MAX_LISTED_ERRORS} more)" if len(errors) > MAX_LISTED_ERRORS else ""
        raise PlanningInputError(f"{path}: {len(errors)} bad row(s): {listed}{more}")
    if not sections:
        raise PlanningInputError(f"{path}: the network is empty (no section rows)")
    no_data = sum(1 for s in sections if not s.has_data)
    if no_data:
        logger.warning("%d of %d sections have no survey (no PCI): left out of the plan", no_data, len(sections))
    return sections


def load_history_csv(path: Path) -> dict[str, list[tuple[date, float]]]:
    """Survey history per section: ``{section_id: [(surveyed_at, pci), ...]}``."""
    history: dict[str, list[tuple[date, float]]] = {}
    errors: list[str] = []
    for line, row in enumerate(_open_rows(Path(path), HISTORY_COLUMNS), start=2):
        try:
            surveyed = _parse_date(row["surveyed_at"])
            pci = _parse_float(row["pci"], "pci", 0.0, 100.0, optional=False)
            if surveyed is None or not row["section_id"].strip():
                raise ValueError("section_id and surveyed_at are required")
        except ValueError as error:
            errors.append(f"line {line}: {error}")
            continue
        history.setdefault(row["section_id"].strip(), []).append((surveyed, pci))
    if errors:
        raise PlanningInputError(f"{path}: {len(errors)} bad row(s): {'; '.join(errors[:MAX_LISTED_ERRORS])}")
    return history


def write_sections_csv(sections: list[Section], path: Path) -> Path:
    """Write sections in the server's export format (used by the demo's sample network)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*SECTION_COLUMNS, "surface"])
        writer.writeheader()
        for s in sections:
            writer.writerow({
                "section_id": s.section_id, "street": s.street, "road_class": s.road_class,
                "length_m": f"{s.length_m:.1f}", "width_m": f"{s.width_m:.1f}",
                "pci": "" if s.pci is None else f"{s.pci:.1f}", "grade": s.grade,
                "confidence": "" if s.confidence is None else f"{s.confidence:.2f}",
                "surveyed_at": s.surveyed_at.isoformat() if s.surveyed_at else "",
                "model_version": "sample", "geometry_wkt": s.geometry_wkt, "surface": s.surface,
            })
    return path
