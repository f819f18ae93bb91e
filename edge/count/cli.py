"""``voirie count``: count a camera or a video into 15-minute bins; validate a config; evaluate.

    voirie count --source FILE|INDEX|rtsp://… --config FILE [--out DIR]
    voirie count --validate-config FILE
    voirie count eval --video FILE --truth FILE.csv [--config FILE]
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from voirie.edge.count.config import ConfigError, CountConfig, load_config

logger = logging.getLogger(__name__)
console = Console(stderr=True)


def _load_or_exit(path: Path) -> CountConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        console.print(f"[red]{error}")
        raise typer.Exit(2) from None


def _run(source: str, config_path: Path, out: Path) -> None:
    from voirie.edge.count.pipeline import Counter, run_counter
    from voirie.edge.count.sources import JsonlSink, SourceSpec, frame_rate_of, open_source

    config = _load_or_exit(config_path)
    spec = SourceSpec(source, config.camera_id)
    sink = JsonlSink(out)
    snapshots = None
    if config.debug_snapshot:
        from voirie.edge.count.snapshots import SnapshotError, SnapshotWriter

        try:
            snapshots = SnapshotWriter(out / "snapshots", config.bin_seconds)
        except SnapshotError as error:
            console.print(f"[red]{error}")
            raise typer.Exit(2) from None
    counter = Counter(config, frame_rate=frame_rate_of(spec), snapshots=snapshots)
    stopping = {"now": False}
    # SIGTERM from systemd: finish the current frame, flush the partial bin, exit cleanly.
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    try:
        stats = run_counter(counter, lambda: open_source(spec), sink, live=spec.live,
                            should_stop=lambda: stopping["now"])
    except KeyboardInterrupt:
        sink(counter.finish())
        stats = counter.stats
    console.print(f"{stats}; {sink.records} CountBins written to {', '.join(map(str, sink.written)) or out}")


def _print_eval(result: object) -> None:
    table = Table(title="count vs hand count")
    for column in ("class", "direction", "counted", "truth"):
        table.add_column(column)
    keys = sorted(set(result.counted) | set(result.truth))
    for name, direction in keys:
        table.add_row(name, direction, str(result.counted.get((name, direction), 0)),
                      str(result.truth.get((name, direction), 0)))
    Console().print(table)
    for name, error in result.per_class_error.items():
        typer.echo(f"{name}: {error:+.1%}")
    for name, n in result.false_counts.items():
        typer.echo(f"{name}: {n} counted, none in the truth")
    typer.echo(json.dumps({"per_class_error": result.per_class_error, "fps": result.fps}))


def _count_main(source: str | None, config: Path | None, out: Path, validate_config: Path | None) -> None:
    if validate_config is not None:
        checked = _load_or_exit(validate_config)
        typer.echo(f"{validate_config}: ok ({len(checked.lines)} lines, detector {checked.detector.type})")
        return
    if source is None or config is None:
        console.print("[red]give --source and --config (or --validate-config FILE)")
        raise typer.Exit(2)
    _run(source, config, out)


def register(app: typer.Typer) -> None:
    """Add ``voirie count`` (and ``voirie count eval``) to the command line."""
    count_app = typer.Typer(help="Count road users per line, direction and class in 15-minute bins.",
                            invoke_without_command=True)

    @count_app.callback()
    def count(
        ctx: typer.Context,
        source: str = typer.Option(None, help="Video file, camera index (0) or rtsp:// URL."),
        config: Path = typer.Option(None, help="Counting config (TOML, JSON or YAML)."),
        out: Path = typer.Option(Path("data/counts"), help="Where CountBins (JSONL) are written."),
        validate_config: Path = typer.Option(None, "--validate-config", help="Only check this config file."),
    ) -> None:
        """Count a camera or a video; bins go to OUT as JSON lines."""
        if not ctx.invoked_subcommand:
            _count_main(source, config, out, validate_config)

    @count_app.command("eval")
    def evaluate_command(
        video: Path = typer.Option(..., help="Video file to count."),
        truth: Path = typer.Option(..., help="Hand counts: CSV with class,direction,count."),
        config: Path = typer.Option(None, help="Counting config; default: VIDEO with suffix .toml beside it."),
    ) -> None:
        """Count VIDEO and print the per-class error against TRUTH (last line: JSON)."""
        from voirie.edge.count.evaluate import TruthError, evaluate

        config = config or video.with_suffix(".toml")
        loaded = _load_or_exit(config)
        try:
            result = evaluate(video, truth, loaded)
        except (TruthError, OSError) as error:
            console.print(f"[red]{error}")
            raise typer.Exit(2) from None
        _print_eval(result)

    app.add_typer(count_app, name="count")
