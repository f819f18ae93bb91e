"""Deterioration model: PCI against age per family (road class × surface).

Form: ``PCI(age) = 100 − a·age^b`` — the power-law family curve widely used in pavement
management (PCI falls slowly when new, faster as distress accumulates). The family idea
is PAVER's (Shahin, *Pavement Management for Airports, Roads, and Parking Lots*, 2nd ed.,
Springer 2005, ch. 7: sections sharing use, surface and class share one PCI-vs-age
curve, fitted by regression on the agency's own surveys). The default coefficients are
representative of published asphalt curves (PCI 70 at about 10–12 years, 40 at about
17–20 years; concrete about 1.7 times slower); they are starting points that
:func:`recalibrate` replaces with the city's own history as soon as sections have two
or more surveys.

Surveys give PCI, not age, so a section's age is its *equivalent age* on its family
curve. For a fixed ``b``, ``u = (100 − PCI)^(1/b)`` grows linearly with age at rate
``a^(1/b)``; a pair of surveys of one section gives ``Δu = a^(1/b)·Δt``. Recalibration
fits that rate by least squares through the origin for each ``b`` of a grid and keeps
the ``b`` with the smallest PCI error.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np

from voirie.server.planning.model import PlanningInputError, Section

logger = logging.getLogger(__name__)

MAIN_ROAD_CLASSES = frozenset({"main", "primary", "arterial", "trunk", "principal"})
_CLASS_ALIASES = {
    **{name: "main" for name in MAIN_ROAD_CLASSES},
    "secondary": "collector", "collector": "collector", "distributor": "collector", "tertiary": "collector",
    "residential": "local", "local": "local", "service": "local", "unclassified": "local", "access": "local",
    "living_street": "local", "pedestrian": "local", "road": "local", "track": "local",
}
# A pair of surveys whose PCI rises by more than this saw works in between: not deterioration.
WORKS_JUMP_PCI = 5.0
B_GRID = np.round(np.arange(0.8, 3.0001, 0.01), 4)


@dataclass(frozen=True)
class FamilyCurve:
    """``PCI(age) = 100 − a·age^b`` for one family; ``n_pairs`` surveys fitted it (0: default)."""

    family: str
    a: float
    b: float
    n_pairs: int = 0
    rmse: float | None = None

    def pci_at(self, age: np.ndarray | float) -> np.ndarray:
        """PCI at ``age`` years (clipped to 0–100)."""
        age = np.maximum(np.asarray(age, dtype=float), 0.0)
        return np.clip(100.0 - self.a * age**self.b, 0.0, 100.0)

    def age_at(self, pci: np.ndarray | float) -> np.ndarray:
        """Equivalent age of a surface at ``pci``."""
        loss = np.clip(100.0 - np.asarray(pci, dtype=float), 0.0, 100.0)
        return (loss / self.a) ** (1.0 / self.b)


def _curve(family: str, pci70_years: float, pci40_years: float) -> FamilyCurve:
    """A default curve through (pci70_years, 70) and (pci40_years, 40)."""
    b = np.log(60.0 / 30.0) / np.log(pci40_years / pci70_years)
    return FamilyCurve(family, a=float(30.0 / pci70_years**b), b=float(b))


DEFAULT_CURVES: dict[str, FamilyCurve] = {
    curve.family: curve
    for curve in (
        _curve("main/asphalt", 10.0, 17.0),
        _curve("collector/asphalt", 11.0, 18.5),
        _curve("local/asphalt", 12.0, 20.0),
        _curve("main/concrete", 17.0, 29.0),
        _curve("collector/concrete", 18.0, 30.0),
        _curve("local/concrete", 20.0, 33.0),
        _curve("main/pavers", 14.0, 24.0),
        _curve("collector/pavers", 15.0, 25.0),
        _curve("local/pavers", 16.0, 27.0),
    )
}


def road_class_group(road_class: str) -> str | None:
    """``main``, ``collector`` or ``local`` for a class name (OSM ``highway`` values included)."""
    key = road_class.strip().lower().replace(" ", "_").removesuffix("_link")
    return _CLASS_ALIASES.get(key)


def family_of(section: Section) -> str:
    """Family key ``class/surface`` of a section; unknown classes count as local roads."""
    road_class = road_class_group(section.road_class) or "local"
    surface = section.surface.strip().lower() or "asphalt"
    if f"{road_class}/{surface}" not in DEFAULT_CURVES:
        surface = "asphalt"  # an unknown surface falls back to the commonest one
    return f"{road_class}/{surface}"


def is_main_road(section: Section) -> bool:
    """Whether the section is on a main road (target of the minimum-PCI policy)."""
    return road_class_group(section.road_class) == "main"


def fit_curve(family: str, pci_before: np.ndarray, pci_after: np.ndarray, years: np.ndarray) -> FamilyCurve:
    """Fit ``a`` and ``b`` to survey pairs (PCI then, PCI later, years between)."""
    pci_before, pci_after, years = (np.asarray(v, dtype=float) for v in (pci_before, pci_after, years))
    if not (pci_before.shape == pci_after.shape == years.shape) or pci_before.size == 0:
        raise PlanningInputError(f"fit_curve needs equal, non-empty arrays; got {pci_before.shape}, "
                                 f"{pci_after.shape}, {years.shape}")
    if np.any(years <= 0):
        raise PlanningInputError("fit_curve needs survey pairs at least a day apart")
    loss1 = np.clip(100.0 - pci_before, 0.0, 100.0)
    loss2 = np.clip(100.0 - pci_after, 0.0, 100.0)
    best: tuple[float, float, float] | None = None
    for b in B_GRID:
        du = loss2 ** (1.0 / b) - loss1 ** (1.0 / b)
        rate = max(float(du @ years / (years @ years)), 1e-9)
        predicted = 100.0 - (loss1 ** (1.0 / b) + rate * years) ** b
        sse = float(np.sum((predicted - pci_after) ** 2))
        if best is None or sse < best[0]:
            best = (sse, rate**b, float(b))
    sse, a, b = best
    return FamilyCurve(family, a=a, b=b, n_pairs=int(years.size), rmse=float(np.sqrt(sse / years.size)))


def survey_pairs(history: dict[str, list[tuple[date, float]]]) -> dict[str, list[tuple[float, float, float]]]:
    """Consecutive survey pairs ``(pci1, pci2, years)`` per section, works in between left out."""
    pairs: dict[str, list[tuple[float, float, float]]] = {}
    for section_id, surveys in history.items():
        ordered = sorted(surveys)
        kept = []
        for (d1, p1), (d2, p2) in zip(ordered, ordered[1:]):
            years = (d2 - d1).days / 365.25
            if years > 0 and p2 - p1 <= WORKS_JUMP_PCI:
                kept.append((p1, p2, years))
        if kept:
            pairs[section_id] = kept
    return pairs


def recalibrate(
    sections: list[Section],
    history: dict[str, list[tuple[date, float]]],
    min_pairs: int = 2,
) -> dict[str, FamilyCurve]:
    """Family curves: defaults, replaced per family by a fit when it has ``min_pairs`` pairs."""
    family_by_section = {s.section_id: family_of(s) for s in sections}
    by_family: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for section_id, pairs in survey_pairs(history).items():
        family = family_by_section.get(section_id)
        if family is None:
            logger.warning("survey history names unknown section %s; ignored", section_id)
            continue
        by_family[family].extend(pairs)
    curves = dict(DEFAULT_CURVES)
    for family, pairs in by_family.items():
        if len(pairs) < min_pairs:
            logger.info("family %s: %d survey pair(s), keeping the default curve", family, len(pairs))
            continue
        p1, p2, years = (np.array(column) for column in zip(*pairs))
        curves[family] = fit_curve(family, p1, p2, years)
        logger.info("family %s recalibrated on %d pairs: a=%.3f b=%.3f", family, len(pairs),
                    curves[family].a, curves[family].b)
    return curves
