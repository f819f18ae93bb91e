"""Traffic counts for mobility teams: bins, a Telraam-shaped API, profiles, before/after, CSV.

Reads the ``count_bins`` table (the ``CountBin`` fields plus ``received_at``) with
SQLAlchemy 2 ``select``. The database session comes from an injected dependency: build
the router with ``create_counts_router(get_session)``, or include ``router`` and override
``get_session`` (``app.dependency_overrides[get_session] = deps.get_db``).
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse
from sqlalchemy import DateTime, column, select, table
from sqlalchemy.orm import Session

from voirie.server import mobility
from voirie.server.api.params import UtcTime, verify_time_zone

logger = logging.getLogger(__name__)

# A lightweight table clause: the server's models own the DDL; this only names the columns read.
count_bins = table(
    "count_bins",
    *(column(name, DateTime(timezone=True)) if name.endswith(("_utc", "_at")) else column(name)
      for name in (*mobility.CSV_FIELDS, "received_at")),
)
MAX_ROWS = 200_000  # a year of 15-min bins for one line, 2 directions, 5 classes is ~350k: ask for less


def get_session() -> Iterator[Session]:
    """Placeholder dependency: the app overrides it with its own session factory."""
    raise HTTPException(status_code=500, detail="counts router: no database session dependency wired")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _load(session: Session, camera_id: str | None, line_id: str | None, start: datetime | None,
          end: datetime | None) -> list[Any]:
    query = select(count_bins)
    if camera_id:
        query = query.where(count_bins.c.camera_id == camera_id)
    if line_id:
        query = query.where(count_bins.c.line_id == line_id)
    start, end = _aware(start), _aware(end)
    if start and end and end <= start:
        raise HTTPException(status_code=422, detail=f"end ({end}) must be after start ({start})")
    # SQLite stores naive UTC text; other databases compare aware timestamps.
    naive = session.get_bind().dialect.name == "sqlite"
    if start:
        query = query.where(count_bins.c.bin_start_utc >= (start.replace(tzinfo=None) if naive else start))
    if end:
        query = query.where(count_bins.c.bin_start_utc < (end.replace(tzinfo=None) if naive else end))
    rows = session.execute(query.order_by(count_bins.c.bin_start_utc).limit(MAX_ROWS + 1)).mappings().all()
    if len(rows) > MAX_ROWS:
        raise HTTPException(status_code=413, detail=f"more than {MAX_ROWS} bins: narrow camera_id, line_id or dates")
    try:
        return [mobility.row_to_bin(row) for row in rows]
    except ValueError as error:
        logger.warning("count_bins holds an invalid row: %s", error)
        raise HTTPException(status_code=500, detail="count_bins holds an invalid row") from None


Camera = Annotated[str | None, Query(max_length=64, description="camera id")]
Line = Annotated[str | None, Query(max_length=64, description="counting line id")]
Start = Annotated[UtcTime | None, Query(description="from (inclusive, ISO 8601; naive = UTC)")]
End = Annotated[UtcTime | None, Query(description="to (exclusive)")]
Tz = Annotated[str, Query(max_length=64, description="IANA time zone for hours and days")]
Classes = Annotated[list[str] | None, Query(description="only these classes")]


def _tz(tz: str) -> str:
    return verify_time_zone(tz)


def _add_bin_routes(router: APIRouter, SessionDep: Any) -> None:
    @router.get("/bins")
    def list_bins(session: SessionDep, camera_id: Camera = None, line_id: Line = None, start: Start = None,
                  end: End = None) -> list[dict[str, Any]]:
        """The stored 15-minute bins (gaps included, with status "no_data")."""
        return [b.to_dict() for b in _load(session, camera_id, line_id, start, end)]

    @router.get("/traffic")
    def telraam_traffic(session: SessionDep, camera_id: Camera = None, line_id: Line = None,
                        start: Start = None, end: End = None) -> dict[str, Any]:
        """Telraam-shaped report: one record per bin with per-class totals and per-direction counts."""
        report = mobility.telraam_report(_load(session, camera_id, line_id, start, end))
        return {"status_code": 200, "message": "ok", "report": report}

    @router.get("/export.csv", response_class=PlainTextResponse)
    def export_csv(session: SessionDep, camera_id: Camera = None, line_id: Line = None, start: Start = None,
                   end: End = None) -> PlainTextResponse:
        """Every bin as CSV (for spreadsheets and GIS)."""
        text = mobility.to_csv(_load(session, camera_id, line_id, start, end))
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="count_bins.csv"'})


def _add_view_routes(router: APIRouter, SessionDep: Any) -> None:
    @router.get("/profile")
    def profile(session: SessionDep, camera_id: Camera = None, line_id: Line = None, start: Start = None,
                end: End = None, tz: Tz = "UTC", class_name: Classes = None) -> dict[str, Any]:
        """Hourly profiles (weekday, weekend, all), peak hours and the bike share."""
        bins = _load(session, camera_id, line_id, start, end)
        tz = _tz(tz)
        profiles = mobility.weekday_weekend_profiles(bins, tz, class_name)
        profiles["all"] = mobility.hourly_profile(bins, tz, "all", class_name)
        peaks = {kind: mobility.peak_hour(bins, tz, kind, class_name) for kind in ("weekday", "weekend")}
        return {"tz": tz, "profiles": profiles, "peak_hour": peaks, "bike_share": mobility.bike_share(bins)}

    @router.get("/daily")
    def daily(session: SessionDep, camera_id: Camera = None, line_id: Line = None, start: Start = None,
              end: End = None, tz: Tz = "UTC") -> list[dict[str, Any]]:
        """Daily totals per class, with the share of each day the camera watched."""
        totals = mobility.daily_totals(_load(session, camera_id, line_id, start, end), _tz(tz))
        return [asdict(t) | {"day": t.day.isoformat()} for t in totals]

    @router.get("/compare")
    def compare(session: SessionDep, before_start: UtcTime, before_end: UtcTime, after_start: UtcTime,
                after_end: UtcTime, camera_id: Camera = None, line_id: Line = None) -> list[dict[str, Any]]:
        """Per-class traffic per watched day before and after (e.g. a new cycle lane)."""
        before = (_aware(before_start), _aware(before_end))
        after = (_aware(after_start), _aware(after_end))
        if before[1] <= before[0] or after[1] <= after[0]:
            raise HTTPException(status_code=422, detail="each period must end after it starts")
        bins = _load(session, camera_id, line_id, min(before[0], after[0]), max(before[1], after[1]))
        return [asdict(c) for c in mobility.compare_periods(bins, before, after)]


def create_counts_router(session_dependency: Callable[..., Any] = get_session) -> APIRouter:
    """The counts API, reading through ``session_dependency``."""
    router = APIRouter(prefix="/counts", tags=["counts"])
    SessionDep = Annotated[Session, Depends(session_dependency)]
    _add_bin_routes(router, SessionDep)
    _add_view_routes(router, SessionDep)
    return router


router = create_counts_router()
