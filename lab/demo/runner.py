"""``voirie demo``: the main job end to end on the bundled sample drive.

Each stage contributes one step (a function taking and returning the ``DemoContext``);
steps run in data-flow order and each records what it produced in ``ctx.outputs`` so the
summary can say where the results are.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

# "module:function" in data-flow order. A step whose module does not exist yet is skipped.
DEMO_STEPS = (
    "voirie.lab.demo.survey:survey_step",
    "voirie.lab.demo.server:map_step",
    "voirie.lab.demo.plan:plan_step",
    "voirie.edge.count.demo:count_step",
    "voirie.lab.demo.server:mobility_step",
)


@dataclass
class DemoContext:
    workdir: Path
    console: Console
    keep_serving: bool = False
    outputs: dict[str, str] = field(default_factory=dict)  # label -> path or URL
    state: dict[str, Any] = field(default_factory=dict)  # passed between steps


def _load_step(spec: str) -> Callable[[DemoContext], DemoContext] | None:
    module_name, function_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            return None  # this stage is not built yet
        raise
    return getattr(module, function_name, None)


def run_demo(workdir: Path, keep_serving: bool = False, console: Console | None = None) -> DemoContext:
    console = console or Console()
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(workdir=workdir.resolve(), console=console, keep_serving=keep_serving)
    try:
        for spec in DEMO_STEPS:
            step = _load_step(spec)
            if step is None:
                continue
            started = time.perf_counter()
            console.rule(f"[bold]{spec.split(':')[1].removesuffix('_step')}")
            ctx = step(ctx)
            console.print(f"done in {time.perf_counter() - started:.1f} s")
    except BaseException:
        stop_map_server(ctx)  # a failed step must not leave the server thread behind
        raise
    if not keep_serving:
        stop_map_server(ctx)
    _print_summary(ctx)
    if keep_serving and "map_server" in ctx.state:
        serve_until_interrupted(ctx)
    return ctx


def stop_map_server(ctx: DemoContext) -> None:
    """Stop the map server the map step left running for the later steps (if any)."""
    server = ctx.state.pop("map_server", None)
    if server is None:
        return
    server.stop()
    for page in ("road-condition map", "mobility dashboard"):
        if page in ctx.outputs:
            ctx.outputs[page] += " (stopped; run with --keep-serving)"


def serve_until_interrupted(ctx: DemoContext, stop: threading.Event | None = None) -> None:
    """Keep the demo's map server (``ctx.state["map_server"]``) up until Ctrl-C or ``stop``
    is set, then stop it cleanly (its database and files stay in the workdir)."""
    server = ctx.state["map_server"]
    stop = stop or threading.Event()
    ctx.console.print(f"[bold green]map served at {server.url}/[/] (Ctrl-C to stop)")
    try:
        # A timed wait, not a bare wait(): the main thread must wake up to receive Ctrl-C.
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        ctx.console.print("stopping the map server")
    finally:
        server.stop()
        ctx.state.pop("map_server", None)


def _print_summary(ctx: DemoContext) -> None:
    table = Table(title="voirie demo: results")
    table.add_column("what")
    table.add_column("where", overflow="fold")  # paths must stay readable, never cut with "…"
    for label, location in ctx.outputs.items():
        table.add_row(label, location)
    ctx.console.print(table)
