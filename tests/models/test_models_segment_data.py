"""Training samples for the segmentation model: targets line up with the pictures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.lab.train.segment_data import load_photos, prepare_sample, read_masks, split_ids


def write_sample(root: Path, sample_id: str, size=(640, 1024)) -> None:
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    image = np.full((*size, 3), 120, np.uint8)
    crack, pothole = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
    cv2.line(crack, (100, 300), (500, 302), 255, 2)  # a 2-px crack
    cv2.circle(pothole, (800, 500), 30, 255, -1)
    cv2.imwrite(str(root / "images" / f"{sample_id}.jpg"), image)
    cv2.imwrite(str(root / "masks" / f"{sample_id}_CRACK.png"), cv2.merge([crack] * 3))
    cv2.imwrite(str(root / "masks" / f"{sample_id}_POTHOLE.png"), cv2.merge([pothole] * 3))


def test_a_thin_crack_survives_in_the_coarse_target_at_the_right_place(tmp_path: Path) -> None:
    write_sample(tmp_path, "a")
    image = cv2.imread(str(tmp_path / "images" / "a.jpg"))
    canvas, target = prepare_sample(image, read_masks(tmp_path, "a"), (320, 512))
    assert canvas.shape == (320, 512, 3) and target.shape == (2, 160, 256)
    rows, cols = np.nonzero(target[0])  # 1024 px → 256 cells: 4 px a cell
    assert rows.min() >= 300 // 4 - 1 and rows.max() <= 302 // 4 + 1
    assert abs(cols.min() - 100 / 4) <= 1 and abs(cols.max() - 500 / 4) <= 1
    rows, cols = np.nonzero(target[1])
    assert abs(rows.mean() - 500 / 4) < 1 and abs(cols.mean() - 800 / 4) < 1


def test_a_photo_that_does_not_fill_the_input_is_padded_in_image_and_target(tmp_path: Path) -> None:
    write_sample(tmp_path, "b", size=(720, 1280))  # 16:9 into 320×512: 512×288, 16 rows of padding each side
    image = cv2.imread(str(tmp_path / "images" / "b.jpg"))
    canvas, target = prepare_sample(image, read_masks(tmp_path, "b"), (320, 512))
    assert (canvas[:16] == 114).all() and (canvas[-16:] == 114).all()
    rows, _ = np.nonzero(target[0])
    assert abs(rows.mean() - (16 + 301 * 0.4) / 2) < 1.5


def test_splits_and_missing_files_are_named(tmp_path: Path) -> None:
    write_sample(tmp_path, "c")
    (tmp_path / "splits" / "train.txt").write_text("images/c.jpg\nimages/gone.jpg\n")
    assert split_ids(tmp_path, "train") == ["c", "gone"]
    with pytest.raises(FileNotFoundError, match="gone"):
        load_photos(tmp_path, ["c", "gone"], (320, 512))
    images, targets = load_photos(tmp_path, ["c"], (320, 512))
    assert images.shape == (1, 320, 512, 3) and targets.shape == (1, 2, 160, 256) and targets.any()
