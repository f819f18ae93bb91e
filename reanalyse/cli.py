"""``voirie reanalyse``: run a new model over the server's stored evidence photos."""

from __future__ import annotations

import json
import logging
from typing import Any

import typer

logger = logging.getLogger(__name__)


def reanalyse(
    model: str = typer.Option(..., "--model", help="registered model name (voirie models list)"),
    since: str | None = typer.Option(None, help="only photos taken on or after this date (2024-05-01) or ISO time"),
    engine: str = typer.Option("local", help="local (this process) or ray (needs the ray extra of voirie)"),
    address: str | None = typer.Option(None, help="Ray cluster address (ray://head:10001); default: a local Ray"),
    workers: int = typer.Option(2, min=1, max=10_000, help="Ray actors, one ONNX Runtime session each"),
    batch_size: int = typer.Option(16, min=1, max=4096, help="photos per batch and per committed transaction"),
    limit: int | None = typer.Option(None, min=0, help="stop after this many photos"),
) -> None:
    """Re-analyse stored evidence photos with MODEL, keep the old detections, regrade per model version.

    Works on the configured server database (DATABASE_URL, VOIRIE_DATA_DIR); resumable: a photo
    already analysed by this model version is skipped.
    """
    from voirie.reanalyse.errors import ReanalyseError

    try:
        from voirie.reanalyse.archive import parse_since
        from voirie.reanalyse.job import ReanalyseOptions, run_reanalysis
    except ModuleNotFoundError as error:  # an edge-only install has no server or no model runtime
        typer.echo(f"error: voirie reanalyse needs {error.name}: pip install 'voirie[reanalyse]'", err=True)
        raise typer.Exit(2) from error
    try:
        options = ReanalyseOptions(model=model, since=parse_since(since), engine=engine,  # type: ignore[arg-type]
                                   address=address, workers=workers, batch_size=batch_size, limit=limit)
        settings, factory = _server_database()
        report = run_reanalysis(settings, factory, options)
    except ReanalyseError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"{report.model}: {report.analysed} photos analysed on {report.engine} in {report.seconds:.1f} s "
               f"({report.photos_per_s:.2f} photos/s), {report.failed} unreadable, {report.detections} detections")
    typer.echo(json.dumps({"model": report.model, "engine": report.engine, "analysed": report.analysed,
                           "failed": report.failed, "detections": report.detections,
                           "seconds": round(report.seconds, 3)}))


def _server_database() -> tuple[Any, Any]:
    """The configured server's settings and sessions, its schema brought up to date."""
    from voirie.server.core.config import Settings
    from voirie.server.core.db import make_engine, make_session_factory
    from voirie.server.core.schema import prepare_schema

    settings = Settings()
    engine = make_engine(settings)
    prepare_schema(engine)
    return settings, make_session_factory(engine)


def register(app: typer.Typer) -> None:
    """Add ``voirie reanalyse``."""
    app.command("reanalyse")(reanalyse)
