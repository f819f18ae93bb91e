"""Intrinsics from rendered checkerboard views with known ground truth, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.calibration import CalibrationError
from voirie.calibration.intrinsics import (
    IntrinsicsOptions,
    calibrate_intrinsics,
    coverage,
    iter_image_dir,
    parse_board,
)
from voirie.lab.synth.calibration import board_poses, render_board_view, render_texture_view
from voirie.calibration.targets import CharucoTarget, CheckerboardTarget
from voirie.cli import app

from .conftest import BOARD, SIZE, SQUARE_M, TRUE_DIST, TRUE_K

CHECKER = CheckerboardTarget(BOARD[0], BOARD[1], SQUARE_M * 1000)


@pytest.fixture(scope="module")
def result(board_dir: Path):
    return calibrate_intrinsics(iter_image_dir(board_dir), CHECKER)


def test_recovers_known_intrinsics_within_one_percent(result) -> None:
    i = result.intrinsics
    assert i.fx_px == pytest.approx(TRUE_K[0, 0], rel=0.01)
    assert i.fy_px == pytest.approx(TRUE_K[1, 1], rel=0.01)
    assert i.cx_px == pytest.approx(TRUE_K[0, 2], rel=0.01)
    assert i.cy_px == pytest.approx(TRUE_K[1, 2], rel=0.01)
    assert i.dist[0] == pytest.approx(TRUE_DIST[0], abs=0.01)
    assert i.rms_px < 0.3
    assert i.views_used == 9


def test_recovered_lens_undistorts_like_the_true_one(result) -> None:
    corners = np.array([[5.0, 5.0], [635.0, 5.0], [320.0, 475.0], [100.0, 300.0]]).reshape(-1, 1, 2)
    truth = cv2.undistortPoints(corners, TRUE_K, TRUE_DIST, P=TRUE_K)
    got = cv2.undistortPoints(corners, result.intrinsics.camera_matrix(), result.intrinsics.dist_coeffs(), P=TRUE_K)
    assert np.abs(got - truth).max() < 1.0


def test_cli_prints_summary_then_json_last_line(board_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "intrinsics.json"
    args = ["calibrate", "intrinsics", "--images", str(board_dir), "--board", "8x5", "--square-mm", "25"]
    run = CliRunner().invoke(app, [*args, "--out", str(out), "--plot", str(tmp_path / "coverage.png")])
    assert run.exit_code == 0, run.output
    picture = cv2.imread(str(tmp_path / "coverage.png"))
    assert picture.shape == (SIZE[1], SIZE[0], 3)
    assert (picture[..., 1] > 150).sum() > 1000  # green outlines of the (good) views
    lines = run.output.strip().splitlines()
    summary = json.loads(lines[-1])
    assert set(summary) == {"fx", "fy", "cx", "cy", "dist", "rms_px", "views_used"}
    assert summary["fx"] == pytest.approx(520.0, rel=0.01)
    assert summary["views_used"] == 9
    assert "views used" in run.output  # the human summary comes before
    assert json.loads(out.read_text())["image_width_px"] == SIZE[0]


def _blank(name: str) -> tuple[str, np.ndarray]:
    return name, np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)


def _views(board_dir: Path, count: int) -> list[tuple[str, np.ndarray]]:
    return list(iter_image_dir(board_dir))[:count]


def test_no_board_found_is_refused_with_hint() -> None:
    with pytest.raises(CalibrationError, match=r"no 8x5 board found in any of 3 images.*inner corners"):
        calibrate_intrinsics([_blank("a"), _blank("b"), _blank("c")], CHECKER)


def test_wrong_board_size_finds_nothing(board_dir: Path) -> None:
    with pytest.raises(CalibrationError, match="no 9x6 board found"):
        calibrate_intrinsics(_views(board_dir, 2), CheckerboardTarget(9, 6, 25))


def test_one_view_is_too_few(board_dir: Path) -> None:
    with pytest.raises(CalibrationError, match=r"too few views: the board was found in 1 of 2 images"):
        calibrate_intrinsics([*_views(board_dir, 1), _blank("empty")], CHECKER)


def test_high_reprojection_error_is_refused(board_dir: Path) -> None:
    strict = IntrinsicsOptions(max_rms_px=0.001)
    with pytest.raises(CalibrationError, match=r"reprojection error too high: .* worst view view\d\d.png"):
        calibrate_intrinsics(_views(board_dir, 9), CHECKER, strict)


def test_boards_in_one_corner_give_poor_coverage() -> None:
    rng = np.random.default_rng(5)
    views = []
    for i in range(5):  # small boards, all in the top-left quarter
        rvec = np.radians([10.0 * (i - 2), 8.0 * (i % 2), 2.0])
        tvec = np.array([-0.16, -0.12, 0.9]) + rng.normal(0, 0.005, 3)
        views.append((f"corner{i}", render_board_view(TRUE_K, TRUE_DIST, rvec, tvec, BOARD, SQUARE_M, SIZE, rng=rng)))
    with pytest.raises(CalibrationError, match="poor image coverage"):
        calibrate_intrinsics(views, CHECKER)


def test_mixed_image_sizes_are_skipped_with_reason(board_dir: Path) -> None:
    small = ("small", np.zeros((100, 100, 3), np.uint8))
    found = calibrate_intrinsics([*_views(board_dir, 9), small], CHECKER)
    assert "differs from the first image" in found.skipped["small"]


@pytest.mark.parametrize(("text", "expected"), [("8x5", (8, 5)), (" 9 X 6 ", (9, 6))])
def test_parse_board(text: str, expected: tuple[int, int]) -> None:
    assert parse_board(text) == expected


@pytest.mark.parametrize("text", ["8", "8x", "2x5", "axb", "8x5x3"])
def test_parse_board_refuses(text: str) -> None:
    with pytest.raises(CalibrationError, match="board"):
        parse_board(text)


def test_coverage_of_full_and_corner_outlines() -> None:
    full = np.array([[0, 0], [639, 0], [639, 479], [0, 479]], float)
    corner = full / 4
    assert coverage([full], SIZE) == pytest.approx(1.0)
    assert coverage([corner], SIZE) < 0.1


def test_cli_reports_missing_folder(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["calibrate", "intrinsics", "--images", str(tmp_path / "nope")])
    assert run.exit_code == 2
    assert "image folder not found" in run.output


def test_charuco_views_recover_intrinsics() -> None:
    target = CharucoTarget(7, 5, 30.0, 22.0)
    texels = 24  # per square
    board_image = target.board().generateImage((7 * texels, 5 * texels), marginSize=0, borderBits=1)
    texture = cv2.copyMakeBorder(board_image, texels, texels, texels, texels, cv2.BORDER_CONSTANT, value=255)
    rng = np.random.default_rng(11)
    square_m = 0.030
    views = []
    # board_poses centres a board of (columns+1) squares: 7x5 squares is a "6x4 inner corners" board
    for i, (rvec, tvec) in enumerate(board_poses(TRUE_K, SIZE, (6, 4), square_m, 8, rng)):
        tvec = tvec - cv2.Rodrigues(rvec)[0] @ np.array([square_m, square_m, 0.0])  # charuco origin is the outer corner
        image = render_texture_view(TRUE_K, TRUE_DIST, rvec, tvec, texture, square_m / texels,
                                    (-square_m, -square_m), SIZE, rng=rng)
        views.append((f"charuco{i}", image))
    found = calibrate_intrinsics(views, target, IntrinsicsOptions(min_coverage=0.25))
    assert found.intrinsics.fx_px == pytest.approx(TRUE_K[0, 0], rel=0.01)
    assert found.intrinsics.fy_px == pytest.approx(TRUE_K[1, 1], rel=0.01)
    assert found.intrinsics.cx_px == pytest.approx(TRUE_K[0, 2], rel=0.01)
    assert found.intrinsics.views_used >= 6


@pytest.mark.parametrize(("args", "message"), [((7, 5, 30.0, 40.0), "marker size"), ((7, 5, 30.0, 20.0, "DICT_NOPE"), "unknown ArUco")])
def test_charuco_target_validated(args: tuple, message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        CharucoTarget(*args)


def test_cli_calibrates_from_a_short_video(board_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "board.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG video")
    for _, image in iter_image_dir(board_dir):
        for _ in range(3):  # each pose held for 3 frames; --every 3 keeps one of each
            writer.write(image)
    writer.release()
    run = CliRunner().invoke(app, ["calibrate", "intrinsics", "--video", str(video), "--every", "3"])
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output.strip().splitlines()[-1])
    assert summary["views_used"] == 9
    assert summary["fx"] == pytest.approx(TRUE_K[0, 0], rel=0.01)
