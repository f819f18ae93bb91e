"""Logs: JSON lines with extra fields; the device token never reaches the output."""

from __future__ import annotations

import io
import json
import logging

from voirie.edge.agent.log import setup_logging


def test_json_lines_and_secret_scrubbing() -> None:
    stream = io.StringIO()
    secrets = setup_logging("json", "INFO", stream)
    secrets.add("tok-9f8e7d6c5b4a")
    log = logging.getLogger("voirie.test.agent")
    try:
        log.info("plain message", extra={"records": 3})
        log.warning("request failed: Authorization: Bearer %s", "tok-9f8e7d6c5b4a")
        try:
            raise RuntimeError("url http://x/?token=tok-9f8e7d6c5b4a")
        except RuntimeError:
            log.exception("crash")
    finally:
        setup_logging("text", "WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "ERROR"]
    assert lines[0]["records"] == 3 and lines[0]["logger"] == "voirie.test.agent"
    assert "tok-9f8e7d6c5b4a" not in stream.getvalue()
    assert "Bearer ***" in lines[1]["message"] and "token=***" in lines[2]["exception"]
