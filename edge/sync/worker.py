"""The sync worker: drains the outbox to the server, batch by batch, resumably.

* A batch is the oldest pending records, bounded by count and bytes, sent gzipped to
  ``POST /api/v1/ingest``. Its ``batch_id`` is a hash of its record ids (idempotency key
  per batch); every record carries its deterministic ``record_id`` (key per record).
* Only what the server reports as accepted or duplicate is pruned from the outbox, so a
  crash at any point re-sends, and the server answers duplicates (exactly once on the
  server). All state is in the outbox file: a restarted worker simply carries on.
* After a failure (network, 5xx, 429) the worker backs off exponentially with jitter and
  honours ``Retry-After``. A record the server refuses for good (422/403 naming its index)
  is quarantined in the outbox, never dropped, so one bad record cannot block the queue.
  A refusal that names no record (a 4xx other than 401/408/429) is retried; after
  ``max_identical_refusals`` identical answers to the same batch the worker sends records
  one at a time, and a single record refused that often is quarantined too.
* Evidence JPEGs go to ``PUT /api/v1/evidence/{record_id}`` once their record is on the
  server. A token bucket caps the bytes per second when ``bandwidth_bytes_per_s`` is set.

The device token is only put in the ``Authorization`` header; it is never logged.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from dataclasses import dataclass, field

import httpx

from voirie.edge.sync.outbox import Outbox, PendingBatch
from voirie.edge.sync.pacing import Backoff, TokenBucket, retry_after_seconds

logger = logging.getLogger(__name__)

# 401 is retried too: a revoked or mistyped token is fixed on the server or in the config,
# and until then nothing may be dropped.
TRANSIENT_STATUSES = frozenset({401, 408, 409, 425, 429, 500, 502, 503, 504})
# Ingest answers that may be about the records themselves (a 409 names a record another
# device holds): counted towards quarantine instead of retried for ever.
INGEST_TRANSIENT_STATUSES = TRANSIENT_STATUSES - {409}
EVIDENCE_PER_ROUND = 100


@dataclass(frozen=True)
class SyncSettings:
    """Where and how to sync. ``token`` is kept out of ``repr`` (and so out of logs)."""

    server_url: str
    device_id: str
    token: str = field(repr=False)
    batch_records: int = 500
    batch_bytes: int = 1_000_000
    bandwidth_bytes_per_s: int | None = None
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    timeout_s: float = 30.0
    idle_poll_s: float = 2.0
    gzip_level: int = 6
    max_identical_refusals: int = 5

    def __post_init__(self) -> None:
        if not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"server_url must start with http:// or https://, got {self.server_url!r}")
        if not self.device_id or not self.token:
            raise ValueError("device_id and token must not be empty")
        checks = {"batch_records": self.batch_records >= 1, "batch_bytes": self.batch_bytes >= 1000,
                  "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s is None or self.bandwidth_bytes_per_s > 0,
                  "backoff_initial_s": 0 < self.backoff_initial_s <= self.backoff_max_s,
                  "timeout_s": self.timeout_s > 0, "idle_poll_s": self.idle_poll_s > 0,
                  "gzip_level": 0 <= self.gzip_level <= 9, "max_identical_refusals": self.max_identical_refusals >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SyncSettings.{name} is out of range: {getattr(self, name)!r}")


@dataclass(frozen=True)
class SyncReport:
    """What one ``sync_once`` pass did."""

    sent: int
    accepted: int
    duplicates: int
    evidence_sent: int
    failed_batches: int
    next_delay_s: float


@dataclass
class _Tally:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    evidence_sent: int = 0
    failed_batches: int = 0
    retry_delay_s: float | None = None  # set when the pass stopped on a failure


class _Transient(Exception):
    """A failure worth retrying later (network, 5xx, 429, unreadable answer)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SyncWorker:
    """Sends the outbox to the server; ``sync_once`` for one pass, ``run`` to loop."""

    def __init__(self, outbox: Outbox, settings: SyncSettings, *, client: httpx.Client | None = None) -> None:
        self.outbox = outbox
        self.settings = settings
        self._client = client or httpx.Client(
            base_url=settings.server_url.rstrip("/"), timeout=settings.timeout_s,
            headers={"Authorization": f"Bearer {settings.token}", "User-Agent": "voirie-edge-sync"})
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        rate = settings.bandwidth_bytes_per_s
        self._bucket = TokenBucket(rate) if rate else None
        self._batch_records = settings.batch_records  # halved when the server says 413
        self._refusal: tuple[str, int, str] | None = None  # (batch id, status, body) of the last refusal
        self._refusal_count = 0
        self._stop = threading.Event()
        self.replayed_batches = 0  # batches the server had already stored (answer lost on the way)

    def sync_once(self) -> SyncReport:
        """Send what is pending now (records, then their evidence), stop at the first
        failure; the report says how long to wait before the next pass."""
        tally = _Tally()
        try:
            while not self._stop.is_set() and self._send_next_batch(tally):
                self._upload_ready_evidence(tally)
            self._upload_ready_evidence(tally)
        except _Transient as error:
            tally.failed_batches += 1
            tally.retry_delay_s = self._backoff.failed(error.retry_after_s)
            logger.warning("sync failed (%s); retrying in %.1f s", error, tally.retry_delay_s)
        else:
            self._backoff.succeeded()
        return self._report(tally)

    def run(self, stop: threading.Event) -> None:
        """Sync until ``stop`` is set: passes separated by the reported delay."""
        self._stop = stop
        while not stop.is_set():
            try:
                delay = self.sync_once().next_delay_s
            except Exception:  # a bug or a full disk must not kill the device's only uplink
                logger.exception("sync pass crashed; retrying later")
                delay = self._backoff.failed()
            stop.wait(delay)

    def close(self) -> None:
        """Close the HTTP connections (the outbox stays open: it belongs to the caller)."""
        self._client.close()

    def _report(self, tally: _Tally) -> SyncReport:
        if tally.retry_delay_s is not None:
            delay = tally.retry_delay_s
        else:
            delay = 0.0 if self.outbox.next_batch(1, 1_000_000).record_ids else self.settings.idle_poll_s
        return SyncReport(sent=tally.sent, accepted=tally.accepted, duplicates=tally.duplicates,
                          evidence_sent=tally.evidence_sent, failed_batches=tally.failed_batches,
                          next_delay_s=delay)

    # -- records ----------------------------------------------------------------------

    def _send_next_batch(self, tally: _Tally) -> bool:
        """Send the oldest pending batch; False when nothing is pending."""
        batch = self.outbox.next_batch(self._batch_records, self.settings.batch_bytes)
        if not batch.record_ids:
            return False
        tally.sent += len(batch.record_ids)  # counted when tried: re-sends show in the figures
        response = self._post_batch(batch)
        if response.status_code == 200:
            self._refusal, self._refusal_count = None, 0
            self._acknowledge(batch, response, tally)
        else:
            self._handle_refusal(batch, response)
        return True

    def _post_batch(self, batch: PendingBatch) -> httpx.Response:
        body = (f'{{"batch_id":"{batch.batch_id}","device_id":{json.dumps(self.settings.device_id)},'
                f'"records":[{",".join(batch.items_json)}]}}').encode()
        compressed = gzip.compress(body, compresslevel=self.settings.gzip_level)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return self._request("POST", "/api/v1/ingest", compressed, headers, INGEST_TRANSIENT_STATUSES)

    def _request(self, method: str, path: str, body: bytes, headers: dict[str, str],
                 transient: frozenset[int] = TRANSIENT_STATUSES) -> httpx.Response:
        """One request under the bandwidth cap; network errors and ``transient`` statuses raise ``_Transient``."""
        if self._bucket is not None and not self._bucket.wait_for(len(body), self._stop):
            raise _Transient("stopping")
        try:
            response = self._client.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as error:  # connect/read/write errors, timeouts, resets
            raise _Transient(f"{type(error).__name__} on {method} {path}") from error
        if response.status_code == 401:
            logger.error("server refused this device's token (401) for device %s: check the token",
                         self.settings.device_id)
        if response.status_code in transient:
            raise _Transient(f"HTTP {response.status_code} on {method} {path}",
                             retry_after_seconds(response.headers.get("retry-after")))
        return response

    def _acknowledge(self, batch: PendingBatch, response: httpx.Response, tally: _Tally) -> None:
        try:
            answer = response.json()
            accepted, duplicates = list(answer["accepted"]), list(answer["duplicates"])
        except (ValueError, KeyError, TypeError) as error:
            raise _Transient(f"unreadable ingest answer for batch {batch.batch_id}") from error
        sent = set(batch.record_ids)
        held = [rid for rid in accepted + duplicates if rid in sent]
        if not held:  # re-sending at once would spin: treat as a failure and back off
            raise _Transient(f"server acknowledged none of batch {batch.batch_id}")
        self.outbox.acknowledge(held)
        self.replayed_batches += bool(answer.get("replayed"))
        tally.accepted += len(accepted)
        tally.duplicates += len(duplicates)
        if len(set(held)) != len(sent):
            logger.warning("batch %s: server acknowledged %d of %d records; the rest stay queued",
                           batch.batch_id, len(set(held)), len(sent))
        logger.debug("batch %s: %d accepted, %d duplicates, replayed=%s", batch.batch_id,
                     len(accepted), len(duplicates), answer.get("replayed"))

    def _handle_refusal(self, batch: PendingBatch, response: httpx.Response) -> None:
        """A 4xx: shrink on 413, quarantine the records a 422/403 names, else back off."""
        status = response.status_code
        if status == 413 and self._batch_records > 1 and len(batch.record_ids) > 1:
            self._batch_records = max(1, len(batch.record_ids) // 2)
            logger.warning("server refused a %d-record batch as too large; now %d per batch",
                           len(batch.record_ids), self._batch_records)
            return
        named = _refused_indexes(response) if status in (403, 413, 422) else []
        if status == 413 or (not named and status == 422 and len(batch.record_ids) == 1):
            named = [0]
        if not named:
            if self._count_identical_refusal(batch, response):
                return  # records isolated or one set aside: go on at once, no back-off
            raise _Transient(f"HTTP {status} on ingest: {response.text[:200]}")
        for index in named:
            if 0 <= index < len(batch.record_ids):
                self.outbox.quarantine(batch.record_ids[index], f"HTTP {status}: {response.text[:500]}")

    def _count_identical_refusal(self, batch: PendingBatch, response: httpx.Response) -> bool:
        """Count the same refusal of the same batch; at the bound, isolate the records (one
        per batch) or quarantine the single record, so the queue behind it moves again.
        True when it did either."""
        refusal = (batch.batch_id, response.status_code, response.text[:2000])
        self._refusal_count = self._refusal_count + 1 if refusal == self._refusal else 1
        self._refusal = refusal
        if self._refusal_count < self.settings.max_identical_refusals:
            return False
        self._refusal, self._refusal_count = None, 0
        if len(batch.record_ids) > 1:
            self._batch_records = 1  # judged one by one: only the record at fault will be set aside
            logger.warning("server refused batch %s %d times alike (HTTP %d); sending records one at a time",
                           batch.batch_id, self.settings.max_identical_refusals, response.status_code)
            return True
        self.outbox.quarantine(batch.record_ids[0], f"refused {self.settings.max_identical_refusals} times alike: "
                                                    f"HTTP {response.status_code}: {response.text[:500]}")
        self._batch_records = self.settings.batch_records
        return True

    # -- evidence ---------------------------------------------------------------------

    def _upload_ready_evidence(self, tally: _Tally) -> None:
        """Upload the JPEGs whose records the server holds; refused ones are dropped (counted)."""
        while ready := self.outbox.ready_evidence(EVIDENCE_PER_ROUND):
            for record_id, jpeg in ready:
                if self._stop.is_set():
                    return
                self._upload_evidence(record_id, jpeg, tally)

    def _upload_evidence(self, record_id: str, jpeg: bytes, tally: _Tally) -> None:
        response = self._request("PUT", f"/api/v1/evidence/{record_id}", jpeg, {"Content-Type": "image/jpeg"})
        refused = response.status_code not in (200, 201, 204)
        if refused:
            logger.warning("server refused evidence %s (HTTP %d): dropped", record_id, response.status_code)
        self.outbox.evidence_done(record_id, refused=refused)
        tally.evidence_sent += not refused


def _refused_indexes(response: httpx.Response) -> list[int]:
    """Record indexes named in an ingest error body (``{"detail": [{"index": i, ...}]}``)."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return []
    if not isinstance(detail, list):
        return []
    return sorted({item["index"] for item in detail if isinstance(item, dict) and isinstance(item.get("index"), int)})
