"""``geo-service cluster``: rewrite a PostGIS store's point records in H3 order.

A maintenance step for after a bulk load, and now and then for a store taking daily
batches (:mod:`geo_service.store.clustering` says why and what it costs). Registered
on :data:`geo_service.cli.app` when the CLI module is imported.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from geo_service.cli import _echo_json, _fail, _settings, app
from geo_service.core.errors import ServiceError


@app.command()
def cluster(
    kind: Annotated[
        list[str] | None,
        typer.Option(help="cases, inspections or enterprises (repeatable; default all three)"),
    ] = None,
) -> None:
    """Rewrite the point-record tables in H3 order (PostgreSQL; SQLite: nothing to do)."""
    from geo_service.store import make_engine, require_schema
    from geo_service.store.clustering import CLUSTER_INDEXES, cluster_records

    settings = _settings()
    try:
        engine = make_engine(settings.database_url, settings=settings)
        require_schema(engine)
        done = cluster_records(engine, kind or tuple(CLUSTER_INDEXES))
    except (ServiceError, ValueError) as exc:
        _fail(exc)
    _echo_json({"dialect": engine.dialect.name, "tables": [asdict(d) for d in done]})
