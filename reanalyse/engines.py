"""Where the analyser runs: a plain loop here (``local``), or Ray Data actors (``ray``).

Both take pages of photos and yield, batch by batch, each photo with its detections (None
for a photo that could not be read), so the job writes and commits as results stream in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from voirie.reanalyse.analyser import FoundDamage, Photo, PhotoAnalyser
from voirie.reanalyse.errors import ReanalyseError

logger = logging.getLogger(__name__)

Result = tuple[Photo, list[FoundDamage] | None]


class LocalEngine:
    """One session in this process; needs nothing beyond the model runtime."""

    name = "local"

    def __init__(self, model: str, batch_size: int = 16, threads: int = 0) -> None:
        self.analyser = PhotoAnalyser(model, threads=threads)
        self.batch_size = batch_size

    def run(self, pages: Iterable[list[Photo]]) -> Iterator[list[Result]]:
        """Analyse every photo, a batch at a time."""
        for page in pages:
            for start in range(0, len(page), self.batch_size):
                yield [(photo, self.analyser.analyse_photo(photo)) for photo in page[start:start + self.batch_size]]


class AnalyserActor:
    """A Ray actor: loads the model once (one ONNX Runtime session) and analyses batches."""

    def __init__(self, model: str, expected: tuple[str, str], threads: int) -> None:
        self.analyser = PhotoAnalyser(model, threads=threads)
        found = (self.analyser.model_id, self.analyser.model_version)
        if found != tuple(expected):
            # A worker whose registry holds another version would file results under the wrong one.
            raise ReanalyseError(f"worker loaded {found[0]}@{found[1]} for {model!r}, the job expects "
                                 f"{expected[0]}@{expected[1]}: give every node the same models folder")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self.analyser.analyse_photo(Photo(str(r), str(p), int(w), int(h))) for r, p, w, h in
                   zip(batch["record_id"], batch["path"], batch["image_width"], batch["image_height"])]
        return {"record_id": batch["record_id"], "ok": np.array([r is not None for r in results]),
                "found": np.array([json.dumps([asdict(d) for d in r or []]) for r in results], dtype=object)}


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the data library is a separate extra of ray
    except ImportError as error:
        raise ReanalyseError("--engine ray needs Ray Data: pip install 'voirie[ray]'") from error
    return ray


class RayEngine:
    """The same analyser in a pool of Ray actors (``map_batches`` with a callable class).

    Photos are read by the actors (every node must see the evidence folder at the same path);
    results stream back through ``iter_batches``, so neither side holds the archive in memory.
    """

    name = "ray"

    def __init__(self, model: str, expected: tuple[str, str], workers: int = 2, address: str | None = None,
                 batch_size: int = 16, threads_per_worker: int = 1) -> None:
        if workers < 1 or batch_size < 1:
            raise ReanalyseError(f"workers and batch size must be >= 1, got {workers} and {batch_size}")
        self.ray = _import_ray()
        if not self.ray.is_initialized():  # a test or a notebook may have started Ray already
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.model, self.expected = model, expected
        self.workers, self.batch_size, self.threads = workers, batch_size, threads_per_worker

    def _results(self, page: list[Photo]) -> Iterator[dict[str, np.ndarray]]:
        dataset = self.ray.data.from_items([asdict(photo) for photo in page])
        analysed = dataset.map_batches(
            AnalyserActor, fn_constructor_kwargs={"model": self.model, "expected": self.expected,
                                                  "threads": self.threads},
            compute=self.ray.data.ActorPoolStrategy(size=self.workers), batch_size=self.batch_size,
            batch_format="numpy", num_cpus=self.threads)
        return analysed.iter_batches(batch_size=self.batch_size, batch_format="numpy")

    def run(self, pages: Iterable[list[Photo]]) -> Iterator[list[Result]]:
        """Analyse every photo on the cluster, one dataset per page."""
        for page in pages:
            by_id = {photo.record_id: photo for photo in page}
            for batch in self._results(page):
                yield [(by_id[str(record_id)],
                        [FoundDamage(d["class_name"], d["confidence"], tuple(d["box_xyxy"])) for d in json.loads(found)]
                        if ok else None)
                       for record_id, ok, found in zip(batch["record_id"], batch["ok"], batch["found"])]
