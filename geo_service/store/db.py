"""Engines, sessions and migrations of the store (SQLite or PostgreSQL + PostGIS)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from geo_service.core.errors import StoreNotReadyError
from geo_service.core.settings import Settings
from geo_service.store.cql2_sql import register_sqlite_functions

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Connections a SQLite file's engine keeps open: as many as SQLAlchemy's default pool
#: (5 kept, 10 more) allowed at once, but none closed after use, so 32 concurrent clients
#: do not open a file (and warm its page cache) on every fifth request.
SQLITE_POOL_SIZE = 15


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-131072")  # 128 MiB: bulk loads and index builds
    cur.close()
    register_sqlite_functions(dbapi_connection)  # CQL2's spatial operators


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _open_existing_file(engine: Engine, path: str) -> None:
    """Connections of ``engine`` open the SQLite file at ``path`` and nothing else.

    A new connection never creates the file (``mode=rw``): a store that went away is
    "unable to open database file", not a new empty database left at its path. A pooled
    connection to a file no longer at ``path`` (moved, deleted, restored from a copy)
    is dropped at checkout and a new one opened, so the service follows the file.
    """
    uri = f"file:{quote(path)}?mode=rw"

    def connect(_dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:] = [uri]
        cparams["uri"] = True
        record.info["file"] = _file_identity(path)

    def checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("file") != _file_identity(path):
            raise DisconnectionError(f"{path} is not the file this connection opened")

    event.listen(engine, "do_connect", connect)
    event.listen(engine, "checkout", checkout)


def pool_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` pool arguments of a PostgreSQL engine from the settings
    (``GEO_DB_POOL_SIZE``, ``GEO_DB_MAX_OVERFLOW``, ``GEO_DB_POOL_RECYCLE_S``); every
    checkout pings the connection first, so a restarted server costs no failed request."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": settings.db_pool_recycle_s,
        "pool_pre_ping": True,
    }


def make_engine(
    database_url: str,
    *,
    echo: bool = False,
    settings: Settings | None = None,
    lock_timeout_ms: int | None = None,
) -> Engine:
    """Create an engine for ``database_url``; a SQLite file (and its folder) is created if
    missing, here only: connections open the file that is there (see
    :func:`_open_existing_file`). A PostgreSQL engine pools its connections as
    :func:`pool_options` of ``settings`` say (SQLAlchemy's pool, pinged, when None: the
    store reads no environment of its own; callers pass their settings); with
    ``lock_timeout_ms`` its statements give up waiting for a lock after that long (the
    driver's OperationalError)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        file = url.database if url.database != ":memory:" and not url.query.get("uri") else None
        sized = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 0} if file else {}
        engine = create_engine(url, echo=echo, **sized)
        if file:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(file).close()  # an empty file is an empty database
            _open_existing_file(engine, file)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pooling: dict[str, Any] = (
        pool_options(settings) if settings is not None else {"pool_pre_ping": True}
    )
    if lock_timeout_ms is not None:  # a session setting, from the connection's start
        pooling["connect_args"] = {"options": f"-c lock_timeout={int(lock_timeout_ms)}"}
    return create_engine(url, echo=echo, **pooling)


def is_postgres(engine: Engine) -> bool:
    """Whether the engine talks to PostgreSQL (and so has PostGIS columns)."""
    return engine.dialect.name == "postgresql"


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def is_initialised(engine: Engine) -> bool:
    """Whether ``geo-service init`` has made the store (its divisions table exists)."""
    return bool(inspect(engine).has_table("jurisdictions"))


def require_schema(engine: Engine) -> None:
    """Raise :class:`StoreNotReadyError` when the store has not been initialised."""
    if not is_initialised(engine):
        raise StoreNotReadyError(
            f"the store at {engine.url.render_as_string(hide_password=True)} is not initialised;"
            " run `geo-service init`"
        )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
