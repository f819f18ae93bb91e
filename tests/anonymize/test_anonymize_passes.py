"""Passes: overlapping tiles, bands that follow the camera's horizon."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from voirie.anonymize import Anonymizer
from voirie.anonymize.anonymizer import aimed_passes
from voirie.anonymize.detectors import TILE_OVERLAP_PX, Pass, covering, parse_passes, shifted
from voirie.anonymize.evaluate import protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.lab.synth.anonymize import render_plate


def test_tiles_cover_the_rows_with_overlap_at_one_scale() -> None:
    windows = Pass(0.45, 0.95, 1280, tiles=2).windows(720, 1280)
    assert len(windows) == 2
    assert {(w.top, w.bottom, w.scale) for w in windows} == {(324, 684, 1.0)}
    (first, second) = sorted(windows, key=lambda w: w.left)
    assert first.left == 0 and second.right == 1280
    assert first.right - second.left >= TILE_OVERLAP_PX
    assert Pass(0, 1, 640, tiles=3).windows(5, 7)[0].scale == 1.0  # tiny frames: no upscaling, no crash


def test_parse_passes_reads_tiles_and_names_bad_text() -> None:
    assert parse_passes("0.4:1:640,0.45:0.95:1280:2") == (Pass(0.4, 1, 640), Pass(0.45, 0.95, 1280, 2))
    with pytest.raises(ValueError, match="top:bottom:max_side"):
        parse_passes("0.4:1")


def test_bands_follow_the_horizon() -> None:
    passes = (Pass(0, 1, 512), Pass(0.40, 1, 640), Pass(0.36, 0.70, 1280))
    up = shifted(passes, -0.5)  # horizon at the top of the frame (camera pitched down)
    assert up == (Pass(0, 1, 512), Pass(0, 1, 640), Pass(0, 0.2, 1280))
    assert shifted(passes, 0.1)[2] == Pass(0.46, 0.8, 1280)
    with pytest.raises(ValueError, match="no pass"):
        shifted((Pass(0.4, 0.6, 1280),), 0.7)


def _high_plate_scene() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A plate of ~90 px near the top of the frame, where a pitched-down camera sees far cars."""
    image = np.full((720, 1280, 3), 95, np.uint8)
    plate = render_plate(np.random.default_rng(5), 90)
    x, y = 300, 110
    image[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    return image, (x, y, x + plate.shape[1], y + plate.shape[0])


def _covers(found, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    xyxy = found.xyxy
    return bool(((xyxy[:, 0] <= x1 + 5) & (xyxy[:, 2] >= x2 - 5) & (xyxy[:, 1] <= y2) & (xyxy[:, 3] >= y1)).any())


def test_horizon_option_moves_the_full_resolution_band(anonymizer: Anonymizer) -> None:
    image, box = _high_plate_scene()
    pitched = Anonymizer.default(replace(anonymizer.options, horizon=0.0))
    level = Anonymizer.default(replace(anonymizer.options, horizon=0.5))
    assert _covers(pitched.detect(image.copy()), box)
    assert not _covers(level.detect(image.copy()), box)  # bands for a level camera do not look there at full resolution
    pitched.close(), level.close()


def test_without_a_horizon_every_pass_covers_the_whole_frame(anonymizer: Anonymizer) -> None:
    image, box = _high_plate_scene()  # a flat scene: no lines to estimate a horizon from
    found, view = anonymizer.detect_with_horizon(image.copy())
    assert view.source == "whole_frame" and view.row is None
    assert _covers(found, box)


def test_covering_stretches_each_pass_once() -> None:
    passes = (Pass(0, 1, 512), Pass(0.36, 0.70, 1280), Pass(0.45, 0.95, 1280, 2))
    assert covering(passes) == (Pass(0, 1, 512), Pass(0, 1, 1280), Pass(0, 1, 1280, 2))


def test_unknown_horizon_passes_search_every_row_at_full_resolution_from_the_top(anonymizer: Anonymizer) -> None:
    faces, plates = anonymizer.detectors
    for detector in (faces, plates):
        assert aimed_passes(detector, 0.0) == shifted(detector.passes, -0.5)
        unknown = aimed_passes(detector, None)
        assert unknown == detector.unknown_horizon_passes
        covered = np.zeros(720, bool)
        for one in unknown:
            covered[int(one.top * 720) : int(round(one.bottom * 720))] = True
        assert covered.all()  # every row searched at some resolution
        assert any(p.top == 0 and p.max_side == 1280 for p in unknown)  # full resolution up to the top edge


def test_plate_across_the_tile_seam_is_masked(anonymizer: Anonymizer) -> None:
    image = np.full((720, 1280, 3), 95, np.uint8)
    plate = render_plate(np.random.default_rng(9), 110)
    x, y = 590, 470  # the two tiles of the plate band overlap around x = 560..720
    image[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    tiled = Anonymizer.default(replace(anonymizer.options, plate_passes=(Pass(0.45, 0.95, 1280, tiles=2),)))
    found = tiled.detect(image)
    tiled.close()
    masked = np.zeros(image.shape[:2], bool)
    for x1, y1, x2, y2 in expanded_boxes(found, image.shape, tiled.masker.margin):
        masked[y1:y2, x1:x2] = True
    assert protected_share(masked, np.array([x, y, x + plate.shape[1], y + plate.shape[0]], float)) >= 0.9
