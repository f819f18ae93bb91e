"""A realistic synthetic street network, for the demo and the benchmark when no export exists."""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta

import numpy as np

from voirie.server.planning.model import Section

logger = logging.getLogger(__name__)

# Class mix and carriageway widths of a mid-sized French town (main / collector / local).
_CLASSES = (("main", 0.15, 9.0), ("collector", 0.25, 7.0), ("local", 0.60, 5.5))
_STREET_NAMES = ("Rue", "Avenue", "Boulevard", "Chemin", "Allée", "Impasse", "Quai", "Place")
_PATRONS = ("Jean Jaurès", "Victor Hugo", "de la Mer", "des Écoles", "du Port", "Pasteur", "Gambetta",
            "de la Gare", "Émile Zola", "des Tilleuls", "du Moulin", "Foch", "de Calais", "des Dunes")
GRADES = ((85, "A"), (70, "B"), (55, "C"), (40, "D"), (0, "E"))


def grade_of(pci: float) -> str:
    """Letter grade for a PCI (A best)."""
    return next(letter for floor, letter in GRADES if pci >= floor)


def sample_network(n_sections: int = 400, seed: int = 0, origin: tuple[float, float] = (1.8587, 50.9513),
                   no_data_share: float = 0.02) -> list[Section]:
    """``n_sections`` sections of ~60–150 m on straight streets around ``origin`` (lon, lat)."""
    rng = np.random.default_rng(seed)
    sections: list[Section] = []
    street = 0
    while len(sections) < n_sections:
        street += 1
        cls = rng.choice(len(_CLASSES), p=[c[1] for c in _CLASSES])
        road_class, _, width = _CLASSES[cls]
        name = f"{_STREET_NAMES[street % len(_STREET_NAMES)]} {_PATRONS[street % len(_PATRONS)]} {street}"
        lon, lat = origin[0] + rng.uniform(-0.03, 0.03), origin[1] + rng.uniform(-0.02, 0.02)
        heading = rng.uniform(0, math.pi)
        street_pci = rng.beta(4.0, 2.0) * 100  # sections of one street age together
        for k in range(int(rng.integers(2, 9))):
            length = float(rng.uniform(60, 150))
            dlon = length * math.cos(heading) / (111_320 * math.cos(math.radians(lat)))
            dlat = length * math.sin(heading) / 110_540
            pci = float(np.clip(street_pci + rng.normal(0, 8), 2, 100))
            surveyed = rng.random() >= no_data_share
            sections.append(Section(
                section_id=f"S{len(sections) + 1:05d}", street=name, road_class=road_class,
                length_m=round(length, 1), width_m=float(width + rng.uniform(-0.5, 0.5)),
                pci=round(pci, 1) if surveyed else None,
                surveyed_at=date(2026, 5, 1) + timedelta(days=int(rng.integers(0, 120))) if surveyed else None,
                grade=grade_of(pci) if surveyed else "", confidence=round(float(rng.uniform(0.6, 0.95)), 2),
                geometry_wkt=f"LINESTRING ({lon:.6f} {lat:.6f}, {lon + dlon:.6f} {lat + dlat:.6f})",
            ))
            lon, lat = lon + dlon, lat + dlat
            if len(sections) >= n_sections:
                break
    return sections
