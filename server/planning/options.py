"""Candidate works: every (section, treatment, year) that the catalogue allows.

Each candidate carries its cost and the section's PCI at the end of every plan year if
it is chosen, so the optimiser sees a linear problem (one choice per section, as in
HDM-4's mutually exclusive work alternatives). Works happen at the start of their year;
year ``y``'s condition is read at its end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np

from voirie.server.planning.deterioration import FamilyCurve, family_of, is_main_road
from voirie.server.planning.model import PlanningInputError, Section, Treatment

logger = logging.getLogger(__name__)

MAX_HORIZON = 10


@dataclass(frozen=True)
class OptionSet:
    """Arrays over sections (``n``) and candidate works (``m``) for a ``horizon``-year plan."""

    sections: tuple[Section, ...]
    treatments: tuple[Treatment, ...]
    horizon: int
    area: np.ndarray  # (n,) m²
    main_road: np.ndarray  # (n,) bool
    pci_start: np.ndarray  # (n, horizon) PCI at the start of each year, no works
    pci_none: np.ndarray  # (n, horizon) PCI at the end of each year, no works
    section: np.ndarray  # (m,) section index
    treatment: np.ndarray  # (m,) treatment index
    year: np.ndarray  # (m,) 1-based plan year
    cost: np.ndarray  # (m,) euros, all works of the candidate
    pci_after: np.ndarray  # (m,) PCI right after the works
    trajectory: np.ndarray  # (m, horizon) PCI at the end of each year with the works
    cost_by_year: np.ndarray  # (m, horizon) euros spent each year
    second_treatment: np.ndarray  # (m,) treatment index of a later major works, -1 if none
    second_year: np.ndarray  # (m,) its 1-based year, 0 if none
    second_after: np.ndarray  # (m,) PCI right after it (NaN if none)

    @property
    def benefit(self) -> np.ndarray:
        """Area × mean PCI gain over the horizon: the optimiser's per-candidate objective."""
        gain = self.trajectory - self.pci_none[self.section]
        return self.area[self.section] * gain.mean(axis=1)

    def benefit_over(self, years: range) -> np.ndarray:
        """Like ``benefit`` but averaged over the 0-based ``years`` only."""
        cols = list(years)
        gain = self.trajectory[:, cols] - self.pci_none[self.section][:, cols]
        return self.area[self.section] * gain.mean(axis=1)

    @property
    def total_area(self) -> float:
        """Network area in m² (sections with data)."""
        return float(self.area.sum())


def _pci_at(a: np.ndarray, b: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Vectorised ``FamilyCurve.pci_at`` with per-section coefficients (broadcast)."""
    return np.clip(100.0 - a * np.maximum(age, 0.0) ** b, 0.0, 100.0)


def _age_at(a: np.ndarray, b: np.ndarray, pci: np.ndarray) -> np.ndarray:
    """Vectorised ``FamilyCurve.age_at``."""
    return (np.clip(100.0 - pci, 0.0, 100.0) / a) ** (1.0 / b)


def _start_ages(sections: list[Section], a: np.ndarray, b: np.ndarray, start: date) -> np.ndarray:
    """Equivalent age at plan start: age on the curve at survey time plus time since."""
    elapsed = np.array([max(0.0, (start - s.surveyed_at).days / 365.25) if s.surveyed_at else 0.0
                        for s in sections])
    return _age_at(a, b, np.array([s.pci for s in sections])) + elapsed


def _candidates(treatments: tuple[Treatment, ...], pci_start: np.ndarray, pci_none: np.ndarray,
                a: np.ndarray, b: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Arrays of every applicable (section, treatment, year) with its PCI trajectory."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("section", "treatment", "year", "after", "traj")}
    for t_index, treatment in enumerate(treatments):
        for y in range(horizon):
            at_start = pci_start[:, y]
            idx = np.flatnonzero((at_start >= treatment.pci_min) & (at_start <= treatment.pci_max))
            if idx.size == 0:
                continue
            after = np.clip(np.maximum(at_start[idx], treatment.pci_after if treatment.pci_after is not None
                                       else at_start[idx] + treatment.pci_gain), 0.0, 100.0)
            # The treated surface holds its level for the life extension, then follows its curve.
            held = np.maximum(np.arange(1, horizon - y + 1, dtype=float) - treatment.life_extension_years, 0.0)
            traj = pci_none[idx].copy()
            traj[:, y:] = _pci_at(a[idx], b[idx], _age_at(a[idx], b[idx], after[:, None]) + held[None, :])
            for key, value in (("section", idx), ("treatment", np.full(idx.size, t_index)),
                               ("year", np.full(idx.size, y + 1)), ("after", after), ("traj", traj)):
                parts[key].append(value)
    return {k: (np.concatenate(v) if v else np.empty((0, horizon) if k == "traj" else 0)) for k, v in parts.items()}


def _sequences(single: dict[str, np.ndarray], treatments: tuple[Treatment, ...], a: np.ndarray, b: np.ndarray,
               horizon: int) -> dict[str, np.ndarray]:
    """Preventive works followed by one major works in a later year (a maintenance cycle)."""
    minor_rows = np.flatnonzero(~np.array([t.major for t in treatments], dtype=bool)[single["treatment"].astype(int)])
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("row", "second", "year2", "after2", "traj")}
    for m_index, major in enumerate(treatments):
        if not major.major:
            continue
        for y2 in range(2, horizon + 1):
            rows = minor_rows[single["year"][minor_rows] < y2]
            pci = single["traj"][rows, y2 - 2]  # end of the year before = start of y2
            rows, pci = rows[(pci >= major.pci_min) & (pci <= major.pci_max)], pci[(pci >= major.pci_min) & (pci <= major.pci_max)]
            if rows.size == 0:
                continue
            sec = single["section"][rows].astype(int)
            after = np.clip(np.maximum(pci, major.pci_after if major.pci_after is not None else pci + major.pci_gain),
                            0.0, 100.0)
            held = np.maximum(np.arange(1, horizon - y2 + 2, dtype=float) - major.life_extension_years, 0.0)
            traj = single["traj"][rows].copy()
            traj[:, y2 - 1:] = _pci_at(a[sec], b[sec], _age_at(a[sec], b[sec], after[:, None]) + held[None, :])
            for key, value in (("row", rows), ("second", np.full(rows.size, m_index)),
                               ("year2", np.full(rows.size, y2)), ("after2", after), ("traj", traj)):
                parts[key].append(value)
    return {k: (np.concatenate(v) if v else np.empty((0, horizon) if k == "traj" else 0)) for k, v in parts.items()}


def _with_sequences(single: dict[str, np.ndarray], pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Singles then pairs, with the second-works columns (-1 / 0 / NaN for singles)."""
    rows = pairs["row"].astype(int)
    n = single["section"].size
    return {
        "section": np.concatenate([single["section"], single["section"][rows]]),
        "treatment": np.concatenate([single["treatment"], single["treatment"][rows]]),
        "year": np.concatenate([single["year"], single["year"][rows]]),
        "after": np.concatenate([single["after"], single["after"][rows]]),
        "traj": np.concatenate([single["traj"].reshape(n, pairs["traj"].shape[1]), pairs["traj"]]),
        "second": np.concatenate([np.full(n, -1), pairs["second"]]),
        "year2": np.concatenate([np.zeros(n), pairs["year2"]]),
        "after2": np.concatenate([np.full(n, np.nan), pairs["after2"]]),
    }


def _cost_by_year(treatments: tuple[Treatment, ...], area: np.ndarray, first: np.ndarray, year: np.ndarray,
                  second: np.ndarray, second_year: np.ndarray, horizon: int) -> np.ndarray:
    """Euros each candidate spends in each year (``area`` per candidate)."""
    unit_cost = np.array([t.cost_per_m2 for t in treatments])
    cost = np.zeros((area.size, horizon))
    cost[np.arange(area.size), year - 1] = area * unit_cost[first]
    later = np.flatnonzero(second >= 0)
    cost[later, second_year[later] - 1] += area[later] * unit_cost[second[later]]
    return cost


def build_options(
    sections: list[Section],
    treatments: tuple[Treatment, ...],
    curves: dict[str, FamilyCurve],
    horizon: int,
    start: date,
    sequences: bool = True,
) -> OptionSet:
    """Every applicable candidate for the sections with data (the caller drops the others).

    With ``sequences``, a preventive treatment may be followed by one major treatment in
    a later year; a section still gets one candidate, so at most one major works a plan.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise PlanningInputError(f"horizon must be 1–{MAX_HORIZON} years, got {horizon}")
    if not sections:
        raise PlanningInputError("the network has no surveyed section to plan")
    if any(not s.has_data for s in sections):
        raise PlanningInputError("build_options needs surveyed sections only (no-data sections are reported apart)")
    a = np.array([curves[family_of(s)].a for s in sections])[:, None]
    b = np.array([curves[family_of(s)].b for s in sections])[:, None]
    age0 = _start_ages(sections, a[:, 0], b[:, 0], start)[:, None]
    years = np.arange(horizon, dtype=float)[None, :]
    pci_start = _pci_at(a, b, age0 + years)
    pci_none = _pci_at(a, b, age0 + years + 1.0)
    single = _candidates(treatments, pci_start, pci_none, a, b, horizon)
    empty = {k: np.empty((0, horizon) if k == "traj" else 0) for k in ("row", "second", "year2", "after2", "traj")}
    joined = _with_sequences(single, _sequences(single, treatments, a, b, horizon) if sequences else empty)
    area = np.array([s.area_m2 for s in sections])
    section_idx, year = joined["section"].astype(int), joined["year"].astype(int)
    second, second_year = joined["second"].astype(int), joined["year2"].astype(int)
    cost_by_year = _cost_by_year(treatments, area[section_idx], joined["treatment"].astype(int), year, second,
                                 second_year, horizon)
    return OptionSet(
        sections=tuple(sections), treatments=tuple(treatments), horizon=horizon, area=area,
        main_road=np.array([is_main_road(s) for s in sections]), pci_start=pci_start, pci_none=pci_none,
        section=section_idx, treatment=joined["treatment"].astype(int), year=year, cost=cost_by_year.sum(axis=1),
        pci_after=joined["after"], trajectory=joined["traj"].reshape(-1, horizon), cost_by_year=cost_by_year,
        second_treatment=second, second_year=second_year, second_after=joined["after2"],
    )
