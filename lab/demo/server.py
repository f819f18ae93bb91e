"""Demo step: start the server, sync the survey through the real HTTP API, snapshot the map.

Reads ``ctx.state["survey_dir"]`` (``records.jsonl`` of FrameRecords + ``images/`` of
blurred JPEGs, written by the survey step). Without it a synthetic drive is made so the
map step still shows something, and the console says so.
"""

from __future__ import annotations

import gzip
import json
import logging
import secrets
from pathlib import Path
from typing import Any

import httpx

from voirie.records import FrameRecord, RecordError
from voirie.server.core.config import Settings
from voirie.server.main import create_app
from voirie.server.runner import ServerThread
from voirie.lab.synth.records import evidence_jpeg, frames_along

logger = logging.getLogger(__name__)

BATCH = 500
DEMO_STREETS = (
    [(1.8520, 50.9490), (1.8545, 50.9502), (1.8580, 50.9510)],
    [(1.8580, 50.9510), (1.8600, 50.9530), (1.8610, 50.9555)],
    [(1.8545, 50.9502), (1.8530, 50.9525), (1.8520, 50.9545)],
)


def read_survey(survey_dir: Path) -> list[FrameRecord]:
    """FrameRecords of ``records.jsonl``; a bad line is logged and skipped."""
    records = []
    for number, line in enumerate((survey_dir / "records.jsonl").read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(FrameRecord.from_json(line))
        except RecordError as error:
            logger.warning("%s line %d skipped: %s", survey_dir / "records.jsonl", number, error)
    return records


def synthetic_survey(folder: Path, streets: tuple[list[tuple[float, float]], ...] = DEMO_STREETS) -> Path:
    """Write a small synthetic survey (records.jsonl + images/) and return its folder."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for k, street in enumerate(streets):
        records += frames_along(street, survey_id="demo-survey", seed=k, first_sequence=len(records),
                                damage_rate=0.15 + 0.25 * k)
    with (folder / "records.jsonl").open("w") as out:
        for record in records:
            # Like the survey writer: image_file is relative to the survey folder.
            record = record.model_copy(update={"image_file": f"images/{record.image_file}"})
            out.write(record.to_json() + "\n")
            (folder / record.image_file).write_bytes(evidence_jpeg(record))
    return folder


def evidence_file(survey_dir: Path, record: FrameRecord) -> Path | None:
    """The JPEG of a record: ``image_file`` relative to the survey folder (or to images/)."""
    if not record.image_file:
        return None
    for path in (survey_dir / record.image_file, survey_dir / "images" / record.image_file):
        if path.is_file():
            return path
    return None


def thumbnail(data: bytes, max_bytes: int, max_width: int = 1280) -> bytes:
    """Shrink a JPEG until it fits the server's evidence cap (the device normally does this)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    quality = 80
    while len(data) > max_bytes and max_width >= 160:
        scale = min(1.0, max_width / image.width)
        small = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=quality)
        data, max_width, quality = buffer.getvalue(), max_width // 2, max(50, quality - 10)
    return data


def _put_evidence(client: httpx.Client, auth: dict[str, str], record: FrameRecord, path: Path) -> bool:
    data = thumbnail(path.read_bytes(), Settings.model_fields["evidence_max_bytes"].default)
    answer = client.put(f"/api/v1/evidence/{record.record_id}", content=data,
                        headers={**auth, "Content-Type": "image/jpeg"})
    if answer.status_code != 204:
        logger.warning("evidence of %s refused (%d): %s", record.record_id, answer.status_code, answer.text[:200])
    return answer.status_code == 204


def upload(base_url: str, admin_key: str, records: list[FrameRecord], survey_dir: Path) -> dict[str, int]:
    """Register each device, send its records in gzip batches, then its evidence JPEGs."""
    stats = {"accepted": 0, "duplicates": 0, "evidence": 0}
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for device_id in sorted({r.device_id for r in records}):
            created = client.post("/api/v1/devices", json={"device_id": device_id, "name": "demo"},
                                  headers={"Authorization": f"Bearer {admin_key}"}).raise_for_status().json()
            auth = {"Authorization": f"Bearer {created['token']}"}
            mine = [r for r in records if r.device_id == device_id]
            for start in range(0, len(mine), BATCH):
                body = {"batch_id": f"demo-{device_id}-{start}", "device_id": device_id,
                        "records": [{"kind": "frame_record", "record": r.to_dict()} for r in mine[start:start + BATCH]]}
                answer = client.post("/api/v1/ingest", content=gzip.compress(json.dumps(body).encode()),
                                     headers={**auth, "Content-Type": "application/json",
                                              "Content-Encoding": "gzip"}).raise_for_status().json()
                stats["accepted"] += len(answer["accepted"])
                stats["duplicates"] += len(answer["duplicates"])
            for record in mine:
                path = evidence_file(survey_dir, record)
                if path is not None and _put_evidence(client, auth, record, path):
                    stats["evidence"] += 1
    return stats


def _snapshots(ctx: Any, url: str, folder: Path) -> None:
    from voirie.server.snapshot import screenshot, standalone_html

    ctx.outputs["map snapshot (HTML)"] = str(standalone_html(url, folder / "map.html"))
    try:
        ctx.outputs["map snapshot (PNG)"] = str(screenshot(url + "/", folder / "map.png"))
    except (ImportError, RuntimeError) as error:  # playwright or chromium missing: HTML still there
        ctx.console.print(f"[yellow]map PNG skipped: {error}")


def map_step(ctx: Any) -> Any:
    """Start the server, upload the survey, write the CSV and snapshots, set ctx.state."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the summary
    folder = ctx.workdir / "server"
    survey_dir = ctx.state.get("survey_dir")
    if not survey_dir or not (Path(survey_dir) / "records.jsonl").is_file():
        ctx.console.print("[yellow]no survey output found: using a synthetic drive for the map")
        survey_dir = synthetic_survey(folder / "synthetic-survey")
    survey_dir = Path(survey_dir)
    records = read_survey(survey_dir)
    admin_key = secrets.token_urlsafe(32)
    settings = Settings(data_dir=folder / "data", bootstrap_admin_key=admin_key)
    (settings.data_dir / "voirie.sqlite3").unlink(missing_ok=True)  # each demo starts clean
    server = ServerThread(create_app(settings)).start()
    stats = upload(server.url, admin_key, records, survey_dir)
    ctx.console.print(f"synced {stats['accepted']} frame records ({stats['duplicates']} duplicates), "
                      f"{stats['evidence']} evidence photos")
    csv_path = folder / "sections.csv"
    csv_path.write_bytes(httpx.get(server.url + "/api/v1/sections.csv", timeout=120).raise_for_status().content)
    _snapshots(ctx, server.url, folder)
    # The server stays up for the later steps (the plan and the counts go through its API);
    # run_demo stops it at the end unless --keep-serving.
    ctx.state.update(server_url=server.url, database_url=settings.database_url, sections_csv=str(csv_path),
                     admin_key=admin_key, map_server=server)
    ctx.outputs["road-condition map"] = server.url + "/"
    ctx.outputs["sections CSV"] = str(csv_path)
    return ctx


def mobility_step(ctx: Any) -> Any:
    """Place the demo pole camera (the count step synced its bins) and snapshot the mobility page."""
    url, admin_key, camera_id = (ctx.state.get(k) for k in ("server_url", "admin_key", "count_camera_id"))
    if not url or not admin_key or not camera_id or "map_server" not in ctx.state:
        return ctx
    lon, lat = DEMO_STREETS[0][1]
    httpx.put(f"{url}/api/v1/counts/cameras/{camera_id}", json={"name": "demo pole camera", "lat": lat, "lon": lon},
              headers={"Authorization": f"Bearer {admin_key}"}, timeout=60).raise_for_status()
    ctx.outputs["mobility dashboard"] = url + "/mobility"
    try:
        from voirie.server.snapshot import screenshot

        path = screenshot(url + "/mobility", ctx.workdir / "server" / "mobility.png",
                          ready="window.voirieMobilityReady === true")
        ctx.outputs["mobility dashboard (PNG)"] = str(path)
    except (ImportError, RuntimeError) as error:  # playwright or chromium missing
        ctx.console.print(f"[yellow]mobility PNG skipped: {error}")
    return ctx
