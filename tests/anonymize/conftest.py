"""One real default anonymizer for the whole area (loading and warming it up costs seconds)."""

from __future__ import annotations

import pytest

from voirie.anonymize import Anonymizer, AnonymizerOptions


@pytest.fixture(scope="session")
def anonymizer() -> Anonymizer:
    # A generous limit: the test machine's 2 cores are shared; the timeout has its own test.
    return Anonymizer.default(AnonymizerOptions(timeout_s=60))


@pytest.fixture(autouse=True)
def fresh_horizon(request: pytest.FixtureRequest) -> None:
    """Each test starts with no horizon estimate: the shared anonymizer must not carry one between tests."""
    if "anonymizer" in request.fixturenames:
        horizon = request.getfixturevalue("anonymizer").horizon
        if horizon is not None:
            horizon.reset()
