"""Query parameter types shared by the routes: times read as aware UTC, time zones checked.

A time zone offset can push a valid date past year 1 or 9999 once converted to UTC
(``9999-12-31T23:00-05:00``); that must be a 422 naming the value, not an overflow deep in
a query.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import HTTPException
from pydantic import AfterValidator

logger = logging.getLogger(__name__)


def to_utc(value: datetime) -> datetime:
    """``value`` as aware UTC (naive means UTC); ValueError when UTC falls outside years 1-9999."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside years 1-9999 once converted to UTC") from None


UtcTime = Annotated[datetime, AfterValidator(to_utc)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def verify_time_zone(tz: str) -> str:
    """``tz`` if it names an IANA time zone (``Europe/Paris``, ``UTC``), else 422."""
    if tz not in _zones():
        raise HTTPException(status_code=422, detail=f"unknown time zone {tz!r}; use an IANA name such as Europe/Paris")
    return tz


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` as four finite numbers in order, else 400 naming the value."""
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[0] > values[2] or values[1] > values[3]:
        raise HTTPException(status_code=400, detail=f"bbox must be minLon,minLat,maxLon,maxLat; got {text!r}")
    return values  # type: ignore[return-value]
