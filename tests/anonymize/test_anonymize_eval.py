"""``voirie anonymize eval``: recall counting and the JSON last line, on a set made here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.anonymize.evaluate import protected_share, read_labels
from voirie.anonymize.synthetic import oblique, paste, render_plate
from voirie.cli import app


def test_protected_share_counts_the_masked_part_of_the_box() -> None:
    masked = np.zeros((100, 100), bool)
    masked[:, :50] = True
    assert protected_share(masked, np.array([40, 0, 60, 10])) == pytest.approx(0.5)
    assert protected_share(masked, np.array([0, 0, 50, 50])) == 1.0


def test_bad_label_line_is_named(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("1 0.5 0.5 0.1\n")
    with pytest.raises(ValueError, match=r"a.txt:1: expected 'class cx cy w h'"):
        read_labels(label, 100, 100)


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
    assert set(last) == {"face_recall", "plate_recall", "masked_area_fraction", "frames_per_s", "images"}
    assert last["images"] == 3  # the broken file is skipped with a warning, not counted
    assert last["face_recall"] is None
    assert last["plate_recall"] == 1.0
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
    assert options.face_passes == AnonymizerOptions().face_passes
    assert options.plate_min_contrast == AnonymizerOptions().plate_min_contrast == 50.0
    assert options.plate_model == "platenet"
    with pytest.raises(ValueError, match="top:bottom:max_side"):
        _eval_options(face_passes="0:1", plate_passes=None)
