"""Privacy fails closed: every way anonymization can go wrong raises, nothing unmasked gets out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from voirie.anonymize import AnonymizationError, Anonymizer, AnonymizerOptions, BlurMasker
from voirie.anonymize.centerface import CenterFace
from voirie.anonymize.images import ImageError, decode_image
from voirie.anonymize.detectors import CLASS_NAMES, FaceDetector
from voirie.anonymize.onnx_model import CENTERFACE, CENTERFACE_INT8, PPOCR_DET_INT8
from voirie.anonymize.plates import TextDetector
from voirie.anonymize.jpeg import write_jpeg
from voirie.anonymize.stage import StageCounts, anonymize_frames
from voirie.lab.synth.anonymize import render_plate
from voirie.records import Detections, Frame


def _frame(pixels: np.ndarray, sequence: int = 0) -> Frame:
    return Frame(pixels=pixels, monotonic_s=0.0, time_utc=datetime.now(timezone.utc), camera_id="cam", sequence=sequence)


def _plate_scene(seed: int = 0, top: int = 300) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    image = np.full((720, 1280, 3), 95, np.uint8)
    plate = render_plate(np.random.default_rng(seed), 240)
    x, y = 520, top
    image[y : y + plate.shape[0], x : x + plate.shape[1]] = plate
    return image, (x, y, x + plate.shape[1], y + plate.shape[0])


def _edge_energy(patch: np.ndarray) -> float:
    """Mean absolute horizontal gradient: characters make it large, a heavy blur makes it small."""
    return float(np.abs(np.diff(patch.astype(np.int16), axis=1)).mean())


class _Raising:
    model_id = "raising@test"

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        raise RuntimeError("simulated detector crash")


class _NonFinite:
    model_id = "nan@test"

    def detect(self, image: np.ndarray, timeout_s: float) -> Detections:
        return Detections(
            xyxy=np.array([[np.nan, 0, 10, 10]], np.float32), confidence=np.ones(1, np.float32),
            class_id=np.zeros(1, np.int64), class_names=CLASS_NAMES,
        )


def test_missing_model_file_is_refused() -> None:
    with pytest.raises(AnonymizationError, match="not found"):
        CenterFace(spec=replace(CENTERFACE, relative_path="no_such_model.onnx"))


def test_missing_package_is_refused() -> None:
    with pytest.raises(AnonymizationError, match="not installed"):
        CenterFace(spec=replace(CENTERFACE, package="voirie_no_such_package"))


def test_altered_model_is_refused(tmp_path: Path) -> None:
    data = bytearray(CENTERFACE.locate().read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered = tmp_path / "centerface.onnx"
    altered.write_bytes(bytes(data))
    with pytest.raises(AnonymizationError, match="sha256"):
        CenterFace(model_path=str(altered))


def test_detector_crash_drops_the_frame() -> None:
    image, _ = _plate_scene()
    counts = StageCounts()
    out = list(anonymize_frames([_frame(image)], Anonymizer([_Raising()], BlurMasker()), counts))
    assert out == [] and counts.dropped == 1 and counts.anonymized == 0


def test_non_finite_boxes_are_refused() -> None:
    with pytest.raises(AnonymizationError, match="non-finite"):
        Anonymizer([_NonFinite()], BlurMasker())(_frame(np.zeros((64, 64, 3), np.uint8)))


def test_timeout_stops_a_slow_detector() -> None:
    network = CenterFace(threads=1)
    slow = Anonymizer([FaceDetector(network)], BlurMasker(), AnonymizerOptions(timeout_s=0.001))
    with pytest.raises(AnonymizationError, match="time|limit"):
        slow(_frame(np.zeros((720, 1280, 3), np.uint8)))


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((720, 1280), np.uint8), np.zeros((720, 1280, 3), np.float32), np.zeros((720, 1280, 4), np.uint8)],
    ids=["grayscale", "float", "bgra"],
)
def test_wrong_pixel_layouts_are_refused(anonymizer: Anonymizer, pixels: np.ndarray) -> None:
    with pytest.raises(AnonymizationError, match="HxWx3 uint8"):
        anonymizer.detect(pixels)


def test_8k_frame_is_refused_not_half_done(anonymizer: Anonymizer) -> None:
    pixels = np.zeros((4320, 7680, 3), np.uint8)
    with pytest.raises(AnonymizationError, match="max_frame_side"):
        anonymizer(_frame(pixels))


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (31, 200)])
def test_tiny_frames_pass(anonymizer: Anonymizer, shape: tuple[int, int]) -> None:
    result = anonymizer(_frame(np.full((*shape, 3), 128, np.uint8)))
    assert result.pixels.shape == (*shape, 3)


def test_all_black_frame_passes_unchanged(anonymizer: Anonymizer) -> None:
    result = anonymizer(_frame(np.zeros((720, 1280, 3), np.uint8)))
    assert (result.faces_masked, result.plates_masked) == (0, 0)
    assert not result.pixels.any()


def test_truncated_jpeg_is_refused_by_name() -> None:
    image, _ = _plate_scene(top=120)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    with pytest.raises(ImageError, match="frame_7.jpg cannot be decoded"):
        decode_image(data[: len(data) * 6 // 10], "frame_7.jpg")
    assert decode_image(data).shape == image.shape


def test_grayscale_jpeg_is_expanded_and_masked(anonymizer: Anonymizer) -> None:
    image, (x1, y1, x2, y2) = _plate_scene()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    pixels = decode_image(cv2.imencode(".jpg", gray)[1].tobytes())
    assert pixels.shape == image.shape
    result = anonymizer(_frame(pixels))
    assert result.plates_masked >= 1
    assert _edge_energy(result.pixels[y1:y2, x1:x2]) < _edge_energy(image[y1:y2, x1:x2]) / 3


def test_only_anonymized_frames_can_be_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="AnonymizedFrame"):
        write_jpeg(_frame(np.zeros((8, 8, 3), np.uint8)), tmp_path / "raw.jpg")  # type: ignore[arg-type]
    assert not (tmp_path / "raw.jpg").exists()


def test_stage_boundary_every_written_jpeg_is_masked(anonymizer: Anonymizer, tmp_path: Path) -> None:
    """Frames with plates go through the stage; one frame's detector fails. Only masked JPEGs exist."""
    scenes = [_plate_scene(seed) for seed in range(3)]
    frames = [_frame(image.copy(), i) for i, (image, _) in enumerate(scenes)]
    frames.append(_frame(np.full((40, 40, 3), 7, np.uint8), 3))
    flaky = _FailOnSmall(anonymizer)
    counts = StageCounts()
    written = [write_jpeg(a, tmp_path / f"{a.frame.sequence}.jpg") for a in anonymize_frames(frames, flaky, counts)]
    assert (counts.anonymized, counts.dropped) == (3, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]
    for path in written:
        image, (x1, y1, x2, y2) = scenes[int(path.stem)]
        reread = cv2.imread(str(path))
        assert _edge_energy(reread[y1:y2, x1:x2]) < _edge_energy(image[y1:y2, x1:x2]) / 3
        assert len(anonymizer.detect(reread)) == 0 or not _overlaps(anonymizer.detect(reread), (x1, y1, x2, y2))


class _FailOnSmall:
    """The real anonymizer, except that it fails on small frames (a detector error mid-run)."""

    def __init__(self, inner: Anonymizer) -> None:
        self.inner = inner

    def __call__(self, frame: Frame):
        if frame.width < 64:
            raise AnonymizationError("detector failed: simulated")
        return self.inner(frame)


def _overlaps(detections: Detections, box: tuple[int, int, int, int]) -> bool:
    x1, y1, x2, y2 = box
    d = detections.xyxy
    return bool(((d[:, 0] < x2) & (d[:, 2] > x1) & (d[:, 1] < y2) & (d[:, 3] > y1)).any())


def test_shipped_int8_models_are_checked_too(tmp_path: Path) -> None:
    for spec, load in ((CENTERFACE_INT8, CenterFace), (PPOCR_DET_INT8, TextDetector)):
        data = bytearray(spec.locate().read_bytes())
        data[-100] ^= 0x01
        altered = tmp_path / spec.relative_path
        altered.write_bytes(bytes(data))
        with pytest.raises(AnonymizationError, match="sha256"):
            load(spec=spec, model_path=str(altered))


def test_int8_and_float_models_both_run_on_a_face_free_scene() -> None:
    """Both face models load and run; on a face-free scene neither reports faces."""
    image, _ = _plate_scene()
    for spec in (CENTERFACE, CENTERFACE_INT8):
        detector = FaceDetector(CenterFace(threads=1, spec=spec))
        assert len(detector.detect(image, 60)) == 0
