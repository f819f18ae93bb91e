"""Commands: ``voirie serve``, ``voirie network import FILE`` and ``voirie server …``
(API keys, devices, state export/import) working directly on the configured database."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

logger = logging.getLogger(__name__)

network_app = typer.Typer(help="The city's road network.", no_args_is_help=True)
server_app = typer.Typer(help="Server administration on the configured database.", no_args_is_help=True)


def _session_factory() -> tuple[Any, Any]:
    from voirie.server.core.config import Settings
    from voirie.server.core.db import make_engine, make_session_factory
    from voirie.server.core.schema import prepare_schema

    settings = Settings()
    engine = make_engine(settings)
    prepare_schema(engine)
    return settings, make_session_factory(engine)


def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
          workers: int = typer.Option(1, min=1, max=64, help="API worker processes (2+ want PostgreSQL).")) -> None:
    """Start the road-condition server and map (database from DATABASE_URL)."""
    import uvicorn

    from voirie.server.main import create_app

    typer.echo(f"map on http://{host}:{port}/  API schema on http://{host}:{port}/openapi.json")
    if workers == 1:
        uvicorn.run(create_app(), host=host, port=port, log_level="info")
        return
    # Each worker process builds its own app (settings from the environment); schema upgrades
    # take an advisory lock and recomputes are claimed in the database, so they agree.
    uvicorn.run("voirie.server.main:create_app", factory=True, workers=workers, host=host, port=port,
                log_level="info")


@network_app.command("import")
def network_import(file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                               help="GeoJSON or GeoPackage line layer")) -> None:
    """Replace the road network with FILE and split it into sections."""
    from voirie.server.network import NetworkError, read_network, store_network

    settings, factory = _session_factory()
    try:
        segments = read_network(file)
        with factory() as session:
            count = store_network(session, segments, settings)
            session.commit()
    except NetworkError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"imported {len(segments)} roads as {count} sections of ~{settings.section_length_m:g} m")


@server_app.command("create-key")
def create_key(name: str = typer.Option(..., help="Who the key is for."),
               role: str = typer.Option("viewer", help="viewer, inspector or admin")) -> None:
    """Create an API key for a person and print it once."""
    from voirie.server.crud import create_api_key

    _, factory = _session_factory()
    with factory() as session:
        created = create_api_key(session, name, role)
    typer.echo(created.key)


@server_app.command("list-keys")
def list_keys() -> None:
    """List people's API keys: id, role, name, creation time (never the secrets)."""
    from voirie.server.crud import list_api_keys

    _, factory = _session_factory()
    with factory() as session:
        for key in list_api_keys(session):
            typer.echo(f"{key.id}\t{key.role}\t{key.name}\t{key.created_at.isoformat()}")


@server_app.command("revoke-key")
def revoke_key(key_id: int = typer.Argument(..., min=1, help="The key's id (see list-keys).")) -> None:
    """Revoke an API key: it fails on its next request (a revoked bootstrap key is not re-created)."""
    from voirie.server.crud import KeyRevocationError, revoke_api_key

    _, factory = _session_factory()
    try:
        with factory() as session:
            key = revoke_api_key(session, key_id)
    except KeyRevocationError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"revoked key {key.id} ({key.role}, {key.name})")


@server_app.command("revoke-device")
def revoke_device(device_id: str = typer.Argument(..., help="The edge device's id.")) -> None:
    """Revoke a device's token at once (register-device gives it a new one later)."""
    from voirie.server.models import Device

    _, factory = _session_factory()
    with factory() as session:
        device = session.get(Device, device_id)
        if device is None:
            typer.echo(f"error: no device {device_id!r}", err=True)
            raise typer.Exit(2)
        device.active = False
        session.commit()
    typer.echo(f"revoked device {device_id}")


@server_app.command("register-device")
def register_device(device_id: str = typer.Argument(..., help="The edge device's id."),
                    name: str = typer.Option("", help="A human name.")) -> None:
    """Register a device and print its token once."""
    from voirie.server.crud import DeviceExistsError, create_device
    from voirie.server.models import DeviceCreate

    _, factory = _session_factory()
    try:
        with factory() as session:
            typer.echo(create_device(session, DeviceCreate(device_id=device_id, name=name)).token)
    except DeviceExistsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error


@server_app.command("export-state")
def export_state_cmd(out: Path = typer.Argument(..., help="Zip file to write.")) -> None:
    """Write the whole server state (tables as JSON Lines, evidence JPEGs) to a zip."""
    from voirie.server.state import export_state

    settings, factory = _session_factory()
    with factory() as session:
        out.write_bytes(export_state(session, settings.evidence_dir))
    typer.echo(f"wrote {out}")


@server_app.command("export-pmtiles")
def export_pmtiles_cmd(out: Path = typer.Argument(..., help="PMTiles file to write."),
                       max_zoom: int = typer.Option(14, min=0, max=24, help="Deepest zoom to include.")) -> None:
    """Write the network's vector tiles (sections, planned works) to one PMTiles file."""
    from voirie.server.conditions import ConditionService
    from voirie.server.planning.store import PlanStore
    from voirie.server.pmtiles_export import ExportError, export_pmtiles
    from voirie.server.tile_service import TileService

    settings, factory = _session_factory()
    generation = ConditionService(settings, factory).ensure_current()
    service = TileService(PlanStore(settings.data_dir / "plans"), cache_bytes=0)
    try:
        with factory() as session:
            written = export_pmtiles(session, service, generation, out, max_zoom)
    except ExportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"wrote {written} tiles (zoom 0-{max_zoom}) to {out}")


@server_app.command("import-state")
def import_state_cmd(archive: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Restore a state export (replaces the current state)."""
    from voirie.server.state import StateImportError, import_state

    settings, factory = _session_factory()
    try:
        with factory() as session:
            counts = import_state(session, archive.read_bytes(), settings.evidence_dir)
    except StateImportError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(f"restored {sum(counts.values())} rows")


def register(app: typer.Typer) -> None:
    """Add the server's commands to the ``voirie`` CLI."""
    app.command("serve")(serve)
    app.add_typer(network_app, name="network")
    app.add_typer(server_app, name="server")
