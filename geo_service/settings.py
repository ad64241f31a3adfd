"""The one settings object (environment prefix ``GEO_``; see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration, read from ``GEO_*`` variables and an optional ``.env``.

    Build it explicitly (``Settings(database_url=...)``) in tests and tools; use
    :func:`get_settings` in the CLI. Nothing creates one at import time.
    """

    model_config = SettingsConfigDict(env_prefix="GEO_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///data/geo.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    data_dir: Path = Field(Path("data"), description="Where rejects files and exports go")
    host: str = "127.0.0.1"
    port: int = 8000
    ingest_chunk_rows: int = Field(
        100_000, ge=1000, description="Rows processed per chunk inside one ingest transaction"
    )
    progress: bool = Field(True, description="Show a progress bar on long ingests (stderr)")
    sql_echo: bool = False
    tile_cache_mb: int = Field(256, ge=0, description="Bound of the in-memory tile cache (MB)")
    basemap_url: str | None = Field(
        None,
        description="XYZ tile URL template of a basemap for the maps (none by default: the "
        "jurisdiction boundaries are the base; the maps must work with no internet)",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
