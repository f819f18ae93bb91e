"""Training data: YOLO folders as they are, RDD2020/2022 Pascal-VOC XML converted to YOLO.

Whatever comes in, ``prepare_dataset`` builds one layout (symlinks, nothing copied) that
both ``ultralytics`` and ``voirie models eval`` read::

    WORK/train/images, WORK/train/labels, WORK/val/images, WORK/val/labels,
    WORK/val/data.yaml, WORK/data.yaml

Survey photos are taken every few metres, so neighbouring frames show the same crack. A
random split would put near-copies on both sides and inflate the scores; the validation
split here is the last block of frames in file order instead.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import yaml

from voirie.models.errors import ModelError
from voirie.lab.train.export import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

RDD_CLASSES = ("D00", "D10", "D20", "D40")  # longitudinal, transverse, alligator crack, pothole
RDD_DESCRIPTIONS = {"D00": "longitudinal crack", "D10": "transverse crack", "D20": "alligator crack", "D40": "pothole"}


def voc_to_yolo(xml_text: str, classes: tuple[str, ...]) -> tuple[list[str], int]:
    """YOLO label lines for one Pascal-VOC annotation, and how many objects had another class."""
    root = ElementTree.fromstring(xml_text)
    width = float(root.findtext("size/width") or 0)
    height = float(root.findtext("size/height") or 0)
    if width <= 0 or height <= 0:
        raise ModelError("VOC annotation has no positive <size><width>/<height>")
    lines, skipped = [], 0
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in classes:
            skipped += 1
            continue
        x1, y1, x2, y2 = (float(obj.findtext(f"bndbox/{k}") or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
        x1, x2 = sorted((max(0.0, x1), min(width, x2)))
        y1, y2 = sorted((max(0.0, y1), min(height, y2)))
        if not x2 > x1 or not y2 > y1:
            skipped += 1
            continue
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        lines.append(f"{classes.index(name)} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
    return lines, skipped


def _image_for(xml_path: Path) -> Path | None:
    """The photo of an RDD annotation: ``.../annotations/xmls/X.xml`` → ``.../images/X.jpg``."""
    for folder in (xml_path.parent, xml_path.parent.parent, xml_path.parent.parent.parent):
        for suffix in IMAGE_SUFFIXES:
            for candidate in (folder / "images" / f"{xml_path.stem}{suffix}", folder / f"{xml_path.stem}{suffix}"):
                if candidate.is_file():
                    return candidate
    return None


def convert_voc(source: Path, target: Path, classes: tuple[str, ...] = RDD_CLASSES) -> list[Path]:
    """Convert every VOC XML under ``source`` into ``target/images`` + ``target/labels``; returns images."""
    (target / "images").mkdir(parents=True, exist_ok=True)
    (target / "labels").mkdir(parents=True, exist_ok=True)
    images, skipped, orphans = [], 0, 0
    for xml_path in sorted(Path(source).rglob("*.xml")):
        image = _image_for(xml_path)
        if image is None:
            orphans += 1
            continue
        try:
            lines, dropped = voc_to_yolo(xml_path.read_text(), classes)
        except (ElementTree.ParseError, ModelError) as error:
            logger.warning("skipping %s: %s", xml_path, error)
            continue
        skipped += dropped
        link = target / "images" / image.name
        _symlink(image, link)
        (target / "labels" / f"{image.stem}.txt").write_text("".join(f"{line}\n" for line in lines))
        images.append(link)
    logger.info("converted %d VOC annotations (%d objects of other classes, %d XML without photo)",
                len(images), skipped, orphans)
    if not images:
        raise ModelError(f"no Pascal-VOC annotation with its photo found under {source}")
    return images


def _symlink(source: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(Path(source).resolve(), link)


def _yolo_images(source: Path) -> tuple[list[Path], tuple[str, ...]]:
    spec = yaml.safe_load((source / "data.yaml").read_text()) or {}
    names = spec.get("names") or {}
    names = tuple(str(names[k]) for k in sorted(names)) if isinstance(names, dict) else tuple(map(str, names))
    images = sorted(p for p in (source / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names or not images:
        raise ModelError(f"{source}: a YOLO dataset needs data.yaml with names and images/ with photos")
    return images, names


def _write_split(images: list[Path], target: Path, names: tuple[str, ...]) -> None:
    for sub in ("images", "labels"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    for image in images:
        _symlink(image, target / "images" / image.name)
        label = image.parent.parent / "labels" / f"{image.stem}.txt"
        if label.exists():
            _symlink(label, target / "labels" / label.name)
    (target / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(names))}))


def _given_splits(source: Path) -> tuple[list[Path], list[Path]] | None:
    """The dataset's own ``splits/train.txt`` and ``splits/val.txt`` (paths relative to it), if any."""
    lists = [source / "splits" / f"{name}.txt" for name in ("train", "val")]
    if not all(p.is_file() for p in lists):
        return None
    train, val = ([source / line.strip() for line in p.read_text().splitlines() if line.strip()] for p in lists)
    return train, val


def _block_split(images: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    if not 0 < val_fraction < 1 or len(images) < 2:
        raise ModelError(f"need at least 2 images and 0 < val_fraction < 1 (got {len(images)}, {val_fraction})")
    cut = min(len(images) - 1, max(1, round(len(images) * (1 - val_fraction))))
    return images[:cut], images[cut:]


def prepare_dataset(source: Path, work: Path, classes: tuple[str, ...] = RDD_CLASSES,
                    val_fraction: float = 0.2) -> tuple[Path, tuple[str, ...]]:
    """Build the training layout in ``work`` from a YOLO folder or RDD VOC XML; returns data.yaml, names."""
    source, work = Path(source), Path(work)
    if (source / "data.yaml").is_file():
        images, names = _yolo_images(source)
    elif next(source.rglob("*.xml"), None) is not None:
        images, names = convert_voc(source, work / "all", classes), tuple(classes)
    else:
        raise ModelError(f"{source}: expected a YOLO folder (data.yaml, images/, labels/) or Pascal-VOC *.xml files")
    train, val = _given_splits(source) or _block_split(images, val_fraction)
    _write_split(train, work / "train", names)
    _write_split(val, work / "val", names)
    spec = {"path": str(work.resolve()), "train": "train/images", "val": "val/images", "names": dict(enumerate(names))}
    (work / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    logger.info("dataset %s: %d train, %d val images, classes %s", work, len(train), len(val), names)
    return work / "data.yaml", names


def highway_folder(source: Path, highway: str, work: Path) -> Path:
    """A YOLO folder (symlinks) of every labelled photo of one highway of a road_damage_cpri-style
    set, whatever its split: the test set of a leave-one-highway-out fold."""
    from voirie.lab.train.segment_data import highway_of

    images, names = _yolo_images(Path(source))
    picked = [image for image in images if highway_of(image.stem) == highway]
    if not picked:
        raise ModelError(f"{source}: no photo of highway {highway!r}")
    _write_split(picked, Path(work), names)
    return Path(work)
