"""The ``voirie`` command line: one typer app, each stage adds its own commands.

Every stage folder has a ``cli.py`` with ``register(app)``. A stage whose optional
dependencies are missing (the server's on a bare edge box, say) is left out with a
warning instead of breaking the commands that can run.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import typer

from voirie import __version__

logger = logging.getLogger(__name__)

# Each module has ``register(app)``; order is the data flow. A module that does not exist
# yet is skipped, so stages can land one at a time.
STAGE_CLI_MODULES = (
    "voirie.capture.cli",
    "voirie.anonymize.cli",
    "voirie.models.cli",
    "voirie.edge.survey.cli",
    "voirie.edge.count.cli",
    "voirie.edge.cli",
    "voirie.server.cli",
    "voirie.server.planning.cli",
    "voirie.calibration.cli",
    "voirie.reanalyse.cli",
)

app = typer.Typer(
    name="voirie",
    help="Open edge computer vision for roads: surveys, anonymization, damage, maps, plans, counts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the voirie version."""
    typer.echo(__version__)


@app.command()
def demo(
    workdir: Path = typer.Option(Path("data/demo"), help="Where the demo writes its results."),
    keep_serving: bool = typer.Option(False, help="Keep the map server running after the demo."),
) -> None:
    """Run the main job end to end on the bundled sample drive and print where the results are."""
    from voirie.lab.demo.runner import run_demo

    run_demo(workdir, keep_serving=keep_serving)


def _register_stages() -> None:
    for module_name in STAGE_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                continue  # this stage has no commands yet
            logger.warning("commands of %s unavailable: %s", module_name, error)
            continue
        module.register(app)


_register_stages()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
