"""Calibration targets: a plain checkerboard or a ChArUco board. Each finds itself in an
image and returns matching board (metres) and image (pixels) points."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from voirie.calibration.config import CalibrationError

logger = logging.getLogger(__name__)


def board_object_points(board: tuple[int, int], square_m: float) -> np.ndarray:
    """(N, 3) inner-corner positions on the board, OpenCV order (row by row)."""
    columns, rows = board
    grid = np.mgrid[0:columns, 0:rows].T.reshape(-1, 2).astype(np.float64)
    return np.column_stack([grid * square_m, np.zeros(len(grid))])


BoardPoints = tuple[np.ndarray, np.ndarray]  # (N, 3) metres on the board, (N, 2) pixels


def _refine(grey: np.ndarray, corners: np.ndarray, spacing_px: float) -> np.ndarray:
    """cornerSubPix with a window kept inside one square."""
    half = int(np.clip(spacing_px * 0.4, 2, 11))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    refined = cv2.cornerSubPix(grey, corners.reshape(-1, 1, 2).astype(np.float32), (half, half), (-1, -1), criteria)
    return refined.reshape(-1, 2).astype(np.float64)


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def find_board_corners(image: np.ndarray, board: tuple[int, int]) -> np.ndarray | None:
    """(N, 2) sub-pixel inner corners of a checkerboard in OpenCV order, or None."""
    grey = _grey(image)
    found, corners = cv2.findChessboardCorners(grey, board, flags=cv2.CALIB_CB_ADAPTIVE_THRESH)
    if not found:
        # The sector-based detector finds boards the classic one misses (glare, clutter).
        found, corners = cv2.findChessboardCornersSB(grey, board, flags=cv2.CALIB_CB_EXHAUSTIVE)
        if not found:
            return None
    corners = corners.reshape(-1, 2).astype(np.float32)
    # Measured on synthetic renders: cornerSubPix reaches ~0.08 px where findChessboardCornersSB
    # alone is off by up to 0.7 px on tilted boards.
    spacing = np.linalg.norm(np.diff(corners.reshape(board[1], board[0], 2), axis=1), axis=2).min()
    return _refine(grey, corners, float(spacing))


@dataclass(frozen=True)
class CheckerboardTarget:
    """A checkerboard given by its INNER corners (OpenCV's convention): 9x6 squares is 8x5."""

    columns: int
    rows: int
    square_mm: float

    def __post_init__(self) -> None:
        if self.columns < 3 or self.rows < 3:
            raise CalibrationError(f"board must have at least 3x3 inner corners, got {self.columns}x{self.rows}")
        if not self.square_mm > 0:
            raise CalibrationError(f"square size must be > 0 mm, got {self.square_mm}")

    def describe(self) -> str:
        """How error messages name this target."""
        return f"{self.columns}x{self.rows} board"

    def detect(self, image: np.ndarray) -> BoardPoints | None:
        """Board and image points of the whole board, or None when not found."""
        corners = find_board_corners(image, (self.columns, self.rows))
        if corners is None:
            return None
        return board_object_points((self.columns, self.rows), self.square_mm / 1000.0), corners


@dataclass(frozen=True)
class CharucoTarget:
    """A ChArUco board given by its SQUARES (OpenCV's CharucoBoard convention); partial views count."""

    squares_x: int
    squares_y: int
    square_mm: float
    marker_mm: float
    dictionary: str = "DICT_5X5_100"
    min_corners: int = 8

    def __post_init__(self) -> None:
        if self.squares_x < 3 or self.squares_y < 3:
            raise CalibrationError(f"ChArUco board must have at least 3x3 squares, got {self.squares_x}x{self.squares_y}")
        if not 0 < self.marker_mm < self.square_mm:
            raise CalibrationError(f"marker size must be in (0, square size), got {self.marker_mm} mm")
        if not hasattr(cv2.aruco, self.dictionary):
            raise CalibrationError(f"unknown ArUco dictionary {self.dictionary!r} (e.g. DICT_5X5_100)")

    def describe(self) -> str:
        """How error messages name this target."""
        return f"{self.squares_x}x{self.squares_y} ChArUco board ({self.dictionary})"

    def board(self) -> cv2.aruco.CharucoBoard:
        """The OpenCV board object (metres)."""
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        size = (self.squares_x, self.squares_y)
        return cv2.aruco.CharucoBoard(size, self.square_mm / 1000.0, self.marker_mm / 1000.0, dictionary)

    def detect(self, image: np.ndarray) -> BoardPoints | None:
        """Board and image points of the corners seen (at least ``min_corners``), or None."""
        board = self.board()
        grey = _grey(image)
        corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(grey)
        if corners is None or ids is None or len(corners) < self.min_corners:
            return None
        objects, pixels = board.matchImagePoints(corners, ids)
        # detectBoard already refines the corners; a wider cornerSubPix window would reach the
        # markers beside each corner and pull it off.
        return objects.reshape(-1, 3).astype(np.float64), pixels.reshape(-1, 2).astype(np.float64)
