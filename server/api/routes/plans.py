"""The works-plan API wired to this server: sections from its database, plans in ``<data_dir>/plans``.

The planner (``voirie.server.planning``) never sees the database; this module hands it the
current sections and guards its writes with the server's API keys (admin only: a works plan
commits the budget) while reads follow ``public_read`` like every other read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy.orm import sessionmaker

from voirie.server.api.deps import AdminDep
from voirie.server.conditions import ConditionService
from voirie.server.planning.loader import section_from_properties
from voirie.server.planning.model import Section
from voirie.server.planning.routes import create_planning_router
from voirie.server.planning.store import PlanStore
from voirie.server.queries import SectionFilter, properties, select_sections

logger = logging.getLogger(__name__)


def sections_reader(session_factory: sessionmaker, conditions: ConditionService) -> Callable[[], list[Section]]:
    """A ``get_sections`` for the planner: the current sections, grades brought up to date first."""

    def get_sections() -> list[Section]:
        """Every section of the database as a planning ``Section``."""
        conditions.ensure_current()
        with session_factory() as session:
            rows = select_sections(session, SectionFilter())
        return [section_from_properties({**properties(r), "geometry_wkt": r.geometry_wkt}) for r in rows]

    return get_sections


def plan_writer(key: AdminDep) -> str:
    """Only an admin key may create or approve a plan; its name is recorded as the approver."""
    return key.name


def build_plans_router(store: PlanStore, session_factory: sessionmaker, conditions: ConditionService) -> APIRouter:
    """``/plans`` routes over this server's sections and ``store``."""
    logger.info("works plans stored in %s", store.directory)
    return create_planning_router(sections_reader(session_factory, conditions), store, writer=plan_writer)
