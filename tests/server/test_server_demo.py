"""The demo's map step on a survey folder (records.jsonl + images/), end to end."""

from __future__ import annotations

import csv

from rich.console import Console

from voirie.lab.demo.runner import DemoContext, stop_map_server
from voirie.lab.demo.server import map_step, read_survey, synthetic_survey

SECTIONS_CSV = ["section_id", "street", "road_class", "length_m", "width_m", "pci", "grade", "confidence",
                "surveyed_at", "model_version", "geometry_wkt"]


def test_map_step_syncs_survey_and_writes_outputs(tmp_path):
    survey = synthetic_survey(tmp_path / "survey", streets=([(1.8520, 50.9490), (1.8545, 50.9502)],))
    with (survey / "records.jsonl").open("a") as out:
        out.write('{"schema": 1, "broken": true}\n')  # a bad line is skipped, not fatal
    ctx = DemoContext(workdir=tmp_path / "demo", console=Console(quiet=True), state={"survey_dir": str(survey)})
    ctx = map_step(ctx)
    stop_map_server(ctx)  # the map step leaves it running for the later demo steps
    records = read_survey(survey)
    with open(ctx.state["sections_csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == SECTIONS_CSV
    assert all(row["grade"] and row["model_version"] == "rdd-yolo@1.0" for row in rows)
    assert ctx.state["database_url"].startswith("sqlite:///") and ctx.state["server_url"].startswith("http://127.0.0.1:")
    html = (tmp_path / "demo" / "server" / "map.html").read_text()
    assert "maplibregl" in html and "VOIRIE_EMBED" in html and "/vendor/" not in html  # works from disk
    assert "map snapshot (HTML)" in ctx.outputs and "sections CSV" in ctx.outputs
    import sqlite3

    path = ctx.state["database_url"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(has_evidence) FROM frames").fetchone() == (len(records), len(records))


def test_thumbnail_fits_the_evidence_cap():
    import io

    import numpy as np
    from PIL import Image

    from voirie.lab.demo.server import thumbnail

    noise = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)  # incompressible
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=95)
    big = buffer.getvalue()
    assert len(big) > 512_000
    small = thumbnail(big, 512_000)
    assert len(small) <= 512_000 and small[:3] == b"\xff\xd8\xff"
    assert Image.open(io.BytesIO(small)).width <= 1280
    assert thumbnail(small, 512_000) == small  # already small enough: untouched
