"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, a server
listening only on a Unix socket in that folder, one fresh database per test.

Real PostgreSQL (Debian's ``postgresql`` package, installed by ``scripts/setup.sh``), not a
mock: the server suite runs against it as it runs against SQLite.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PORT = 5432  # only names the socket file: the cluster listens on no TCP port
TEMPLATE = "voirie_template"


def find_postgres_bindir() -> Path | None:
    """Folder of initdb/pg_ctl: on PATH, else Debian's versioned folder (not on PATH there)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _as_cluster_owner(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: CI runs as root, so run them as Debian's
    # "postgres" system user (created by the postgresql package).
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class PostgresCluster:
    """A running cluster; ``new_database()`` gives a SQLAlchemy URL to an empty database."""

    bindir: Path
    folder: Path
    postgis: bool = False
    _names: itertools.count = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def run_sql(self, sql: str, database: str = "postgres") -> str:
        """Run one statement as the superuser (psql, outside any transaction)."""
        command = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                   "-h", self.socket_dir, "-p", str(PORT), "-U", "postgres", "-d", database, "-c", sql]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    def new_database(self) -> str:
        """An empty database (with PostGIS when installed) for one test."""
        name = f"voirie_test_{next(self._names)}"
        self.run_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a test's database; FORCE ends the connections its server's pool still holds."""
        name = url.split("@/", 1)[1].split("?", 1)[0]
        self.run_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster(bindir: Path, durable: bool = False) -> PostgresCluster:
    """initdb + start (socket only) + a template database. Tests throw the cluster away, so
    by default it skips durability; ``durable`` keeps PostgreSQL's defaults (benchmarks)."""
    folder = Path(tempfile.mkdtemp(prefix="voirie-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(_as_cluster_owner([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]),
                   check=True, capture_output=True)
    options = f"-k {folder} -p {PORT} -c listen_addresses='' -c max_connections=300"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(_as_cluster_owner([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                                      "-o", options, "-w", "start"]), check=True, capture_output=True)
    cluster = PostgresCluster(bindir=bindir, folder=folder)
    cluster.run_sql(f"CREATE DATABASE {TEMPLATE}")
    cluster.postgis = _try_postgis(cluster)
    return cluster


def _try_postgis(cluster: PostgresCluster) -> bool:
    # PostGIS is installed by setup.sh but not needed by the current models: without it the
    # suite still runs on plain PostgreSQL.
    try:
        cluster.run_sql("CREATE EXTENSION IF NOT EXISTS postgis", database=TEMPLATE)
    except subprocess.CalledProcessError:
        return False
    return True


def stop_cluster(cluster: PostgresCluster) -> None:
    """Stop the server at once and delete its folder."""
    subprocess.run(_as_cluster_owner([str(cluster.bindir / "pg_ctl"), "-D", str(cluster.folder / "data"),
                                      "-m", "immediate", "-w", "stop"]), check=False, capture_output=True)
    shutil.rmtree(cluster.folder, ignore_errors=True)
