"""Serving vector tiles: which encoder, the works layer's plan, ETags and a byte-bounded cache.

A tile changes only when the grades change (a new *generation*, see
``ConditionService``) or a plan is saved or approved, so both name the tile's version: the
ETag, and the key of an in-memory LRU of rendered tiles (panning back and forth and several
inspectors on the same area cost one render per tile and version).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voirie.server import tiles_postgis
from voirie.server.models import Section
from voirie.server.planning.export import scenario_result
from voirie.server.planning.model import Plan
from voirie.server.planning.store import PlanStore
from voirie.server.spatial import uses_postgis
from voirie.server.tiles import TileAddress, WorksIndex, sections_layer

logger = logging.getLogger(__name__)


def latest_plan(store: PlanStore) -> Plan | None:
    """The plan the map shows: the latest approved one, else the latest draft."""
    plans = store.list()
    return next((p for p in plans if p.status == "approved"), plans[0] if plans else None)


def planned_works(plan: Plan | None) -> list[dict[str, Any]]:
    """Tile properties of the works of the plan's adopted (else first funded) scenario."""
    if plan is None:
        return []
    result = scenario_result(plan)
    return [{"section_id": w.section_id, "year": w.year, "calendar_year": plan.start_year + w.year - 1,
             "treatment": w.treatment, "cost_eur": round(w.cost, 2), "scenario": result.scenario.name}
            for w in result.works]


def _section_wkts(session: Session, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 900):  # under SQLite's bound-parameter limit
        query = select(Section.section_id, Section.geometry_wkt).where(Section.section_id.in_(ids[start:start + 900]))
        found.update((section_id, wkt) for section_id, wkt in session.execute(query))
    return found


class TileService:
    """Renders tiles for one server: PostGIS or Python encoder, works from ``plans``."""

    def __init__(self, plans: PlanStore, cache_bytes: int) -> None:
        self.plans = plans
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._cached_bytes = 0
        self._works: tuple[str, WorksIndex] | None = None

    def plans_version(self) -> str:
        """Changes whenever a plan file is written (saved, approved) or removed."""
        # Runs on every tile request: one stat per plan file.
        stats = sorted((p.name, s.st_mtime_ns, s.st_size) for p in self.plans.directory.glob("*.json")
                       for s in [p.stat()])
        return hashlib.sha1(repr(stats).encode()).hexdigest()[:12]

    def etag(self, generation: str) -> str:
        """The version of every tile: grades generation and plans version."""
        return f'"{generation}.{self.plans_version()}"'

    def render(self, session: Session, tile: TileAddress, etag: str) -> bytes:
        """The tile's bytes (empty: nothing there), from the cache when this version has it."""
        key = (etag, tile.z, tile.x, tile.y)
        with self._lock:
            body = self._cache.get(key)
            if body is not None:
                self._cache.move_to_end(key)
                return body
        encoder = tiles_postgis.sections_layer if uses_postgis(session) else sections_layer
        body = encoder(session, tile) + self._works_index(session, etag).layer(tile)
        self._remember(key, body)
        return body

    def _works_index(self, session: Session, etag: str) -> WorksIndex:
        with self._lock:
            if self._works is not None and self._works[0] == etag:
                return self._works[1]
        works = planned_works(latest_plan(self.plans))
        index = WorksIndex(works, _section_wkts(session, sorted({w["section_id"] for w in works})))
        with self._lock:
            self._works = (etag, index)
        return index

    def _remember(self, key: tuple[str, int, int, int], body: bytes) -> None:
        if len(body) > self.cache_bytes:
            return
        with self._lock:
            if self._cache and next(iter(self._cache))[0] != key[0]:  # a new version: older tiles are dead
                self._cache.clear()
                self._cached_bytes = 0
            self._cache[key] = body
            self._cached_bytes += len(body)
            while self._cached_bytes > self.cache_bytes:
                _, dropped = self._cache.popitem(last=False)
                self._cached_bytes -= len(dropped)
