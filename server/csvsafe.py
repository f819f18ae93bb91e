"""CSV exports that a spreadsheet opens as data, never as formulas.

A cell starting with ``= + - @`` (or a tab or carriage return) is run as a formula by
Excel and LibreOffice; names and labels come from devices and imported networks, so such
text cells get a leading apostrophe (OWASP's advice). Numbers are left alone: ``-3.5`` is
a value, not a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value``, with an apostrophe in front when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeDictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose rows go through ``spreadsheet_safe``."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: spreadsheet_safe(v) for k, v in rowdict.items()})
