"""Fleet benchmark: heartbeats per second through the real HTTP API into SQLite, and the time
to roll the shipped damage model (int8 ONNX) out to one device.

Run: ``nice -n 10 .venv/bin/python bench/fleet.py`` (``--heartbeats 1000`` for a longer run).
Baselines measured in the same run, on the same server: GETs of a static file (the floor
of one HTTP round trip here) for the heartbeat rate, and a plain download of the same
ONNX for the rollout (no sha256, no ONNX Runtime load, no atomic swap). Last line: one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import track

from voirie.edge.fleet.client import DeviceStatus, FleetClient
from voirie.models import registry
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread

logger = logging.getLogger(__name__)
console = Console(stderr=True)
ADMIN = {"Authorization": "Bearer bench-admin-key-0123456789abcdefgh"}


def _rate(count: int, call: object, label: str) -> float:
    start = time.perf_counter()
    for _ in track(range(count), description=label, console=console, transient=True):
        call()
    return count / (time.perf_counter() - start)


def _publish(client: httpx.Client, device: str) -> tuple[registry.Manifest, Path]:
    manifest, folder = registry.find_model("default")
    entry = manifest.variant("int8")
    client.post("/api/v1/models", json={"manifest": manifest.model_dump(mode="json"), "variant": "int8"},
                headers=ADMIN).raise_for_status()
    client.put(f"/api/v1/models/{manifest.name}/{manifest.version}/file", content=(folder / entry.file).read_bytes(),
               headers={**ADMIN, "Content-Type": "application/octet-stream"}).raise_for_status()
    client.post(f"/api/v1/models/{manifest.name}/{manifest.version}/offers", json={"device_ids": [device]},
                headers=ADMIN).raise_for_status()
    return manifest, folder


def run(heartbeats: int, workdir: Path) -> dict[str, float]:
    """Measure heartbeat rate and rollout time on a fresh server in ``workdir``."""
    settings = Settings(data_dir=workdir / "server", bootstrap_admin_key=ADMIN["Authorization"][7:],
                        device_rate_per_s=1e6, device_rate_burst=1_000_000)
    with ServerThread(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=60) as admin:
        token = admin.post("/api/v1/devices", json={"device_id": "car-1"}, headers=ADMIN).json()["token"]
        status = DeviceStatus.collect(workdir, mode="survey")
        with FleetClient(server.url, "car-1", token) as client:
            static_rate = _rate(heartbeats, lambda: admin.get("/vendor/maplibre-gl.css").raise_for_status(),
                                "static GETs")
            heartbeat_rate = _rate(heartbeats, lambda: client.heartbeat(status), "heartbeats")
            _publish(admin, "car-1")
            offer = client.heartbeat(status).offer
            start = time.perf_counter()
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as raw:
                raw.get(offer.url).raise_for_status()
            download_s = time.perf_counter() - start
            start = time.perf_counter()
            client.apply_model_offer(offer, workdir / "device-models")
            rollout_s = time.perf_counter() - start
    return {"heartbeats_per_s": round(heartbeat_rate, 1), "static_get_per_s": round(static_rate, 1),
            "heartbeat_vs_static": round(heartbeat_rate / static_rate, 3), "model_bytes": offer.bytes,
            "download_s": round(download_s, 3), "rollout_s": round(rollout_s, 3),
            "rollout_vs_download": round(rollout_s / download_s, 2)}


def main() -> None:
    """Print the figures, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heartbeats", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="voirie-fleet-bench-") as folder:
        result = run(args.heartbeats, Path(folder))
    console.print(f"heartbeats: {result['heartbeats_per_s']}/s (static file GET {result['static_get_per_s']}/s, "
                  f"ratio {result['heartbeat_vs_static']}): one server handles "
                  f"~{int(result['heartbeats_per_s'] * 60)} devices at one heartbeat a minute")
    console.print(f"rollout of {result['model_bytes']} bytes: {result['rollout_s']} s (plain download "
                  f"{result['download_s']} s, ratio {result['rollout_vs_download']}; adds sha256, ORT load, swap)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
