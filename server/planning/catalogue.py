"""The editable treatment catalogue (TOML), shipped as package data with defaults."""

from __future__ import annotations

import logging
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from voirie.server.planning.model import PlanningInputError, Treatment

logger = logging.getLogger(__name__)

_REQUIRED = ("name", "pci_min", "pci_max", "cost_per_m2")
_KNOWN = set(_REQUIRED) | {"label", "pci_after", "pci_gain", "life_extension_years", "major"}


def _number(entry: dict[str, Any], key: str, default: float | None, low: float, high: float) -> float | None:
    value = entry.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PlanningInputError(f"treatment {entry.get('name')!r}: {key} must be a number in "
                                 f"[{low}, {high}], got {value!r}")
    return float(value)


def treatment_from_dict(entry: dict[str, Any]) -> Treatment:
    """Validate one ``[[treatment]]`` table; unknown keys are refused (typos cost money)."""
    missing = [key for key in _REQUIRED if key not in entry]
    unknown = sorted(set(entry) - _KNOWN)
    if missing or unknown:
        raise PlanningInputError(f"treatment {entry.get('name')!r}: missing keys {missing}, unknown keys {unknown}")
    name = str(entry["name"]).strip()
    if not name:
        raise PlanningInputError("treatment with an empty name")
    pci_min = _number(entry, "pci_min", None, 0, 100)
    pci_max = _number(entry, "pci_max", None, 0, 100)
    if pci_min > pci_max:
        raise PlanningInputError(f"treatment {name!r}: pci_min {pci_min} > pci_max {pci_max}")
    pci_after = _number(entry, "pci_after", None, 0, 100)
    pci_gain = _number(entry, "pci_gain", 0.0, 0, 100)
    if pci_after is None and pci_gain == 0:
        raise PlanningInputError(f"treatment {name!r}: give pci_after or a positive pci_gain")
    return Treatment(
        name=name,
        label=str(entry.get("label", name.replace("_", " ").capitalize())),
        pci_min=pci_min,
        pci_max=pci_max,
        cost_per_m2=_number(entry, "cost_per_m2", None, 0.01, 1e5),
        pci_after=pci_after,
        pci_gain=pci_gain,
        life_extension_years=_number(entry, "life_extension_years", 0.0, 0, 50),
        major=bool(entry.get("major", False)),
    )


def load_catalogue(path: Path | None = None) -> tuple[Treatment, ...]:
    """Read a catalogue file, or the shipped default when ``path`` is None."""
    try:
        text = Path(path).read_text() if path else resources.files(__package__).joinpath("catalogue.toml").read_text()
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PlanningInputError(f"cannot read treatment catalogue {path}: {error}") from error
    entries = data.get("treatment")
    if not isinstance(entries, list) or not entries:
        raise PlanningInputError(f"catalogue {path or 'default'} has no [[treatment]] tables")
    treatments = tuple(treatment_from_dict(entry) for entry in entries)
    names = [t.name for t in treatments]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PlanningInputError(f"catalogue has duplicate treatment names: {duplicates}")
    return treatments


def select_treatments(catalogue: Iterable[Treatment], names: Iterable[str] | None) -> tuple[Treatment, ...]:
    """The treatments named (all when ``names`` is None); unknown names are an error."""
    catalogue = tuple(catalogue)
    if names is None:
        return catalogue
    by_name = {t.name: t for t in catalogue}
    names = list(names)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise PlanningInputError(f"unknown treatment names {unknown}; the catalogue has {sorted(by_name)}")
    if not names:
        raise PlanningInputError("no treatments selected")
    return tuple(by_name[n] for n in names)
