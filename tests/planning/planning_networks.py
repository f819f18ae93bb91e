"""Helpers of the planning tests: small random networks built in memory."""

from __future__ import annotations

from datetime import date

import numpy as np

from voirie.server.planning.model import Section

START = date(2027, 1, 1)


def random_sections(n: int, seed: int, streets: int | None = None) -> list[Section]:
    """``n`` surveyed sections with PCI spread over 10–98 and mixed classes."""
    rng = np.random.default_rng(seed)
    classes = ("main", "collector", "local")
    return [
        Section(section_id=f"s{i}", street=f"street {i % streets if streets else i}",
                road_class=classes[int(rng.integers(0, 3))], length_m=float(rng.uniform(50, 200)),
                width_m=float(rng.uniform(5, 9)), pci=float(rng.uniform(10, 98)), surveyed_at=date(2026, 6, 1))
        for i in range(n)
    ]
