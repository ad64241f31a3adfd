"""The HTTP application factory (the serving issue fills in OGC API, tiles, maps)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from geo_service import __version__
from geo_service.api import features, stats
from geo_service.errors import HTTP_STATUS, http_status_for
from geo_service.settings import Settings
from geo_service.store.db import make_engine
from geo_service.store.queries import data_version


def create_app(settings: Settings) -> FastAPI:
    """Build the application from explicit settings."""
    app = FastAPI(title="geo-service", version=__version__,
                  description="Enforcement records, hot spots and risk on the map.")  # fmt: skip
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    app.state.settings = settings
    app.state.engine = engine

    async def _errors(_request: Request, exc: Exception) -> JSONResponse:
        status = http_status_for(exc)
        code = getattr(exc, "code", type(exc).__name__)
        description = str(exc) if status < 500 else "internal error"
        return JSONResponse({"code": code, "description": description}, status_code=status)

    for error in HTTP_STATUS:  # the one error table (geo_service.errors)
        app.add_exception_handler(error, _errors)

    app.include_router(features.router)
    app.include_router(stats.router)

    @app.get("/healthz", operation_id="healthz")
    def healthz() -> JSONResponse:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            version = data_version(engine)
        except OperationalError as exc:
            body = {"code": "store_unavailable", "description": str(exc.orig)}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "data_version": version})

    @app.get("/", operation_id="landing")
    def landing() -> dict[str, Any]:
        return {
            "title": "geo-service",
            "description": "Environmental-enforcement records and analytics",
            "links": [
                {"href": "/healthz", "rel": "status", "type": "application/json"},
                {"href": "/openapi.json", "rel": "service-desc",
                 "type": "application/vnd.oai.openapi+json;version=3.0"},
                {"href": "/docs", "rel": "service-doc", "type": "text/html"},
                {"href": "/conformance", "rel": "conformance", "type": "application/json"},
                {"href": "/collections", "rel": "data", "type": "application/json"},
            ],
        }  # fmt: skip

    return app
