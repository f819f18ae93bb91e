"""``voirie server export-pmtiles``: the server's tiles in one PMTiles file, read back with
the pmtiles reader and compared with what ``/tiles`` serves (both backends)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mapbox_vector_tile
from pmtiles.reader import MmapSource, Reader

from voirie.lab.synth.records import frames_along

from .test_server_tiles import LONG_STREET, tile_of


def _export(live, out: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": live.database_url, "VOIRIE_DATA_DIR": str(live.data_dir)}
    return subprocess.run([sys.executable, "-m", "voirie.cli", "server", "export-pmtiles", str(out), *options],
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_archive_holds_the_tiles_the_server_serves(live, tmp_path):
    out = tmp_path / "network.pmtiles"
    refused = _export(live, out)
    assert refused.returncode == 2 and "no sections to export" in refused.stderr
    car = live.register("car-1")
    assert live.ingest(car, frames_along(LONG_STREET, damage_rate=0.8, seed=5), "s1").status_code == 200
    done = _export(live, out, "--max-zoom", "16")
    assert done.returncode == 0, done.stderr
    with open(out, "rb") as handle:
        reader = Reader(MmapSource(handle))
        header = reader.header()
        assert header["max_zoom"] == 16
        bbox = live.client.get("/api/v1/map-extent").json()["bbox"]
        stored_bbox = [header[k] for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")]
        assert stored_bbox == [round(v * 1e7) for v in bbox]
        for zoom in (11, 16):
            z, x, y = tile_of(*LONG_STREET[1], zoom)
            stored = mapbox_vector_tile.decode(reader.get(z, x, y))
            served = mapbox_vector_tile.decode(live.client.get(f"/tiles/{z}/{x}/{y}.mvt").content)
            assert stored == served and stored["sections"]["features"]
        assert reader.get(*tile_of(-70.0, -30.0, 12)) is None  # nothing there, nothing stored
    assert f"to {out}" in done.stdout
