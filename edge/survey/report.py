"""A survey run told to a person: its counts as a table, warnings in colour (CLI and demo)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def warn_on(console: Console):
    """A ``warn`` for ``load_damage_detector`` that prints in yellow on ``console``."""
    return lambda message: console.print(f"[yellow]{message}")


def print_summary(result, console: Console) -> None:
    """The run's counts as a table, and where the output is."""
    s = result.stats
    table = Table(title=f"survey {result.survey_id}")
    table.add_column("step")
    table.add_column("count", justify="right")
    rows = [
        ("GNSS fixes read", s.fixes), ("fixes rejected", _counts(s.fixes_rejected)),
        ("4 m marks", s.marks), ("marks with no frame near", s.marks_unmatched),
        ("camera frames read", s.frames_read), ("frames decoded", s.frames_decoded),
        ("frames dropped by the camera queue", s.camera_dropped),
        ("rejected by the quality gate", _counts(s.quality_rejected)),
        ("dropped: anonymization failed", s.anonymization_dropped),
        ("photos written", s.written), ("faces / plates masked", f"{s.faces_masked} / {s.plates_masked}"),
        ("anonymizer horizon (photos)", _counts(s.horizon)),
        ("damage detections", s.detections), ("detector failures", s.detector_failed),
        ("frames per second (whole loop)", f"{s.frames_per_s:.1f}"), ("photos per second", f"{s.photos_per_s:.1f}"),
        ("km surveyed", f"{s.distance_m / 1000:.2f}"), ("photos per km", f"{s.photos_per_km:.0f}"),
        ("CPU seconds per km", f"{s.cpu_s_per_km:.0f}"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    console.print(f"photos and records in [bold]{result.survey_dir}[/] (records.jsonl, images/)")


def _counts(counter) -> str:
    total = sum(counter.values())
    return f"{total} ({', '.join(f'{k}: {v}' for k, v in sorted(counter.items()))})" if total else "0"
