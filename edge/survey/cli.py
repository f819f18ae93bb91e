"""``voirie survey``: photograph the road every 4 m, anonymized and geotagged.

    voirie survey --video drive.mp4 --track drive.nmea [--out DIR] [--model default|none|PATH]
    voirie survey --camera 0 --gpsd [--gpsd-host H --gpsd-port P]
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.console import Console

from voirie.edge.survey.detector import load_damage_detector
from voirie.edge.survey.report import print_summary, warn_on

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add ``voirie survey`` to the command line."""

    @app.command()
    def survey(
        video: Path | None = typer.Option(None, help="Recorded drive video (replay)."),
        track: Path | None = typer.Option(None, help="Its GNSS track, NMEA 0183 or GPX."),
        video_start: datetime | None = typer.Option(None, help="UTC time of the video's first frame (default: first fix)."),
        camera: str | None = typer.Option(None, help="Live camera: V4L2 index (0) or RTSP URL."),
        gpsd: bool = typer.Option(False, "--gpsd", help="Live GNSS from gpsd."),
        gpsd_host: str = typer.Option("127.0.0.1", help="gpsd host."),
        gpsd_port: int = typer.Option(2947, help="gpsd port."),
        out: Path | None = typer.Option(None, help="Output folder (default data/surveys/<survey id>)."),
        model: str = typer.Option("default", help="Damage model: default, none, a registered name or a .onnx path."),
        spacing: float = typer.Option(4.0, min=0.5, max=100.0, help="Metres between photos."),
        device_id: str = typer.Option("edge-01", help="This device's id (goes into every record)."),
        duration: float | None = typer.Option(None, help="Live only: stop after this many seconds."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
        anonymize_timeout: float = typer.Option(5.0, min=0.1, max=60.0,
                                                help="Seconds allowed to anonymize one frame; slower frames are dropped."),
        calibration: Path | None = typer.Option(None, help="Camera calibration (voirie calibrate): damage sizes "
                                                "in metres, and the horizon the anonymizer's bands follow."),
    ) -> None:
        """Take an anonymized, geotagged photo every 4 m (replay a drive or run live)."""
        replay = video is not None or track is not None
        if replay == (camera is not None or gpsd) or (replay and (video is None or track is None)):
            raise typer.BadParameter("give either --video FILE --track FILE, or --camera SOURCE --gpsd")
        if not replay and (camera is None or not gpsd):
            raise typer.BadParameter("a live survey needs both --camera SOURCE and --gpsd")
        if video_start is not None and video_start.tzinfo is None:
            video_start = video_start.replace(tzinfo=timezone.utc)  # times without a zone are UTC
        console = Console()
        try:
            result = _run(dict(locals()))
        except ValueError as error:  # bad input (video, track, camera, model): one clear line
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from error
        print_summary(result, console)


def _run(options: dict):
    """Load the models and run the survey the options ask for."""
    from voirie.anonymize import Anonymizer
    from voirie.edge.survey.calibration import SurveyCalibration, anonymizer_options
    from voirie.edge.survey.engine import survey_live, survey_video
    from voirie.edge.survey.pipeline import SurveyConfig, default_survey_id

    o = options
    calibration = SurveyCalibration.load(o["calibration"]) if o["calibration"] else None
    config = SurveyConfig(device_id=o["device_id"], spacing_m=o["spacing"], calibration=calibration)
    detector = load_damage_detector(o["model"], warn_on(o["console"]))
    anonymizer = Anonymizer.default(anonymizer_options(calibration, o["anonymize_timeout"]))
    if o["replay"]:
        folder = o["out"] or Path("data/surveys") / o["video"].stem
        return survey_video(o["video"], o["track"], folder, anonymizer, detector, config,
                            video_start_utc=o["video_start"], progress=o["progress"])
    folder = o["out"] or Path("data/surveys") / default_survey_id(datetime.now().astimezone())
    return survey_live(o["camera"], folder, anonymizer, detector, config, gpsd_host=o["gpsd_host"],
                       gpsd_port=o["gpsd_port"], duration_s=o["duration"])
