"""The model registry: one ``manifest.json`` per model folder, checked by sha256.

Models live in two places: the zoo shipped inside the package (``models/zoo/<name>/``)
and a user folder (``$VOIRIE_MODELS_DIR``, default ``~/.local/share/voirie/models``) where
``voirie models register`` puts a city's own ONNX. A manifest names each file variant
(``fp32``, ``int8``) with its checksum; a file whose bytes do not match is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from voirie.config import StrictConfig, error_report
from voirie.models.errors import ModelError

logger = logging.getLogger(__name__)

ZOO_DIR = Path(__file__).resolve().parent / "zoo"
MANIFEST_NAME = "manifest.json"
DEFAULT_ALIAS = "default"


def user_models_dir() -> Path:
    """Where registered (user-supplied) models are kept."""
    configured = os.environ.get("VOIRIE_MODELS_DIR")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "voirie" / "models"


class ModelFile(StrictConfig):
    """One file variant of a model."""

    file: str = Field(min_length=1, description="file name, relative to the manifest")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(gt=0)


class Manifest(StrictConfig):
    """What the registry knows about one model; shipped next to its ONNX files."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="registry name")
    version: str = Field(min_length=1)
    task: Literal["detect", "segment"] = "detect"  # segment: damage maps grouped into boxes
    classes: tuple[str, ...] = Field(min_length=1)
    input_size: tuple[int, int] = Field(description="model input height, width in pixels")
    layout: Literal["ultralytics", "yolox", "yolov5", "semantic"] = "ultralytics"
    license: str = "unknown"
    training_data: str = "unknown"
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, ModelFile] = Field(min_length=1, description="variant -> file, e.g. fp32, int8")
    default_variant: str
    confidence: float = Field(default=0.25, ge=0, le=1, description="recommended score threshold")
    class_confidence: dict[str, float] = Field(
        default_factory=dict, description="recommended threshold per class name (overrides confidence)")
    aliases: tuple[str, ...] = ()
    description: str = ""

    def variant(self, variant: str | None) -> ModelFile:
        """The file entry of a variant (the default one when ``variant`` is None)."""
        key = variant or self.default_variant
        if key not in self.files:
            raise ModelError(f"model {self.name!r} has no variant {key!r}; it has {sorted(self.files)}")
        return self.files[key]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (models can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> Manifest:
    """Parse and validate one manifest file."""
    try:
        return Manifest.model_validate(json.loads(Path(path).read_text()))
    except ValidationError as error:
        raise ModelError(error_report(error, str(path), "not a valid voirie model manifest")) from error
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"manifest {path} is not a valid voirie model manifest: {error}") from error


def write_manifest(manifest: Manifest, folder: Path) -> Path:
    """Write ``manifest.json`` into ``folder``."""
    path = Path(folder) / MANIFEST_NAME
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")
    return path


def list_manifests() -> list[tuple[Manifest, Path]]:
    """Every valid manifest in the shipped zoo, then the user folder (invalid ones are logged)."""
    found = []
    for root in (ZOO_DIR, user_models_dir()):
        for path in sorted(root.glob(f"*/{MANIFEST_NAME}")) if root.is_dir() else []:
            try:
                found.append((read_manifest(path), path.parent))
            except ModelError as error:
                logger.warning("skipping %s", error)
    return found


def find_model(name: str) -> tuple[Manifest, Path]:
    """Look a model up by registry name or alias (``default``)."""
    models = list_manifests()
    for manifest, folder in models:
        if name == manifest.name or name in manifest.aliases:
            return manifest, folder
    known = sorted({m.name for m, _ in models} | {a for m, _ in models for a in m.aliases})
    raise ModelError(f"no registered model named {name!r}; known models: {known or 'none'}")


def verify_file(manifest: Manifest, folder: Path, variant: str | None = None) -> Path:
    """Path of a variant's file after checking its size and sha256 against the manifest."""
    entry = manifest.variant(variant)
    path = folder / entry.file
    if not path.is_file():
        raise ModelError(f"model {manifest.name!r}: file {path} listed in its manifest is missing")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelError(
            f"model {manifest.name!r}: {path.name} has sha256 {actual}, its manifest expects {entry.sha256}; "
            "the file is corrupt or was replaced: refusing it"
        )
    return path


def manifest_beside(path: Path) -> tuple[Manifest, Path] | None:
    """The manifest that lists ``path`` when the file sits in a model folder, else None."""
    candidate = path.parent / MANIFEST_NAME
    if not candidate.is_file():
        return None
    manifest = read_manifest(candidate)
    for variant, entry in manifest.files.items():
        if entry.file == path.name:
            return manifest.model_copy(update={"default_variant": variant}), path.parent
    return None


def register(source: Path, manifest: Manifest, overwrite: bool = False) -> Path:
    """Copy a user's ONNX into the user model folder with its manifest; returns the folder."""
    folder = user_models_dir() / manifest.name
    if folder.exists() and not overwrite:
        raise ModelError(f"a model named {manifest.name!r} is already registered at {folder} (use --overwrite)")
    if any(manifest.name == m.name for m, f in list_manifests() if f.parent == ZOO_DIR):
        raise ModelError(f"{manifest.name!r} is the name of a shipped model; choose another name")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / manifest.variant(None).file
    shutil.copyfile(source, target)
    write_manifest(manifest, folder)
    verify_file(manifest, folder)
    logger.info("registered %s in %s", manifest.name, folder)
    return folder
