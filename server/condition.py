"""Pavement condition from detections: a PCI-style 0–100 index and a 1–5 grade.

The index follows the ASTM D6433 (asphalt roads) deduct-value procedure:

1. per distress type, *density* = quantity / section area × 100 (%); quantity is m² for
   alligator cracking, patching and rutting, metres for longitudinal/transverse cracking,
   and a count for potholes (as D6433 measures them);
2. a *deduct value* (DV) per distress from its deduct curve at that density;
3. allowed number of deducts m = 1 + (9/98)(100 − HDV) (HDV = highest DV), at most 10;
4. iterative *corrected deduct value*: q = number of DVs > 2; CDV from the correction curve
   for q; set the smallest DV above 2 to 2; repeat until q = 1; PCI = 100 − max CDV.

The curves below are piecewise-linear in log10(density) at medium severity (the model
gives no severity). They are approximations read from the D6433 figures as reproduced in
Shahin, *Pavement Management for Airports, Roads and Parking Lots* (2nd ed., 2005,
Appendix) and are accurate to a few deduct points; a department holding the licensed
ASTM tables can replace ``DEDUCT_CURVES``/``CDV_CURVES`` without other changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# density % → deduct value, medium severity (points at log10 density).
DEDUCT_CURVES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "alligator": ((0.1, 1, 10, 100), (12, 28, 53, 80)),
    "long_trans": ((0.1, 1, 10, 100), (2, 8, 23, 50)),
    "pothole": ((0.01, 0.1, 1, 10), (8, 25, 62, 95)),
    "patching": ((0.1, 1, 10, 100), (4, 13, 32, 60)),
    "rutting": ((0.1, 1, 10, 100), (5, 20, 45, 75)),
}
# q → (total deduct value, corrected deduct value) points (asphalt correction curves).
CDV_CURVES: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = {
    1: ((0, 100, 200), (0, 100, 100)),
    2: ((0, 20, 40, 60, 80, 100, 140, 180, 200), (0, 15, 30, 44, 57, 68, 86, 98, 100)),
    3: ((0, 25, 50, 75, 100, 140, 180, 200), (0, 14, 30, 45, 58, 76, 90, 95)),
    4: ((0, 30, 60, 90, 120, 160, 200), (0, 15, 32, 48, 62, 78, 91)),
    5: ((0, 40, 80, 120, 160, 200), (0, 18, 40, 58, 74, 86)),
    6: ((0, 50, 100, 150, 200), (0, 22, 46, 65, 80)),
    7: ((0, 50, 100, 150, 200), (0, 20, 42, 61, 76)),
}
# Model class names (lower case) → D6433 distress. RDD2022 codes included.
CLASS_KEYWORDS = (
    ("alligator", "alligator"), ("fatigue", "alligator"), ("d20", "alligator"),
    ("pothole", "pothole"), ("d40", "pothole"), ("nid", "pothole"),
    ("patch", "patching"), ("rut", "rutting"),
    ("longitudinal", "long_trans"), ("transverse", "long_trans"), ("d00", "long_trans"),
    ("d10", "long_trans"), ("crack", "long_trans"),
)


def distress_of(class_name: str) -> str | None:
    """The D6433 distress a model class counts as, or None (not a pavement distress)."""
    lowered = class_name.lower()
    for keyword, distress in CLASS_KEYWORDS:
        if keyword in lowered:
            return distress
    return None


def deduct_value(distress: str, density_pct: float) -> float:
    """DV from a distress's curve (0 below the first point's tenth, capped at 100)."""
    if density_pct <= 0:
        return 0.0
    xs, ys = DEDUCT_CURVES[distress]
    logs = np.log10(xs)
    log_d = math.log10(density_pct)
    if log_d < logs[0]:  # fade to 0 one decade below the first point
        return float(max(0.0, ys[0] * (1 - (logs[0] - log_d))))
    return float(min(100.0, np.interp(log_d, logs, ys, right=ys[-1])))


def corrected_deduct(deducts: list[float]) -> float:
    """Max CDV by the D6433 iteration (step 3–4 above)."""
    values = sorted((d for d in deducts if d > 0), reverse=True)
    if not values:
        return 0.0
    m = min(10.0, 1 + (9 / 98) * (100 - values[0]))
    keep = int(m)
    values = values[:keep] + ([values[keep] * (m - keep)] if len(values) > keep else [])
    best = 0.0
    while True:
        q = sum(1 for v in values if v > 2)
        xs, ys = CDV_CURVES[min(max(q, 1), 7)]
        best = max(best, float(np.interp(sum(values), xs, ys)))
        if q <= 1:
            return best
        smallest = min((i for i, v in enumerate(values) if v > 2), key=values.__getitem__)
        values[smallest] = 2.0


@dataclass(frozen=True)
class Condition:
    pci: float
    grade: float
    deducts: dict[str, float]


def pci_from_quantities(quantities: dict[str, float], area_m2: float) -> Condition:
    """PCI and grade of a section from distress quantities over ``area_m2`` of road."""
    if area_m2 <= 0:
        raise ValueError(f"section area must be > 0 m², got {area_m2}")
    deducts = {d: deduct_value(d, 100.0 * q / area_m2) for d, q in quantities.items() if q > 0}
    pci = round(max(0.0, 100.0 - corrected_deduct(list(deducts.values()))), 1)
    return Condition(pci=pci, grade=grade_from_pci(pci), deducts=deducts)


def grade_from_pci(pci: float) -> float:
    """1 (very good, PCI 100) … 5 (very poor, PCI 0), linear, to one decimal."""
    return round(1.0 + 4.0 * (100.0 - min(100.0, max(0.0, pci))) / 100.0, 1)


# One colour per 0.5 grade step (1.0–1.5 … 4.5–5.0), green to dark red, like Vialytics.
GRADE_COLOURS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43", "#d73027")


def grade_colour(grade: float) -> str:
    """Colour of a grade's 0.5 step."""
    return GRADE_COLOURS[min(7, max(0, int((grade - 1.0) / 0.5)))]
