"""Package a damage segmentation model: metadata, grouping rules tuned on validation
photos, INT8 quantization, scores, manifest and model card (no torch needed here)."""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import onnx
from rich.progress import track

from voirie.models import registry
from voirie.models.decode import grouping_scale, unletterbox_maps
from voirie.lab.train.evaluate import Tally, YoloFolder, evaluate, parse_class_map, tally_image
from voirie.lab.train.export import quantize_int8
from voirie.models.masks import GroupingRule, boxes_from_probabilities
from voirie.models.runtime import OnnxDetector, load_detector
from voirie.lab.train.training import PackageSpec, finish_package
from voirie.records import Detections

logger = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
# BGR colours of each class's map in pictures: cracks yellow (longitudinal), orange
# (transverse), cyan (alligator); potholes magenta; patches blue.
MAP_COLOURS = {"crack": (0, 230, 255), "crack_longitudinal": (0, 230, 255), "crack_transverse": (0, 140, 255),
               "crack_alligator": (255, 255, 0), "pothole": (255, 0, 255), "patch": (255, 80, 0)}
MIN_PIXELS = (50, 150, 300, 600, 1000, 1500, 2500)


def write_grouping_metadata(path: Path, names: tuple[str, ...], imgsz: tuple[int, int],
                            rules: tuple[GroupingRule, ...], reference_width: int) -> None:
    """Set (or replace) the runtime's metadata keys in an ONNX file."""
    model = onnx.load(str(path))
    values = {
        "names": repr(dict(enumerate(names))),
        "imgsz": repr(list(imgsz)),
        "task": "segment",
        "voirie_grouping": json.dumps({"reference_width": reference_width,
                                       "classes": {n: asdict(r) for n, r in zip(names, rules)}}),
    }
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _val_maps(detector: OnnxDetector, folder: YoloFolder) -> list[tuple[np.ndarray, float, tuple]]:
    """The model's maps over each validation photo (as the runtime groups them: at
    ``grouping_scale`` of the image), that scale and the photo's boxes, computed once."""
    cached = []
    for path in track(folder.images, description="maps on the validation photos"):
        image = cv2.imread(str(path))
        canvas_maps, box = detector.raw_maps(image)
        scale = grouping_scale(canvas_maps.shape, detector.input_size, box)
        cached.append((unletterbox_maps(canvas_maps, box, detector.input_size, scale), scale,
                       folder.boxes(path, image.shape[1], image.shape[0])))
    return cached


def class_groups(detector: OnnxDetector, folder: YoloFolder, class_map_text: str | None) -> dict[int, list[int]]:
    """Dataset class id → the model classes that map to it (``voirie models eval --map`` syntax)."""
    groups: dict[int, list[int]] = {}
    for model_id, data_id in sorted(parse_class_map(class_map_text, detector.class_names, folder.names).items()):
        groups.setdefault(data_id, []).append(model_id)
    return groups


def tune_rules(detector: OnnxDetector, val_dir: Path, class_map_text: str | None = None,
               rules: tuple[GroupingRule, ...] | None = None,
               keep_min_pixels: frozenset[str] = frozenset()) -> tuple[tuple[GroupingRule, ...], dict]:
    """Per dataset class, the pixel threshold and smallest group with the best F1 on
    ``val_dir`` (join distances stay the data's). With a many-to-one ``class_map_text``, the
    maps of the model classes sent to one dataset class are merged (pixel maximum) and the
    chosen values go to all of them. Model classes the map leaves out keep their rule
    (``rules``, default the detector's), so folders of different label sets can be tuned
    on one after another. Dataset classes in ``keep_min_pixels`` keep their smallest group
    (only the threshold is tuned): a size cut tuned on one road's large potholes deletes
    another road's small ones. Returns the rules and the F1 of every combination."""
    folder = YoloFolder.open(val_dir)
    cached = _val_maps(detector, folder)
    reference_width = detector.grouping[1]
    best, table = list(rules or detector.grouping[0]), {}
    for data_id, members in class_groups(detector, folder, class_map_text).items():
        name = folder.names[data_id]
        scores = {}
        sizes = (best[members[0]].min_pixels,) if name in keep_min_pixels else MIN_PIXELS
        for threshold, min_pixels in itertools.product(THRESHOLDS, sizes):
            candidate = replace(best[members[0]], threshold=threshold, min_pixels=min_pixels)
            tally = Tally()
            for planes, scale, truth in cached:  # this class's merged plane only, as class 0 of a one-class result
                xyxy, conf, ids, _ = boxes_from_probabilities(planes[members].max(0, keepdims=True), (candidate,),
                                                              planes.shape[:0:-1], reference_width)
                found = Detections(xyxy=xyxy / scale, confidence=conf, class_id=ids, class_names=(name,))
                tally_image(found, {0: data_id}, truth, 0.0, tally, len(folder.names))
            scores[(threshold, min_pixels)] = tally.scores(folder.names)["per_class"][name]["f1"]
        (threshold, min_pixels) = max(scores, key=lambda k: (scores[k], k))  # ties: the stricter rule
        for member in members:
            best[member] = replace(best[member], threshold=threshold, min_pixels=min_pixels)
        table[name] = {f"{t}/{m}": f for (t, m), f in scores.items()}
        logger.info("class %s: threshold %.2f, min pixels %d, F1 %.3f", name, threshold, min_pixels,
                    scores[(threshold, min_pixels)])
    return tuple(best), table


def package_segmentation(fp32: Path, out_dir: Path, val_dir: Path, calibration_dir: Path, spec: PackageSpec,
                         tune: bool = True, tune_on: tuple[tuple[Path, str | None], ...] = (),
                         keep_min_pixels: frozenset[str] = frozenset()) -> registry.Manifest:
    """Tune the grouping (fp32), quantize, score both variants on ``val_dir``, write manifest
    and card. The grouping is tuned on ``tune_on`` (folders with their class maps, one after
    another) when given, so the scores on ``val_dir`` choose nothing; else on ``val_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model_fp32.onnx"
    if Path(fp32).resolve() != target.resolve():
        target.write_bytes(Path(fp32).read_bytes())
    detector = load_detector(target, confidence=0.0)
    table = {}
    for folder, class_map in (tune_on or ((val_dir, None),) if tune else ()):
        detector = load_detector(target, confidence=0.0)
        rules, tuned = tune_rules(detector, folder, class_map, keep_min_pixels=keep_min_pixels)
        table.update(tuned)  # per dataset class: F1 of every (threshold, smallest group) tried
        write_grouping_metadata(target, detector.class_names, detector.input_size, rules, detector.grouping[1])
    int8 = quantize_int8(target, out_dir / "model_int8.onnx", calibration_dir)
    metrics = {v: evaluate(load_detector(p, confidence=0.0), val_dir, confidence=0.0)
               for v, p in (("fp32", target), ("int8", int8))}
    return finish_package(
        out_dir, spec, metrics, {"fp32": target, "int8": int8}, val_dir,
        {"grouping_tuned_on_val": tune and not tune_on, "grouping_tuned_on": [str(f) for f, _ in tune_on],
         "smallest_group_kept": sorted(keep_min_pixels),
         "grouping_f1": table},
        task="segment", classes=detector.class_names, input_size=detector.input_size, layout="semantic",
        confidence=0.0,
        description=f"Pavement damage segmentation (voirie DamageSegNet, ONNX): {', '.join(detector.class_names)} "
                    "maps grouped into boxes",
    )


def write_examples(detector: OnnxDetector, val_dir: Path, out: Path, count: int = 4, tile_width: int = 640) -> Path:
    """A PNG of ``count`` validation photos spread over the set: the model's damage maps
    (:data:`MAP_COLOURS`), its boxes (red) and the labelled boxes (green)."""
    folder = YoloFolder.open(val_dir)
    step = max(1, len(folder.images) // count)
    tiles = []
    for path in folder.images[::step][:count]:
        image = cv2.imread(str(path))
        canvas_maps, box = detector.raw_maps(image)
        planes = unletterbox_maps(canvas_maps, box, detector.input_size)
        shown = image.copy()
        colours = [MAP_COLOURS.get(name, (255, 255, 255)) for name in detector.class_names]
        for plane, rule, colour in zip(planes, detector.grouping[0], colours):
            shown[plane >= rule.threshold] = (0.5 * shown[plane >= rule.threshold] + 0.5 * np.array(colour)).astype(np.uint8)
        truth = folder.boxes(path, image.shape[1], image.shape[0])
        for xyxy in truth[0].astype(int):
            cv2.rectangle(shown, tuple(xyxy[:2]), tuple(xyxy[2:]), (0, 200, 0), 3)
        for xyxy in detector.detect(image).xyxy.astype(int):
            cv2.rectangle(shown, tuple(xyxy[:2]), tuple(xyxy[2:]), (0, 0, 230), 2)
        height = round(image.shape[0] * tile_width / image.shape[1])
        tiles.append(cv2.resize(shown, (tile_width, height), interpolation=cv2.INTER_AREA))
    height = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), grid)
    return out
