"""Structured logs for the agent: text or JSON lines on stderr, with secrets scrubbed.

Under systemd, stderr goes to the journal (``journalctl -u voirie-edge``); JSON lines let a
log shipper (Vector, Fluent Bit, Loki's promtail) index the fields. The device token is
never formatted into a message by our code; ``SecretFilter`` is the second line of
defence: any record whose text contains a registered secret (a library logging a header,
an exception quoting a URL) has it replaced by ``***`` before any handler sees it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

logger = logging.getLogger(__name__)

_REDACTED = "***"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class SecretFilter(logging.Filter):
    """Replaces each registered secret in a record's message (and its traceback) by ``***``."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 4]

    def add(self, secret: str) -> None:
        """Also scrub ``secret`` (short strings are ignored: they would blank ordinary words)."""
        if len(secret) >= 4 and secret not in self.secrets:
            self.secrets.append(secret)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str)


def setup_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> SecretFilter:
    """Replace the root handlers with one stderr handler; returns the filter to register secrets in."""
    handler = logging.StreamHandler(stream or sys.stderr)
    secrets = SecretFilter()
    handler.addFilter(secrets)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO: one line per sync batch is noise on a device.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return secrets
