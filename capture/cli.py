"""``voirie gnss ...``: look at GNSS tracks before a survey uses them."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from voirie.capture.gnss import REJECT_REASONS, GnssError
from voirie.capture.gnss_check import TrackSummary, check_track
from voirie.capture.gnss_plot import plot_track

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
