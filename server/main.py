"""``create_app``: the FastAPI application with its collaborators passed in.

Everything the app uses (settings, session factory, condition service) is a parameter so
tests and the demo can run several servers side by side on their own SQLite files.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import sessionmaker

from voirie import __version__
from voirie.server.api.deps import reader
from voirie.server.api.errors import add_input_error_handlers
from voirie.server.api.main import api_router, ogc_router, tiles_router
from voirie.server.api.routes.plans import build_plans_router
from voirie.server.conditions import ConditionService
from voirie.server.core.config import Settings
from voirie.server.core.db import make_engine, make_session_factory
from voirie.server.core.headers import SecurityHeadersMiddleware
from voirie.server.core.limits import BodyLimitMiddleware, RateLimiter
from voirie.server.core.logs import install_secret_redaction
from voirie.server.core.schema import prepare_schema
from voirie.server.crud import ensure_api_key
from voirie.server.planning.store import PlanStore
from voirie.server.tile_service import TileService

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def maplibre_dir() -> Path:
    """Folder of ``maplibre-gl.js``/``.css`` shipped by the PyPI package ``maplibre``
    (found by spec, not imported: we only need its files)."""
    spec = importlib.util.find_spec("maplibre")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'maplibre' package is not installed; pip install maplibre")
    folder = Path(next(iter(spec.submodule_search_locations))) / "srcjs"
    if not (folder / "maplibre-gl.js").is_file():
        raise RuntimeError(f"maplibre-gl.js not found in {folder}")
    return folder


def _vendor_routes(app: FastAPI) -> None:
    vendor = maplibre_dir()

    @app.get("/vendor/{name}", include_in_schema=False)
    def vendor_file(name: str) -> FileResponse:
        """MapLibre GL JS files from the local ``maplibre`` package (no CDN)."""
        if name not in ("maplibre-gl.js", "maplibre-gl.css"):
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(vendor / name, headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The map page."""
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/mobility", include_in_schema=False)
    def mobility_page() -> FileResponse:
        """The mobility dashboard (counting cameras)."""
        return FileResponse(STATIC_DIR / "mobility.html")


async def _database_busy(request: Request, error: OperationalError) -> JSONResponse:
    """A locked or unreachable database is temporary: 503 tells devices to retry later."""
    logger.warning("database error on %s %s: %s", request.method, request.url.path, error.orig)
    return JSONResponse(status_code=503, content={"detail": "database busy or unavailable; retry later"},
                        headers={"Retry-After": "5"})


async def _value_not_storable(request: Request, error: DataError) -> JSONResponse:
    """A value the database refuses (PostgreSQL: a NUL character in text, a number out of
    range) came from the request: the caller's error, 422, not a 500."""
    logger.warning("database refused a value on %s %s: %s", request.method, request.url.path, error.orig)
    return JSONResponse(status_code=422, content={"detail": "a value in the request cannot be stored "
                                                            "(NUL character or number out of range)"})


def body_limits(settings: Settings) -> Callable[[str, str], int]:
    """The body cap of each write endpoint: large only where large bodies are expected."""

    def limit_for(method: str, path: str) -> int:
        if path.startswith("/api/v1/models/") and path.endswith("/file"):
            return settings.model_max_bytes
        if path.startswith("/api/v1/evidence/"):
            return settings.evidence_max_bytes
        if path in ("/api/v1/imports/state", "/api/v1/network"):  # admin bulk uploads
            return settings.import_max_bytes
        if path == "/api/v1/ingest":
            return settings.max_body_bytes
        if path == "/api/v1/heartbeat":
            return settings.heartbeat_max_bytes
        return settings.max_request_bytes

    return limit_for


def create_app(settings: Settings | None = None, session_factory: sessionmaker | None = None,
               conditions: ConditionService | None = None) -> FastAPI:
    """Build the app; brings the tables up to date and creates the bootstrap admin key when configured."""
    settings = settings or Settings()
    install_secret_redaction(settings.bootstrap_admin_key or "")
    if session_factory is None:
        engine = make_engine(settings)
        prepare_schema(engine)
        session_factory = make_session_factory(engine)
    if settings.bootstrap_admin_key:
        with session_factory() as session:
            ensure_api_key(session, "bootstrap-admin", "admin", settings.bootstrap_admin_key)
    # The Swagger UI loads its scripts from a CDN: off unless asked for (the schema stays at /openapi.json).
    docs = {} if settings.api_docs else {"docs_url": None, "redoc_url": None}
    app = FastAPI(title="voirie server", version=__version__, **docs,
                  description="Road-condition map, ingest from voirie edge devices, reviews and open exports.")
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.conditions = conditions or ConditionService(settings, session_factory)
    app.state.rate_limiter = RateLimiter(settings.device_rate_per_s, settings.device_rate_burst)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_exception_handler(DataError, _value_not_storable)
    add_input_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limits(settings))
    app.add_middleware(SecurityHeadersMiddleware, tile_url=settings.tile_url)  # outermost: on every answer
    app.include_router(api_router)
    # Plans need this app's session factory and data folder, so their router is built per app.
    store = PlanStore(settings.data_dir / "plans")
    app.state.tiles = TileService(store, cache_bytes=int(settings.tile_cache_mb * 2**20))
    plans = build_plans_router(store, session_factory, app.state.conditions)
    app.include_router(plans, prefix="/api/v1", dependencies=[Depends(reader)])
    app.include_router(ogc_router)
    app.include_router(tiles_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _vendor_routes(app)
    logger.info("voirie server ready (database %s)", settings.database_url.split("@")[-1])
    return app
