from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from voirie.records import (
    CountBin,
    Detection,
    Detections,
    FixMode,
    Frame,
    FrameRecord,
    GeoFix,
    RecordError,
)

NOW = datetime(2026, 5, 4, 8, 30, tzinfo=timezone.utc)


def a_fix(**overrides) -> GeoFix:
    values = dict(lat=50.9513, lon=1.8587, time_utc=NOW, mode=FixMode.FIX_3D, speed_mps=8.0, heading_deg=90.0)
    values.update(overrides)
    return GeoFix(**values)


def a_frame_record(**overrides) -> FrameRecord:
    values = dict(
        record_id=FrameRecord.make_id("car-1", "s1", "front", 7),
        device_id="car-1",
        survey_id="s1",
        camera_id="front",
        sequence=7,
        time_utc=NOW,
        fix=a_fix(),
        image_width=1280,
        image_height=720,
        detections=(Detection(class_name="pothole", confidence=0.8, box_xyxy=(10, 20, 50, 60), area_m2=0.4),),
        anonymizer="centerface@1",
    )
    values.update(overrides)
    return FrameRecord(**values)


def test_frame_record_json_round_trip_keeps_every_field():
    record = a_frame_record()
    text = record.to_json()
    assert text.startswith('{"schema":1,')
    assert FrameRecord.from_json(text) == record


def test_frame_record_id_is_deterministic_and_distinct():
    assert FrameRecord.make_id("car-1", "s1", "front", 7) == FrameRecord.make_id("car-1", "s1", "front", 7)
    assert FrameRecord.make_id("car-1", "s1", "front", 7) != FrameRecord.make_id("car-1", "s1", "front", 8)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"schema": 99, "lat": 1, "lon": 2, "time_utc": "2026-01-01T00:00:00Z"}', "newer than this software"),
        ('{"schema": 1, "lat": 91, "lon": 2, "time_utc": "2026-01-01T00:00:00Z"}', "lat"),
        ('{"schema": 1, "lat": 1, "lon": 2, "time_utc": "2026-01-01T00:00:00"}', "timezone-aware"),
        ('{"schema": 1, "lat": 1, "lon": 2, "time_utc": "2026-01-01T00:00:00Z", "pixels": []}', "pixels"),
        ("not json", "geofix"),
    ],
)
def test_bad_geofix_json_is_refused_with_the_reason(text, fragment):
    with pytest.raises(RecordError, match=fragment):
        GeoFix.from_json(text)


def test_geofix_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        a_fix(speed_mps=float("nan"))


def test_time_is_normalised_to_utc():
    paris = timezone(timedelta(hours=2))
    fix = a_fix(time_utc=datetime(2026, 5, 4, 10, 30, tzinfo=paris))
    assert fix.time_utc == NOW and fix.time_utc.tzinfo == timezone.utc


def test_records_are_frozen():
    with pytest.raises(ValueError):
        a_fix().lat = 0.0


def test_frame_rejects_non_image_pixels():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Frame(pixels=np.zeros((4, 4), np.uint8), monotonic_s=0, time_utc=NOW, camera_id="c", sequence=0)


def test_detections_mask_and_wire_conversion():
    detections = Detections(
        xyxy=np.array([[0, 0, 10, 10], [5, 5, 20, 30]], np.float32),
        confidence=np.array([0.9, 0.3], np.float32),
        class_id=np.array([0, 1]),
        class_names=("crack", "pothole"),
        length_m=np.array([2.5, np.nan]),
    )
    strong = detections[detections.confidence > 0.5]
    assert len(strong) == 1 and strong.names() == ["crack"]
    records = detections.to_records()
    assert records[0].length_m == 2.5 and records[1].length_m is None
    assert records[1].box_xyxy == (5.0, 5.0, 20.0, 30.0)


def test_detections_reject_bad_class_ids():
    with pytest.raises(ValueError, match="class_names"):
        Detections(
            xyxy=np.zeros((1, 4), np.float32),
            confidence=np.ones(1, np.float32),
            class_id=np.array([3]),
            class_names=("crack",),
        )


def test_detection_rejects_inverted_box():
    with pytest.raises(ValueError, match="x1 <= x2"):
        Detection(class_name="crack", confidence=0.5, box_xyxy=(10, 0, 5, 5))


def test_count_bin_no_data_is_distinct_from_zero():
    key = dict(device_id="pole-1", camera_id="c", line_id="l", direction="north", class_name="bicycle")
    bin_ = CountBin(record_id=CountBin.make_id(**key, bin_start=NOW), bin_start_utc=NOW, count=0, status="no_data", **key)
    assert CountBin.from_json(bin_.to_json()).status == "no_data"
