"""Fleet health: store heartbeats (latest + bounded history), compute clock skew, list devices.

Clock skew is ``device clock − server receive time``: positive when the device runs ahead.
It includes the network delay (usually milliseconds), which is why it is reported in
seconds and meant for spotting a box whose RTC drifted or never got NTP/GNSS time.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from voirie.records import Heartbeat
from voirie.server.fleet_rollout import FleetScopeError, apply_report, pending_offer
from voirie.server.models import Device, DeviceFleetPublic, FleetStatus, HeartbeatReply, HeartbeatRow

logger = logging.getLogger(__name__)

__all__ = ["FleetScopeError", "device_listing", "heartbeat_history", "record_heartbeat"]


def record_heartbeat(session: Session, device_id: str, heartbeat: Heartbeat, received_at: datetime,
                     history: int) -> HeartbeatReply:
    """Store one heartbeat of the authenticated ``device_id`` and answer it (maybe with an offer)."""
    if heartbeat.device_id != device_id:
        raise FleetScopeError(f"this token belongs to device {device_id!r}; "
                              f"it cannot send heartbeats for {heartbeat.device_id!r}")
    skew_s = (heartbeat.time_utc - received_at).total_seconds()
    text = heartbeat.to_json()
    session.merge(FleetStatus(
        device_id=device_id, received_at=received_at, device_time_utc=heartbeat.time_utc, skew_s=skew_s,
        software_version=heartbeat.software_version, queue_depth=heartbeat.queue_depth,
        oldest_pending_utc=heartbeat.oldest_pending_utc, last_fix_utc=heartbeat.last_fix_utc,
        disk_free_bytes=heartbeat.disk_free_bytes, mode=heartbeat.mode, heartbeat_json=text))
    session.add(HeartbeatRow(device_id=device_id, received_at=received_at, skew_s=skew_s, heartbeat_json=text))
    session.flush()
    _prune_history(session, device_id, history)
    if heartbeat.rollout is not None:
        apply_report(session, device_id, heartbeat.rollout)
    offer = pending_offer(session, device_id, heartbeat.models)
    session.commit()
    if abs(skew_s) > 60:
        logger.warning("device %s clock is %.0f s %s the server", device_id, abs(skew_s),
                       "ahead of" if skew_s > 0 else "behind")
    return HeartbeatReply(received_at_utc=received_at, skew_s=skew_s,
                          offer=offer.to_dict() if offer is not None else None)


def _prune_history(session: Session, device_id: str, keep: int) -> None:
    """Delete all but the ``keep`` newest heartbeats of a device (bounded history)."""
    cutoff = session.scalar(select(HeartbeatRow.id).where(HeartbeatRow.device_id == device_id)
                            .order_by(HeartbeatRow.id.desc()).offset(keep).limit(1))
    if cutoff is not None:
        session.execute(delete(HeartbeatRow).where(HeartbeatRow.device_id == device_id,
                                                   HeartbeatRow.id <= cutoff))


def device_listing(session: Session, stale_after_s: float, now: datetime) -> list[DeviceFleetPublic]:
    """Every registered device with its latest heartbeat and a ``stale`` flag."""
    rows = session.execute(select(Device, FleetStatus).outerjoin(FleetStatus, FleetStatus.device_id == Device.device_id)
                           .order_by(Device.device_id))
    listing = []
    for device, status in rows:
        base = {"device_id": device.device_id, "name": device.name, "active": device.active,
                "created_at": device.created_at}
        if status is None:
            listing.append(DeviceFleetPublic(**base, stale=True))
            continue
        stale = (now - status.received_at).total_seconds() > stale_after_s
        beat = json.loads(status.heartbeat_json)
        listing.append(DeviceFleetPublic(
            **base, stale=stale, last_heartbeat_at=status.received_at, skew_s=status.skew_s,
            software_version=status.software_version, queue_depth=status.queue_depth,
            oldest_pending_utc=status.oldest_pending_utc, last_fix_utc=status.last_fix_utc,
            disk_free_bytes=status.disk_free_bytes, mode=status.mode,
            models=beat.get("models", []), quarantined_records=beat.get("quarantined_records", 0)))
    return listing


def heartbeat_history(session: Session, device_id: str, limit: int) -> list[dict]:
    """The newest ``limit`` heartbeats of a device, newest first, with receive time and skew."""
    rows = session.scalars(select(HeartbeatRow).where(HeartbeatRow.device_id == device_id)
                           .order_by(HeartbeatRow.id.desc()).limit(limit))
    return [{"received_at_utc": row.received_at.isoformat(), "skew_s": row.skew_s,
             "heartbeat": json.loads(row.heartbeat_json)} for row in rows]
