"""Fork server for the kill -9 test: imports the agent once, then forks one agent per request.

A cold ``voirie edge run`` spends ~1-2 s importing Python modules on a loaded 2-core
machine, so 100 cold starts alone would take minutes. This helper imports everything
once; each line ``run --config FILE ...`` on stdin forks a child that runs the real
command (``voirie.edge.cli.main``: the same typer command, config loading, signal
handlers, threads, outbox and HTTP sync as the console script) in its own process, with
stdout/stderr appended to ``LOG``. The child's pid is written back on stdout; the test
kills it with SIGKILL like any other process. Children are reaped automatically.
"""

from __future__ import annotations

import os
import signal
import sys

import voirie.edge.agent.runner  # noqa: F401 - preloaded so a fork starts at once
import voirie.edge.agent.count  # noqa: F401
import voirie.edge.agent.pipeline  # noqa: F401
import voirie.edge.agent.sync  # noqa: F401
import voirie.edge.count.pipeline  # noqa: F401
import voirie.edge.count.sources  # noqa: F401
from voirie.edge import cli as edge_cli


def _child(args: list[str], log_path: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(0)
    code = 0
    try:
        edge_cli.main(args)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then exit without running the parent's cleanup
        import traceback

        traceback.print_exc()
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    log_path = sys.argv[1]
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        args = line.split()
        if not args:
            continue
        pid = os.fork()
        if pid == 0:
            _child(args, log_path)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
