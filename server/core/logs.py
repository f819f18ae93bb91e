"""Keep secrets out of logs: device tokens and API keys are masked in every log record.

The server never logs a secret on purpose; this is the safety net for the day someone
logs a header, a URL with a token in it, or an exception that quotes one. It works at
record creation, so every handler (files, journald, pytest's capture) sees the masked text.
"""

from __future__ import annotations

import logging
import re
import threading

logger = logging.getLogger(__name__)

# Our secrets are "vdt_"/"vak_" + 43 URL-safe characters; a Bearer header may carry any key.
SECRET_PATTERN = re.compile(r"\b(vdt|vak)_[A-Za-z0-9_-]{16,}|(?i:(bearer)\s+)[^\s'\",]{8,}")
_extra_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    """``text`` with every token, API key and Bearer credential replaced by ``***``."""
    text = SECRET_PATTERN.sub(lambda m: f"{m.group(1) or m.group(2)}{'_' if m.group(1) else ' '}***", text)
    for secret in _extra_secrets:
        text = text.replace(secret, "***")
    return text


def _masked(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


def _mask(record: logging.LogRecord, message: str) -> None:
    """Mask the secret in ``record`` keeping its arguments' shape: uvicorn's access log
    formatter unpacks ``record.args`` (client, method, path, version, status), so emptying
    them printed a traceback for every request that carried a token in its URL."""
    record.msg = _masked(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_masked(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _masked(arg) for key, arg in record.args.items()}
    try:
        masked_in_place = redact(record.getMessage()) == record.getMessage()
    except Exception:  # a masked argument no longer fits its format (%d): collapse instead
        masked_in_place = False
    if not masked_in_place:  # e.g. a secret split across arguments: keep only the masked text
        record.msg, record.args = redact(message), ()


def install_secret_redaction(*extra_secrets: str) -> None:
    """Mask secrets in all log records from now on (idempotent); ``extra_secrets`` are literal
    values without our prefixes, such as a configured bootstrap admin key."""
    global _installed
    with _lock:
        _extra_secrets.update(s for s in extra_secrets if s)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a bad format string is the caller's bug; logging reports it later
                return record
            if redact(message) != message:
                _mask(record, message)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
