"""``voirie calibrate``: intrinsics from board images, mounting, and a dry-run validator."""

from __future__ import annotations

import json
import logging
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voirie.calibration.config import (
    CalibrationError,
    CameraCalibration,
    IntrinsicsConfig,
    PoleMountConfig,
    UsableRegionConfig,
    VehicleMountConfig,
)
from voirie.calibration.inputs import lens_from, pole_mount_from_csv
from voirie.config import error_report

logger = logging.getLogger(__name__)
console = Console()  # summary on stdout, JSON printed after it as the last line
progress_console = Console(stderr=True)  # live progress never mixes into stdout
calibrate_app = typer.Typer(help="Camera calibration: intrinsics, mounting, validation.", no_args_is_help=False)


def register(app: typer.Typer) -> None:
    """Add ``voirie calibrate`` to the main command line."""
    app.add_typer(calibrate_app, name="calibrate")


def _fail(error: Exception, code: int = 2) -> typer.Exit:
    progress_console.print(f"[bold red]error:[/] {error}", highlight=False)
    return typer.Exit(code)


@calibrate_app.callback(invoke_without_command=True)
def _calibrate(
    ctx: typer.Context,
    validate: Path | None = typer.Option(None, "--validate", help="Check a calibration file and exit (dry run)."),
) -> None:
    """Camera calibration. ``--validate FILE`` checks a calibration file and changes nothing."""
    if validate is not None:
        raise typer.Exit(validate_file(validate))
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def validate_file(path: Path) -> int:
    """Print every problem of a calibration file (key path and value); 0 when valid, 1 if not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        typer.echo(f"{path}: file not found")
        return 1
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        typer.echo(f"{path}: not readable JSON: {error}")
        return 1
    try:
        calibration = CameraCalibration.model_validate(data)
    except ValidationError as error:
        typer.echo(error_report(error, str(path), "INVALID calibration"))
        return 1
    typer.echo(f"{path}: OK {calibration.calibration_id} ({calibration.mount.mode} mode, "
               f"{calibration.device_id}/{calibration.camera_id})")
    return 0


@calibrate_app.command("intrinsics")
def intrinsics_command(
    images: Path | None = typer.Option(None, help="Folder of board images."),
    video: Path | None = typer.Option(None, help="Or a short video of the board."),
    every: int = typer.Option(15, min=1, help="With --video: use every N-th frame."),
    board: str = typer.Option("8x5", help="Checkerboard: INNER corners (OpenCV); ChArUco: squares. Columns x rows."),
    square_mm: float = typer.Option(25.0, help="Side of one board square, millimetres."),
    charuco: bool = typer.Option(False, "--charuco", help="The board is a ChArUco board."),
    marker_mm: float = typer.Option(18.0, help="ChArUco: side of one marker, millimetres."),
    dictionary: str = typer.Option("DICT_5X5_100", help="ChArUco: ArUco dictionary name."),
    min_views: int = typer.Option(4, min=2, help="Refuse with fewer views than this."),
    max_rms_px: float = typer.Option(1.0, help="Refuse above this reprojection RMS, pixels."),
    min_coverage: float = typer.Option(0.35, min=0, max=1, help="Refuse below this image coverage (0..1)."),
    out: Path | None = typer.Option(None, help="Write the intrinsics JSON here (input of `mount`)."),
    plot: Path | None = typer.Option(None, help="Write a picture of the board views' coverage here."),
) -> None:
    """Calibrate the lens from board views; the last line printed is one JSON object."""
    from voirie.calibration.intrinsics import IntrinsicsOptions, calibrate_intrinsics, iter_image_dir, iter_video
    from voirie.calibration.intrinsics import parse_board
    from voirie.calibration.targets import CharucoTarget, CheckerboardTarget

    if (images is None) == (video is None):
        raise _fail(CalibrationError("give exactly one of --images DIR or --video FILE"))
    options = IntrinsicsOptions(min_views=min_views, max_rms_px=max_rms_px, min_coverage=min_coverage)
    try:
        columns, rows = parse_board(board)
        target = (CharucoTarget(columns, rows, square_mm, marker_mm, dictionary) if charuco
                  else CheckerboardTarget(columns, rows, square_mm))
        frames = iter_image_dir(images) if images is not None else iter_video(video, every)
        with Progress(console=progress_console, transient=True) as progress:
            task = progress.add_task("finding the board", total=None)
            result = calibrate_intrinsics(frames, target, options, lambda _: progress.advance(task))
    except CalibrationError as error:
        raise _fail(error) from error
    _print_intrinsics(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result.intrinsics.model_dump_json(indent=2) + "\n", encoding="utf-8")
        console.print(f"intrinsics written to {out}")
    if plot is not None:
        _write_coverage_plot(result, plot)
    typer.echo(json.dumps(result.summary_json()))


def _write_coverage_plot(result: Any, path: Path) -> None:
    import cv2

    from voirie.calibration.preview import draw_coverage

    size = (result.intrinsics.image_width_px, result.intrinsics.image_height_px)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), draw_coverage(size, result.corners_px, result.view_rms_px))
    console.print(f"coverage picture written to {path}")


def _print_intrinsics(result: Any) -> None:
    i = result.intrinsics
    table = Table(title=f"intrinsics ({i.image_width_px}x{i.image_height_px})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in (("fx", i.fx_px), ("fy", i.fy_px), ("cx", i.cx_px), ("cy", i.cy_px), ("RMS px", i.rms_px)):
        table.add_row(name, f"{value:.3f}")
    table.add_row("distortion", " ".join(f"{v:+.4f}" for v in i.dist))
    table.add_row("views used", str(i.views_used))
    table.add_row("image coverage", f"{result.coverage:.0%}")
    console.print(table)
    for name, reason in result.skipped.items():
        console.print(f"  skipped {name}: {reason}", highlight=False)


@calibrate_app.command("mount")
def mount_command(
    intrinsics: Path | None = typer.Option(None, help="Intrinsics JSON (from `intrinsics --out`) or a calibration file."),
    nominal: str | None = typer.Option(None, help="No board calibration: WIDTHxHEIGHT@HFOV_DEG from the datasheet."),
    device_id: str = typer.Option(..., help="Device this camera is on."),
    camera_id: str = typer.Option(..., help="Camera name on the device, e.g. front."),
    out: Path = typer.Option(..., help="Calibration file to write."),
    mode: str = typer.Option("vehicle", help="vehicle (height + angles) or pole (surveyed points)."),
    height_m: float | None = typer.Option(None, help="vehicle: lens height above the road, metres."),
    pitch_deg: float | None = typer.Option(None, help="vehicle: downward tilt, degrees (or use --lane-images)."),
    roll_deg: float = typer.Option(0.0, help="vehicle: roll, degrees, clockwise > 0."),
    yaw_deg: float | None = typer.Option(None, help="vehicle: yaw vs the car's axis, degrees, right > 0."),
    lane_images: Path | None = typer.Option(None, help="vehicle: estimate pitch/yaw from lane markings in these images."),
    points: Path | None = typer.Option(None, help="pole: CSV u_px,v_px,x_m,y_m with >= 4 rows."),
    origin: str | None = typer.Option(None, help="pole: LAT,LON of x=y=0 when x/y are east/north metres."),
    max_range_m: float = typer.Option(30.0, help="Ignore road farther than this, metres."),
    bonnet_top_row_px: int | None = typer.Option(None, help="First image row showing the bonnet."),
) -> None:
    """Write a calibration file from intrinsics and the camera's mounting."""
    try:
        lens = lens_from(intrinsics, nominal)
        if mode == "vehicle":
            mount: dict[str, Any] = _vehicle_mount(lens, height_m, pitch_deg, roll_deg, yaw_deg, lane_images)
        elif mode == "pole":
            mount = pole_mount_from_csv(points, origin)
        else:
            raise CalibrationError(f"--mode must be vehicle or pole, got {mode!r}")
        region = UsableRegionConfig(max_range_m=max_range_m, bonnet_top_row_px=bonnet_top_row_px)
        calibration = CameraCalibration.from_dict({
            "device_id": device_id,
            "camera_id": camera_id,
            "created_utc": datetime.now(timezone.utc).isoformat(),
            "intrinsics": lens.model_dump(),
            "mount": mount,
            "region": region.model_dump(),
        }, source="calibration")
    except (CalibrationError, ValidationError) as error:
        raise _fail(error) from error
    calibration.save(out)
    _print_mount(calibration)
    typer.echo(json.dumps({"calibration_id": calibration.calibration_id, "path": str(out)}))


def _vehicle_mount(
    lens: IntrinsicsConfig,
    height_m: float | None,
    pitch_deg: float | None,
    roll_deg: float,
    yaw_deg: float | None,
    lane_images: Path | None,
) -> dict[str, Any]:
    if height_m is None:
        raise CalibrationError("vehicle mode needs --height-m (lens height above the road)")
    source = "measured"
    if pitch_deg is None:
        if lane_images is None:
            raise CalibrationError("vehicle mode needs --pitch-deg or --lane-images to estimate it")
        pitch_deg, estimated_yaw = _angles_from_lanes(lens, lane_images, roll_deg)
        yaw_deg = estimated_yaw if yaw_deg is None else yaw_deg
        source = "vanishing_point"
    mount = VehicleMountConfig(
        height_m=height_m, pitch_deg=pitch_deg, roll_deg=roll_deg, yaw_deg=yaw_deg or 0.0, pitch_source=source
    )
    return mount.model_dump()


def _angles_from_lanes(lens: IntrinsicsConfig, folder: Path, roll_deg: float) -> tuple[float, float]:
    """Median pitch and yaw over the images whose lane markings give a vanishing point."""
    from voirie.calibration.horizon import road_vanishing_point
    from voirie.calibration.intrinsics import iter_image_dir
    from voirie.calibration.mounting import angles_from_vanishing_point

    pitches, yaws = [], []
    for name, image in iter_image_dir(folder):
        if (image.shape[1], image.shape[0]) != (lens.image_width_px, lens.image_height_px):
            logger.warning("skipping %s: size differs from the intrinsics'", name)
            continue
        found = road_vanishing_point(image, lens.camera_matrix(), lens.dist_coeffs())
        if found is None:
            logger.warning("skipping %s: no vanishing point of lane markings found", name)
            continue
        pitch, yaw = angles_from_vanishing_point(lens, tuple(found[0]), roll_deg)
        pitches.append(pitch)
        yaws.append(yaw)
    if not pitches:
        raise CalibrationError(f"no image in {folder} showed lane markings clear enough to find a vanishing point")
    spread = statistics.pstdev(pitches) if len(pitches) > 1 else float("nan")
    console.print(f"pitch from {len(pitches)} lane images: {statistics.median(pitches):.2f} deg (spread {spread:.2f})")
    return statistics.median(pitches), statistics.median(yaws)


def _print_mount(calibration: CameraCalibration) -> None:
    from voirie.calibration.geometry import angles_from_rotation
    from voirie.calibration.horizon import expected_horizon

    plane = calibration.ground_plane()
    pitch, roll, yaw = angles_from_rotation(plane.rotation)
    table = Table(title=f"{calibration.device_id}/{calibration.camera_id}: {calibration.calibration_id}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("mode", calibration.mount.mode)
    table.add_row("height m", f"{plane.height_m:.3f}")
    table.add_row("pitch / roll / yaw deg", f"{pitch:.2f} / {roll:.2f} / {yaw:.2f}")
    table.add_row("horizon row px (centre)", f"{expected_horizon(plane).row_at_centre_px:.1f}")
    if isinstance(calibration.mount, PoleMountConfig):
        from voirie.calibration.mounting import solve_pole_pose

        fit = solve_pole_pose(calibration.intrinsics, calibration.mount)
        table.add_row("point fit", f"{fit.rms_px:.2f} px RMS, {fit.ground_rms_m:.3f} m on the ground")
    if calibration.mount.mode == "vehicle":
        far = plane.ground_to_pixel(np.array([[0.0, 15.0]]))
        table.add_row("uncertainty 15 m ahead", f"{float(plane.uncertainty_m(far)[0]):.3f} m (1 sigma)")
    console.print(table)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationError(f"not a readable image: {path}")
    return image


@calibrate_app.command("check")
def check_command(
    calibration: Path = typer.Option(..., help="Calibration file."),
    image: Path = typer.Option(..., help="A frame from this camera showing straight road lines."),
    tolerance_deg: float = typer.Option(1.5, help="Largest accepted horizon error, degrees."),
) -> None:
    """Horizon/tilt check of a frame against the calibration (exit 1 when off, 3 when undecided)."""
    from voirie.calibration.horizon import check_horizon

    try:
        plane = CameraCalibration.load(calibration).ground_plane()
        result = check_horizon(plane, _read_image(image), tolerance_deg)
    except (CalibrationError, ValueError) as error:
        raise _fail(error) from error
    console.print(f"{image.name}: {result.reason} ({result.segments_used} line segments)", highlight=False)
    typer.echo(json.dumps({"ok": result.ok, "error_deg": result.error_deg,
                           "expected_horizon_row_px": result.expected.row_at_centre_px}))
    raise typer.Exit(0 if result.ok else (3 if result.ok is None else 1))


@calibrate_app.command("preview")
def preview_command(
    calibration: Path = typer.Option(..., help="Calibration file."),
    image: Path = typer.Option(..., help="A frame from this camera."),
    out: Path = typer.Option(Path("calibration-preview.png"), help="Picture to write."),
    step_m: float = typer.Option(1.0, min=0.1, help="Grid spacing on the road, metres."),
) -> None:
    """Draw the metre grid, the horizon and the usable region over a frame, to check by eye."""
    import cv2

    from voirie.calibration.preview import draw_calibration_overlay

    try:
        plane = CameraCalibration.load(calibration).ground_plane()
        picture = draw_calibration_overlay(plane, _read_image(image), step_m)
    except (CalibrationError, ValueError) as error:
        raise _fail(error) from error
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), picture)
    typer.echo(str(out))


@calibrate_app.command("synth")
def synth_command(
    out: Path = typer.Option(Path("calibration-synth"), help="Folder to write the renders to."),
    views: int = typer.Option(9, min=1, help="Board views to render."),
) -> None:
    """Render board views and a road frame through a known camera, to try the commands."""
    import cv2

    from voirie.calibration.geometry import GroundPlane, camera_rotation
    from voirie.lab.synth.calibration import board_poses, render_board_view, render_road_view

    K = np.array([[520.0, 0, 322.0], [0, 515.0, 238.0], [0, 0, 1]])
    dist = np.array([-0.15, 0.05, 0.001, -0.0005, 0.0])
    rng = np.random.default_rng(3)
    (out / "boards").mkdir(parents=True, exist_ok=True)
    (out / "road").mkdir(parents=True, exist_ok=True)
    for i, (rvec, tvec) in enumerate(board_poses(K, (640, 480), (8, 5), 0.025, views, rng)):
        image = render_board_view(K, dist, rvec, tvec, (8, 5), 0.025, (640, 480), rng=rng)
        cv2.imwrite(str(out / "boards" / f"view{i:02d}.png"), image)
    plane = GroundPlane(K, dist, camera_rotation(8.0, 0.0, 1.0), np.array([0.0, 0.0, 1.4]), (640, 480))
    cv2.imwrite(str(out / "road" / "road.png"), render_road_view(plane))
    console.print(f"true camera: fx 520 fy 515 cx 322 cy 238, dist {dist.tolist()}; "
                  "mount 1.4 m, pitch 8 deg, yaw 1 deg; board 8x5, 25 mm")
    typer.echo(str(out))
