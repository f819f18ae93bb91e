"""Ground metres to WGS 84: ahead of a car along its heading, and a pole's east/north frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geographiclib.geodesic import Geodesic

from voirie.calibration.geo import east_north_to_latlon, vehicle_to_latlon

LAT, LON = 48.8566, 2.3522


def _distance_azimuth(lat: float, lon: float, lat2: float, lon2: float) -> tuple[float, float]:
    line = Geodesic.WGS84.Inverse(lat, lon, lat2, lon2)
    return line["s12"], line["azi1"] % 360


@pytest.mark.parametrize("heading", [0.0, 45.0, 200.0])
def test_point_ahead_lies_along_the_heading(heading: float) -> None:
    ahead, right = vehicle_to_latlon(LAT, LON, heading, np.array([[0.0, 10.0], [3.0, 0.0]]))
    distance, azimuth = _distance_azimuth(LAT, LON, *ahead)
    assert distance == pytest.approx(10.0, abs=1e-6)
    assert azimuth == pytest.approx(heading % 360, abs=1e-6)
    distance, azimuth = _distance_azimuth(LAT, LON, *right)
    assert distance == pytest.approx(3.0, abs=1e-6)
    assert azimuth == pytest.approx((heading + 90) % 360, abs=1e-6)


def test_east_north_offsets_and_nan() -> None:
    result = east_north_to_latlon(LAT, LON, np.array([[100.0, 0.0], [0.0, 100.0], [np.nan, 1.0]]))
    assert result[0, 0] == pytest.approx(LAT, abs=1e-5) and result[0, 1] > LON
    assert result[1, 0] > LAT and result[1, 1] == pytest.approx(LON, abs=1e-9)
    assert math.isnan(result[2, 0])
    north_m = (result[1, 0] - LAT) * 111_200
    assert north_m == pytest.approx(100.0, rel=0.01)


@pytest.mark.parametrize(("lat", "points", "message"), [(95.0, [[0.0, 1.0]], "latitude"), (LAT, [[0.0, 1.0, 2.0]], "shape")])
def test_bad_input_is_refused(lat: float, points: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        east_north_to_latlon(lat, LON, np.array(points))


def test_pole_calibration_on_the_map() -> None:
    from voirie.calibration import CalibrationError, CameraCalibration

    from .test_calibration_mounting import POLE, RECTANGLE
    from .conftest import intrinsics_dict, vehicle_dict

    mount = {"mode": "pole", "image_points_px": POLE.ground_to_pixel(RECTANGLE).tolist(),
             "ground_points_m": RECTANGLE.tolist(), "frame": "east_north", "origin_lat_deg": LAT, "origin_lon_deg": LON}
    cal = CameraCalibration.model_validate({"device_id": "p", "camera_id": "c", "intrinsics": intrinsics_dict(),
                                            "mount": mount})
    corner = cal.ground_to_latlon(np.array([[6.0, 10.0]]))[0]
    distance, _ = _distance_azimuth(LAT, LON, *corner)
    assert distance == pytest.approx(math.hypot(6, 10), abs=1e-6)
    with pytest.raises(CalibrationError, match="east_north"):
        CameraCalibration.model_validate(vehicle_dict()).ground_to_latlon(np.zeros((1, 2)))
