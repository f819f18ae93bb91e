"""Crack types from the shape of a crack group, so a two-plane model (crack, pothole) reports
the RDD types that the PCI deducts differently (ASTM D6433: longitudinal and transverse
cracking by length, alligator cracking by area).

The survey camera looks forward along the lane with no roll, so on the photo a transverse
crack runs close to the image horizontal, a longitudinal one runs towards the vanishing point
(upright or slanted, never flat), and alligator cracking is a network that fills its box
instead of a line along it. Three numbers decide, chosen on typed photos
(:func:`voirie.lab.train.segment_package.tune_crack_typing`, RDD2022 China for the shipped
model) and stored in the ONNX metadata (``voirie_crack_typing``) beside the grouping rules.
A group is typed as a whole: a network that mixes types takes the type of its overall shape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from voirie.models.errors import ModelError

CRACK_TYPES = ("crack_longitudinal", "crack_transverse", "crack_alligator")
METADATA_KEY = "voirie_crack_typing"


@dataclass(frozen=True)
class CrackShape:
    """What the typing looks at in one group of crack pixels."""

    angle_deg: float  # main axis from the image horizontal, 0 (flat) to 90 (upright)
    elongation: float  # square root of the ratio of the main axes' variances (1 = round)
    fill: float  # share of the group's box covered by crack pixels

    @classmethod
    def of(cls, points: np.ndarray, xyxy: tuple[int, int, int, int]) -> CrackShape:
        """The shape of a group's pixels (N×2 x, y) with its box (x0, y0, x1, y1, exclusive)."""
        offsets = points.astype(np.float64) - points.mean(0)
        variances, axes = np.linalg.eigh(offsets.T @ offsets / max(len(points), 1))
        main = axes[:, 1]
        angle = float(np.degrees(np.arctan2(abs(main[1]), abs(main[0]))))
        elongation = float(np.sqrt(variances[1] / max(variances[0], 1e-6)))
        area = max((xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1]), 1)
        return cls(angle, elongation, len(points) / area)


@dataclass(frozen=True)
class CrackTyping:
    """The rule: a group that fills its box (or is nearly round) is alligator cracking, unless
    it is plainly a line (a straight crack fills its own thin box too); of the line-like rest,
    one whose main axis lies within ``transverse_max_deg`` of the image horizontal is
    transverse, the others longitudinal."""

    plane: str = "crack"  # the model's map that is typed
    transverse_max_deg: float = 35.0
    alligator_min_fill: float = 0.18
    alligator_max_elongation: float = 1.2
    line_min_elongation: float = 5.0  # at least this elongated: a line, never alligator cracking

    def __post_init__(self) -> None:
        if not 0 <= self.transverse_max_deg <= 90 or not 0 < self.alligator_min_fill <= 1 \
                or not 1 <= self.alligator_max_elongation <= self.line_min_elongation:
            raise ValueError(f"crack typing out of range: {self}")

    def type_of(self, shape: CrackShape) -> str:
        area_like = shape.fill >= self.alligator_min_fill or shape.elongation <= self.alligator_max_elongation
        if area_like and shape.elongation < self.line_min_elongation:
            return "crack_alligator"
        return "crack_transverse" if shape.angle_deg <= self.transverse_max_deg else "crack_longitudinal"

    def output_names(self, planes: tuple[str, ...]) -> tuple[str, ...]:
        """The classes a model with these maps reports: the typed map replaced by the types."""
        if self.plane not in planes:
            raise ModelError(f"crack typing names map {self.plane!r}; the model's maps are {list(planes)}")
        names = [n for p in planes for n in (CRACK_TYPES if p == self.plane else (p,))]
        if len(set(names)) != len(names):
            raise ModelError(f"crack typing: the model's maps {list(planes)} already hold a crack type")
        return tuple(names)

    def plane_of(self, planes: tuple[str, ...]) -> tuple[int, ...]:
        """For each output class (:meth:`output_names`), the index of the map it comes from."""
        return tuple(planes.index(self.plane if name in CRACK_TYPES else name) for name in self.output_names(planes))

    def to_metadata(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_metadata(cls, text: str | None, label: str) -> CrackTyping | None:
        """The rule stored in a model's metadata, None when it has none."""
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise ModelError(f"model {label}: bad {METADATA_KEY!r} metadata: {error}") from error
