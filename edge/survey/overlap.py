"""Two helpers that let the survey use both cores: work handed to one thread, in order, and read-ahead.

A photo's work is two halves that need not wait for each other: the anonymizer (on the
loop thread, itself spread over two workers) and the damage model, record and JPEG write
(``InOrderWorker``, one thread). ONNX Runtime, OpenCV and libjpeg release the GIL, so the
halves of two consecutive photos run at the same time. ``ReadAhead`` decodes the next
frames of a file while the current one is anonymized.

Both use bounded queues: a survey that falls behind holds a few frames, never a drive.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
_DONE = object()  # the end of a queue


class InOrderWorker(Generic[T]):
    """Runs ``work(job)`` for every submitted job on one thread, in the order submitted.

    ``drain()`` waits until every job submitted so far is done: a stop loses nothing. An
    exception ``work`` raises is raised again by the next ``submit`` or ``drain`` (the run
    fails as it would have without the thread); the jobs queued behind the failed one are
    skipped until then, as a one-thread loop would not have reached them.
    """

    def __init__(self, work: Callable[[T], object], depth: int = 2, name: str = "survey-finish") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._work = work
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _DONE:
            try:
                if self._error is None:  # after a failure the remaining jobs are skipped
                    self._work(job)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self._error = error
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def submit(self, job: T) -> None:
        """Queue ``job``; blocks while ``depth`` jobs are waiting (memory stays bounded)."""
        self._raise_error()
        if not self._thread.is_alive():
            raise RuntimeError("the worker was closed")
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait for every job submitted so far; raise the first error one of them raised."""
        self._jobs.join()
        self._raise_error()

    def close(self) -> None:
        """Finish the queued jobs and end the thread; raise the first error one of them raised."""
        if self._thread.is_alive():
            self._jobs.put(_DONE)
            self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class ReadAhead(Generic[T]):
    """Iterates ``items`` on a thread, up to ``depth`` items ahead of the reader.

    Closing it (or leaving a ``for`` loop over it early and closing) stops the thread at its
    next item; an exception raised by ``items`` is raised to the reader at that point.
    """

    def __init__(self, items: Iterable[T], depth: int = 4, name: str = "read-ahead") -> None:
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the reader
            self._put(_Failed(error))

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless the reader closed us (checked every 0.1 s while the queue is full)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while (item := self._queue.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it holds the source until then)."""
        self._stop.set()
        self._thread.join()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error
