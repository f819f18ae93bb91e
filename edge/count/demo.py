"""Demo step: count a rendered pole-camera clip with known counts, write bins and a chart."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from voirie.edge.count.config import parse_config
from voirie.edge.count.pipeline import Counter
from voirie.edge.count.sources import JsonlSink, SourceSpec, open_source, read_bins
from voirie.edge.count.synth import make_scene, render_video, scene_config, write_truth

logger = logging.getLogger(__name__)
DEMO_START = datetime(2026, 5, 4, 7, 59, 50, tzinfo=timezone.utc)  # straddles a bin boundary


def plot_counts(counted: Tally, truth: Tally, path: Path, title: str) -> Path:
    """Bar chart of counts per class and direction, counted beside the truth."""
    import matplotlib

    matplotlib.use("Agg")  # no display on the edge box
    import matplotlib.pyplot as plt

    keys = sorted(set(counted) | set(truth))
    labels = [f"{name}\n{direction}" for name, direction in keys]
    xs = range(len(keys))
    fig, ax = plt.subplots(figsize=(max(6, len(keys) * 0.9), 4), dpi=110)
    ax.bar([x - 0.2 for x in xs], [truth.get(k, 0) for k in keys], 0.4, label="truth (rendered)", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], [counted.get(k, 0) for k in keys], 0.4, label="counted", color="#1f77b4")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("crossings")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _line_view(scene: Any, config: Any, path: Path) -> Path:
    """One rendered frame (synthetic, nobody in it to anonymize) with the counting line drawn."""
    import cv2
    import numpy as np

    from voirie.edge.count.synth import background_image, render_frame

    image = render_frame(scene, background_image(scene), int(scene.fps * scene.duration_s / 2), np.random.default_rng(0))
    for line in config.lines:
        start, end = tuple(int(v) for v in line.start), tuple(int(v) for v in line.end)
        cv2.arrowedLine(image, start, end, (0, 255, 255), 2, tipLength=0.03)
        cv2.putText(image, f"{line.id}: {line.directions[0]} ->", (start[0] + 6, start[1] + 18),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1)
    cv2.imwrite(str(path), image)
    return path


def upload_bins(server_url: str, admin_key: str, paths: list[Path]) -> dict[str, int]:
    """Register each pole device on the server (admin key), then send its CountBins through
    ``POST /api/v1/ingest`` with the device's own token, as the sync agent would."""
    bins = [b for path in paths for b in read_bins(path)]
    stats = {"accepted": 0, "duplicates": 0}
    with httpx.Client(base_url=server_url, timeout=60) as client:
        for device_id in sorted({b.device_id for b in bins}):
            created = client.post("/api/v1/devices", json={"device_id": device_id, "name": "demo pole camera"},
                                  headers={"Authorization": f"Bearer {admin_key}"}).raise_for_status().json()
            body = {"batch_id": f"demo-count-{device_id}", "device_id": device_id,
                    "records": [{"kind": "count_bin", "record": b.to_dict()} for b in bins if b.device_id == device_id]}
            answer = client.post("/api/v1/ingest", json=body,
                                 headers={"Authorization": f"Bearer {created['token']}"}).raise_for_status().json()
            stats["accepted"] += len(answer["accepted"])
            stats["duplicates"] += len(answer["duplicates"])
    return stats


def _sync_to_demo_server(ctx: Any, paths: list[Path], camera_id: str) -> None:
    """Upload to the map server the demo started (when there is one: steps may run alone)."""
    server_url, admin_key = ctx.state.get("server_url"), ctx.state.get("admin_key")
    if not server_url or not admin_key or "map_server" not in ctx.state:
        return
    try:
        stats = upload_bins(server_url, admin_key, paths)
    except httpx.HTTPError as error:  # the bins stay on disk: the sync agent would retry them
        ctx.console.print(f"[yellow]CountBins not synced to {server_url}: {error}")
        return
    ctx.console.print(f"synced {stats['accepted']} CountBins to {server_url} ({stats['duplicates']} duplicates)")
    ctx.outputs["count: Telraam-style traffic (API)"] = f"{server_url}/api/v1/counts/traffic?camera_id={camera_id}"
    ctx.state["count_camera_id"] = camera_id  # the server's mobility step places it on the map


def count_step(ctx: Any) -> Any:
    """Render, count, write CountBins (JSONL) and a chart; record them in ``ctx.outputs``."""
    workdir = Path(ctx.workdir) / "count"
    workdir.mkdir(parents=True, exist_ok=True)
    scene = make_scene(duration_s=40.0, width=640, height=360, fps=12.5, seed=11)
    video = render_video(scene, workdir / "pole_camera.avi")
    truth_csv = write_truth(scene, workdir / "truth.csv")
    config = parse_config(scene_config(scene, camera_id="demo-pole"), "demo")
    counter = Counter(config, frame_rate=scene.fps)
    sink = JsonlSink(workdir / "bins")
    for frame in open_source(SourceSpec(str(video), config.camera_id, DEMO_START)):
        sink(counter.process(frame))
    sink(counter.finish())
    counted: Tally = Tally()
    for direction, per_class in counter.totals()["main"].items():
        for name, n in per_class.items():
            counted[(name, direction)] += n
    truth = scene.truth()
    chart = plot_counts(counted, truth, workdir / "counts.png",
                        f"pole camera: {sum(counted.values())} counted, {sum(truth.values())} rendered")
    ctx.console.print(f"counted {sum(counted.values())} crossings (truth {sum(truth.values())}), "
                      f"{sink.records} CountBins")
    ctx.outputs["count: CountBins (JSONL)"] = ", ".join(str(p) for p in sink.written)
    ctx.outputs["count: chart"] = str(chart)
    ctx.outputs["count: camera view"] = str(_line_view(scene, config, workdir / "camera_view.png"))
    ctx.outputs["count: clip + truth"] = f"{video} ({truth_csv.name})"
    ctx.state["count_bins"] = [str(p) for p in sink.written]
    _sync_to_demo_server(ctx, sink.written, config.camera_id)
    return ctx
