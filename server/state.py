"""Full export/import of the server state in open formats (reversibility).

The archive is a zip of one JSON Lines file per table (``tables/<name>.jsonl``, column
names as keys, times in ISO 8601), the evidence JPEGs under ``evidence/`` and a
``manifest.json``. Import *replaces* the state (a restore); API keys are merged so the
admin doing the restore keeps access. Device tokens travel as hashes only.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from voirie import __version__
from voirie.server.crud import set_meta
from voirie.server.models import ApiKey, Base, UtcDateTime

logger = logging.getLogger(__name__)

FORMAT = "voirie-state/1"


class StateImportError(ValueError):
    """The archive is not a voirie state export, or a row could not be read."""


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export_state(session: Session, evidence_dir: Path) -> bytes:
    """The whole database and evidence as a zip (see module docstring)."""
    buffer = io.BytesIO()
    counts = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table)).mappings().all()
            counts[table.name] = len(rows)
            archive.writestr(f"tables/{table.name}.jsonl", "".join(
                json.dumps({k: _encode(v) for k, v in row.items()}) + "\n" for row in rows))
        for path in sorted(evidence_dir.glob("*.jpg")) if evidence_dir.is_dir() else []:
            archive.write(path, f"evidence/{path.name}", compress_type=zipfile.ZIP_STORED)
        archive.writestr("manifest.json", json.dumps({"format": FORMAT, "voirie": __version__, "rows": counts}))
    return buffer.getvalue()


def _decode_rows(table: Any, text: str) -> list[dict[str, Any]]:
    times = {c.name for c in table.columns if isinstance(c.type, UtcDateTime)}
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
            rows.append({k: datetime.fromisoformat(v) if k in times and v else v for k, v in row.items()})
        except (ValueError, TypeError) as error:
            raise StateImportError(f"tables/{table.name}.jsonl line {number}: {error}") from error
    return rows


def import_state(session: Session, data: bytes, evidence_dir: Path) -> dict[str, int]:
    """Replace the state with an export (one transaction; evidence written after commit)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        manifest = json.loads(archive.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise StateImportError(f"not a voirie state archive: {error}") from error
    if manifest.get("format") != FORMAT:
        raise StateImportError(f"expected format {FORMAT!r}, got {manifest.get('format')!r}")
    names = set(archive.namelist())
    known_keys = set(session.scalars(select(ApiKey.key_hash)))
    counts = {}
    for table in reversed(Base.metadata.sorted_tables):
        if table.name != ApiKey.__tablename__:
            session.execute(delete(table))
    for table in Base.metadata.sorted_tables:
        member = f"tables/{table.name}.jsonl"
        rows = _decode_rows(table, archive.read(member).decode()) if member in names else []
        if table.name == ApiKey.__tablename__:
            rows = [{k: v for k, v in r.items() if k != "id"} for r in rows if r["key_hash"] not in known_keys]
        if rows:
            session.execute(insert(table), rows)
        counts[table.name] = len(rows)
    set_meta(session, "conditions_dirty", "1")  # regrade (and drop cached maps) on next read
    session.commit()
    evidence_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.startswith("evidence/") and name.endswith(".jpg") and "/" not in name[9:]:
            (evidence_dir / name[9:]).write_bytes(archive.read(name))
    logger.info("imported state: %s", counts)
    return counts
