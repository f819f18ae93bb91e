"""Intrinsics from checkerboard images or a short video (OpenCV), with the reasons a
calibration is refused: too few views, reprojection error too high, poor image coverage."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from voirie.calibration.config import CalibrationError, IntrinsicsConfig
from voirie.calibration.targets import BoardPoints, CharucoTarget, CheckerboardTarget

Target = CheckerboardTarget | CharucoTarget

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Coverage is measured on a coarse grid: share of cells at least half covered by some board.
_COVERAGE_GRID = (8, 6)


@dataclass(frozen=True)
class IntrinsicsOptions:
    """What a calibration must reach to be accepted."""

    min_views: int = 4
    max_rms_px: float = 1.0
    min_coverage: float = 0.35
    outlier_factor: float = 3.0  # drop views whose RMS exceeds this times the median (floor 0.1 px), once
    fix_k3: bool = True  # k3 is poorly constrained by a few views of a normal lens


@dataclass(frozen=True)
class IntrinsicsResult:
    """An accepted calibration and the evidence for it."""

    intrinsics: IntrinsicsConfig
    coverage: float
    view_rms_px: dict[str, float]
    skipped: dict[str, str] = field(default_factory=dict)  # image name -> why it was not used
    corners_px: dict[str, np.ndarray] = field(default_factory=dict)  # image name -> board points used

    def summary_json(self) -> dict[str, object]:
        """The fields of the CLI's last line."""
        i = self.intrinsics
        return {
            "fx": i.fx_px,
            "fy": i.fy_px,
            "cx": i.cx_px,
            "cy": i.cy_px,
            "dist": list(i.dist),
            "rms_px": i.rms_px,
            "views_used": i.views_used,
        }


def parse_board(text: str) -> tuple[int, int]:
    """``"8x5"`` -> (8, 5) inner corners (columns, rows)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise CalibrationError(f"board must look like 8x5 (inner corners), got {text!r}")
    columns, rows = int(match[1]), int(match[2])
    if columns < 3 or rows < 3 or columns * rows > 2000:
        raise CalibrationError(f"board must have 3..2000 inner corners a side, got {columns}x{rows}")
    return columns, rows


def iter_image_dir(directory: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, BGR image) for each readable image in ``directory``, sorted by name."""
    if not directory.is_dir():
        raise CalibrationError(f"image folder not found: {directory}")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise CalibrationError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {directory}")
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("skipping %s: not a readable image", path.name)
            continue
        yield path.name, image


def iter_video(path: Path, every_n: int = 15) -> Iterator[tuple[str, np.ndarray]]:
    """Every ``every_n``-th frame of a video as (name, BGR image)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise CalibrationError(f"cannot open video {path}")
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every_n == 0:
                yield f"{path.name}#{index}", frame
            index += 1
    finally:
        capture.release()


def coverage(corner_sets: Iterable[np.ndarray], size: tuple[int, int]) -> float:
    """Share of a coarse image grid covered by the boards' outlines (0..1)."""
    cols, rows = _COVERAGE_GRID
    width, height = size
    mask = np.zeros((rows * 8, cols * 8), np.uint8)
    scale = np.array([mask.shape[1] / width, mask.shape[0] / height])
    for corners in corner_sets:
        hull = cv2.convexHull((corners * scale).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    cells = mask.reshape(rows, 8, cols, 8).mean(axis=(1, 3)) >= 0.5
    return float(cells.mean())


def detect_views(
    images: Iterable[tuple[str, np.ndarray]], target: Target, on_image: Callable[[str], object] | None = None
) -> tuple[dict[str, BoardPoints], dict[str, str], tuple[int, int]]:
    """Find the target in each image: (points by name, skipped name -> reason, image size)."""
    found: dict[str, BoardPoints] = {}
    skipped: dict[str, str] = {}
    size: tuple[int, int] | None = None
    for name, image in images:
        if on_image is not None:
            on_image(name)
        image_size = (int(image.shape[1]), int(image.shape[0]))
        if size is None:
            size = image_size
        if image_size != size:
            skipped[name] = f"size {image_size[0]}x{image_size[1]} differs from the first image's {size[0]}x{size[1]}"
            continue
        points = target.detect(image)
        if points is None:
            skipped[name] = f"no {target.describe()} found"
            continue
        found[name] = points
    if size is None:
        raise CalibrationError("no images to calibrate from")
    return found, skipped, size


def calibrate_intrinsics(
    images: Iterable[tuple[str, np.ndarray]],
    target: Target,
    options: IntrinsicsOptions = IntrinsicsOptions(),
    on_image: Callable[[str], object] | None = None,
) -> IntrinsicsResult:
    """Calibrate from board images; ``CalibrationError`` says why a calibration is refused."""
    found, skipped, size = detect_views(images, target, on_image)
    total = len(found) + len(skipped)
    if not found:
        raise CalibrationError(
            f"no {target.describe()} found in any of {total} images; check --board "
            "(checkerboard: inner corners, e.g. a 9x6-square board is 8x5) and that the board is in view"
        )
    if len(found) < options.min_views:
        raise CalibrationError(
            f"too few views: the board was found in {len(found)} of {total} images, "
            f"need at least {options.min_views} from different angles and positions"
        )
    intrinsics, view_rms = _fit(found, size, options)
    median = float(np.median(list(view_rms.values())))
    outliers = [n for n, e in view_rms.items() if e > options.outlier_factor * max(median, 0.1)]
    if outliers and len(found) - len(outliers) >= options.min_views:
        for name in outliers:
            skipped[name] = f"outlier view ({view_rms[name]:.2f} px vs median {median:.2f} px)"
            del found[name]
        intrinsics, view_rms = _fit(found, size, options)
    return _accepted(intrinsics, view_rms, found, skipped, size, options)


def _fit(
    found: dict[str, BoardPoints], size: tuple[int, int], options: IntrinsicsOptions
) -> tuple[IntrinsicsConfig, dict[str, float]]:
    objects = [points[0].astype(np.float32) for points in found.values()]
    corners = [points[1].reshape(-1, 1, 2).astype(np.float32) for points in found.values()]
    flags = cv2.CALIB_FIX_K3 if options.fix_k3 else 0
    rms, K, dist, _, _, _, _, per_view = cv2.calibrateCameraExtended(objects, corners, size, None, None, flags=flags)
    intrinsics = IntrinsicsConfig(
        image_width_px=size[0],
        image_height_px=size[1],
        fx_px=float(K[0, 0]),
        fy_px=float(K[1, 1]),
        cx_px=float(K[0, 2]),
        cy_px=float(K[1, 2]),
        dist=tuple(float(v) for v in dist.reshape(-1)),
        rms_px=float(rms),
        views_used=len(found),
    )
    return intrinsics, {name: float(e) for name, e in zip(found, per_view.reshape(-1))}


def _accepted(
    intrinsics: IntrinsicsConfig,
    view_rms: dict[str, float],
    found: dict[str, BoardPoints],
    skipped: dict[str, str],
    size: tuple[int, int],
    options: IntrinsicsOptions,
) -> IntrinsicsResult:
    if intrinsics.rms_px is not None and intrinsics.rms_px > options.max_rms_px:
        worst = max(view_rms, key=view_rms.get)
        raise CalibrationError(
            f"reprojection error too high: {intrinsics.rms_px:.2f} px RMS (max {options.max_rms_px} px); "
            f"worst view {worst} at {view_rms[worst]:.2f} px: check focus, motion blur and board flatness"
        )
    covered = coverage((points[1] for points in found.values()), size)
    if covered < options.min_coverage:
        raise CalibrationError(
            f"poor image coverage: the boards cover {covered:.0%} of the image (need {options.min_coverage:.0%}); "
            "add views with the board near the corners and edges"
        )
    logger.info("intrinsics: %d views, %.3f px RMS, coverage %.0f%%", len(found), intrinsics.rms_px, covered * 100)
    corners = {name: points[1] for name, points in found.items()}
    return IntrinsicsResult(intrinsics, covered, view_rms, skipped, corners)
