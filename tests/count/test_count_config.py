from pathlib import Path

import pytest

from voirie.edge.count.config import ConfigError, load_config, parse_config

LINE = {"id": "main", "start": [320, 0], "end": [320, 360], "directions": ["eastbound", "westbound"]}


def base(**overrides):
    data = {"camera_id": "cam-7", "pixels_per_metre": 12.0, "lines": [dict(LINE)]}
    data.update(overrides)
    return data


def test_valid_config_keeps_values():
    config = parse_config(base(bin_seconds=300))
    assert config.bin_seconds == 300
    assert config.lines[0].directions == ("eastbound", "westbound")
    assert config.detector.type == "onnx" and config.detector.model == "count-default"


def test_config_with_only_a_line_uses_the_shipped_detector():
    config = parse_config({"lines": [dict(LINE)]})
    assert config.detector.type == "onnx" and config.detector.model == "count-default"
    named = parse_config({"lines": [dict(LINE)], "detector": {"model": "/opt/m.onnx"}})
    assert named.detector.type == "onnx" and named.detector.model == "/opt/m.onnx"


@pytest.mark.parametrize(
    "data, path_in_message",
    [
        (base(colour="red"), "colour"),  # unknown key refused
        (base(lines=[dict(LINE, end=[320, 0])]), "lines.0"),  # zero-length line
        (base(lines=[dict(LINE, directions=["in", "in"])]), "lines.0"),
        (base(lines=[dict(LINE, hysteresis=-1)]), "lines.0.hysteresis"),
        (base(lines=[dict(LINE), dict(LINE)]), "unique"),
        (base(lines=[]), "lines"),
        (base(bin_seconds=700), "bin_seconds"),
        (base(detect_every=0), "detect_every"),
        (base(pixels_per_metre=None, detector={"type": "background"}), "pixels_per_metre"),
        (base(detector={"type": "onnx", "model": "x.onnx", "confidence": 2}), "detector.confidence"),
        (base(detector={"type": "radar"}), "detector"),
        (base(lines=[dict(LINE, classes=["tractor"])]), "lines.0.classes.0"),
    ],
)
def test_bad_config_names_the_key(data, path_in_message):
    with pytest.raises(ConfigError) as error:
        parse_config(data, "cam.toml")
    assert path_in_message in str(error.value)
    assert "cam.toml" in str(error.value)


def test_load_toml_and_json(tmp_path: Path):
    toml = tmp_path / "cam.toml"
    toml.write_text(
        'camera_id = "pole-3"\npixels_per_metre = 20\n[[lines]]\nid = "a"\nstart = [0, 0]\nend = [0, 100]\n'
    )
    assert load_config(toml).camera_id == "pole-3"
    bad = tmp_path / "cam.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="format"):
        load_config(bad.rename(tmp_path / "cam.ini"))
