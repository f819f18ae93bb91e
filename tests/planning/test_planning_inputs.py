"""Sections CSV, history CSV and catalogue: good files load, bad ones name the problem."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from voirie.server.planning.catalogue import load_catalogue, select_treatments
from voirie.server.planning.loader import SECTION_COLUMNS, load_history_csv, load_sections_csv, write_sections_csv
from voirie.server.planning.model import PlanningInputError
from voirie.server.planning.sample import sample_network


def _write(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = SECTION_COLUMNS) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(**overrides: str) -> dict[str, str]:
    row = {"section_id": "s1", "street": "Rue A", "road_class": "local", "length_m": "100", "width_m": "6",
           "pci": "72.5", "grade": "B", "confidence": "0.8", "surveyed_at": "2026-05-02T10:00:00Z",
           "model_version": "m1", "geometry_wkt": "LINESTRING (1.85 50.95, 1.851 50.95)"}
    return {**row, **overrides}


def test_round_trip_and_no_data_sections(tmp_path: Path) -> None:
    sections = sample_network(60, seed=4, no_data_share=0.2)
    loaded = load_sections_csv(write_sections_csv(sections, tmp_path / "s.csv"))
    assert [s.section_id for s in loaded] == [s.section_id for s in sections]
    no_data = [s for s in loaded if not s.has_data]
    assert no_data and all(s.pci is None for s in no_data)
    assert loaded[0].area_m2 == pytest.approx(sections[0].length_m * round(sections[0].width_m, 1), rel=1e-3)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (_row(length_m="-20"), r"length_m must be in \[0.0"),
        (_row(width_m="0"), "must be positive"),
        (_row(pci="140"), "pci must be in"),
        (_row(pci="abc"), "is not a number"),
        (_row(surveyed_at="yesterday"), "not an ISO date"),
        (_row(section_id=""), "section_id is empty"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, row: dict[str, str], match: str) -> None:
    path = _write(tmp_path / "bad.csv", [_row(section_id="ok"), row])
    with pytest.raises(PlanningInputError, match=match) as error:
        load_sections_csv(path)
    assert "line 3" in str(error.value)


def test_missing_width_takes_the_class_default(tmp_path: Path) -> None:
    sections = load_sections_csv(_write(tmp_path / "w.csv", [_row(width_m="", road_class="primary")]))
    assert sections[0].width_m == 9.0


def test_missing_columns_empty_network_duplicates(tmp_path: Path) -> None:
    with pytest.raises(PlanningInputError, match=r"missing columns \['pci'"):
        load_sections_csv(_write(tmp_path / "a.csv", [_row()], tuple(c for c in SECTION_COLUMNS if c != "pci")))
    with pytest.raises(PlanningInputError, match="network is empty"):
        load_sections_csv(_write(tmp_path / "b.csv", []))
    with pytest.raises(PlanningInputError, match="duplicate section_id"):
        load_sections_csv(_write(tmp_path / "c.csv", [_row(), _row()]))
    with pytest.raises(PlanningInputError, match="cannot read"):
        load_sections_csv(tmp_path / "missing.csv")


def test_history_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv", [{"section_id": "s1", "surveyed_at": "2024-05-01", "pci": "80"},
                                        {"section_id": "s1", "surveyed_at": "2026-05-01", "pci": "71"}],
                  ("section_id", "surveyed_at", "pci"))
    assert [p for _, p in load_history_csv(path)["s1"]] == [80.0, 71.0]
    bad = _write(tmp_path / "hb.csv", [{"section_id": "s1", "surveyed_at": "", "pci": "80"}],
                 ("section_id", "surveyed_at", "pci"))
    with pytest.raises(PlanningInputError, match="line 2"):
        load_history_csv(bad)


def test_default_catalogue_and_selection() -> None:
    catalogue = load_catalogue()
    assert [t.name for t in catalogue] == ["crack_sealing", "surface_dressing", "thin_overlay", "mill_and_inlay",
                                           "reconstruction"]
    assert all(t.pci_min <= t.pci_max for t in catalogue)
    assert [t.name for t in select_treatments(catalogue, ["reconstruction"])] == ["reconstruction"]
    with pytest.raises(PlanningInputError, match=r"unknown treatment names \['resurfacing'\]"):
        select_treatments(catalogue, ["thin_overlay", "resurfacing"])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("[[treatment]]\nname='x'\npci_min=80\npci_max=20\ncost_per_m2=5\npci_after=90\n", "pci_min 80.0 > pci_max"),
        ("[[treatment]]\nname='x'\npci_min=0\npci_max=20\ncost_per_m2=5\npci_after=90\ncolour='red'\n", "unknown keys"),
        ("[[treatment]]\nname='x'\npci_min=0\npci_max=20\ncost_per_m2=-5\npci_after=90\n", "cost_per_m2"),
        ("[[treatment]]\nname='x'\npci_min=0\npci_max=20\ncost_per_m2=5\n", "pci_after or a positive pci_gain"),
        ("title='no treatments'\n", "no \\[\\[treatment\\]\\]"),
        ("[[treatment]\n", "cannot read"),
    ],
)
def test_bad_catalogue(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(body)
    with pytest.raises(PlanningInputError, match=match):
        load_catalogue(path)


def test_section_from_server_properties() -> None:
    from datetime import datetime, timezone

    from voirie.server.planning.loader import section_from_properties

    section = section_from_properties({"section_id": "x", "street": "Rue", "road_class": "primary", "length_m": 40.0,
                                       "width_m": 8.0, "pci": 55.5, "grade": 2.5, "confidence": 0.7,
                                       "surveyed_at": datetime(2026, 5, 1, 10, tzinfo=timezone.utc),
                                       "model_version": None, "geometry_wkt": "LINESTRING (0 0, 1 1)"})
    assert (section.pci, section.surveyed_at.isoformat(), section.area_m2) == (55.5, "2026-05-01", 320.0)
    assert not section_from_properties({"section_id": "y", "length_m": 10, "width_m": 5}).has_data
    with pytest.raises(PlanningInputError, match="section z: length_m"):
        section_from_properties({"section_id": "z", "length_m": -1, "width_m": 5})
