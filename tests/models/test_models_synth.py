"""Synthetic damage: the labels sit on the drawn damage, the default road is drawn as labelled, the CLI writes a YOLO set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voirie.lab.sample import scene as scene
from voirie.lab.synth import damage as synth
from voirie.lab.train.evaluate import YoloFolder

DAMAGE = (
    ("longitudinal_crack", 8.0, 14.0, 1.0, 1.2),
    ("transverse_crack", 16.0, 16.0, -2.5, 1.5),
    ("alligator_crack", 10.0, 12.0, -2.4, -1.0),
    ("pothole", 7.0, 7.6, -0.4, 0.4),
    ("patch", 19.0, 21.0, 0.5, 2.0),
)
CAMERA = scene.Camera(height_m=2.2, pitch_deg=12.0, focal_px=900.0, width=960, height=600, near_m=1.0, far_m=40.0)


def _renders(damage: tuple, s_cam: float = 3.0) -> tuple[np.ndarray, np.ndarray, list]:
    """The same road with and without ``damage``, and the labelled boxes."""
    texture, instances = scene.labelled_road_texture(45.0, damage, seed=7)
    plain, _ = scene.labelled_road_texture(45.0, (), seed=7)
    backdrop = scene.background(CAMERA)
    boxes = scene.damage_boxes(scene.instance_pixels(instances), len(texture), s_cam, CAMERA, min_px=0.0)
    return scene.render_frame(texture, backdrop, s_cam, CAMERA), scene.render_frame(plain, backdrop, s_cam, CAMERA), boxes


def test_damage_pixels_fall_inside_the_labelled_boxes() -> None:
    damaged, plain, boxes = _renders(DAMAGE)
    changed = np.abs(damaged.astype(int) - plain.astype(int)).max(2) > 12
    covered = np.zeros_like(changed)
    for _, (x0, y0, x1, y1) in boxes:
        covered[int(np.floor(y0)) - 1:int(np.ceil(y1)) + 2, int(np.floor(x0)) - 1:int(np.ceil(x1)) + 2] = True
    assert changed.sum() > 2000  # the damage is really drawn
    assert (changed & ~covered).sum() == 0
    assert sorted(k for k, _ in boxes) == [0, 1, 2, 3, 4]  # every item in view is labelled


def test_each_box_is_tight_around_its_own_damage() -> None:
    for index, item in enumerate(DAMAGE):
        damaged, plain, boxes = _renders((item,))
        ys, xs = np.nonzero(np.abs(damaged.astype(int) - plain.astype(int)).max(2) > 12)
        (_, box), = boxes
        seen = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(box - seen).max() <= 3.0, (item[0], box, seen)


def test_the_pothole_box_is_where_the_camera_model_projects_it() -> None:
    texture, instances = scene.labelled_road_texture(220.0)  # the default road (scene.DAMAGE)
    s_cam = 64.0
    boxes = dict(scene.damage_boxes(scene.instance_pixels(instances), len(texture), s_cam))
    _, s0, s1, x0, x1 = scene.DAMAGE[3]
    u, v, _ = scene.project((s0 + s1) / 2 - s_cam, (x0 + x1) / 2, 0.0)  # independent: the sprite projection
    x_min, y_min, x_max, y_max = boxes[3]
    assert x_min < u < x_max and y_min < v < y_max
    assert 0 not in boxes  # the first crack is behind the camera


def test_the_default_road_texture_is_the_labelled_one() -> None:
    texture, instances = scene.labelled_road_texture(60.0)
    assert np.array_equal(texture, scene.road_texture(60.0))
    plain, _ = scene.labelled_road_texture(60.0, ())
    changed = np.abs(texture.astype(int) - plain.astype(int)).max(2) > 0
    assert not (changed & (instances == 0)).any()  # nothing drawn outside the instance mask
    assert changed[instances > 0].mean() > 0.95


def test_extra_shapes_are_labelled_and_manholes_are_not() -> None:
    texture = np.full((800, 600, 3), 90, np.uint8)
    instances = np.zeros((800, 600), np.uint8)
    rng = np.random.default_rng(3)
    synth._irregular_pothole(texture, instances, rng, (150, 200), 1)
    synth._meandering_crack(texture, instances, rng, (400, 500), 2)
    changed = (texture != 90).any(2)
    assert set(np.unique(instances[changed])) == {1, 2}
    labelled = [synth.extra_damage(texture.copy(), instances.copy(), np.random.default_rng(s), 2, 2.0) for s in range(30)]
    assert {scene.CRACK_CLASS, scene.POTHOLE_CLASS, None} == {c for classes in labelled for c in classes}


def test_a_set_is_repeatable_and_differs_by_seed() -> None:
    first, boxes = synth.synth_image(4, synth.SynthConfig(seed=11))
    again, boxes_again = synth.synth_image(4, synth.SynthConfig(seed=11))
    other, _ = synth.synth_image(4, synth.SynthConfig(seed=12))
    assert np.array_equal(first, again) and len(boxes) == len(boxes_again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_cli_writes_a_yolo_folder(tmp_path: Path) -> None:
    from voirie.cli import app

    out = tmp_path / "synth"
    result = CliRunner().invoke(app, ["train", "synth-damage", "--out", str(out), "--images", "4", "--seed", "5",
                                      "--preview", str(tmp_path / "preview.png")])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    folder = YoloFolder.open(out)
    assert counts["images"] == len(folder.images) == 4 and folder.names == ("crack", "pothole")
    labelled = 0
    for image in folder.images:
        boxes, classes = folder.boxes(image, 1280, 720)
        assert set(classes.tolist()) <= {0, 1} and (boxes[:, 2:] > boxes[:, :2]).all()
        labelled += len(boxes)
    assert labelled == counts["crack"] + counts["pothole"] > 0
    assert (tmp_path / "preview.png").stat().st_size > 10_000


def test_too_many_damage_items_are_refused() -> None:
    with pytest.raises(ValueError, match="254"):
        scene.labelled_road_texture(10.0, (("pothole", 1.0, 1.2, 0.0, 0.2),) * 255)


def test_mix_data_lists_real_and_synthetic_images(tmp_path: Path) -> None:
    import yaml

    real = tmp_path / "real"
    (real / "train" / "images").mkdir(parents=True)
    for name in ("a.jpg", "b.png", "notes.txt"):
        (real / "train" / "images" / name).write_bytes(b"x")
    synthetic = tmp_path / "synth"
    (synthetic / "images").mkdir(parents=True)
    for index in range(3):
        (synthetic / "images" / f"s{index}.jpg").write_bytes(b"x")
    out = synth.write_mixed_yaml(tmp_path / "mix.yaml", real, synthetic, 2, [real, synthetic])
    listed = (tmp_path / "mix.txt").read_text().split()
    assert [Path(p).name for p in listed] == ["a.jpg", "b.png", "s0.jpg", "s1.jpg"]
    spec = yaml.safe_load(out.read_text())
    assert spec["names"] == {0: "crack", 1: "pothole"} and len(spec["val"]) == 2
    with pytest.raises(ValueError, match="need"):
        synth.write_mixed_yaml(tmp_path / "mix.yaml", real, synthetic, 5, [real])


def test_masks_are_the_same_scene_and_cover_its_boxes() -> None:
    from voirie.lab.synth.damage import SynthConfig, synth_image, synth_image_with_masks

    config = SynthConfig(images=3, seed=5)
    for index in range(3):
        image, boxes = synth_image(index, config)
        same, masks = synth_image_with_masks(index, config)
        assert np.array_equal(image, same) and masks.shape == (2, *image.shape[:2])
        for cls, box in boxes:  # every labelled box holds pixels of its class's mask
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            assert masks[cls, max(0, y0 - 1):y1 + 1, max(0, x0 - 1):x1 + 1].any(), (index, cls, box)
