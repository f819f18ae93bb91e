"""Reading what ``voirie calibrate`` is given: intrinsics files, nominal lenses, point lists."""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voirie.calibration.config import CalibrationError, IntrinsicsConfig
from voirie.config import error_report

logger = logging.getLogger(__name__)


def read_intrinsics(path: Path) -> IntrinsicsConfig:
    """Intrinsics from `intrinsics --out` or from an existing calibration file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return IntrinsicsConfig.model_validate(data.get("intrinsics", data) if isinstance(data, dict) else data)
    except FileNotFoundError as error:
        raise CalibrationError(f"intrinsics file not found: {path}") from error
    except (OSError, json.JSONDecodeError) as error:
        raise CalibrationError(f"intrinsics file {path} is not readable JSON: {error}") from error
    except ValidationError as error:
        raise CalibrationError(error_report(error, str(path), "invalid intrinsics file")) from error


def lens_from(intrinsics: Path | None, nominal: str | None) -> IntrinsicsConfig:
    """The lens from a file, or nominal from ``1920x1080@90`` (width x height @ horizontal FOV)."""
    if (intrinsics is None) == (nominal is None):
        raise CalibrationError("give exactly one of --intrinsics FILE or --nominal WIDTHxHEIGHT@HFOV_DEG")
    if intrinsics is not None:
        return read_intrinsics(intrinsics)
    match = re.fullmatch(r"(\d+)x(\d+)@(\d+(?:\.\d+)?)", nominal.strip())
    if not match:
        raise CalibrationError(f"--nominal must look like 1920x1080@90, got {nominal!r}")
    return IntrinsicsConfig.from_field_of_view(int(match[1]), int(match[2]), float(match[3]))


def read_points(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """CSV with header u_px,v_px,x_m,y_m: image points and their ground coordinates."""
    image, ground = [], []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    image.append((float(row["u_px"]), float(row["v_px"])))
                    ground.append((float(row["x_m"]), float(row["y_m"])))
                except (KeyError, TypeError, ValueError) as error:
                    raise CalibrationError(f"{path} line {line}: need numeric u_px,v_px,x_m,y_m ({error})") from error
    except FileNotFoundError as error:
        raise CalibrationError(f"points file not found: {path}") from error
    return image, ground


def pole_mount_from_csv(points: Path | None, origin: str | None) -> dict[str, Any]:
    """The pole mount section from a points CSV and an optional ``LAT,LON`` map origin."""
    if points is None:
        raise CalibrationError("pole mode needs --points CSV (u_px,v_px,x_m,y_m)")
    image, ground = read_points(points)
    mount: dict[str, Any] = {"mode": "pole", "image_points_px": image, "ground_points_m": ground}
    if origin is not None:
        try:
            lat, lon = (float(part) for part in origin.split(","))
        except ValueError as error:
            raise CalibrationError(f"--origin must look like 48.8566,2.3522, got {origin!r}") from error
        mount.update(frame="east_north", origin_lat_deg=lat, origin_lon_deg=lon)
    return mount
