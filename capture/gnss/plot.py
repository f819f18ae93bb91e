"""A picture of a checked track: the road driven, the 4 m marks, dropouts and rejected fixes.

Drawn with Pillow on a local flat projection (metres east/north of the track's centre):
exact enough for a few kilometres, and no plotting stack on the edge box.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from PIL import Image, ImageDraw

from voirie.capture.gnss.check import TrackSummary

logger = logging.getLogger(__name__)

_SIZE, _MARGIN, _BANNER = 1000, 40, 60
_TRACK, _MARK, _GAP, _REJECT = (150, 150, 150), (30, 90, 200), (220, 120, 0), (210, 30, 30)


class _Projection:
    """WGS 84 degrees to image pixels, same scale on both axes, north up."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        self.lat0, self.lon0 = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
        self.east_m = 111_320.0 * math.cos(math.radians(self.lat0))
        xs, ys = [self._metres(p)[0] for p in points], [self._metres(p)[1] for p in points]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 10.0)
        self.scale = (_SIZE - 2 * _MARGIN) / span  # pixels per metre
        self.cx, self.cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def _metres(self, point: tuple[float, float]) -> tuple[float, float]:
        return (point[1] - self.lon0) * self.east_m, (point[0] - self.lat0) * 110_574.0

    def __call__(self, point: tuple[float, float]) -> tuple[float, float]:
        x, y = self._metres(point)
        return _SIZE / 2 + (x - self.cx) * self.scale, _BANNER + _SIZE / 2 - (y - self.cy) * self.scale


def _scale_bar(draw: ImageDraw.ImageDraw, scale: float) -> None:
    target = 150 / scale  # about 150 px
    length = 10 ** math.floor(math.log10(target))
    length = next(m * length for m in (5, 2, 1) if m * length <= target)
    x0, y = _MARGIN, _BANNER + _SIZE - 15
    draw.line([(x0, y), (x0 + length * scale, y)], fill=(0, 0, 0), width=3)
    draw.text((x0, y - 16), f"{length:g} m", fill=(0, 0, 0))


def plot_track(summary: TrackSummary, path: str | Path) -> Path:
    """Draw ``summary`` (from ``check_track(..., collect=True)``) to a PNG at ``path``."""
    points = summary.track + summary.rejected_points
    if not points:
        raise ValueError(f"nothing to draw for {summary.path}: no fixes were collected (collect=True?)")
    project = _Projection(summary.track or points)
    image = Image.new("RGB", (_SIZE, _SIZE + _BANNER), "white")
    draw = ImageDraw.Draw(image)
    if len(summary.track) > 1:
        draw.line([project(p) for p in summary.track], fill=_TRACK, width=3)
    for start, end in summary.gap_segments:
        draw.line([project(start), project(end)], fill=_GAP, width=2)
    for point in summary.mark_points:
        x, y = project(point)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=_MARK)
    for point in summary.rejected_points:
        x, y = project(point)
        draw.line([(x - 4, y - 4), (x + 4, y + 4)], fill=_REJECT, width=2)
        draw.line([(x - 4, y + 4), (x + 4, y - 4)], fill=_REJECT, width=2)
    _scale_bar(draw, project.scale)
    rejected = sum(summary.rejected.values())
    draw.text((10, 8), f"{summary.path.name}: {summary.length_m:.0f} m in {summary.duration_s:.0f} s, {summary.marks} marks every {summary.spacing_m:g} m", fill=(0, 0, 0))
    draw.text((10, 26), f"grey: track   blue: marks   orange: dropouts without marks ({summary.gaps})   red x: rejected fixes ({rejected})", fill=(0, 0, 0))
    out = Path(path)
    image.save(out)
    return out
