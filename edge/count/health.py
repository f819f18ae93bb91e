"""Stream health for a camera that runs for days: frozen frames, night and IR switches.

* Frozen: an encoder or a camera that hangs keeps sending the same picture. After
  ``frozen_after_s`` of identical frames the stream is treated as a gap (no data), not
  as an empty road.
* Light mode: "day" (colour), "night" (colour but dark) or "ir" (monochrome: the camera's
  IR cut filter is off). A mode switch changes every pixel, so the background model and
  the tracks are reset; dark frames get a fixed gain so foreground thresholds still work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from voirie.edge.count.config import HealthConfig

logger = logging.getLogger(__name__)

LightMode = Literal["day", "night", "ir"]
# Largest grey-level change between two nearest-neighbour thumbnails still called "the same
# picture": a live sensor's noise changes some pixel by more than this in every frame.
_IDENTICAL_MAX_DIFF = 2
_IR_MAX_CHROMA = 8.0  # mean |B-G| + |G-R| of a monochrome (IR) picture after YUV compression
_NIGHT_BRIGHTNESS = 50.0


@dataclass(frozen=True)
class FrameHealth:
    """What the health check says about one frame."""

    frozen: bool
    mode: LightMode
    mode_changed: bool
    gain: float


def light_mode(pixels: np.ndarray) -> tuple[LightMode, float]:
    """("day" | "night" | "ir", mean brightness) of a BGR frame, from a small thumbnail."""
    small = cv2.resize(pixels, (64, 36), interpolation=cv2.INTER_AREA).astype(np.int16)
    chroma = float(np.abs(small[..., 0] - small[..., 1]).mean() + np.abs(small[..., 1] - small[..., 2]).mean())
    brightness = float(small.mean())
    if chroma < _IR_MAX_CHROMA:
        return "ir", brightness
    return ("night" if brightness < _NIGHT_BRIGHTNESS else "day"), brightness


class StreamHealth:
    """Keeps the last thumbnail and light mode of one stream."""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        self.frozen_frames = 0
        self.mode_changes = 0
        self._thumb: np.ndarray | None = None
        self._same_since: float | None = None
        self._mode: LightMode | None = None
        self._candidate: tuple[LightMode, float] | None = None  # a different mode, seen since
        self._gain = 1.0

    def check(self, pixels: np.ndarray, time_s: float) -> FrameHealth:
        """Judge one frame taken at ``time_s`` (seconds, monotonic)."""
        # Nearest-neighbour, not area: averaging would hide the noise that proves the sensor is live.
        thumb = cv2.cvtColor(cv2.resize(pixels, (160, 90), interpolation=cv2.INTER_NEAREST), cv2.COLOR_BGR2GRAY)
        same = self._thumb is not None and int(cv2.absdiff(thumb, self._thumb).max()) <= _IDENTICAL_MAX_DIFF
        self._thumb = thumb
        if not same:
            self._same_since = None
        elif self._same_since is None:
            self._same_since = time_s
        frozen = self._same_since is not None and time_s - self._same_since >= self.config.frozen_after_s
        self.frozen_frames += int(frozen)
        mode, brightness = self._confirmed_mode(pixels, time_s)
        changed = self._mode is not None and mode != self._mode
        if changed:
            self.mode_changes += 1
            logger.info("light mode %s -> %s: detector and tracks reset", self._mode, mode)
        if changed or self._mode is None:
            # One gain per mode period: a gain that followed every frame would look like motion.
            self._gain = float(np.clip(_NIGHT_BRIGHTNESS * 2 / max(brightness, 1.0), 1.0, 4.0)) if mode != "day" else 1.0
        self._mode = mode
        return FrameHealth(frozen=frozen, mode=mode, mode_changed=changed, gain=self._gain)

    def _confirmed_mode(self, pixels: np.ndarray, time_s: float) -> tuple[LightMode, float]:
        """The light mode. Leaving IR needs the new mode to hold for ``mode_confirm_s``: a grey
        scene is near-monochrome (read as IR), and a red car driving through it must not look
        like the camera's IR filter switching back (which would reset every track mid-crossing).
        Entering IR is immediate: no passing object can make a colour picture monochrome."""
        mode, brightness = light_mode(pixels)
        if self._mode is None or mode == self._mode or self._mode != "ir":
            self._candidate = None
            return mode, brightness
        if self._candidate is None or self._candidate[0] != mode:
            self._candidate = (mode, time_s)
        if time_s - self._candidate[1] >= self.config.mode_confirm_s:
            self._candidate = None
            return mode, brightness
        return self._mode, brightness

    @staticmethod
    def apply_gain(pixels: np.ndarray, gain: float) -> np.ndarray:
        """Brighten a dark frame by a fixed ``gain`` (no-op at 1)."""
        return pixels if gain == 1.0 else cv2.convertScaleAbs(pixels, alpha=gain)
