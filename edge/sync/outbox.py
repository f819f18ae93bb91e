"""The edge outbox: every record (and its blurred evidence JPEG) is committed to a local
SQLite file before the pipeline is told it is stored; the sync worker drains it.

Durability: WAL journal with ``synchronous=FULL``, so a ``put`` that returned survives
kill -9 *and* power loss (the WAL is fsynced at every commit). One ``put`` or ``put_many``
is one transaction: after a crash the file holds all of it or none of it.

Disk budget: measured on SQLite's own pages (pages in use, free pages excluded, inside the
writing transaction, so several processes agree), not estimated from payload sizes: page
and index overhead is real (a 2 kB thumbnail takes a whole 4 kB page). When a new item
would not fit, the oldest evidence thumbnails are dropped first and counted; records are
never dropped: when records alone would exceed the budget, ``OutboxFullError`` is raised
and nothing of that call is stored.

Order is insertion order (an autoincrement sequence), dedup is by ``record_id``: nothing
depends on the device clock, which may be wrong on a box without network.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from voirie.records import CountBin, FrameRecord, WireRecord

logger = logging.getLogger(__name__)

# What the server's ingest accepts (POST /api/v1/ingest, items {"kind", "record"}).
RECORD_KINDS: dict[type[WireRecord], str] = {FrameRecord: "frame_record", CountBin: "count_bin"}
# The budget covers the database file and its write-ahead log: the log gets WAL_SHARE of it
# (at most WAL_LIMIT_BYTES) and MARGIN_SHARE absorbs the item being written.
WAL_LIMIT_BYTES = 4 * 1024**2
WAL_SHARE = 0.05
MARGIN_SHARE = 0.05
ROW_OVERHEAD_BYTES = 200  # a new row's header and index entries, before it is written
MIN_BUDGET_BYTES = 1024**2
_PARAMS_PER_QUERY = 500  # stays far below SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    record_time TEXT NOT NULL,  -- the record's own (GNSS) time, never the device clock
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_time ON records (record_time);
CREATE TABLE IF NOT EXISTS evidence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    jpeg BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0  -- 1 once the server holds its record
);
CREATE INDEX IF NOT EXISTS evidence_ready ON evidence (ready, seq);
CREATE TABLE IF NOT EXISTS quarantine (
    record_id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY CHECK (id = 1), dropped_evidence INTEGER NOT NULL
);
INSERT OR IGNORE INTO usage VALUES (1, 0);
"""


class OutboxFullError(RuntimeError):
    """Records alone (evidence already dropped) would exceed the outbox disk budget."""


@dataclass(frozen=True)
class OutboxStats:
    """What the outbox holds now (for heartbeats, the status file and logs)."""

    pending_records: int
    pending_evidence: int
    bytes_on_disk: int
    oldest_pending_utc: datetime | None
    dropped_evidence: int
    disk_budget_bytes: int
    quarantined_records: int = 0


@dataclass(frozen=True)
class PendingBatch:
    """Records to send together: ids in outbox order and their ingest items as JSON."""

    record_ids: list[str]
    items_json: list[str]

    @property
    def batch_id(self) -> str:
        """Idempotency key: a hash of the record ids, so a batch re-sent after a crash or
        a restart carries the same id and the server answers ``replayed``."""
        digest = hashlib.sha256("\n".join(self.record_ids).encode()).hexdigest()
        return f"ob-{digest[:40]}"


def _record_time(record: WireRecord) -> str:
    when = record.time_utc if isinstance(record, FrameRecord) else record.bin_start_utc
    return when.isoformat()


def _kind_of(record: WireRecord) -> str:
    kind = RECORD_KINDS.get(type(record))
    if kind is None:
        names = ", ".join(k.__name__ for k in RECORD_KINDS)
        raise ValueError(f"the outbox stores {names}; got {type(record).__name__}")
    return kind


def _check_evidence(record: WireRecord, jpeg: bytes | None) -> None:
    if jpeg is None:
        return
    if not isinstance(record, FrameRecord):
        raise ValueError(f"evidence belongs to a FrameRecord; got it with a {type(record).__name__}")
    if bytes(jpeg[:3]) != b"\xff\xd8\xff":
        raise ValueError(f"evidence for {record.record_id} is not a JPEG (missing FF D8 FF marker)")


class Outbox:
    """Durable local queue of wire records and evidence, bounded by a disk budget.

    Thread-safe (one connection behind a lock); several processes may open the same file.
    """

    def __init__(self, path: Path, *, disk_budget_bytes: int = 2 * 1024**3) -> None:
        if disk_budget_bytes < MIN_BUDGET_BYTES:
            raise ValueError(f"disk_budget_bytes must be >= {MIN_BUDGET_BYTES}, got {disk_budget_bytes}")
        self.path = Path(path)
        self.disk_budget_bytes = disk_budget_bytes
        self._wal_bytes = min(WAL_LIMIT_BYTES, int(disk_budget_bytes * WAL_SHARE))
        self._usable_bytes = int(disk_budget_bytes * (1 - MARGIN_SHARE)) - self._wal_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._setup()

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout=30000")
        # Must precede the first table: lets a drained outbox give its pages back.
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged put survives power loss.
        db.execute("PRAGMA synchronous=FULL")
        self._page_size = db.execute("PRAGMA page_size").fetchone()[0]
        db.execute(f"PRAGMA wal_autocheckpoint={max(8, self._wal_bytes // self._page_size)}")
        db.execute(f"PRAGMA journal_size_limit={self._wal_bytes}")
        with self._write():
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    db.execute(statement)

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction under the lock: committed whole or rolled back.
        ``durable=False`` skips the fsync: only for pruning, where a lost commit merely
        re-sends records the server then reports as duplicates."""
        with self._lock:
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- the pipeline side ------------------------------------------------------------

    def put(self, record: WireRecord, evidence_jpeg: bytes | None = None) -> str:
        """Durably store one FrameRecord/CountBin (+ optional blurred JPEG); returns its
        record_id. When it returns, the record survives kill -9 and power loss.
        Re-putting the same record_id is a no-op, so a restarted pipeline may replay."""
        return self.put_many([(record, evidence_jpeg)])[0]

    def put_many(self, items: Iterable[tuple[WireRecord, bytes | None]]) -> list[str]:
        """Store several records in one transaction (one fsync): all or none."""
        rows = [self._row(record, jpeg) for record, jpeg in items]
        try:
            with self._write() as db:
                for row, jpeg in rows:
                    self._insert(db, row, jpeg)
        except OutboxFullError:
            self._shrink_log()  # the refused transaction may have spilled into the WAL
            raise
        return [row[0] for row, _ in rows]

    def _shrink_log(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _row(record: WireRecord, jpeg: bytes | None) -> tuple[tuple[str, str, str, str, int], bytes | None]:
        kind = _kind_of(record)
        _check_evidence(record, jpeg)
        payload = record.to_json()
        size = len(payload) + ROW_OVERHEAD_BYTES
        return (record.record_id, kind, payload, _record_time(record), size), jpeg

    def _insert(self, db: sqlite3.Connection, row: tuple[str, str, str, str, int], jpeg: bytes | None) -> None:
        if db.execute("SELECT 1 FROM records WHERE record_id = ?", (row[0],)).fetchone():
            return  # idempotent: already pending
        jpeg_bytes = len(jpeg) + ROW_OVERHEAD_BYTES if jpeg is not None else 0
        keep_jpeg = self._make_room(db, row[0], row[4], jpeg_bytes)
        db.execute("INSERT INTO records (record_id, kind, payload, record_time, bytes) VALUES (?, ?, ?, ?, ?)", row)
        if jpeg is not None and keep_jpeg:
            # OR IGNORE, not REPLACE: REPLACE would skip the delete trigger and skew the totals.
            db.execute("INSERT OR IGNORE INTO evidence (record_id, jpeg, bytes) VALUES (?, ?, ?)",
                       (row[0], sqlite3.Binary(jpeg), jpeg_bytes))
        elif jpeg is not None:
            db.execute("UPDATE usage SET dropped_evidence = dropped_evidence + 1")

    def _used_bytes(self, db: sqlite3.Connection) -> int:
        """Bytes of pages in use now, this transaction's changes included."""
        pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
        return pages * self._page_size

    def _make_room(self, db: sqlite3.Connection, record_id: str, record_bytes: int, jpeg_bytes: int) -> bool:
        """Drop the oldest evidence until the new item fits; False when its own evidence
        cannot be kept. Raise ``OutboxFullError`` when the records alone do not fit."""
        used = self._used_bytes(db)
        while used + record_bytes + jpeg_bytes > self._usable_bytes and self._drop_oldest_evidence(db):
            used = self._used_bytes(db)
        if used + record_bytes > self._usable_bytes:
            raise OutboxFullError(
                f"outbox {self.path} is full: its records alone use {used} bytes of the "
                f"{self._usable_bytes} usable in a {self.disk_budget_bytes}-byte disk budget (all evidence "
                f"already dropped); record {record_id} was not stored. The device has been offline "
                "too long for its budget: bring it in range of the server or raise disk_budget_bytes.")
        return used + record_bytes + jpeg_bytes <= self._usable_bytes

    @staticmethod
    def _drop_oldest_evidence(db: sqlite3.Connection, rows: int = 8) -> int:
        """Delete the ``rows`` oldest thumbnails (a few at a time: pages free up only when
        all their rows are gone); how many were dropped."""
        oldest = db.execute("SELECT seq FROM evidence ORDER BY seq LIMIT 1 OFFSET ?", (rows - 1,)).fetchone()
        if oldest is None:
            oldest = db.execute("SELECT MAX(seq) FROM evidence").fetchone()
        dropped = db.execute("DELETE FROM evidence WHERE seq <= ?", (oldest[0],)).rowcount if oldest[0] else 0
        if dropped:
            db.execute("UPDATE usage SET dropped_evidence = dropped_evidence + ?", (dropped,))
            total = db.execute("SELECT dropped_evidence FROM usage").fetchone()[0]
            # Once offline long enough this happens at every frame: warn at powers of two only.
            level = logging.WARNING if total.bit_length() > (total - dropped).bit_length() else logging.DEBUG
            logger.log(level, "outbox over budget: dropped the oldest evidence thumbnails (%d so far)", total)
        return dropped

    # -- the sync side ----------------------------------------------------------------

    def next_batch(self, max_records: int, max_bytes: int) -> PendingBatch:
        """The oldest pending records, at most ``max_records`` and about ``max_bytes`` of
        JSON (always at least one record, however big)."""
        with self._lock:
            rows = self._db.execute("SELECT record_id, kind, payload FROM records ORDER BY seq LIMIT ?",
                                    (max_records,)).fetchall()
        ids, items, total = [], [], 0
        for record_id, kind, payload in rows:
            item = f'{{"kind":"{kind}","record":{payload}}}'
            if items and total + len(item) > max_bytes:
                break
            ids.append(record_id)
            items.append(item)
            total += len(item) + 1
        return PendingBatch(record_ids=ids, items_json=items)

    def acknowledge(self, record_ids: Iterable[str]) -> None:
        """The server holds these records (accepted or duplicate): prune them; their
        evidence becomes ready to upload."""
        ids = list(record_ids)
        with self._write(durable=False) as db:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM records WHERE record_id IN ({marks})", chunk)
                db.execute(f"UPDATE evidence SET ready = 1 WHERE record_id IN ({marks})", chunk)
        self._give_back_space_if_drained()

    def quarantine(self, record_id: str, reason: str) -> None:
        """Move a record the server refuses for good out of the queue (kept, not lost)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO quarantine SELECT record_id, kind, payload, ? "
                       "FROM records WHERE record_id = ?", (reason[:1000], record_id))
            db.execute("DELETE FROM records WHERE record_id = ?", (record_id,))
            db.execute("UPDATE evidence SET ready = 0 WHERE record_id = ?", (record_id,))
        logger.error("record %s quarantined in the outbox: %s", record_id, reason[:200])

    def ready_evidence(self, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` evidence JPEGs whose records the server holds, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT record_id, jpeg FROM evidence WHERE ready = 1 ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [(record_id, bytes(jpeg)) for record_id, jpeg in rows]

    def evidence_done(self, record_id: str, *, refused: bool = False) -> None:
        """Prune an uploaded evidence JPEG (``refused``: the server will never take it; counted as dropped)."""
        with self._write() as db:
            deleted = db.execute("DELETE FROM evidence WHERE record_id = ?", (record_id,)).rowcount
            if refused and deleted:
                db.execute("UPDATE usage SET dropped_evidence = dropped_evidence + 1")

    def _give_back_space_if_drained(self) -> None:
        with self._lock:
            if self._db.execute("SELECT 1 FROM records LIMIT 1").fetchone() is None:
                self._db.execute("PRAGMA incremental_vacuum")

    # -- reporting ----------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        """Counts, bytes and the oldest pending record's own time."""
        with self._lock:
            db = self._db
            pending = db.execute("SELECT COUNT(*), MIN(record_time) FROM records").fetchone()
            evidence = db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0]
            dropped = db.execute("SELECT dropped_evidence FROM usage").fetchone()[0]
            quarantined = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        return OutboxStats(
            pending_records=pending[0], pending_evidence=evidence, bytes_on_disk=self.bytes_on_disk(),
            oldest_pending_utc=datetime.fromisoformat(pending[1]) if pending[1] else None,
            dropped_evidence=dropped, disk_budget_bytes=self.disk_budget_bytes, quarantined_records=quarantined)

    def bytes_on_disk(self) -> int:
        """Size of the database file and its write-ahead log."""
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"`` when sound."""
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _PARAMS_PER_QUERY):
        yield values[start:start + _PARAMS_PER_QUERY]
