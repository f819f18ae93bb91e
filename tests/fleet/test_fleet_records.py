"""The fleet wire records: round trip, UTC only, bounds, and ModelOffer checks on the device."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from voirie.edge.fleet.models import ModelRefusedError, check_offer
from voirie.records import Heartbeat, ModelOffer, RecordError

from .conftest import manifest_for, tiny_onnx

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)


def test_heartbeat_round_trip():
    beat = Heartbeat(device_id="car-1", software_version="0.1.0", disk_free_bytes=10, time_utc=NOW,
                     rollout={"offer_id": "o1", "status": "refused", "detail": "bad sha256"})
    again = Heartbeat.from_json(beat.to_json())
    assert again == beat and again.rollout.status == "refused"


@pytest.mark.parametrize("change, message", [
    ({"time_utc": "2026-11-22T06:00:00"}, "timezone-aware"),
    ({"disk_free_bytes": -1}, "greater than or equal"),
    ({"mode": "racing"}, "survey"),
    ({"models": [{"model_id": "m", "sha256": "not-a-sha"}]}, "pattern"),
    ({"device_id": "car-1", "extra": 1}, "Extra inputs"),
])
def test_heartbeat_refuses_bad_fields(change, message):
    fields = {"device_id": "car-1", "software_version": "0.1.0", "disk_free_bytes": 1,
              "time_utc": NOW.isoformat(), **change}
    with pytest.raises(RecordError, match=message):
        Heartbeat.from_json(json.dumps(fields))


def _offer(data: bytes, **change: object) -> ModelOffer:
    manifest = manifest_for(data, "1.0.0")
    entry = manifest["files"]["fp32"]
    fields = dict(offer_id="o1", model_id="damage-test", version="1.0.0", variant="fp32", sha256=entry["sha256"],
                  bytes=entry["bytes"], url="/api/v1/models/offers/o1/file", manifest=manifest)
    return ModelOffer(**{**fields, **change})


def test_offer_must_agree_with_its_manifest():
    data = tiny_onnx(1.0)
    assert check_offer(_offer(data)).default_variant == "fp32"
    with pytest.raises(ModelRefusedError, match="disagrees"):
        check_offer(_offer(data, sha256="0" * 64))
    with pytest.raises(ModelRefusedError, match="disagrees"):
        check_offer(_offer(data, bytes=len(data) + 1))
    with pytest.raises(ModelRefusedError, match="manifest is not valid"):
        check_offer(_offer(data, variant="int8"))
    with pytest.raises(ModelRefusedError, match="manifest is not valid"):
        check_offer(_offer(data, manifest={"name": "x"}))
