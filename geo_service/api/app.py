"""The HTTP application factory: OGC API - Features, tiles, downloads, maps and ledgers."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from geo_service import __version__
from geo_service.access.audit import AuditLog
from geo_service.api import (
    accounts,
    briefs,
    dashboard,
    downloads,
    draws,
    enterprises,
    features,
    field,
    landing,
    maps,
    ogc_tiles,
    plans,
    quality,
    stats,
    tile_packages,
    tiles,
    uploads,
)
from geo_service.api.error_answers import HTTP_STATUS, describe, http_status_for
from geo_service.api.error_pages import refusal
from geo_service.api.limits import add_limits
from geo_service.api.openapi import use_served_openapi
from geo_service.api.security_headers import add_security_headers
from geo_service.api.unexpected import unexpected_error
from geo_service.core.paths import STATIC_DIR
from geo_service.core.settings import Settings, get_settings
from geo_service.store.db import make_engine
from geo_service.store.queries import data_version

#: How long a request waits for a lock in PostgreSQL before it answers 503: the first
#: load of a table holds the table's exclusive lock until it commits (DESIGN, Ingest),
#: and each request waiting for it holds one of the service's worker threads.
LOCK_TIMEOUT_MS = 30_000


def create_app(settings: Settings) -> FastAPI:
    """Build the application from explicit settings."""
    # /docs is served by the landing router with Swagger UI from /static (no CDN)
    engine = make_engine(
        settings.database_url,
        echo=settings.sql_echo,
        settings=settings,
        lock_timeout_ms=LOCK_TIMEOUT_MS,
    )
    audit_log = AuditLog(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _freeze_start_up()
        yield
        audit_log.close()  # audit entries waiting for the store land before the process ends

    app = FastAPI(
        title="geo-service",
        version=__version__,
        description="Enforcement records, hot spots and risk on the map.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.audit_log = audit_log

    async def _errors(request: Request, exc: Exception) -> Response:
        status = http_status_for(exc)
        code, description = describe(exc)
        description = description if status < 500 or status == 503 else "internal error"
        if status in (401, 403):  # a page with a way to sign in for browsers, else JSON
            return refusal(request, status, code, description)
        headers = getattr(exc, "headers", None)  # the Allow of a 405
        body = {"code": code, "description": description}
        return JSONResponse(body, status_code=status, headers=headers)

    for error in HTTP_STATUS:  # the one error table (geo_service.api.error_answers)
        app.add_exception_handler(error, _errors)
    app.add_exception_handler(Exception, unexpected_error)  # a fault: logged, an opaque id

    # zlib's default level: 9 costs much more time for pages hardly smaller (benchmarks.md)
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    add_limits(app, settings)  # size, query length and rate before anything else
    add_security_headers(app, settings)  # outermost: CSP and the rest on every answer; CORS
    for module in (
        features,
        tiles,
        ogc_tiles,
        tile_packages,  # /downloads/{layer}.mbtiles|.pmtiles before /downloads/{layer}.{ext}
        downloads,
        maps,
        stats,
        accounts,
        uploads,
        draws,
        plans,
    ):
        app.include_router(module.router)
    app.include_router(quality.router)
    app.include_router(enterprises.router)  # 一源一档 and the register search
    app.include_router(briefs.router)  # 执法态势简报: the periodic briefing
    app.include_router(field.router)  # findings from the field: POST items, /field
    app.include_router(dashboard.router)  # 领导驾驶舱: a page over the ledgers
    app.include_router(landing.router)  # the landing page and /docs
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    use_served_openapi(app)  # errors, media types and tile statuses as the service answers

    @app.get("/healthz", operation_id="healthz")
    def healthz() -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            version = data_version(engine)
        except OperationalError as exc:  # the same answer as every other route gives
            code, description = describe(exc)
            return JSONResponse({"code": code, "description": description}, status_code=503)
        return JSONResponse({"status": "ok", "data_version": version})

    return app


_FROZEN = threading.Event()


def _freeze_start_up() -> None:
    """What start-up made (modules, pandas, geopandas, caches) lives as long as the process:
    kept out of the garbage collector's full passes, each of which walked all of it with
    every request waiting (the tail latency of item pages under load). Once a process."""
    if not _FROZEN.is_set():
        _FROZEN.set()
        gc.collect()
        gc.freeze()


def app_from_environment() -> FastAPI:
    """The application from the environment's settings: uvicorn's factory for workers
    (``uvicorn --factory geo_service.api.app:app_from_environment --workers N``)."""
    return create_app(get_settings())
