"""Server test fixtures: a real uvicorn server on 127.0.0.1 over a real database.

Every test that takes ``live`` or ``fresh_database`` runs twice: on a SQLite file (the
default, zero setup) and on PostgreSQL (a throwaway cluster the tests start themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from voirie.records import FrameRecord
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

from .postgres_cluster import PostgresCluster, find_postgres_bindir, start_cluster, stop_cluster

ADMIN_KEY = "test-admin-key-0123456789abcdef"
STREET = [(2.3500, 48.8500), (2.3520, 48.8510), (2.3550, 48.8510)]


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    client: httpx.Client
    database_url: str
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def register(self, device_id: str) -> dict[str, str]:
        """Register a device; returns its auth header."""
        answer = self.client.post("/api/v1/devices", json={"device_id": device_id}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def ingest(self, auth: dict[str, str], records: list[FrameRecord], batch_id: str,
               device_id: str | None = None) -> httpx.Response:
        body = {"batch_id": batch_id, "device_id": device_id or records[0].device_id,
                "records": [{"kind": "frame_record", "record": r.to_dict()} for r in records]}
        return self.client.post("/api/v1/ingest", json=body, headers=auth)

    def key(self, role: str) -> dict[str, str]:
        answer = self.client.post("/api/v1/api-keys", json={"name": f"a {role}", "role": role}, headers=self.admin)
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['key']}"}

    @property
    def engine(self) -> Engine:
        """A connection of our own to the server's database (kept open: digests query it per request)."""
        if self._engine is None:
            self._engine = create_engine(self.database_url, pool_size=1)
        return self._engine

    def sql(self, query: str) -> list[tuple]:
        """Run SQL on the real database directly (what is really stored); commits writes."""
        with self.engine.begin() as conn:
            result = conn.execute(text(query))
            return [tuple(row) for row in result] if result.returns_rows else []

    def close(self) -> None:
        """Close the HTTP client and our own database engine."""
        self.client.close()
        if self._engine is not None:
            self._engine.dispose()

    def columns(self, table: str) -> list[str]:
        """Column names of a table as the database has them."""
        return [column["name"] for column in inspect(self.engine).get_columns(table)]


def start_server(tmp_path: Path, database_url: str = "", **overrides: object) -> tuple[ServerThread, LiveServer]:
    """A server on ``database_url`` (empty: the default SQLite file in its data folder)."""
    settings = Settings(data_dir=tmp_path / "data", bootstrap_admin_key=ADMIN_KEY,
                        database_url=database_url, **overrides)
    server = ServerThread(create_app(settings)).start()
    client = httpx.Client(base_url=server.url, timeout=30)
    return server, LiveServer(url=server.url, data_dir=settings.data_dir, client=client,
                              database_url=settings.database_url)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole session (skipped where not installed)."""
    pytest.importorskip("psycopg", reason="psycopg not installed (scripts/setup.sh installs it)")
    bindir = find_postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL not installed (scripts/setup.sh installs Debian's postgresql)")
    cluster = start_cluster(bindir)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest) -> Iterator[Callable[[], str]]:
    """Makes empty databases on this run's backend: "" (the SQLite default) or a PostgreSQL URL."""
    if request.param == "sqlite":
        yield lambda: ""
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    made: list[str] = []

    def new_database() -> str:
        made.append(cluster.new_database())
        return made[-1]

    try:
        yield new_database
    finally:
        for url in made:
            cluster.drop_database(url)


@pytest.fixture
def live(tmp_path: Path, fresh_database: Callable[[], str]) -> Iterator[LiveServer]:
    server, live = start_server(tmp_path, fresh_database())
    try:
        yield live
    finally:
        live.close()
        server.stop()
