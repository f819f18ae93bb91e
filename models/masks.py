"""Damage masks → boxes, the way road-damage annotators draw them.

A crack network is one box, not one box per connected stroke: mask pixels closer than
``join_px`` belong to the same group, and groups with fewer than ``min_pixels`` pixels are
dropped. This is the rule ``road_damage_cpri``'s boxes were derived with (41 px for cracks,
9 px for potholes, 150 pixels, in its 1024-pixel-wide photos; reproduced exactly on its
masks by ``tests/models/test_models_semantic.py``), so a segmentation model grouped with the same
rule is scored against those boxes on equal terms.

Grouping is a distance transform (pixels within ``join_px / 2`` of the mask grow into it)
and connected components: linear in the image size, whatever ``join_px`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MaskGroup:
    """One group of mask pixels: its box (x0, y0, x1, y1, exclusive), pixel count, and
    the mean of ``scores`` over its pixels (1.0 when no scores were given)."""

    xyxy: tuple[int, int, int, int]
    pixels: int
    score: float
    points: np.ndarray | None = None  # N×2 (x, y) of its pixels, when asked for


def group_mask(mask: np.ndarray, join_px: float, min_pixels: int, scores: np.ndarray | None = None,
               keep_points: bool = False) -> list[MaskGroup]:
    """Groups of a boolean H×W mask, largest first."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H×W, got shape {mask.shape}")
    if not mask.any():
        return []
    grown = _grow(mask, join_px / 2.0)
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    ys, xs = np.nonzero(mask)
    ids = labels[ys, xs]
    weights = scores[ys, xs].astype(np.float64) if scores is not None else np.ones(len(xs))
    order = np.argsort(ids, kind="stable")
    ids, xs, ys, weights = ids[order], xs[order], ys[order], weights[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    sizes = np.diff(np.r_[starts, len(ids)])
    groups = [
        MaskGroup(
            (int(xs[a:a + n].min()), int(ys[a:a + n].min()), int(xs[a:a + n].max()) + 1, int(ys[a:a + n].max()) + 1),
            int(n), float(weights[a:a + n].mean()),
            np.stack((xs[a:a + n], ys[a:a + n]), 1) if keep_points else None,
        )
        for a, n in zip(starts, sizes)
        if n >= min_pixels
    ]
    return sorted(groups, key=lambda g: -g.pixels)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of the mask (an elliptic dilation, computed in linear time)."""
    if radius < 1:
        return mask.astype(np.uint8)
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (distance <= radius).astype(np.uint8)


@dataclass(frozen=True)
class GroupingRule:
    """How one class's mask becomes boxes, in pixels of a ``reference_width``-wide image
    (scaled to the image at hand, so a 1280-pixel survey frame groups like a 1024 photo)."""

    join_px: float
    min_pixels: int
    threshold: float = 0.5  # probability above which a pixel is damage

    def scaled(self, width: int, reference_width: int) -> tuple[float, int]:
        factor = width / reference_width
        return self.join_px * factor, max(1, round(self.min_pixels * factor * factor))


def boxes_from_probabilities(probabilities: np.ndarray, rules: tuple[GroupingRule, ...], image_size: tuple[int, int],
                             reference_width: int, linear: tuple[bool, ...] | None = None,
                             classify: Callable[[int, MaskGroup], int] | None = None,
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """xyxy, confidence, class id and outline of the groups in C×H×W probability maps that
    already cover the image (``image_size`` = (width, height)); confidence = mean probability.
    A group's class is its map's index, or ``classify(map index, group)`` (crack typing).
    With ``linear`` (per class), outlines are a centreline for linear classes and the convex
    hull for the others; without it, no outlines are computed (an empty list)."""
    boxes, scores, classes, outlines = [], [], [], []
    keep_points = linear is not None or classify is not None
    for plane_id, (plane, rule) in enumerate(zip(probabilities, rules)):
        join_px, min_pixels = rule.scaled(image_size[0], reference_width)
        for group in group_mask(plane >= rule.threshold, join_px, min_pixels, plane, keep_points=keep_points):
            cls = plane_id if classify is None else classify(plane_id, group)
            boxes.append(group.xyxy)
            scores.append(group.score)
            classes.append(cls)
            if linear is not None:
                outlines.append(centreline(group.points) if linear[cls] else hull(group.points))
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
            np.asarray(classes, np.int64), outlines)


def hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (K×2, pixel centres) of a group's pixels: its area on the road, not its box's."""
    return cv2.convexHull(points.astype(np.float32) + 0.5).reshape(-1, 2)


def centreline(points: np.ndarray, step_px: float = 8.0) -> np.ndarray:
    """A crack's centreline (K×2): the pixels' mean position in slices across their main
    direction, ``step_px`` apart. A diagonal or curved crack is measured along itself, where
    a box would give only its longer side."""
    centre = points.mean(0) + 0.5
    if len(points) < 3:
        return np.array([centre, centre], np.float32)
    offsets = points + 0.5 - centre
    _, _, axes = np.linalg.svd(offsets, full_matrices=False)
    along, across = offsets @ axes[0], offsets @ axes[1]
    bins = np.floor((along - along.min()) / step_px).astype(np.int64)
    counts = np.bincount(bins)
    filled = counts > 0
    mean_along = (np.bincount(bins, along) / np.maximum(counts, 1))[filled]
    mean_across = (np.bincount(bins, across) / np.maximum(counts, 1))[filled]
    mean_along[0], mean_along[-1] = along.min(), along.max()  # reach the crack's two ends
    line = centre + mean_along[:, None] * axes[0] + mean_across[:, None] * axes[1]
    return (line if len(line) > 1 else np.array([centre, centre])).astype(np.float32)
