"""Key revocation: admins list and revoke API keys (API and CLI), revoked keys and device
tokens fail on their very next request, and a revoked device id can be registered again."""

from __future__ import annotations

from typer.testing import CliRunner

from voirie.cli import app
from voirie.lab.synth.records import frames_along

from .conftest import ADMIN_KEY, STREET, start_server


def test_admin_lists_and_revokes_keys_which_fail_at_once(live):
    inspector = live.key("inspector")
    viewer = live.key("viewer")
    listing = live.client.get("/api/v1/api-keys", headers=live.admin)
    assert listing.status_code == 200
    keys = {k["name"]: k for k in listing.json()}
    assert set(keys) == {"bootstrap-admin", "a inspector", "a viewer"}
    assert all(set(k) == {"id", "name", "role", "created_at"} for k in keys.values())  # never a secret
    assert live.client.get("/api/v1/api-keys", headers=inspector).status_code == 403
    assert live.client.delete(f"/api/v1/api-keys/{keys['a viewer']['id']}", headers=viewer).status_code == 403

    assert live.client.get("/api/v1/reviews", headers=inspector).status_code == 200
    revoked = live.client.delete(f"/api/v1/api-keys/{keys['a inspector']['id']}", headers=live.admin)
    assert revoked.status_code == 200 and revoked.json()["name"] == "a inspector"
    assert live.client.get("/api/v1/exports/yolo-corrections.zip", headers=inspector).status_code == 401
    assert live.client.delete(f"/api/v1/api-keys/{keys['a inspector']['id']}", headers=live.admin).status_code == 404
    # An admin cannot lock itself out with its own key.
    own = live.client.delete(f"/api/v1/api-keys/{keys['bootstrap-admin']['id']}", headers=live.admin)
    assert own.status_code == 409
    assert [k["name"] for k in live.client.get("/api/v1/api-keys", headers=live.admin).json()] == \
        ["bootstrap-admin", "a viewer"]


def test_revoked_device_fails_at_once_and_can_be_registered_again(live):
    old = live.register("car-1")
    frames = frames_along(STREET, seed=1)[:4]
    assert live.ingest(old, frames[:2], "b1").status_code == 200
    assert live.client.delete("/api/v1/devices/car-1", headers=live.admin).status_code == 200
    assert live.ingest(old, frames[2:], "b2").status_code == 401
    again = live.register("car-1")  # a repaired box: same id, new token
    assert live.client.post("/api/v1/devices", json={"device_id": "car-1"}, headers=live.admin).status_code == 409
    assert live.ingest(old, frames[2:], "b2").status_code == 401  # the old token stays dead
    answer = live.ingest(again, frames, "b3")
    assert answer.status_code == 200 and len(answer.json()["duplicates"]) == 2  # its records kept their owner
    assert live.sql("SELECT COUNT(*), COUNT(DISTINCT device_id) FROM frames") == [(4, 1)]


def test_cli_lists_and_revokes_keys_and_a_revoked_bootstrap_key_stays_revoked(tmp_path, monkeypatch, fresh_database):
    server, live = start_server(tmp_path, fresh_database())
    try:
        second_admin = live.key("admin")
        monkeypatch.setenv("VOIRIE_DATA_DIR", str(live.data_dir))
        monkeypatch.setenv("DATABASE_URL", live.database_url)
        listed = CliRunner().invoke(app, ["server", "list-keys"])
        assert listed.exit_code == 0, listed.output
        bootstrap_id = next(line.split("\t")[0] for line in listed.output.splitlines() if "bootstrap-admin" in line)
        result = CliRunner().invoke(app, ["server", "revoke-key", bootstrap_id])
        assert result.exit_code == 0 and "revoked key" in result.output
        assert live.client.get("/api/v1/api-keys", headers=live.admin).status_code == 401
        assert CliRunner().invoke(app, ["server", "revoke-key", "999"]).exit_code == 2
        assert CliRunner().invoke(app, ["server", "revoke-device", "nope"]).exit_code == 2
    finally:
        live.close()
        server.stop()
    # A restart with the same VOIRIE_BOOTSTRAP_ADMIN_KEY does not bring the revoked key back.
    server, live = start_server(tmp_path, live.database_url)
    try:
        assert live.client.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 401
        assert live.client.get("/api/v1/api-keys", headers=second_admin).status_code == 200
    finally:
        live.close()
        server.stop()
