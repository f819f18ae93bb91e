"""Health of the running agent: the status file, a local HTTP endpoint, the systemd watchdog.

* ``status.json`` in the state folder is rewritten atomically every few seconds: a reader
  (an operator's ``cat``, a monitoring agent, the test) always sees one whole snapshot.
* ``GET /health`` on 127.0.0.1 (optional) returns the same JSON, status 200 when healthy
  and 503 when not. It is the standard library's ``ThreadingHTTPServer``: one read-only
  route does not justify an asyncio loop and a web framework in the device's memory, and
  it binds to loopback only (a reverse proxy or SSH tunnel exposes it if wanted).
* Under systemd with ``WatchdogSec=`` (``Type=notify``), ``READY=1`` is sent once the
  pipeline runs and ``WATCHDOG=1`` with every status write *while the pipeline makes
  progress*: a hung camera or model stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from voirie import __version__
from voirie.edge.agent.state import write_json_atomic

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class AgentStatus:
    """Counters and last events, updated by the pipeline and sync threads, read by the writers."""

    def __init__(self, mode: str, device_id: str, stall_after_s: float, run: int = 0) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.stall_after_s = stall_after_s
        self.last_progress = time.monotonic()
        self.data: dict[str, Any] = {
            "mode": mode, "device_id": device_id, "version": __version__, "pid": os.getpid(), "run": run,
            "state": "starting", "started_utc": _now(), "frames_processed": 0, "records_queued": 0,
            "evidence_queued": 0, "frames_dropped": 0, "last_fix": None, "last_sync": None,
            "last_error": None, "outbox": None, "model": None, "source_ended": False,
        }

    def update(self, **fields: Any) -> None:
        """Set fields (``state``, ``last_fix``, ``outbox``, ...)."""
        with self._lock:
            self.data.update(fields)

    def add(self, **increments: int) -> None:
        """Add to counters; a processed frame also counts as pipeline progress."""
        with self._lock:
            for key, value in increments.items():
                self.data[key] = self.data.get(key, 0) + value
        if "frames_processed" in increments:
            self.last_progress = time.monotonic()

    def progress(self) -> None:
        """The pipeline is alive (also when it processed nothing, e.g. waiting for a fix)."""
        self.last_progress = time.monotonic()

    def error(self, message: str) -> None:
        """Remember the last error (shown in the status file, never a secret)."""
        with self._lock:
            self.data["last_error"] = {"time_utc": _now(), "message": message[:500]}

    def healthy(self) -> bool:
        """Running (or done with a file) and not stalled."""
        state = self.data["state"]
        if state in ("source_ended", "draining", "stopping"):
            return True
        return state == "running" and time.monotonic() - self.last_progress < self.stall_after_s

    def snapshot(self) -> dict[str, Any]:
        """A copy of the status, with uptime, health and the time it was taken."""
        with self._lock:
            out = json.loads(json.dumps(self.data, default=str))
        out["uptime_s"] = round(time.monotonic() - self.started, 1)
        out["healthy"] = self.healthy()
        out["updated_utc"] = _now()
        return out


def sd_notify(message: str) -> bool:
    """Send one message to systemd's notify socket; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as error:
        logger.debug("sd_notify failed: %s", error)
        return False


class StatusWriter:
    """Writes ``status.json`` every ``interval_s`` on a daemon thread (and pings the watchdog)."""

    def __init__(self, status: AgentStatus, path: Path, interval_s: float) -> None:
        self.status, self.path, self.interval_s = status, Path(path), interval_s
        self._stop, self._wake = threading.Event(), threading.Event()
        self._ready_sent = False
        self.refresh: Callable[[], None] | None = None  # called before each write (outbox stats)
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> StatusWriter:
        self.write()
        self._thread.start()
        return self

    def write(self) -> dict[str, Any]:
        """Write one snapshot now; returns it."""
        if self.refresh is not None:
            self.refresh()
        snapshot = self.status.snapshot()
        try:
            write_json_atomic(self.path, snapshot)
        except OSError as error:  # a full disk must not stop the pipeline
            logger.warning("cannot write %s: %s", self.path, error)
        if snapshot["state"] != "starting" and not self._ready_sent:
            self._ready_sent = sd_notify("READY=1")
        if snapshot["healthy"]:
            sd_notify("WATCHDOG=1")
        return snapshot

    def poke(self) -> None:
        """Write now rather than at the next period (the state changed)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.write()

    def stop(self) -> None:
        """Stop the thread and write the final snapshot."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.write()


class _Handler(BaseHTTPRequestHandler):
    status: AgentStatus

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path.split("?")[0] not in ("/health", "/status"):
            self.send_error(404, "GET /health")
            return
        snapshot = self.server.status.snapshot()  # type: ignore[attr-defined]
        body = json.dumps(snapshot).encode()
        self.send_response(200 if snapshot["healthy"] else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: Any) -> None:
        logger.debug("health: " + fmt, *args)


class HealthServer:
    """``GET /health`` on 127.0.0.1:``port`` (port 0: any free port, see ``.port``)."""

    def __init__(self, status: AgentStatus, port: int) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.status = status  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        logger.info("health endpoint on http://127.0.0.1:%d/health", self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
