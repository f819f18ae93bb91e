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
from voirie.lab.train.evaluate import Tally, YoloFolder, evaluate, iou_matrix, parse_class_map, tally_image
from voirie.lab.train.export import quantize_int8
from voirie.lab.train.training import PackageSpec, finish_package, headline_metrics
from voirie.models.crack_types import CRACK_TYPES, CrackShape, CrackTyping
from voirie.models.crack_types import METADATA_KEY as TYPING_KEY
from voirie.models.errors import ModelError
from voirie.models.masks import GroupingRule, boxes_from_probabilities, group_mask
from voirie.models.runtime import OnnxDetector, load_detector
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
    """Dataset class id → the model's maps whose classes map to it (``voirie models eval --map``
    syntax; the crack types of a shape-typed model all come from its crack map)."""
    groups: dict[int, list[int]] = {}
    for model_id, data_id in sorted(parse_class_map(class_map_text, detector.class_names, folder.names).items()):
        plane = detector.plane_of[model_id]
        if plane not in groups.setdefault(data_id, []):
            groups[data_id].append(plane)
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


TYPING_ANGLES = tuple(range(15, 65, 5))
TYPING_FILLS = tuple(round(0.10 + 0.02 * i, 2) for i in range(16))
TYPING_ELONGATIONS = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0)
TYPING_LINES = (4.0, 6.0, 10.0)
TYPING_MIN_IOU = 0.3  # a group typed against the labelled crack box it overlaps most, at least this much


def typed_crack_groups(detector: OnnxDetector, folder: YoloFolder, typing: CrackTyping) -> list[tuple[CrackShape, str]]:
    """The shape of every group of the crack map on a typed dataset's photos, with the type
    of the labelled crack box it overlaps most (groups that overlap none are left out)."""
    plane = detector.plane_names.index(typing.plane)
    typed_ids = {folder.names.index(t): t for t in CRACK_TYPES if t in folder.names}
    if not typed_ids:
        raise ModelError(f"no crack type {list(CRACK_TYPES)} among the typed dataset's classes {list(folder.names)}")
    rule, reference_width = detector.grouping[0][plane], detector.grouping[1]
    pairs = []
    for planes, scale, (truth, truth_ids) in _val_maps(detector, folder):
        keep = np.isin(truth_ids, list(typed_ids))
        truth, truth_ids = truth[keep], truth_ids[keep]
        join_px, min_pixels = rule.scaled(planes.shape[2], reference_width)
        for group in group_mask(planes[plane] >= rule.threshold, join_px, min_pixels, keep_points=True):
            overlap = iou_matrix(np.asarray([group.xyxy], np.float32) / scale, truth)[0] if len(truth) else []
            if len(overlap) and overlap.max() >= TYPING_MIN_IOU:
                pairs.append((CrackShape.of(group.points, group.xyxy), typed_ids[int(truth_ids[overlap.argmax()])]))
    return pairs


def _macro_f1(pairs: list[tuple[CrackShape, str]], typing: CrackTyping) -> float:
    truth = np.array([t for _, t in pairs])
    guess = np.array([typing.type_of(shape) for shape, _ in pairs])
    scores = []
    for name in CRACK_TYPES:
        tp, fp, fn = ((guess == name) & (truth == name)).sum(), ((guess == name) & (truth != name)).sum(), \
            ((guess != name) & (truth == name)).sum()
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(scores))


def tune_crack_typing(detector: OnnxDetector, typed_dir: Path, plane: str = "crack") -> tuple[CrackTyping, dict]:
    """The crack-typing rule with the best macro F1 of the type given to the model's own crack
    groups on a typed dataset (RDD classes): how well the shape names the type of what the
    model found, not whether it found it. Returns the rule and the groups' counts."""
    pairs = typed_crack_groups(detector, YoloFolder.open(typed_dir), CrackTyping(plane=plane))
    if len(pairs) < 10:
        raise ModelError(f"{typed_dir}: only {len(pairs)} crack groups of the model overlap a typed crack box; "
                         "too few to choose the crack typing")
    candidates = [CrackTyping(plane, *values) for values
                  in itertools.product(TYPING_ANGLES, TYPING_FILLS, TYPING_ELONGATIONS, TYPING_LINES)]
    scores = [_macro_f1(pairs, c) for c in candidates]
    best = candidates[int(np.argmax(scores))]
    counts = {name: sum(t == name for _, t in pairs) for name in CRACK_TYPES}
    logger.info("crack typing %s: macro F1 %.3f on %d groups %s", best, max(scores), len(pairs), counts)
    return best, {"groups": counts, "type_macro_f1": round(max(scores), 4), "rule": asdict(best)}


def write_crack_typing(path: Path, typing: CrackTyping) -> None:
    """Store (or replace) the crack-typing rule in an ONNX file's metadata."""
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != TYPING_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=TYPING_KEY, value=typing.to_metadata())
    onnx.save(model, str(path))


def package_segmentation(fp32: Path, out_dir: Path, val_dir: Path, calibration_dir: Path, spec: PackageSpec,
                         tune: bool = True, tune_on: tuple[tuple[Path, str | None], ...] = (),
                         keep_min_pixels: frozenset[str] = frozenset(),
                         typing_on: Path | None = None) -> registry.Manifest:
    """Tune the grouping (fp32), quantize, score both variants on ``val_dir``, write manifest
    and card. The grouping is tuned on ``tune_on`` (folders with their class maps, one after
    another) when given, so the scores on ``val_dir`` choose nothing; else on ``val_dir``.
    With ``typing_on`` (photos with RDD crack types), the crack map's groups are typed by
    their shape (:func:`tune_crack_typing`)."""
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
        write_grouping_metadata(target, detector.plane_names, detector.input_size, rules, detector.grouping[1])
    typing_table = {}
    if typing_on is not None:
        typing, typing_table = tune_crack_typing(load_detector(target, confidence=0.0), typing_on)
        write_crack_typing(target, typing)
        detector = load_detector(target, confidence=0.0)
        typing_table["tuned_on"] = str(typing_on)
    int8 = quantize_int8(target, out_dir / "model_int8.onnx", calibration_dir)
    metrics = {v: evaluate(load_detector(p, confidence=0.0), val_dir, confidence=0.0)
               for v, p in (("fp32", target), ("int8", int8))}
    return finish_package(
        out_dir, spec, metrics, {"fp32": target, "int8": int8}, val_dir,
        {"grouping_tuned_on_val": tune and not tune_on, "grouping_tuned_on": [str(f) for f, _ in tune_on],
         "smallest_group_kept": sorted(keep_min_pixels),
         "grouping_f1": table, **({"crack_typing": typing_table} if typing_table else {})},
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
        colours = [MAP_COLOURS.get(name, (255, 255, 255)) for name in detector.plane_names]
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


def add_crack_typing(model: str, typed_dir: Path, out_dir: Path, version: str,
                     score_on: tuple[Path, ...] = ()) -> registry.Manifest:
    """A packaged segmentation model with crack typing added: same weights and grouping,
    the typing tuned on ``typed_dir`` and written into every variant, the manifest's classes
    and checksums updated, each variant scored on the ``score_on`` folders, and a section
    appended to the card. This is how a two-map model learns to report crack types without
    retraining."""
    manifest, folder = registry.find_model(model)
    if manifest.layout != "semantic":
        raise ModelError(f"model {manifest.name}: crack typing needs a segmentation model, this one is {manifest.layout}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for entry in manifest.files.values():
        (out_dir / entry.file).write_bytes((folder / entry.file).read_bytes())
    fp32 = out_dir / manifest.variant("fp32" if "fp32" in manifest.files else None).file
    typing, table = tune_crack_typing(load_detector(fp32, confidence=0.0), typed_dir)
    table["tuned_on"] = str(typed_dir)
    for entry in manifest.files.values():
        write_crack_typing(out_dir / entry.file, typing)
    scores = {str(d): {v: headline_metrics(evaluate(load_detector(out_dir / e.file, confidence=0.0), d, confidence=0.0))
                       for v, e in manifest.files.items()} for d in score_on}
    classes = typing.output_names(manifest.classes)
    typed = manifest.model_copy(update={
        "version": version, "classes": classes,
        "files": {v: registry.ModelFile(file=e.file, sha256=registry.sha256_file(out_dir / e.file),
                                        bytes=(out_dir / e.file).stat().st_size) for v, e in manifest.files.items()},
        "class_confidence": _typed_thresholds(manifest.class_confidence, typing),
        "metrics": {**manifest.metrics, "crack_typing": table, "scores": scores},
        "description": f"{manifest.description}; crack groups typed by their shape ({', '.join(CRACK_TYPES)})",
    })
    registry.write_manifest(typed, out_dir)
    _append_typing_card(folder / "MODEL_CARD.md", out_dir / "MODEL_CARD.md", manifest, typed, table, scores)
    return typed


def _typed_thresholds(thresholds: dict[str, float], typing: CrackTyping) -> dict[str, float]:
    """Per-class thresholds of the typed classes: each crack type keeps its map's."""
    typed = {n: v for n, v in thresholds.items() if n != typing.plane}
    if typing.plane in thresholds:
        typed.update(dict.fromkeys(CRACK_TYPES, thresholds[typing.plane]))
    return typed


def _append_typing_card(source: Path, out: Path, untyped: registry.Manifest, manifest: registry.Manifest,
                        table: dict, scores: dict) -> None:
    """The untyped model's card with its title, classes and checksums brought up to date and
    a section on the typing appended."""
    card = source.read_text() if source.exists() else f"# Model card: {manifest.name}\n"
    card = card.replace(f"{untyped.name} {untyped.version}", f"{manifest.name} {manifest.version}", 1)
    card = card.replace(f"classes: {', '.join(untyped.classes)}", f"classes: {', '.join(manifest.classes)}", 1)
    for variant, entry in untyped.files.items():
        card = card.replace(entry.sha256, manifest.files[variant].sha256)
        card = card.replace(f"{entry.bytes} bytes", f"{manifest.files[variant].bytes} bytes")
    lines = ["", f"## Crack types (version {manifest.version})", "",
             f"Same weights and grouping; the crack map's groups are named by their shape: {table['rule']} "
             f"(`voirie.models.crack_types`), chosen for the best macro F1 of the type given to the model's own crack "
             f"groups that overlap a labelled box (IoU ≥ {TYPING_MIN_IOU}) on {table['tuned_on']}: "
             f"**{table['type_macro_f1']}** over {sum(table['groups'].values())} groups {table['groups']}.", ""]
    for folder, variants in scores.items():
        lines += [f"Scores on {folder}:", "", "| variant | F1 | per-class F1 |", "| --- | --- | --- |"]
        lines += [f"| {v} | {r['f1']:.3f} | " + ", ".join(f"{n} {c['f1']:.3f}" for n, c in r["per_class"].items()) + " |"
                  for v, r in variants.items()]
        lines.append("")
    out.write_text(card.rstrip("\n") + "\n" + "\n".join(lines))
