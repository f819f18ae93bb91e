"""A small TCP proxy that misbehaves on purpose, one fault per connection.

Modes (chosen per accepted connection by ``plan(index)``):

* ``pass``: forward both ways;
* ``slow``: forward in 512-byte pieces with a pause (a weak mobile link);
* ``reset``: read a little of the request, then reset the connection (RST);
* ``drop``: read the request and close without answering;
* ``stall``: read the request and answer nothing until the client gives up;
* ``cut``: forward the request, let the server answer (it has committed), then reset the
  client before it sees the answer: the nastiest case for exactly-once;
* ``http500`` / ``http429`` / ``http503``: answer that status (429/503 with ``Retry-After``);
* ``portal``: answer 200 with an HTML page, as a hotel or station captive portal does.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable

MODES = ("pass", "slow", "reset", "drop", "stall", "cut", "http500", "http429", "http503", "portal")
_ANSWERS = {
    "http500": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!",
    "http429": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "http503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "portal": b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
              b"<html>captive portal</html>\n",
}


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a clean FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def _read_request(sock: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return data


class FaultProxy:
    """``with FaultProxy(upstream_port, plan) as proxy: proxy.url`` on 127.0.0.1."""

    def __init__(self, upstream_port: int, plan: Callable[[int], str], *, stall_s: float = 3.0) -> None:
        self.upstream_port, self.plan, self.stall_s = upstream_port, plan, stall_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults: Counter[str] = Counter()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.listener.close()
        self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        index = 0
        while not self._closing.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            mode = self.plan(index)
            index += 1
            self.faults[mode] += 1
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        try:
            if mode in ("pass", "slow", "cut"):
                self._forward(client, mode)
            elif mode == "reset":
                client.recv(100)
                _reset(client)
            elif mode in _ANSWERS:
                _read_request(client)
                client.sendall(_ANSWERS[mode])
                client.close()
            else:  # drop / stall
                _read_request(client)
                if mode == "stall":
                    self._closing.wait(self.stall_s)
                client.close()
        except OSError:
            client.close()

    def _forward(self, client: socket.socket, mode: str) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        pause = 0.002 if mode == "slow" else 0.0
        threading.Thread(target=_pipe, args=(client, upstream, pause, False), daemon=True).start()
        _pipe(upstream, client, pause, mode == "cut")


def _pipe(source: socket.socket, sink: socket.socket, pause: float, cut: bool) -> None:
    """Copy bytes until either side closes; ``cut`` resets ``sink`` at the first answer byte."""
    size = 512 if pause else 65536
    try:
        while chunk := source.recv(size):
            if cut:
                time.sleep(0.05)  # let the server finish its answer (it has committed by now)
                _reset(sink)
                source.close()
                return
            sink.sendall(chunk)
            if pause:
                time.sleep(pause)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
