"""Agent config: the shipped examples validate; bad files are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from voirie.edge.agent.config import AgentConfigError, load_agent_config, parse_agent_config

EXAMPLES = Path(__file__).resolve().parents[2] / "edge" / "examples"


@pytest.mark.parametrize("name", ["survey.toml", "counting.toml"])
def test_shipped_examples_validate(name: str) -> None:
    config = load_agent_config(EXAMPLES / name)
    assert config.mode == name.removesuffix(".toml")
    assert config.server is not None and config.server.token_file == Path("/etc/voirie/token")
    if config.counting is not None:
        counter = config.counting.count_config(config.device_id)
        assert counter.device_id == config.device_id and counter.lines[0].id == "main"


def _base(**overrides: object) -> dict:
    data = {"mode": "survey", "device_id": "car-1", "state_dir": "/tmp/voirie-state",
            "survey": {"camera": "0", "gpsd": "127.0.0.1:2947"}}
    data.update(overrides)
    return data


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"mode": "counting"}, "mode is 'counting' but the [counting] section is missing"),
    ({"survey": {"camera": "0", "track": "a.nmea"}}, "survey: give either camera + gpsd"),
    ({"survey": {"camera": "0", "gpsd": "nohostport"}}, "survey.gpsd: String should match"),
    ({"survey": {"video": "a.mp4", "track": "a.nmea", "spacing_m": 0.1}}, "survey.spacing_m:"),
    ({"server": {"url": "ftp://x"}}, "server.url: String should match pattern"),
    ({"server": {"url": "http://x", "heartbeat_s": 1}}, "server.heartbeat_s: Input should be greater"),
    ({"server": {"url": "http://x", "tokn": "abc"}}, "server.tokn: Extra inputs are not permitted"),
    ({"health": {"http_port": 70000}}, "health.http_port:"),
    ({"logging": {"format": "xml"}}, "logging.format:"),
    ({"device_id": "has space"}, "device_id: String should match"),
    ({"unknown": 1}, "unknown: Extra inputs are not permitted"),
    ({"mode": "counting", "survey": None, "counting": {"source": "a.mp4", "counter": {"lines": []}}},
     "counting.counter.lines: Tuple should have at least 1 item"),
    ({"mode": "counting", "survey": None, "counting": {"source": "a.mp4"}}, "exactly one of config_file"),
])
def test_bad_config_is_refused_naming_the_key(overrides: dict, expected: str) -> None:
    with pytest.raises(AgentConfigError) as caught:
        parse_agent_config(_base(**overrides))
    assert expected in str(caught.value)


def test_counting_device_id_conflict_is_refused() -> None:
    counter = {"device_id": "pole-9", "pixels_per_metre": 20, "lines": [{"id": "a", "start": [0, 0], "end": [0, 9]}]}
    with pytest.raises(AgentConfigError, match="counting.counter.device_id: 'pole-9' differs"):
        parse_agent_config(_base(mode="counting", survey=None, counting={"source": "0", "counter": counter}))


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "edge.toml"
    path.parent.mkdir()
    path.write_text('mode = "survey"\ndevice_id = "car-1"\nstate_dir = "state"\n'
                    '[survey]\nvideo = "drive.mp4"\ntrack = "drive.nmea"\n')
    config = load_agent_config(path)
    assert config.state_dir == path.parent / "state"
    assert config.survey.video == path.parent / "drive.mp4" and not config.survey.live


def test_unparseable_and_wrong_format_files(tmp_path: Path) -> None:
    bad = tmp_path / "edge.toml"
    bad.write_text("mode = survey\n")  # a bare word is not a TOML value
    with pytest.raises(AgentConfigError, match="cannot parse"):
        load_agent_config(bad)
    yaml_file = tmp_path / "edge.yaml"
    yaml_file.write_text("mode: survey\n")
    with pytest.raises(AgentConfigError, match="must be a .toml file"):
        load_agent_config(yaml_file)
    with pytest.raises(AgentConfigError, match="not found"):
        load_agent_config(tmp_path / "missing.toml")


def test_token_from_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-value\n")
    config = parse_agent_config(_base(server={"url": "http://127.0.0.1:1", "token_file": str(token_file)}))
    assert config.server.read_token().get_secret_value() == "s3cret-token-value"
    assert "s3cret" not in repr(config.server.read_token())
    monkeypatch.delenv("VOIRIE_DEVICE_TOKEN", raising=False)
    no_file = parse_agent_config(_base(server={"url": "http://127.0.0.1:1"}))
    with pytest.raises(AgentConfigError, match="VOIRIE_DEVICE_TOKEN"):
        no_file.server.read_token()
    monkeypatch.setenv("VOIRIE_DEVICE_TOKEN", "from-env-1234")
    assert no_file.server.read_token().get_secret_value() == "from-env-1234"


def test_every_config_key_is_documented() -> None:
    from voirie.edge.agent.config import (AgentConfig, CountingModeConfig, HealthConfig, LoggingConfig,
                                          OutboxConfig, ServerConfig, SurveyModeConfig)

    docs = (Path(__file__).resolve().parents[2] / "docs" / "agent.md").read_text()
    for model in (AgentConfig, ServerConfig, OutboxConfig, HealthConfig, LoggingConfig, SurveyModeConfig,
                  CountingModeConfig):
        for name in model.model_fields:
            assert f"`{name}`" in docs or f"`[{name}]`" in docs, f"{model.__name__}.{name} is not in docs/agent.md"
