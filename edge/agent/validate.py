"""``voirie edge run --config FILE --validate-config``: a dry run of everything the agent needs.

Each check is one line of the report: the file itself, the device token, the damage
model (its sha256 against the registry manifest), the anonymizer models (loaded in ONNX
Runtime, as the run would), the camera or video source, the GNSS source, the outbox
folder. ``fail`` makes the exit status 1; ``warn`` (e.g. the server is unreachable right
now: normal for a car in a garage) does not. Nothing is written but a probe file, removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from voirie.edge.agent.config import AgentConfig, AgentConfigError, load_agent_config
from voirie.edge.count.detectors import verify_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    result: Literal["ok", "warn", "fail", "skip"]
    detail: str


def _run(name: str, probe: Callable[[], str]) -> Check:
    try:
        detail = probe()
    except _Warn as warning:
        return Check(name, "warn", str(warning))
    except Exception as error:  # noqa: BLE001 - every failure becomes one report line
        return Check(name, "fail", str(error) or type(error).__name__)
    return Check(name, "ok", detail)


class _Warn(Exception):
    """A problem that does not stop the agent from running."""


def check_token(config: AgentConfig) -> str:
    """The device token can be read (its value is never shown)."""
    if config.server is None:
        raise _Warn("no [server]: offline, records wait in the outbox")
    token = config.server.read_token().get_secret_value()
    return f"readable ({len(token)} characters) for {config.server.url}"


def check_damage_model(config: AgentConfig) -> str:
    """The configured damage model exists and its bytes match its manifest's sha256."""
    from voirie.models import registry

    name = config.survey.model
    if name.lower() == "none":
        raise _Warn("model = none: photos are kept but not analysed")
    path = Path(name)
    if path.suffix == ".onnx":
        found = registry.manifest_beside(path) if path.is_file() else None
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found")
        if found is None:
            raise _Warn(f"{path}: no manifest beside it, checksum not verified")
        manifest, folder = found
    else:
        manifest, folder = registry.find_model(name)
    verified = registry.verify_file(manifest, folder)
    return f"{manifest.name} {manifest.version}: {verified.name} sha256 ok"


def check_anonymizer(config: AgentConfig) -> str:
    """The anonymizer's ONNX models load (a survey without them would drop every frame)."""
    from voirie.anonymize import Anonymizer
    from voirie.edge.survey.calibration import anonymizer_options, load_optional

    s = config.survey
    anonymizer = Anonymizer.default(anonymizer_options(load_optional(s.calibration), s.anonymize_timeout_s))
    return f"{anonymizer.name} loaded"


def check_calibration(config: AgentConfig) -> str:
    """The camera calibration loads (sizes in metres, horizon); without one, pixel sizes only."""
    from voirie.edge.survey.calibration import SurveyCalibration

    path = config.survey.calibration
    if path is None:
        raise _Warn("none configured: damage sizes in pixels only, anonymizer horizon estimated from the frames (whole frame until sure)")
    calibration = SurveyCalibration.load(path)
    return (f"{calibration.calibration_id}: {calibration.width}x{calibration.height}, "
            f"horizon at {calibration.horizon:.0%} of the height")


def check_video(target: str, live: bool) -> str:
    """The camera, stream or video file opens and gives a frame."""
    import cv2

    if not live and not Path(target).is_file():
        raise FileNotFoundError(f"video file {target} not found")
    capture = cv2.VideoCapture(int(target) if target.isdigit() else target)
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
        if not ok or frame is None:
            raise OSError(f"cannot read a frame from {target!r}")
        return f"{target}: {frame.shape[1]}x{frame.shape[0]}, {capture.get(cv2.CAP_PROP_FPS):.1f} f/s"
    finally:
        capture.release()


def check_gnss(config: AgentConfig) -> str:
    """The track file has fixes, or gpsd answers on its port with its VERSION banner."""
    s = config.survey
    if s.track is not None:
        from voirie.capture.gnss import read_track

        fixes = sum(1 for _ in read_track(s.track))
        if not fixes:
            raise ValueError(f"track {s.track} has no usable fix")
        return f"{s.track}: {fixes} fixes"
    host, port = s.gpsd.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3) as sock:
            sock.settimeout(3)
            banner = json.loads(sock.makefile("r").readline() or "{}")
    except OSError as error:
        raise OSError(f"gpsd at {s.gpsd}: {error.strerror or error}") from None
    if banner.get("class") != "VERSION":
        raise ValueError(f"{s.gpsd} answered, but not as gpsd: {str(banner)[:80]}")
    return f"gpsd {banner.get('release', '?')} at {s.gpsd}"


def check_counting(config: AgentConfig) -> str:
    """The counting config validates (and an ONNX counting model exists)."""
    count_config = config.counting.count_config(config.device_id)
    detector = count_config.detector
    if detector.type == "onnx":
        verify_model(detector)  # a file, or a registered name such as the shipped count-default
    return f"{len(count_config.lines)} line(s), detector {detector.type}, bins of {count_config.bin_seconds} s"


def check_outbox(config: AgentConfig) -> str:
    """The state folder is writable, and the disk has room for the outbox budget."""
    folder = config.state_dir
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        raise PermissionError(f"{existing} is not writable by this user (state_dir {folder})")
    if folder.exists():
        probe = folder / ".voirie-validate-probe"
        probe.write_bytes(b"ok")
        probe.unlink()
    free = shutil.disk_usage(existing).free
    budget = config.outbox.disk_budget_mb * 1024 * 1024
    queued = config.outbox_path.stat().st_size if config.outbox_path.exists() else 0
    detail = f"{config.outbox_path} ({queued / 1e6:.1f} MB now, budget {budget / 1e6:.0f} MB, {free / 1e9:.1f} GB free)"
    if free + queued < budget:
        raise _Warn(detail + ": less free disk than the budget")
    return detail


def validate(path: Path) -> tuple[AgentConfig | None, list[Check]]:
    """Every check the agent's start would need; the config is None when the file is invalid."""
    try:
        config = load_agent_config(path)
    except AgentConfigError as error:
        return None, [Check("config", "fail", str(error))]
    checks = [Check("config", "ok", f"{path}: mode {config.mode}, device {config.device_id}"),
              _run("token", lambda: check_token(config)), _run("outbox", lambda: check_outbox(config))]
    if config.mode == "survey":
        s = config.survey
        checks += [_run("damage model", lambda: check_damage_model(config)),
                   _run("anonymizer", lambda: check_anonymizer(config)),
                   _run("calibration", lambda: check_calibration(config)),
                   _run("camera" if s.live else "video", lambda: check_video(s.camera or str(s.video), s.live)),
                   _run("gnss", lambda: check_gnss(config))]
    else:
        c = config.counting
        checks += [_run("counting", lambda: check_counting(config)),
                   _run("camera" if c.live else "video", lambda: check_video(c.source, c.live))]
    return config, checks


def report_ok(checks: list[Check]) -> bool:
    """True when no check failed (warnings allowed)."""
    return all(check.result != "fail" for check in checks)
