"""`voirie count` entry points, run through the real command line app."""

import json

from typer.testing import CliRunner

from voirie.cli import app
from voirie.edge.count.sources import read_bins
from voirie.edge.count.synth import scene_config

runner = CliRunner()


def write_toml(path, scene, **extra):
    config = scene_config(scene, **extra)
    line = config["lines"][0]
    text = (f'camera_id = "{config["camera_id"]}"\npixels_per_metre = {config["pixels_per_metre"]}\n'
            '[detector]\ntype = "background"\n'
            f'[[lines]]\nid = "{line["id"]}"\nstart = {line["start"]}\nend = {line["end"]}\n'
            f'directions = {json.dumps(line["directions"])}\nhysteresis = {line["hysteresis"]}\n'
            f'min_travel = {line["min_travel"]}\n')
    path.write_text(text)
    return path


def test_validate_config_ok_and_bad(tmp_path, small_clip):
    good = write_toml(tmp_path / "cam.toml", small_clip[0])
    result = runner.invoke(app, ["count", "--validate-config", str(good)])
    assert result.exit_code == 0 and "ok (1 lines" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('pixels_per_metre = 10\nspeed = 3\n[[lines]]\nid = "a"\nstart = [0, 0]\nend = [0, 0]\n')
    result = runner.invoke(app, ["count", "--validate-config", str(bad)])
    assert result.exit_code == 2
    assert "speed" in result.output and "lines.0" in result.output


def test_eval_prints_per_class_error_then_json(tmp_path, small_clip):
    scene, video, truth = small_clip
    config = write_toml(tmp_path / "cam.toml", scene)
    result = runner.invoke(app, ["count", "eval", "--video", str(video), "--truth", str(truth), "--config", str(config)])
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert set(last) == {"per_class_error", "fps"} and last["fps"] > 0
    assert set(last["per_class_error"]) == {name for name, _ in scene.truth()}
    assert all(error == 0 for error in last["per_class_error"].values())


def test_eval_rejects_a_bad_truth_file(tmp_path, small_clip):
    scene, video, _ = small_clip
    config = write_toml(tmp_path / "cam.toml", scene)
    truth = tmp_path / "truth.csv"
    truth.write_text("class,direction,count\ntractor,in,3\n")
    result = runner.invoke(app, ["count", "eval", "--video", str(video), "--truth", str(truth), "--config", str(config)])
    assert result.exit_code == 2 and "tractor" in result.output


def test_count_a_file_writes_bins(tmp_path, small_clip):
    scene, video, _ = small_clip
    config = write_toml(tmp_path / "cam.toml", scene, detect_every=1)
    result = runner.invoke(app, ["count", "--source", str(video), "--config", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    bins = [b for path in (tmp_path / "o").glob("*.jsonl") for b in read_bins(path)]
    assert sum(b.count for b in bins) == sum(scene.truth().values())
    missing = runner.invoke(app, ["count", "--source", str(tmp_path / "nope.avi"), "--config", str(config)])
    assert missing.exit_code == 0 and "0 CountBins" in missing.output
