"""An RTSP camera on 127.0.0.1: GStreamer's RTSP server streaming an MJPEG AVI in real time.

Run by the system ``python3`` (PyGObject and gst-rtsp-server are Debian packages, not in the
venv): ``python3 rtsp_camera.py VIDEO.avi``. It serves ``rtsp://127.0.0.1:PORT/cam`` on a
free port and prints ``ready URL`` once it listens, then ``playing`` each time a client
starts the stream (the test starts its GPS feed then, so picture and track share a clock).
The JPEG frames are sent as they are (RTP/JPEG, RFC 2435): no encoder plugin is needed.
Each client gets the file from its first frame, paced by the pipeline clock.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402 - after require_version

MOUNT = "/cam"


def _pipeline(video: Path) -> str:
    # Quotes would not survive gst_parse's tokenizer for every path; the tests use tmp paths.
    if any(c in str(video) for c in ' "!()'):
        raise SystemExit(f"video path must not contain spaces, quotes, '!' or parentheses: {video}")
    return f"( filesrc location={video} ! avidemux ! jpegdec ! jpegenc quality=90 ! rtpjpegpay name=pay0 pt=26 )"


def _factory(video: Path) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_pipeline(video))
    factory.set_shared(False)
    factory.connect("media-configure", lambda _factory, media: media.connect(
        "new-state", lambda _media, state: _announce_playing(state)))
    return factory


def _announce_playing(state: Gst.State) -> None:
    if state == Gst.State.PLAYING:
        print("playing", flush=True)


def serve(video: Path) -> None:
    """Serve ``video`` until SIGTERM/SIGINT."""
    if not video.is_file():
        raise SystemExit(f"video not found: {video}")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")  # the kernel picks a free port; read it back after attach
    server.get_mount_points().add_factory(MOUNT, _factory(video))
    if server.attach(None) == 0:
        raise SystemExit("the RTSP server could not listen on 127.0.0.1")
    loop = GLib.MainLoop()
    for stop in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, stop, loop.quit)
    print(f"ready rtsp://127.0.0.1:{server.get_bound_port()}{MOUNT}", flush=True)
    loop.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="an AVI file of JPEG frames (OpenCV fourcc MJPG)")
    serve(parser.parse_args().video.resolve())
    sys.exit(0)
