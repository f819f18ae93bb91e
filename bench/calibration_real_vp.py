"""Lane vanishing point on real survey photos (../shared/data/road_damage_cpri, DNIT roof camera).

The human-drawn LANE mask of each photo outlines the vehicle's lane; straight lines fitted to
its left and right borders meet at a reference vanishing point. We compare the vanishing
point that ``voirie.calibration.horizon`` finds from image lines alone (what the quality gate
and ``calibrate mount --lane-images`` use) against it, and against a baseline that takes the
plain least-squares intersection of all detected segments (no RANSAC).
Errors are in pixels and, with a nominal 1000 px focal length (1024 px wide, ~54 degree field),
in degrees. Last line: one JSON object.

    nice -n 10 .venv/bin/python bench/calibration_real_vp.py [--data ../shared/data/road_damage_cpri]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
from rich.progress import track

from voirie.calibration.horizon import detect_line_segments, vanishing_point

NOMINAL_FOCAL_PX = 1000.0


def mask_vanishing_point(mask: np.ndarray) -> np.ndarray | None:
    """Intersection of lines fitted to the left and right borders of the lane mask."""
    rows = np.where((mask > 0).any(axis=1))[0]
    if len(rows) < 50:
        return None
    lefts, rights, ys = [], [], []
    for y in rows[:: max(1, len(rows) // 100)]:
        xs = np.where(mask[y] > 0)[0]
        if 0 < xs[0] and xs[-1] < mask.shape[1] - 1:  # border inside the image on both sides
            lefts.append(xs[0]), rights.append(xs[-1]), ys.append(y)
    if len(ys) < 20:
        return None
    left = np.polyfit(ys, lefts, 1)  # x = a y + b
    right = np.polyfit(ys, rights, 1)
    if abs(left[0] - right[0]) < 1e-6:
        return None
    y = (right[1] - left[1]) / (left[0] - right[0])
    return np.array([left[0] * y + left[1], y])


def least_squares_point(segments: np.ndarray) -> np.ndarray | None:
    """Baseline: the point closest to all segment lines, no outlier rejection."""
    if len(segments) < 2:
        return None
    start = np.column_stack([segments[:, :2], np.ones(len(segments))])
    stop = np.column_stack([segments[:, 2:], np.ones(len(segments))])
    lines = np.cross(start, stop)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    point = np.linalg.svd(lines)[2][-1]
    return point[:2] / point[2] if abs(point[2]) > 1e-12 else None


def lane_width_ratios(data: Path, images: list[Path], pitch_deg: float) -> np.ndarray:
    """Lane width (from the LANE mask) 12 m ahead over 5 m ahead, through a calibration whose
    pitch comes from the vanishing points: 1.0 when the pitch is right (a wrong pitch makes the
    lane seem to widen or narrow with distance). Nominal lens, 2.4 m height (cancels out)."""
    from voirie.calibration import CameraCalibration, IntrinsicsConfig

    ratios = []
    for path in images:
        mask = cv2.imread(str(data / "masks" / f"{path.stem}_LANE.png"), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            continue
        lens = IntrinsicsConfig.from_field_of_view(mask.shape[1], mask.shape[0], 2 * math.degrees(math.atan(0.5 * mask.shape[1] / NOMINAL_FOCAL_PX)))
        plane = CameraCalibration.model_validate({
            "device_id": "dnit", "camera_id": "roof", "intrinsics": lens.model_dump(),
            "mount": {"mode": "vehicle", "height_m": 2.4, "pitch_deg": pitch_deg}}).ground_plane()
        widths = []
        for ahead in (5.0, 12.0):
            row = int(round(plane.ground_to_pixel(np.array([[0.0, ahead]]))[0, 1]))
            xs = np.where(mask[row] > 0)[0] if 0 <= row < mask.shape[0] else np.zeros(0)
            if len(xs) < 2 or xs[0] == 0 or xs[-1] == mask.shape[1] - 1:
                break
            ends = plane.pixel_to_ground(np.array([[xs[0], row], [xs[-1], row]], float))
            widths.append(float(np.linalg.norm(ends[1] - ends[0])))
        if len(widths) == 2:
            ratios.append(widths[1] / widths[0])
    return np.array(ratios)


def angle_deg(error_px: float) -> float:
    return math.degrees(math.atan(error_px / NOMINAL_FOCAL_PX))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/road_damage_cpri")
    args = parser.parse_args()
    images = sorted((args.data / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no images under {args.data / 'images'}")
    ours, base, rows, row_errors, skipped = [], [], [], [], 0
    started = time.perf_counter()
    for path in track(images, description="vanishing points"):
        mask = cv2.imread(str(args.data / "masks" / f"{path.stem}_LANE.png"), cv2.IMREAD_GRAYSCALE)
        reference = mask_vanishing_point(mask) if mask is not None else None
        if reference is None:
            skipped += 1
            continue
        segments = detect_line_segments(cv2.imread(str(path)))
        found = vanishing_point(segments)
        ours.append(np.linalg.norm(found[0] - reference) if found else np.nan)
        baseline = least_squares_point(segments)
        base.append(np.linalg.norm(baseline - reference) if baseline is not None else np.nan)
        rows.append(found[0][1] if found else np.nan)
        row_errors.append(abs(found[0][1] - reference[1]) if found else np.nan)
    elapsed = time.perf_counter() - started
    ours_a, base_a, rows_a = np.array(ours), np.array(base), np.array(rows)
    found_share = float(np.isfinite(ours_a).mean())
    summary = {
        "images_with_reference": len(ours),
        "skipped_no_lane_mask": skipped,
        "found_share": found_share,
        "median_error_px": float(np.nanmedian(ours_a)),
        "median_error_deg": angle_deg(float(np.nanmedian(ours_a))),
        "p90_error_px": float(np.nanpercentile(ours_a, 90)),
        "median_row_error_px": float(np.nanmedian(row_errors)),
        "median_row_error_deg": angle_deg(float(np.nanmedian(row_errors))),
        "row_within_1_5_deg_share": float(np.mean(np.nan_to_num(np.array(row_errors), nan=1e9)
                                                  < NOMINAL_FOCAL_PX * math.tan(math.radians(1.5)))),
        "within_1_5_deg_share": float(np.mean(np.nan_to_num(ours_a, nan=1e9) < NOMINAL_FOCAL_PX * math.tan(math.radians(1.5)))),
        "baseline_median_error_px": float(np.nanmedian(base_a)),
        "vp_row_median_px": float(np.nanmedian(rows_a)),
        "vp_row_iqr_px": float(np.subtract(*np.nanpercentile(rows_a, [75, 25]))),
        "ms_per_image": elapsed / max(1, len(ours)) * 1000,
    }
    # pitch for a 1000 px focal length from the median vanishing-point row (principal point at the centre)
    pitch = math.degrees(math.atan((319.5 - summary["vp_row_median_px"]) / NOMINAL_FOCAL_PX))
    ratios = lane_width_ratios(args.data, images, pitch)
    flat = lane_width_ratios(args.data, images, pitch - 3.0)
    summary.update({"pitch_from_vp_deg": pitch, "lane_width_12_over_5_median": float(np.median(ratios)),
                    "lane_width_12_over_5_iqr": float(np.subtract(*np.percentile(ratios, [75, 25]))),
                    "lane_width_ratio_with_pitch_3deg_off": float(np.median(flat)), "lane_width_images": len(ratios)})
    print(f"lane width 12 m / 5 m ahead with the vanishing-point pitch ({pitch:.1f} deg): median "
          f"{summary['lane_width_12_over_5_median']:.3f} (IQR {summary['lane_width_12_over_5_iqr']:.3f}, "
          f"{len(ratios)} photos); with the pitch 3 deg off: {summary['lane_width_ratio_with_pitch_3deg_off']:.3f}")
    print(f"{len(ours)} photos with a lane mask: vanishing point found in {found_share:.0%}; median error "
          f"{summary['median_error_px']:.1f} px ({summary['median_error_deg']:.2f} deg at f={NOMINAL_FOCAL_PX:.0f} px), "
          f"90th percentile {summary['p90_error_px']:.1f} px; row (horizon) error median "
          f"{summary['median_row_error_px']:.1f} px ({summary['median_row_error_deg']:.2f} deg); least-squares baseline median "
          f"{summary['baseline_median_error_px']:.1f} px (ratio {summary['baseline_median_error_px'] / summary['median_error_px']:.1f}x)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
