"""Run the app with uvicorn in a background thread on 127.0.0.1 (tests, demo, bench).

The socket is bound before uvicorn starts (port 0 → a free port chosen by the OS), so
there is no window in which another process can take the port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)


class ServerThread:
    """``with ServerThread(app) as server: server.url`` – a real HTTP server for a while."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name=f"voirie-server-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 20.0) -> ServerThread:
        """Start and wait until uvicorn accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start within {timeout_s} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def served_process(data_dir: Path, admin_key: str, timeout_s: float = 60.0,
                   env: dict[str, str] | None = None, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """``voirie serve`` in its own process, as deployed (benchmarks: the client does not share
    its GIL); yields (url, process) once the API answers, stops it on exit. ``env`` adds
    settings (``DATABASE_URL``, ``VOIRIE_…``); without it the server uses its SQLite file."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "VOIRIE_DATA_DIR": str(data_dir), "VOIRIE_BOOTSTRAP_ADMIN_KEY": admin_key}
    environment.pop("DATABASE_URL", None)
    environment.update(env or {})
    command = [sys.executable, "-m", "voirie.cli", "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, timeout_s)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/api/v1/map-config", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"voirie serve did not answer on {url} within {timeout_s:.0f} s")
