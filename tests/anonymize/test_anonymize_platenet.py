"""Our plate detector: the training scenes, the shipped network, its loading and its export."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from voirie.anonymize import AnonymizationError, Anonymizer, AnonymizerOptions
from voirie.anonymize.detectors import Pass, PlateDetector
from voirie.anonymize.evaluate import PROTECTED_SHARE, protected_share
from voirie.anonymize.maskers import expanded_boxes
from voirie.anonymize.onnx_model import PLATENET
from voirie.lab.synth.plates import STYLES, paste_plate, render_training_plate, training_sample
from voirie.anonymize.plates import PlateNetwork, SecondLook
from voirie.lab.synth.anonymize import oblique, render_plate

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _asphalt(seed: int, size: tuple[int, int] = (384, 1280)) -> np.ndarray:
    """Grey, grainy, with a darker crack line: road texture without any plate."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal(105, 12, (*size, 3)), 0, 255).astype(np.uint8)
    cv2.line(image, (100, size[0] - 20), (900, size[0] // 2), (60, 60, 60), 3)
    return cv2.GaussianBlur(image, (3, 3), 0.8)


@pytest.mark.parametrize("width", [20, 60, 150])
def test_pasted_plate_mask_has_the_asked_width_and_holds_the_characters(width: int) -> None:
    rng = np.random.default_rng(width)
    scene = np.full((400, 400, 3), 100, np.uint8)
    for _ in range(20):
        before = scene.copy()
        target = np.zeros(scene.shape[:2], np.uint8)
        paste_plate(scene, target, width, rng)
        plate = target > 127
        if plate.sum() < 8 or plate[:, 0].any() or plate[:, -1].any() or plate[0].any() or plate[-1].any():
            scene[:] = 100
            continue  # cut by the scene's edge: the width cannot be checked
        columns = np.nonzero(plate.any(axis=0))[0]
        assert 0.75 * width <= columns[-1] - columns[0] + 1 <= 1.3 * width
        changed = np.abs(scene.astype(int) - before.astype(int)).max(axis=2) > 0
        assert changed[plate].mean() > 0.95  # the mask lies on pasted pixels
        scene[:] = 100


def test_every_plate_style_renders_with_its_own_ground_and_ink() -> None:
    rng = np.random.default_rng(0)
    for style in STYLES:
        plate = render_training_plate(style, rng)
        assert abs(plate.shape[1] / plate.shape[0] - style.aspect) < 0.2 * style.aspect
        gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
        assert np.percentile(gray, 95) - np.percentile(gray, 5) > 40, style.name  # characters visible, even faded


def test_training_sample_mask_matches_the_image_and_plates_are_only_in_the_mask() -> None:
    rng = np.random.default_rng(3)
    photo = _asphalt(0, (640, 1024))
    found = 0
    for _ in range(12):
        image, mask = training_sample(photo, rng, (192, 192))
        assert image.shape == (192, 192, 3) and mask.shape == (192, 192) and mask.dtype == np.uint8
        found += int((mask > 127).any())
    assert found >= 6  # most samples hold a plate (a quarter on average have none)


@pytest.fixture(scope="module")
def plate_network() -> PlateNetwork:
    return PlateNetwork()


def test_shipped_plate_network_finds_a_plate_it_was_not_trained_on(plate_network: PlateNetwork) -> None:
    """An EU plate drawn by the hard set's renderer (not the training one), seen at an angle, on asphalt:
    protected as the eval command counts it (>= 90 % of the plate under the masker's grown boxes)."""
    detector = PlateDetector(plate_network, plate_network.default_threshold, (Pass(0, 1, 1280),), 1.0, 1.0, 50)
    rng = np.random.default_rng(5)
    protected = 0
    for width in (40, 70, 110):
        image = _asphalt(width)
        patch, alpha = oblique(render_plate(rng, width), rng, 0.3)
        y, x = 150, 500
        keep = alpha > 127
        image[y : y + patch.shape[0], x : x + patch.shape[1]][keep] = patch[keep]
        rows, columns = np.nonzero(keep)
        truth = np.array([x + columns.min(), y + rows.min(), x + columns.max() + 1, y + rows.max() + 1], float)
        masked = np.zeros(image.shape[:2], bool)
        for x1, y1, x2, y2 in expanded_boxes(detector.detect(image, 10), image.shape, 0.2):
            masked[y1:y2, x1:x2] = True
        protected += int(protected_share(masked, truth) >= PROTECTED_SHARE)
    assert protected >= 2


def test_shipped_plate_network_stays_quiet_on_plain_asphalt(plate_network: PlateNetwork) -> None:
    detector = PlateDetector(plate_network, plate_network.default_threshold, (Pass(0, 1, 1280),), 0.15, 1.0, 50)
    assert sum(len(detector.detect(_asphalt(seed), 10)) for seed in range(3)) == 0


def test_altered_plate_network_is_refused(tmp_path: Path) -> None:
    data = bytearray(PLATENET.locate().read_bytes())
    data[-50] ^= 0x01
    altered = tmp_path / "platenet.onnx"
    altered.write_bytes(bytes(data))
    with pytest.raises(AnonymizationError, match="sha256"):
        PlateNetwork(spec=PLATENET, model_path=str(altered))


def test_plate_network_without_its_stride_metadata_is_refused(tmp_path: Path) -> None:
    graph = onnx.load(str(PLATENET.locate()))
    del graph.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(graph, str(bare))
    with pytest.raises(AnonymizationError, match="voirie_plate_stride"):
        Anonymizer.default(AnonymizerOptions(plate_model="platenet", plate_onnx=str(bare)))


def test_user_supplied_plate_network_is_used_and_named(tmp_path: Path) -> None:
    copy = tmp_path / "mine.onnx"
    copy.write_bytes(PLATENET.locate().read_bytes())
    anonymizer = Anonymizer.default(AnonymizerOptions(plate_model="platenet", plate_onnx=str(copy)))
    assert "platenet@" in anonymizer.name and PLATENET.model_id not in anonymizer.name
    with pytest.raises(ValueError, match="plate_model"):
        replace(AnonymizerOptions(), plate_model="yolo")


@pytest.mark.skipif(not HAS_TORCH, reason="training needs torch (the train extra)")
def test_trained_network_exports_to_the_same_maps(tmp_path: Path) -> None:
    import torch

    from voirie.lab.train.plates import PlateNet, PlateTrainConfig, export_plates, train_plates

    checkpoint = train_plates([_asphalt(1, (640, 1024))], tmp_path, PlateTrainConfig(minutes=0.05, batch=2, crop=96))
    onnx_path = export_plates(checkpoint, tmp_path / "plates.onnx")
    network = PlateNetwork(spec=replace(PLATENET, sha256=__import__("hashlib").sha256(onnx_path.read_bytes()).hexdigest()),
                           model_path=str(onnx_path))
    assert network.stride == 2
    model = PlateNet()
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    model.eval()
    image = _asphalt(2, (96, 160))
    with torch.no_grad():
        expected = model(torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32))).numpy()
    got = network._session.run(None, {"images": image.transpose(2, 0, 1)[None].astype(np.float32)})[0]
    assert got.shape == (1, 1, 48, 80)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def _small_plates_scene() -> np.ndarray:
    """Asphalt with rendered plates from 7 to 12 px tall: near the smallest the network learnt."""
    image = _asphalt(11, (384, 1280)).copy()
    rng = np.random.default_rng(4)
    for i, width in enumerate((30, 36, 42, 50)):
        plate = cv2.resize(render_plate(rng, 200), (width, round(width * 0.24)), interpolation=cv2.INTER_AREA)
        x, y = 150 + 260 * i, 120
        image[y : y + plate.shape[0], x : x + width] = plate
    return image


def test_second_look_keeps_the_first_look_and_may_only_add() -> None:
    image = _small_plates_scene()
    plain = PlateNetwork(1)
    looking = PlateNetwork(1)
    looking.second_look = SecondLook(2.0)
    first = plain.detect(image, 0.5, 30.0)
    both = looking.detect(image, 0.5, 30.0)
    assert len(both.xyxy) >= len(first.xyxy)
    for box in first.xyxy:  # every box of the first look is still there, unchanged
        assert np.isclose(both.xyxy, box, atol=1e-3).all(axis=1).any()


@pytest.mark.parametrize(("zoom", "low"), [(1.0, 0.25), (5.0, 0.25), (2.0, 0.0), (2.0, 1.0)])
def test_second_look_refuses_bad_settings(zoom: float, low: float) -> None:
    with pytest.raises(ValueError, match="second look needs"):
        SecondLook(zoom, low)
    with pytest.raises(ValueError, match="plate_second_look"):
        AnonymizerOptions(plate_second_look=zoom if zoom > 4 or zoom <= 1 else 9.0)
