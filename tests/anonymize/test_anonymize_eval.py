"""``voirie anonymize eval``: recall counting and the JSON last line, on a set made here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.anonymize.evaluate import EvalResult, protected_share, read_labels, read_labels_with_ids
from voirie.lab.synth.anonymize import oblique, paste, render_plate
from voirie.cli import app


def test_protected_share_counts_the_masked_part_of_the_box() -> None:
    masked = np.zeros((100, 100), bool)
    masked[:, :50] = True
    assert protected_share(masked, np.array([40, 0, 60, 10])) == pytest.approx(0.5)
    assert protected_share(masked, np.array([0, 0, 50, 50])) == 1.0


def test_bad_label_line_is_named(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("1 0.5 0.5 0.1\n")
    with pytest.raises(ValueError, match=r"a.txt:1: expected 'class cx cy w h \[vehicle_id\]'"):
        read_labels(label, 100, 100)
    label.write_text("1 0.5 0.5 0.1 0.1 car-3 extra\n")
    with pytest.raises(ValueError, match=r"a.txt:1: expected"):
        read_labels(label, 100, 100)


def test_labels_may_carry_a_vehicle_id_and_comments(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("# labelled by hand\n1 0.5 0.5 0.1 0.1 car-3\n0 0.2 0.2 0.1 0.1\n")
    (plate, plate_box, plate_id), (face, _, face_id) = read_labels_with_ids(label, 100, 100)
    assert (plate, plate_id, face, face_id) == (1, "car-3", 0, None)
    assert plate_box.tolist() == pytest.approx([45, 45, 55, 55])


def test_a_vehicle_is_protected_only_when_every_box_of_it_is() -> None:
    result = EvalResult()
    box = lambda height: np.array([0.0, 0.0, 3.0 * height, height])  # noqa: E731
    result.count_box(1, box(20), True, "car-1")
    result.count_box(1, box(9), False, "car-1")  # leaks once: car-1 leaks
    result.count_box(1, box(20), True, "car-2")
    result.count_box(1, box(14), True, "car-2")
    result.count_box(1, box(30), True, None)  # no id: counted per box only
    assert result.recall(1) == pytest.approx(4 / 5)
    assert result.object_recall(1) == pytest.approx(1 / 2)
    # binned by each vehicle's smallest box: car-1 at 9 px (8-12), car-2 at 14 px (12-16)
    assert result.object_counts(1) == {1: (1, 0), 2: (1, 1)}
    assert result.object_recall(0) is None


def _plate_set(folder: Path, n: int = 3) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        scene = np.full((720, 1280, 3), 100, np.uint8)
        patch, alpha = oblique(render_plate(rng, 200), rng, 0.3)
        x1, y1, x2, y2 = paste(scene, patch, alpha, 300 + 200 * i, 400)
        cv2.imwrite(str(folder / "images" / f"{i}.png"), scene)
        cx, cy, w, h = (x1 + x2) / 2 / 1280, (y1 + y2) / 2 / 720, (x2 - x1) / 1280, (y2 - y1) / 720
        (folder / "labels" / f"{i}.txt").write_text(f"1 {cx} {cy} {w} {h}\n")
    (folder / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")


def test_eval_command_prints_a_table_and_json_last(tmp_path: Path) -> None:
    _plate_set(tmp_path)
    result = CliRunner().invoke(app, ["anonymize", "eval", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert set(last) == {"face_recall", "plate_recall", "vehicle_recall", "masked_area_fraction", "frames_per_s",
                         "images", "horizon"}
    assert last["images"] == 3  # the broken file is skipped with a warning, not counted
    assert last["face_recall"] is None and last["vehicle_recall"] is None  # no vehicle ids in these labels
    assert last["plate_recall"] == 1.0
    assert last["horizon"] == {"whole_frame": 3}  # three flat scenes: no lines, no horizon assumed
    assert 0 < last["masked_area_fraction"] < 0.2
    assert "plate" in result.output


def test_eval_command_names_a_missing_images_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["anonymize", "eval", "--data", str(tmp_path)])
    assert result.exit_code != 0
    assert "images/" in result.output


def test_eval_options_keep_defaults_unless_given() -> None:
    from voirie.anonymize.anonymizer import AnonymizerOptions
    from voirie.anonymize.cli import _eval_options
    from voirie.anonymize.detectors import Pass

    options = _eval_options(horizon=0.1, plate_passes="0:1:640", face_passes=None, plate_min_contrast=None)
    assert options.horizon == 0.1 and options.plate_passes == (Pass(0, 1, 640),)
    assert _eval_options(horizon=None, face_passes=None, plate_passes=None).horizon == "estimate"
    assert AnonymizerOptions().horizon == "estimate"  # no camera is assumed level
    assert options.face_passes == AnonymizerOptions().face_passes
    assert options.plate_min_contrast == AnonymizerOptions().plate_min_contrast == 50.0
    assert options.plate_model == "platenet"
    with pytest.raises(ValueError, match="top:bottom:max_side"):
        _eval_options(face_passes="0:1", plate_passes=None)


def test_eval_horizon_option_takes_a_row_or_a_mode() -> None:
    import typer

    from voirie.anonymize.cli import parse_horizon

    assert parse_horizon("0.0") == 0.0 and parse_horizon("estimate") == "estimate"
    assert parse_horizon("whole_frame") == "whole_frame"
    for bad in ("top", "2.0"):
        with pytest.raises(typer.BadParameter):
            parse_horizon(bad)


def test_eval_counts_vehicles_and_reports_the_horizon_given(tmp_path: Path) -> None:
    _plate_set(tmp_path)
    for i, vehicle in enumerate(("car-1", "car-1", "car-2")):  # car-1 seen in two images
        label = tmp_path / "labels" / f"{i}.txt"
        label.write_text(label.read_text().strip() + f" {vehicle}\n")
    result = CliRunner().invoke(app, ["anonymize", "eval", "--data", str(tmp_path), "--horizon", "0.5"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert last["vehicle_recall"] == 1.0 and last["horizon"] == {"calibrated": 3}
    assert "vehicles" in result.output  # the per-vehicle columns of the table
