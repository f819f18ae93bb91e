"""Scale benchmark (issue 19): a generated regional road network with a photo every 4 m,
served by ``voirie serve`` (its own process) on PostgreSQL/PostGIS and on SQLite.

Per backend: ingest rate through the real HTTP API (gzip batches from one device, as the
edge outbox sends them; also per CPU second of server + database, which a loaded shared
machine changes less than the wall-clock rate), recompute time (matching + grading + the low-zoom overview),
p50/p95 latency of vector tiles at zooms 10, 13 and 16 (rendered: the server's tile cache
is off, so every request builds its tile; on PostgreSQL after the autovacuum that the first
recompute's rewrite of every row sets off), and the sections GeoJSON of a bbox holding
~250 km of road.

The network is a square grid of streets ``--spacing-km`` apart, cut into 2 km roads, near
Calais; ``--km`` is its length (5,000 km = 1.25 M frame records). PostgreSQL is a
throwaway cluster started here with its default durability (fsync on). Generated batches
are kept in ``runs/scale-cache/`` (git-ignored) for the next run. Last line: one JSON object.

Run: ``nice -n 10 .venv/bin/python bench/scale.py --km 5000`` (``--km 50`` for a quick run).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console

from voirie.lab.synth.records import frames_along
from voirie.server.runner import served_process
from voirie.server.tiles import TileAddress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))
from postgres_cluster import find_postgres_bindir, start_cluster, stop_cluster  # noqa: E402 - the tests' cluster

logger = logging.getLogger(__name__)
console = Console(stderr=True)
ADMIN = "bench-admin-key-0123456789abcdefgh"
ROAD_KM = 2.0
ORIGIN = (1.60, 50.40)  # lon, lat of the grid's south-west corner
ZOOMS = (10, 13, 16)
CACHE_DIR = Path(__file__).resolve().parents[1] / "runs" / "scale-cache"


def degrees_per_km(lat: float) -> tuple[float, float]:
    """(dlon, dlat) of one kilometre at ``lat``."""
    return 1 / (111.32 * math.cos(math.radians(lat))), 1 / 111.2


def grid_roads(km: float, spacing_km: float) -> list[list[tuple[float, float]]]:
    """Streets on a square grid ``spacing_km`` apart, east-west and north-south, cut into
    2 km roads, until the total reaches ``km``."""
    side = ROAD_KM * max(1, math.ceil(math.sqrt(km * spacing_km / 2) / ROAD_KM))
    dlon, dlat = degrees_per_km(ORIGIN[1])
    roads: list[list[tuple[float, float]]] = []
    lines = int(side / spacing_km) + 1
    for line in range(lines):
        for start in range(int(side / ROAD_KM)):
            a, b, across = start * ROAD_KM, (start + 1) * ROAD_KM, line * spacing_km
            roads.append([(ORIGIN[0] + a * dlon, ORIGIN[1] + across * dlat), (ORIGIN[0] + b * dlon, ORIGIN[1] + across * dlat)])
            roads.append([(ORIGIN[0] + across * dlon, ORIGIN[1] + a * dlat), (ORIGIN[0] + across * dlon, ORIGIN[1] + b * dlat)])
    roads = roads[:max(1, round(km / ROAD_KM))]
    return roads


def network_geojson(roads: list[list[tuple[float, float]]]) -> bytes:
    """The roads as the network a department would import."""
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": f"road{k}", "name": f"Rue {k}"},
         "geometry": {"type": "LineString", "coordinates": road}} for k, road in enumerate(roads)]}).encode()


def batches_file(roads: list[list[tuple[float, float]]], batch: int, key: str) -> tuple[Path, list[int], int]:
    """Gzip ingest bodies of every road's frames in one file (made once per network):
    (file, body end offsets, frame count)."""
    path, index = CACHE_DIR / f"{key}.bin", CACHE_DIR / f"{key}.json"
    if path.is_file() and index.is_file():
        meta = json.loads(index.read_text())
        return path, meta["ends"], meta["frames"]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ends, pending, frames, started = [], [], 0, time.perf_counter()
    with open(path, "wb") as out:
        for k, road in enumerate(roads):
            pending.extend({"kind": "frame_record", "record": f.to_dict()} for f in
                           frames_along(road, survey_id="bench", seed=k, first_sequence=k * 1000, damage_rate=0.3))
            while len(pending) >= batch or (k == len(roads) - 1 and pending):
                chunk, pending = pending[:batch], pending[batch:]
                body = json.dumps({"batch_id": f"b{len(ends)}", "device_id": "car-1", "records": chunk}).encode()
                out.write(gzip.compress(body, compresslevel=1))
                ends.append(out.tell())
                frames += len(chunk)
    index.write_text(json.dumps({"ends": ends, "frames": frames}))
    console.print(f"generated {frames:,} frame records in {time.perf_counter() - started:.0f} s")
    return path, ends, frames


def ingest(client: httpx.Client, token: str, path: Path, ends: list[int], frames: int) -> float:
    """Send every batch in order (one device); records per second."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    started, begin = time.perf_counter(), 0
    with open(path, "rb") as bodies:
        for n, end in enumerate(ends):
            client.post("/api/v1/ingest", content=bodies.read(end - begin), headers=headers).raise_for_status()
            begin = end
            if n % 100 == 0:
                console.print(f"  ingest {n}/{len(ends)} batches, {frames * n / len(ends) / (time.perf_counter() - started + 1e-9):,.0f} rec/s", end="\r")
    return frames / (time.perf_counter() - started)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its descendants (live ones, and those it reaped)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo = [pid]
    while todo:
        current = todo.pop()
        if current in stats:  # utime, stime, cutime, cstime
            total += sum(int(v) for v in stats[current][11:15]) / tick
        todo.extend(children.get(current, []))
    return total


def postmaster_pid(cluster_folder: Path) -> int:
    """The PostgreSQL server's pid (first line of postmaster.pid)."""
    return int((cluster_folder / "data" / "postmaster.pid").read_text().split()[0])


def wait_for_autovacuum(database_url: str, timeout_s: float = 600.0) -> float:
    """Seconds until PostgreSQL has no autovacuum worker left: the first recompute rewrites
    every frame and section row, and the vacuum that follows would be timed as tile latency."""
    from sqlalchemy import create_engine, text

    engine, started = create_engine(database_url), time.perf_counter()
    try:
        with engine.connect() as connection:
            while time.perf_counter() - started < timeout_s:
                busy = connection.execute(text("SELECT COUNT(*) FROM pg_stat_activity "
                                               "WHERE backend_type = 'autovacuum worker'")).scalar()
                if not busy:
                    break
                time.sleep(1.0)
    finally:
        engine.dispose()
    return round(time.perf_counter() - started, 1)


def tile_latencies(client: httpx.Client, roads: list, z: int, samples: int, rng: random.Random) -> dict:
    """p50/p95 milliseconds and bytes of tiles under random points of the network."""
    times, sizes = [], []
    for _ in range(samples):
        (x0, y0), (x1, y1) = rng.choice(roads)
        t = rng.random()
        tile = TileAddress.containing(x0 + t * (x1 - x0), y0 + t * (y1 - y0), z)
        started = time.perf_counter()
        answer = client.get(f"/tiles/{tile.z}/{tile.x}/{tile.y}.mvt")
        times.append(1000 * (time.perf_counter() - started))
        answer.raise_for_status()
        sizes.append(len(answer.content))
    q = statistics.quantiles(times, n=20)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(q[18], 1),
            "max_bytes": max(sizes), "median_bytes": int(statistics.median(sizes)), "samples": samples}


def bbox_of_road_km(roads: list, target_km: float) -> tuple[float, float, float, float]:
    """A square from the grid's corner holding about ``target_km`` of road."""
    dlon, dlat = degrees_per_km(ORIGIN[1])
    side = 1.0
    while side < 1000 and sum(ROAD_KM for r in roads if r[1][0] <= ORIGIN[0] + side * dlon
                              and r[1][1] <= ORIGIN[1] + side * dlat) < target_km:
        side *= 1.05
    return ORIGIN[0] - 1e-4, ORIGIN[1] - 1e-4, ORIGIN[0] + side * dlon, ORIGIN[1] + side * dlat


def measure_backend(env: dict[str, str], roads: list, bodies: tuple[Path, list[int], int], samples: int,
                    database_pid: int | None = None) -> dict:
    """One server on one database: ingest, recompute, tiles, bbox GeoJSON. Ingest is also
    given per CPU second of the server and the database (what the load on a shared machine
    does not change much)."""
    result: dict = {}
    with tempfile.TemporaryDirectory() as folder, \
            served_process(Path(folder) / "data", ADMIN, timeout_s=120, env=env) as (url, process), \
            httpx.Client(base_url=url, timeout=3600) as client:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        client.put("/api/v1/network", content=network_geojson(roads), headers=admin).raise_for_status()
        token = client.post("/api/v1/devices", json={"device_id": "car-1"}, headers=admin).json()["token"]
        cpu = lambda: tree_cpu_s(process.pid) + (tree_cpu_s(database_pid) if database_pid else 0.0)  # noqa: E731
        cpu_before = cpu()
        result["ingest_records_per_s"] = round(ingest(client, token, *bodies))
        result["ingest_records_per_cpu_s"] = round(bodies[2] / max(1e-9, cpu() - cpu_before))
        result["load_after_ingest"] = round(os.getloadavg()[0], 1)
        started = time.perf_counter()
        client.post("/api/v1/recompute", headers=admin).raise_for_status()
        result["recompute_s"] = round(time.perf_counter() - started, 1)
        if database_url := env.get("DATABASE_URL"):
            result["autovacuum_wait_s"] = wait_for_autovacuum(database_url)
        rng = random.Random(19)
        for z in ZOOMS:
            result[f"tiles_z{z}"] = tile_latencies(client, roads, z, samples, rng)
        box = bbox_of_road_km(roads, 250.0)
        started = time.perf_counter()
        body = client.get("/api/v1/sections.geojson", params={"bbox": ",".join(f"{v:.6f}" for v in box)})
        result["geojson_bbox_ms"] = round(1000 * (time.perf_counter() - started), 1)
        features = body.raise_for_status().json()["features"]
        result["geojson_bbox_km"] = round(sum(f["properties"]["length_m"] for f in features) / 1000, 1)
        result["geojson_bbox_sections"] = len(features)
        result["load_at_end"] = round(os.getloadavg()[0], 1)
    return result


def run(args: argparse.Namespace) -> dict:
    """Every requested backend on the same network and the same batches."""
    roads = grid_roads(args.km, args.spacing_km)
    bodies = batches_file(roads, args.batch, f"grid-{args.km:g}km-{args.spacing_km:g}-{args.batch}")
    report = {"km": len(roads) * ROAD_KM, "roads": len(roads), "frames": bodies[2], "spacing_km": args.spacing_km,
              "batch": args.batch, "load_at_start": round(os.getloadavg()[0], 1), "cpus": os.cpu_count()}
    base = {"VOIRIE_TILE_CACHE_MB": "0"}  # every tile request renders its tile
    for backend in args.backends.split(","):
        console.print(f"[bold]{backend}[/]: {report['km']:,.0f} km, {bodies[2]:,} frames")
        if backend == "sqlite":
            report[backend] = measure_backend(base, roads, bodies, args.tiles)
        elif backend == "postgresql":
            cluster = start_cluster(find_postgres_bindir(), durable=True)
            try:
                env = {**base, "DATABASE_URL": cluster.new_database()}
                report[backend] = {**measure_backend(env, roads, bodies, args.tiles, postmaster_pid(cluster.folder)),
                                   "postgis": cluster.postgis}
            finally:
                stop_cluster(cluster)
        else:
            raise SystemExit(f"unknown backend {backend!r}; use sqlite and/or postgresql")
        console.print(json.dumps(report[backend]))
    return report


def main() -> None:
    """Parse arguments, measure, print the JSON line (also written to ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--km", type=float, default=5000.0, help="network length (2 km roads)")
    parser.add_argument("--spacing-km", type=float, default=1.0, help="distance between parallel streets")
    parser.add_argument("--backends", default="postgresql,sqlite", help="comma-separated: postgresql, sqlite")
    parser.add_argument("--batch", type=int, default=1000, help="records per ingest batch (server cap 5000)")
    parser.add_argument("--tiles", type=int, default=100, help="tile requests per zoom")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = run(args)
    line = json.dumps(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
