"""Where the survey loop's frames and 4 m marks come from: a recorded drive, or a camera and gpsd.

Both feeds give ``engine.run_survey`` the same things: frames in time order (``None`` for
a frame read but not worth decoding), the marks found since the last call, and at the end
the last marks to resolve (or ``None``: leave the pending ones unresolved).

* ``ReplayFeed``: the whole track is read first, so every mark is known at the start and
  only the frames that can be nearest a mark are decoded (``grab()`` the others): that,
  not the models, decides how fast a replay runs. A frame's sequence is its index in the
  file, so the same replay always gives the same record ids. With ``SurveyConfig.overlap``
  the frames are grabbed and decoded on a thread, a few ahead of the loop (``ReadAhead``).
* ``LiveFeed``: the camera and gpsd run on their own threads; a mark is known only when
  the fix after it arrives, so at a stop the feed waits (briefly) for gpsd to reach the
  last frame before it hands over the last marks.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from voirie.capture.camera import LiveSource, VideoFileSource, open_camera
from voirie.capture.gnss import FixFilter, GpsdSource, read_track
from voirie.capture.trigger import DistanceTrigger, FrameMatcher, TriggerMark
from voirie.edge.survey.overlap import ReadAhead
from voirie.edge.survey.pipeline import SurveyConfig
from voirie.records import Frame, GeoFix

logger = logging.getLogger(__name__)

# Live frames wait in the matcher until the fix after their mark arrives: ~1.5 s, not more
# (they hold pixels). A stop waits no longer than that for gpsd to catch up.
LIVE_KEEP_S = 1.5


class MarkMaker:
    """Fixes -> fix filter -> distance trigger -> marks; counts the fixes and the rejections."""

    def __init__(self, config: SurveyConfig) -> None:
        self.fix_filter, self.trigger = FixFilter(config.max_speed_mps), DistanceTrigger(config.spacing_m)
        self.fixes = 0

    def update(self, fix: GeoFix) -> list[TriggerMark]:
        """The marks this fix completes (none for a rejected fix)."""
        self.fixes += 1
        return self.trigger.update(fix) if self.fix_filter.accept(fix) else []

    @property
    def rejected(self) -> Counter:
        return self.fix_filter.rejected


class ReplayFeed:
    """A video file and its NMEA/GPX track (same clock); the first frame at ``start_utc``."""

    def __init__(self, video: str | Path, track: str | Path, config: SurveyConfig,
                 video_start_utc: datetime | None = None) -> None:
        fixes = list(read_track(track))
        self.marker = MarkMaker(config)
        self._marks = [mark for fix in fixes for mark in self.marker.update(fix)]
        self.start_utc = video_start_utc or fixes[0].time_utc
        # Overlapped, the decoder has a thread of its own (ReadAhead): one FFmpeg thread costs less CPU a frame.
        self.source = VideoFileSource(video, self.start_utc, config.camera_id, decoder_threads=1 if config.overlap else 0)
        # Frames farther than half a frame period from every mark can never be the nearest one.
        self._window = min(config.max_offset_s, 0.5 / self.source.fps + 1e-3)
        self._offsets = [(mark.time_utc - self.start_utc).total_seconds() for mark in self._marks]
        self.matcher: FrameMatcher[Frame] = FrameMatcher(config.max_offset_s, keep_s=max(1.0, config.max_offset_s))
        self.dropped = 0  # a file never drops a frame
        self._read_ahead = config.overlap
        self._ahead: ReadAhead[Frame | None] | None = None

    @property
    def frame_count(self) -> int:
        return self.source.frame_count

    def frames(self) -> Iterator[Frame | None]:
        """Every frame of the file; decoded only when it can be the nearest to a mark."""
        if not self._read_ahead:
            return self._decoded()
        self._ahead = ReadAhead(self._decoded(), name="survey-decode")
        return iter(self._ahead)

    def _decoded(self) -> Iterator[Frame | None]:
        while (stamp := self.source.grab()) is not None:
            yield self.source.retrieve(stamp) if self._near_mark(stamp.monotonic_s) else None

    def _near_mark(self, t: float) -> bool:
        from bisect import bisect_left

        i = bisect_left(self._offsets, t)
        return any(0 <= j < len(self._offsets) and abs(self._offsets[j] - t) <= self._window for j in (i - 1, i))

    def take_marks(self) -> list[TriggerMark]:
        """All the track's marks the first time, then none."""
        marks, self._marks = self._marks, []
        return marks

    def finish(self, ended: bool) -> list[TriggerMark] | None:
        """At the end of the file the pending marks resolve; stopped midway they are left, so
        a rerun resolves them with the same frames (same ids) instead of a second photo."""
        return [] if ended else None

    def close(self) -> None:
        if self._ahead is not None:  # its thread reads the source: stopped first
            self._ahead.close()
        self.source.close()

    def __enter__(self) -> ReplayFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GnssFollower:
    """Reads gpsd on a daemon thread; ``take()`` returns the marks found since the last call."""

    def __init__(self, host: str, port: int, marker: MarkMaker, on_fix: Callable[[GeoFix], None] | None = None) -> None:
        self.source, self.marker, self.on_fix = GpsdSource(host, port), marker, on_fix
        self.error: ValueError | None = None
        self.last_fix_utc: datetime | None = None
        self._marks: list[TriggerMark] = []
        self._changed, self._stop, self._ended = threading.Condition(), threading.Event(), False
        threading.Thread(target=self._run, name="gnss", daemon=True).start()

    def _run(self) -> None:
        try:
            self._follow()
        except ValueError as error:  # gpsd unreachable or gone: the survey loop reports it
            logger.error("GNSS stopped: %s", error)
            self.error = error
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def _follow(self) -> None:
        for fix in self.source.fixes():
            if self._stop.is_set():
                return
            if self.on_fix is not None:
                self.on_fix(fix)
            marks = self.marker.update(fix)
            with self._changed:
                self._marks.extend(marks)
                self.last_fix_utc = fix.time_utc
                self._changed.notify_all()

    def take(self) -> list[TriggerMark]:
        """The marks found since the last call."""
        with self._changed:
            marks, self._marks = self._marks, []
        return marks

    def wait_until(self, instant: datetime, timeout_s: float) -> bool:
        """Wait for a fix at or after ``instant`` (True), gpsd's end or the timeout (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._ended or self._reached(instant), timeout_s) \
                and self._reached(instant)

    def _reached(self, instant: datetime) -> bool:
        return self.last_fix_utc is not None and self.last_fix_utc >= instant

    def stop(self) -> None:
        self._stop.set()


class LiveFeed:
    """A live camera (V4L2 index or stream URL) and gpsd, until the caller stops reading.

    Frame times are the system clock at capture and marks are GPS time: keep the clock
    synchronised (chrony fed by gpsd).
    """

    def __init__(self, camera: int | str, gpsd_host: str, gpsd_port: int, config: SurveyConfig,
                 on_fix: Callable[[GeoFix], None] | None = None) -> None:
        self.marker = MarkMaker(config)
        self.follower = GnssFollower(gpsd_host, gpsd_port, self.marker, on_fix)
        try:
            self.camera: LiveSource = open_camera(camera, config.camera_id)
        except Exception:
            self.follower.stop()
            raise
        self.matcher: FrameMatcher[Frame] = FrameMatcher(config.max_offset_s, keep_s=LIVE_KEEP_S)
        self.last_frame_utc: datetime | None = None

    @property
    def dropped(self) -> int:
        return self.camera.dropped

    def frames(self) -> Iterator[Frame]:
        """Camera frames as they come."""
        for frame in self.camera.frames():
            self.last_frame_utc = frame.time_utc
            yield frame

    def take_marks(self) -> list[TriggerMark]:
        """The marks found since the last call; a GNSS that stopped is an error (no positions)."""
        if self.follower.error is not None:
            raise self.follower.error
        return self.follower.take()

    def finish(self, ended: bool) -> list[TriggerMark]:
        """The last marks: those up to the last frame are known once gpsd has passed it."""
        if self.last_frame_utc is not None and not self.follower.wait_until(self.last_frame_utc, LIVE_KEEP_S):
            logger.info("gpsd did not reach the last frame within %.1f s: its last marks may be missed", LIVE_KEEP_S)
        self.follower.stop()
        return self.follower.take()

    def close(self) -> None:
        self.follower.stop()
        self.camera.close()

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
