"""Shared fixtures. Tests use real parts (ONNX Runtime, SQLite, gpsd, HTTP, Chromium);
a test whose system tool is missing is skipped with the reason, never faked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data is real public data for evaluation; the suite must pass without it.
SHARED_DATA = Path(os.environ.get("VOIRIE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
