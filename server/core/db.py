"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block ingest."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

from voirie.server.core.config import Settings

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI hook signature
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable under WAL except for the last transactions on power loss; the
    # edge outbox replays those, and ingest is idempotent, so nothing is lost for good.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A full regrade of a large network holds the write lock for seconds: wait, do not fail.
    cursor.execute("PRAGMA busy_timeout=60000")
    # Record ids are UUIDs, so ingest inserts at random places in the primary-key indexes:
    # with the default 2 MB page cache a million-frame database reads pages for every batch.
    cursor.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB per connection, taken only as used
    cursor.close()


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.database_url`` (SQLite file folders are created)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # LIFO: the most recently used connection comes back first, with its catalog cache and
    # prepared statements warm (a cold PostgreSQL backend spends ~20 ms on its first tile
    # query); the ones left idle are the ones a server-side timeout may close.
    return create_engine(url, pool_pre_ping=True, pool_use_lifo=True)


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded objects usable after commit (responses read them)."""
    return sessionmaker(engine, expire_on_commit=False)
