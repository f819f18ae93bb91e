"""``voirie edge run``: the edge agent as an unattended service.

    voirie edge run --config /etc/voirie/edge.toml                    # run (systemd)
    voirie edge run --config /etc/voirie/edge.toml --validate-config  # dry run, exit 0/1
    voirie edge run --config replay.toml --until-drained              # replay a file, upload, exit

``python -m voirie.edge.cli run --config FILE`` runs the same command without loading
the other stages' commands (faster start on a small box).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

logger = logging.getLogger(__name__)

_MARK = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}


def _validate(config: Path) -> None:
    from voirie.edge.agent.validate import report_ok, validate

    console = Console()
    _, checks = validate(config)
    for check in checks:
        console.print(f"{_MARK[check.result]} {check.name:<13} {check.detail}", highlight=False, soft_wrap=True)
    ok = report_ok(checks)
    console.print("[green]configuration ok[/]" if ok else "[red]configuration has problems[/]")
    raise typer.Exit(0 if ok else 1)


def _run(config_path: Path, until_drained: bool) -> None:
    from voirie.edge.agent.runner import Agent
    from voirie.edge.agent.config import AgentConfigError, load_agent_config
    from voirie.edge.agent.log import setup_logging

    try:
        config = load_agent_config(config_path)
    except AgentConfigError as error:
        Console(stderr=True, soft_wrap=True).print(f"[red]{error}", highlight=False)
        raise typer.Exit(2) from None
    secrets = setup_logging(config.logging.format, config.logging.level)
    try:
        agent = Agent(config, until_drained=until_drained, secrets=secrets)
        agent.install_signal_handlers()
        code = agent.run()
    except ValueError as error:  # a token file that cannot be read, a corrupt state file
        logger.error("%s", error)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``voirie edge run`` to the command line."""
    edge_app = typer.Typer(help="The edge agent: survey or count unattended, queue and sync records.",
                           no_args_is_help=True)

    @edge_app.command("run")
    def run(
        config: Path = typer.Option(..., "--config", "-c", help="Agent config (TOML), see docs/agent.md."),
        validate_config: bool = typer.Option(False, "--validate-config",
                                             help="Only check the config, models, source and outbox; exit 0/1."),
        until_drained: bool = typer.Option(False, "--until-drained",
                                           help="Exit once a recorded source has ended and the outbox is empty."),
    ) -> None:
        """Run the edge agent (survey or counting) until SIGTERM; records go to the outbox and the server."""
        if validate_config:
            _validate(config)
        _run(config, until_drained)

    app.add_typer(edge_app, name="edge")


def main(argv: list[str] | None = None) -> None:
    """Only the ``edge`` commands (``python -m voirie.edge.cli run ...``)."""
    app = typer.Typer(pretty_exceptions_show_locals=False)
    register(app)
    app(args=["edge", *(argv if argv is not None else __import__("sys").argv[1:])], prog_name="voirie")


if __name__ == "__main__":
    main()
