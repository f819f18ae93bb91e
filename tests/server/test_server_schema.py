"""Schema fuzzing of the OpenAPI with schemathesis through real HTTP: never a 5xx.

Bounded: a few examples per operation; admin credentials are sent so write endpoints are
exercised past authentication too (a second run without them covers the 401 paths)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from voirie.server.synthetic import frames_along

from .conftest import ADMIN_KEY, STREET, start_server

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) not installed")


def _binary(ctx, value) -> bytes:  # noqa: ANN001 - schemathesis serializer signature
    """Generated binary bodies (JPEG, zip, GeoPackage) are sent as raw bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


schemathesis.serializer("application/zip", "image/jpeg", "application/geopackage+sqlite3")(_binary)
schemathesis.serializer.alias("application/geo+json", "application/json")


def _fuzz(operation, headers: dict[str, str], examples: int) -> None:
    from schemathesis.checks import not_a_server_error

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=30)

    run()


@pytest.mark.parametrize("authenticated", [True, False], ids=["admin", "anonymous"])
def test_no_server_errors(tmp_path, authenticated):
    server, live = start_server(tmp_path)
    try:
        auth = live.register("car-1")
        live.ingest(auth, frames_along(STREET, damage_rate=0.5)[:40], "seed").raise_for_status()
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"} if authenticated else {}
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20
        for operation in operations:
            _fuzz(operation, headers, examples=6 if authenticated else 2)
    finally:
        live.client.close()
        server.stop()
