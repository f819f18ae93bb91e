"""Crossings → ``CountBin`` records (15-minute bins by default), with gaps as "no_data".

A bin is reported "ok" only when the camera was actually watching for at least
``min_coverage`` of the part of the bin the run spans; otherwise "no_data" (count 0 means
nothing, the server must not read it as an empty road). Coverage is the sum of the
intervals between consecutive frames that are shorter than ``max_frame_gap_s``, so a
disconnect, a frozen stream or a stall shows up without a separate code path.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from voirie.records import CountBin

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BinKey:
    """What one count is about."""

    line_id: str
    direction: str
    class_name: str


@dataclass
class _Bin:
    observed_s: float = 0.0
    counts: dict[BinKey, int] = field(default_factory=lambda: defaultdict(int))
    speeds: dict[BinKey, list[float]] = field(default_factory=lambda: defaultdict(list))


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return value.timestamp()


class BinAggregator:
    """Accumulates crossings and watched time; emits closed bins in time order."""

    def __init__(self, device_id: str, camera_id: str, keys: list[BinKey], bin_seconds: int = 900,
                 min_coverage: float = 0.5, max_frame_gap_s: float = 2.0) -> None:
        if bin_seconds <= 0 or 86400 % bin_seconds:
            raise ValueError(f"bin_seconds must divide a day, got {bin_seconds}")
        if not keys:
            raise ValueError("at least one (line, direction, class) key is needed")
        self.device_id, self.camera_id = device_id, camera_id
        self.keys = list(keys)
        self.bin_seconds = bin_seconds
        self.min_coverage, self.max_frame_gap_s = min_coverage, max_frame_gap_s
        self._bins: dict[int, _Bin] = defaultdict(_Bin)
        self._run_start: float | None = None
        self._last: float | None = None
        self._next_emit: int | None = None  # start of the oldest bin not yet emitted

    def _bin_of(self, t: float) -> int:
        return int(math.floor(t / self.bin_seconds) * self.bin_seconds)

    def observe(self, time_utc: datetime) -> list[CountBin]:
        """A frame was watched at ``time_utc``; returns the bins that closed before it."""
        t = _epoch(time_utc)
        if self._run_start is None:
            self._run_start, self._next_emit = t, self._bin_of(t)
        elif self._last is not None and 0 < t - self._last <= self.max_frame_gap_s:
            self._add_coverage(self._last, t)
        if self._last is None or t > self._last:
            self._last = t
        return self._emit_until(self._bin_of(t))

    def would_close(self, time_utc: datetime) -> bool:
        """Whether a frame at ``time_utc`` closes a bin (pending crossings must be in it first)."""
        return self._next_emit is not None and self._next_emit < self._bin_of(_epoch(time_utc))

    def gap(self) -> None:
        """The stream broke (disconnect, frozen): the time until the next frame is unwatched."""
        self._last = None

    def _add_coverage(self, t0: float, t1: float) -> None:
        while t0 < t1:
            start = self._bin_of(t0)
            stop = min(t1, start + self.bin_seconds)
            self._bins[start].observed_s += stop - t0
            t0 = stop

    def add(self, key: BinKey, time_utc: datetime, speed_kmh: float | None = None) -> None:
        """Count one crossing at ``time_utc`` (with its speed when known)."""
        if key not in self.keys:
            raise ValueError(f"unknown count key {key}; configured: {self.keys}")
        start = self._bin_of(_epoch(time_utc))
        self._bins[start].counts[key] += 1
        if speed_kmh is not None and math.isfinite(speed_kmh) and speed_kmh >= 0:
            self._bins[start].speeds[key].append(speed_kmh)

    def flush(self, end_utc: datetime | None = None) -> list[CountBin]:
        """Emit every bin up to the end of the run (shutdown or end of a video file)."""
        if self._run_start is None:
            return []
        end = _epoch(end_utc) if end_utc is not None else (self._last or self._run_start)
        self._end = max(end, self._last or end)
        return self._emit_until(self._bin_of(self._end) + self.bin_seconds, final=True)

    def _emit_until(self, bin_start: int, final: bool = False) -> list[CountBin]:
        out: list[CountBin] = []
        while self._next_emit is not None and self._next_emit < bin_start:
            start = self._next_emit
            span_end = min(start + self.bin_seconds, self._end if final else start + self.bin_seconds)
            expected = span_end - max(start, self._run_start or start)
            out.extend(self._records(start, self._bins.pop(start, _Bin()), expected))
            self._next_emit = start + self.bin_seconds
        return out

    def _records(self, start: int, data: _Bin, expected_s: float) -> list[CountBin]:
        ok = expected_s > 0 and data.observed_s >= self.min_coverage * expected_s
        when = datetime.fromtimestamp(start, timezone.utc)
        if not ok and sum(data.counts.values()):
            logger.warning("bin %s: %d crossings in a bin watched %.0f of %.0f s: reported as no_data",
                           when.isoformat(), sum(data.counts.values()), data.observed_s, expected_s)
        records = []
        for key in self.keys:
            speeds = data.speeds.get(key) if ok else None
            records.append(CountBin(
                record_id=CountBin.make_id(self.device_id, self.camera_id, key.line_id, key.direction,
                                           key.class_name, when),
                device_id=self.device_id, camera_id=self.camera_id, line_id=key.line_id,
                direction=key.direction, class_name=key.class_name, bin_start_utc=when,
                bin_seconds=self.bin_seconds, count=data.counts.get(key, 0) if ok else 0,
                mean_speed_kmh=round(sum(speeds) / len(speeds), 1) if speeds else None,
                status="ok" if ok else "no_data",
            ))
        return records
