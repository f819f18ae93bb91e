"""The one strict config base and its error lines: file, key path, message, value."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import pytest
from pydantic import Field, ValidationError

from voirie.config import StrictConfig, error_lines, error_report


class _Server(StrictConfig):
    url: str = Field(pattern=r"^https?://")
    token: str = ""


class _Plain(StrictConfig):
    type: Literal["plain"] = "plain"
    threshold: float = Field(default=0.5, ge=0, le=1)


class _Fancy(StrictConfig):
    type: Literal["fancy"]
    levels: int = Field(default=3, ge=1)


class _Device(StrictConfig):
    name: str = Field(pattern=r"^[a-z]+$")
    server: _Server | None = None
    detector: Annotated[_Plain | _Fancy, Field(discriminator="type")] = Field(default_factory=_Plain)


def _error(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Device.model_validate(data)
    return caught.value


@pytest.mark.parametrize(("data", "line"), [
    ({"name": "Pole 7"}, "box.toml: name: String should match pattern '^[a-z]+$' (got 'Pole 7')"),
    ({"name": "a", "colour": "red"}, "box.toml: colour: Extra inputs are not permitted (got 'red')"),
    ({"name": "a", "server": {"url": "ftp://x"}}, "box.toml: server.url: String should match pattern"),
    ({"name": "a", "detector": {"type": "plain", "threshold": math.nan}}, "box.toml: detector.threshold: "
     "Input should be a finite number (got nan)"),
    ({"name": "a", "detector": {"type": "plain", "threshold": math.inf}},
     "box.toml: detector.threshold: Input should be a finite number (got inf)"),
    ({"name": "a", "detector": {"type": "fancy", "levels": 0}}, "box.toml: detector.levels: Input should be "
     "greater than or equal to 1 (got 0)"),
    ({}, "box.toml: name: Field required"),
])
def test_each_problem_is_one_line_with_file_key_and_value(data: dict, line: str) -> None:
    lines = error_lines(_error(data), "box.toml", skip_keys=("plain", "fancy"))
    assert any(found.startswith(line) for found in lines), lines


def test_every_problem_is_reported_and_counted() -> None:
    error = _error({"name": "A B", "colour": 1, "server": {"url": "x"}})
    lines = error_lines(error, "box.toml")
    assert len(lines) == 3 and all(line.startswith("box.toml: ") for line in lines)
    report = error_report(error, "box.toml", "invalid device config")
    assert report.splitlines() == ["invalid device config (3 problems):", *(f"  {line}" for line in lines)]


def test_secrets_and_sections_are_never_echoed() -> None:
    error = _error({"name": "a", "server": {"url": "x", "token": 12345678}})
    assert not any("12345678" in line for line in error_lines(error, "box.toml"))
    section = error_lines(_error({"name": "a", "server": "not a table"}), "box.toml")
    assert section == ["box.toml: server: Input should be a valid dictionary or instance of _Server "
                       "(got 'not a table')"]
    whole = error_lines(_error({"name": "a", "server": {"extra": {"deep": "value"}, "url": "http://x"}}), "f")
    assert whole == ["f: server.extra: Extra inputs are not permitted"]


def test_key_prefix_names_a_section_of_a_larger_file_and_long_values_are_cut() -> None:
    lines = error_lines(_error({"name": "x" * 200 + "A"}), "edge.toml", key_prefix="counting.counter.")
    assert lines[0].startswith("edge.toml: counting.counter.name: String should match")
    assert lines[0].endswith("...)") and len(lines[0]) < 200


def test_the_base_is_frozen() -> None:
    device = _Device(name="a")
    with pytest.raises(ValidationError, match="frozen"):
        device.name = "b"  # type: ignore[misc]
