"""Pacing for the sync worker: a token bucket for the bandwidth cap and the retry delay
(exponential backoff with jitter, ``Retry-After`` honoured)."""

from __future__ import annotations

import logging
import random
import threading
import time
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone

logger = logging.getLogger(__name__)

# A Retry-After above this is treated as a mistake (or an HTTP date read with a wrong clock).
RETRY_AFTER_CEILING_S = 3600.0


class TokenBucket:
    """Bytes per second with a one-second burst. A body bigger than the bucket is sent
    whole and paid for afterwards (the bucket goes into debt), so the average holds."""

    def __init__(self, bytes_per_s: int, *, clock=time.monotonic) -> None:  # noqa: ANN001 - injectable clock
        if bytes_per_s <= 0:
            raise ValueError(f"bandwidth cap must be > 0 bytes/s, got {bytes_per_s}")
        self.rate = float(bytes_per_s)
        self._clock = clock
        self._tokens = self.rate
        self._last = clock()

    def wait_for(self, size: int, stop: threading.Event) -> bool:
        """Take ``size`` bytes, sleeping until the debt is paid; False if ``stop`` was set."""
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        wait_s = (size - self._tokens) / self.rate
        self._tokens -= size
        return not (wait_s > 0 and stop.wait(wait_s))


class Backoff:
    """Delay before the next try after ``failures`` failures in a row: doubles from
    ``initial_s`` up to ``max_s``, with "equal jitter" (half fixed, half random) so a
    fleet that lost the server together does not come back in lockstep. A server's
    ``Retry-After`` is obeyed as given (up to an hour), plus up to 10 % jitter."""

    def __init__(self, initial_s: float, max_s: float, *, rng: random.Random | None = None) -> None:
        self.initial_s, self.max_s = initial_s, max_s
        self.failures = 0
        self._rng = rng or random.Random()

    def failed(self, retry_after_s: float | None = None) -> float:
        """Count a failure and return the delay; a server's Retry-After wins (capped)."""
        self.failures += 1
        if retry_after_s is not None:  # the server knows its load better than our backoff does
            base = min(RETRY_AFTER_CEILING_S, max(0.0, retry_after_s))
            return base + self._rng.uniform(0, 0.1 * base + 0.05)
        delay = min(self.max_s, self.initial_s * 2 ** min(self.failures - 1, 30))
        return delay / 2 + self._rng.uniform(0, delay / 2)

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or bad.
    A date is compared with the device clock, which may be wrong: the caller caps it."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        logger.warning("ignoring unreadable Retry-After %r", value[:64])
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
