"""``voirie gnss ...``: check GNSS track files and a live gpsd before a survey relies on them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from voirie.capture.gnss import REJECT_REASONS, FixFilter, GnssError, GpsdSource
from voirie.capture.gnss.check import TrackSummary, check_track
from voirie.capture.gnss.plot import plot_track
from voirie.capture.trigger import DistanceTrigger
from voirie.records import GeoFix

logger = logging.getLogger(__name__)

gnss_app = typer.Typer(help="GNSS tracks (NMEA 0183, GPX) and the 4 m distance trigger.", no_args_is_help=True)


@gnss_app.command("check")
def check(
    file: Path = typer.Argument(..., help="NMEA 0183 log or GPX file."),
    spacing: float = typer.Option(4.0, min=0.1, max=1000.0, help="Distance between photos, metres."),
    max_gap: float = typer.Option(5.0, min=0.1, max=3600.0, help="Longest GNSS dropout bridged by interpolation, seconds."),
    plot: Path | None = typer.Option(None, help="Also draw the track, marks and dropouts to this PNG."),
) -> None:
    """Print fixes read, rejections per reason, track length, duration and how many photos it would trigger."""
    console = Console()
    try:
        summary = check_track(file, spacing_m=spacing, max_gap_s=max_gap, collect=plot is not None)
    except GnssError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    console.print(summary_table(summary))
    if plot is not None:
        console.print(f"picture: {plot_track(summary, plot)}")


@gnss_app.command("watch")
def watch(
    host: str = typer.Option("127.0.0.1", help="gpsd host."),
    port: int = typer.Option(2947, min=1, max=65535, help="gpsd port."),
    seconds: float = typer.Option(0.0, min=0.0, help="Stop after this long (0: until Ctrl-C or silence)."),
    timeout: float = typer.Option(10.0, min=0.5, help="Give up after this long without a fix, seconds."),
    spacing: float = typer.Option(4.0, min=0.1, max=1000.0, help="Distance between photos, metres."),
) -> None:
    """Read live fixes from gpsd and print, every second, what the 4 m trigger would do."""
    console = Console()
    fix_filter, trigger = FixFilter(), DistanceTrigger(spacing)
    started = last_report = time.monotonic()
    fixes = 0
    try:
        for fix in GpsdSource(host, port).fixes(timeout_s=timeout):
            fixes += 1
            if fix_filter.accept(fix):
                trigger.update(fix)
            now = time.monotonic()
            if now - last_report >= 1.0:
                last_report = now
                console.print(_status_line(fix, fixes, fix_filter, trigger), soft_wrap=True)
            if seconds and now - started >= seconds:
                break
    except GnssError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(code=2) from error
    if fixes == 0:
        console.print(f"[red]error:[/red] no fix from gpsd at {host}:{port} within {timeout:g} s")
        raise typer.Exit(code=3)
    rejected = sum(fix_filter.rejected.values())
    console.print(f"fixes {fixes}, rejected {rejected}, distance {trigger.distance_m:.1f} m, marks {trigger.marks}, dropouts {trigger.gaps}")


def _status_line(fix: GeoFix, fixes: int, fix_filter: FixFilter, trigger: DistanceTrigger) -> str:
    speed = "-" if fix.speed_mps is None else f"{fix.speed_mps * 3.6:.0f} km/h"
    eph = "-" if fix.eph_m is None else f"{fix.eph_m:.1f} m"
    return (
        f"{fix.time_utc:%H:%M:%S} {fix.lat:.6f},{fix.lon:.6f} mode {int(fix.mode)} {speed} eph {eph} | "
        f"fixes {fixes} rejected {sum(fix_filter.rejected.values())} | {trigger.distance_m:.0f} m, {trigger.marks} marks"
    )


def summary_table(summary: TrackSummary) -> Table:
    """The check report as a rich table (one row per figure, rejections per reason)."""
    table = Table(title=f"{summary.path.name} ({summary.format})", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("fixes read", str(summary.fixes_read))
    table.add_row("fixes accepted", str(summary.accepted))
    for reason in REJECT_REASONS:
        table.add_row(f"rejected: {reason}", str(summary.rejected.get(reason, 0)))
    for reason, count in sorted(summary.skipped.items()):
        table.add_row(f"skipped by reader: {reason}", str(count))
    table.add_row("track length (odometer)", f"{summary.length_m:.1f} m")
    table.add_row("fix-to-fix path", f"{summary.path_m:.1f} m")
    table.add_row("duration", f"{summary.duration_s:.1f} s")
    speed = summary.mean_speed_kmh
    table.add_row("mean speed", "-" if speed is None else f"{speed:.1f} km/h")
    table.add_row("dropouts (no marks)", str(summary.gaps))
    table.add_row(f"{summary.spacing_m:g} m marks", str(summary.marks))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``gnss`` command group to the ``voirie`` command line."""
    app.add_typer(gnss_app, name="gnss")
