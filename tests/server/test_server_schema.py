"""Schema fuzzing of the OpenAPI with schemathesis through real HTTP, as every kind of
caller (admin, inspector, viewer, device token, anonymous): never a 5xx, and a refused
request (4xx) leaves every stored row as it was.

Bounded: a few examples per operation and role (~400 requests, well under a minute on
two cores). The admin runs last because it may revoke the other roles' keys."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings

from voirie.lab.synth.records import frames_along

from .conftest import ADMIN_KEY, STREET, LiveServer, start_server

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (dev extra) not installed")

# What requests store; sections, their history and meta are derived (regraded on reads).
STORED_TABLES = ("devices", "api_keys", "frames", "detections", "count_bins", "ingest_batches", "reviews",
                 "fleet_status", "heartbeats", "fleet_models", "model_offers")
EXAMPLES = {"viewer": 3, "inspector": 3, "device": 4, "anonymous": 2, "admin": 6}


def _binary(ctx, value) -> bytes:  # noqa: ANN001 - schemathesis serializer signature
    """Generated binary bodies (JPEG, zip, GeoPackage) are sent as raw bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


schemathesis.serializer("application/zip", "image/jpeg", "application/geopackage+sqlite3",
                        "application/octet-stream")(_binary)
schemathesis.serializer.alias("application/geo+json", "application/json")


def stored_rows(live: LiveServer) -> str:
    """A digest of every stored row (what a refused request must not change)."""
    digest = hashlib.sha256()
    for table in STORED_TABLES:
        for row in live.sql(f"SELECT * FROM {table} ORDER BY 1"):  # noqa: S608 - our own table names
            digest.update(repr(row).encode())
    return digest.hexdigest()


def _fuzz(operation, live: LiveServer, headers: dict[str, str], examples: int, calls: list[int]) -> None:
    from schemathesis.checks import not_a_server_error

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        before = stored_rows(live)
        response = case.call(headers=headers, timeout=30)
        calls.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            assert stored_rows(live) == before, f"{case.method} {case.formatted_path} refused but changed rows"

    run()


def test_no_server_errors_for_any_caller(tmp_path, fresh_database):
    server, live = start_server(tmp_path, fresh_database())
    try:
        device = live.register("car-1")
        live.ingest(device, frames_along(STREET, damage_rate=0.5)[:40], "seed").raise_for_status()
        roles = {"viewer": live.key("viewer"), "inspector": live.key("inspector"), "device": device,
                 "anonymous": {}, "admin": {"Authorization": f"Bearer {ADMIN_KEY}"}}
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 40
        calls: list[int] = []
        for role, headers in roles.items():
            for operation in operations:
                _fuzz(operation, live, headers, EXAMPLES[role], calls)
        print(f"schemathesis: {len(calls)} requests over {len(operations)} operations x {len(roles)} callers, "
              f"{sum(400 <= c < 500 for c in calls)} refused with 4xx, {sum(c >= 500 for c in calls)} 5xx")
        assert len(calls) > 5 * len(operations)
    finally:
        live.close()
        server.stop()
