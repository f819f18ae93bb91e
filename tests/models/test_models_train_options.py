"""`voirie train` options are checked before any data is read (no torch needed)."""

from __future__ import annotations

import pytest

from voirie.models.cli import _input_size


@pytest.mark.parametrize("text, expected", [("480x768", (480, 768)), ("320X512", (320, 512))])
def test_imgsz_option_reads_height_by_width(text: str, expected: tuple[int, int]) -> None:
    assert _input_size(text) == expected


@pytest.mark.parametrize("text, named", [("480", "expected HxW"), ("480x770", "multiples of 32"),
                                          ("224x384", "at least 256x384"), ("axb", "expected HxW")])
def test_imgsz_option_names_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        _input_size(text)
    assert text in str(raised.value)
