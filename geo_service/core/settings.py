"""The one settings object (environment prefix ``GEO_``; see ``.env.example``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.risk_defaults import COMPONENTS, DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS


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
    ingest_workers: int | None = Field(
        None,
        ge=0,
        description="Processes that locate an ingest's chunks while it reads the next ones "
        "(unset: for files of 250,000 records or more, the cores beyond 2, at most 2; "
        "0: none)",
    )
    ingest_group_chunks: int | None = Field(
        None,
        ge=0,
        description="Chunks of records an ingest writes at a time while it reads the rest "
        "of its file (unset: for files of 250,000 records or more, in at most 8 groups; "
        "0: the batch is written once the file is read, holding SQLite's write lock for "
        "less time)",
    )
    progress: bool = Field(True, description="Show a progress bar on long ingests (stderr)")
    max_cell_chars: int = Field(
        32_767,
        ge=1,
        description="Most characters one cell of an input file may hold (Excel's own limit); "
        "a file with a longer cell is refused (bad_input_file)",
    )
    max_xlsx_uncompressed_bytes: int = Field(
        1 << 30,
        ge=1,
        description="Most bytes the parts of an input XLSX workbook may unpack to, as "
        "declared and as read; a larger workbook is refused before it is parsed",
    )
    max_xlsx_cells: int = Field(
        50_000_000,
        ge=1,
        description="Most cells (rows × columns as stored, empty cells that the sheet "
        "lists included) an input XLSX workbook may hold",
    )
    max_xlsx_compression_ratio: float = Field(
        100.0,
        gt=1,
        description="Most times a part of an input XLSX workbook larger than 1 MiB may "
        "unpack beyond its compressed size (a zip bomb unpacks a thousandfold)",
    )
    max_xlsx_shared_strings_bytes: int = Field(
        256 << 20,
        ge=1,
        description="Most bytes the table of texts (sharedStrings.xml) of an input XLSX "
        "workbook may unpack to: it is read whole, so it bounds an ingest's memory; a "
        "larger workbook is refused with the advice to load it as CSV",
    )
    sql_echo: bool = False
    db_pool_size: int = Field(
        5, ge=1, description="Connections each process keeps open to PostgreSQL (SQLite: unused)"
    )
    db_max_overflow: int = Field(
        10, ge=0, description="Connections opened beyond the pool under load, closed after use"
    )
    db_pool_recycle_s: int = Field(
        1800,
        ge=-1,
        description="Seconds after which a pooled PostgreSQL connection is replaced "
        "(-1: never); every checkout is also pinged first",
    )
    tile_cache_mb: int = Field(256, ge=0, description="Bound of the in-memory tile cache (MB)")
    tile_max_points: int = Field(
        5_000,
        ge=0,
        description="Most point records a tile of cases, inspections, enterprises or "
        "enterprise risk carries; a tile with more inside it carries aggregated points "
        "instead (aggregated=true, count; one per cell of a 32×32 grid). The default keeps "
        "an MVT tile near 500 KB (≈ 100 B a record) and Leaflet's SVG maps drawable "
        "(0: never aggregated)",
    )
    basemap_url: str | None = Field(
        None,
        description="XYZ tile URL template of a basemap for the maps (none by default: the "
        "jurisdiction boundaries are the base; the maps must work with no internet)",
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted, declared or streamed (bytes; 413 beyond)",
    )
    max_query_chars: int = Field(
        4096, ge=64, description="Longest query string accepted (characters; 414 beyond)"
    )
    max_bbox_km2: float = Field(
        25_000_000,
        gt=0,
        description="Largest bbox area an items request may ask for (km², on the sphere; "
        "the default covers a view of all of China; 400 beyond)",
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=0,
        description="Requests a minute per API key (or, without one, per client address) "
        "to everything but tiles, static files and /healthz (0: no limit; 429 beyond)",
    )
    rate_limit_burst: int = Field(
        120, ge=1, description="Requests a caller may make at once before the rate applies"
    )
    tile_rate_limit_per_minute: int = Field(
        6000,
        ge=0,
        description="Requests a minute per API key or address to /tiles/ and /static/ "
        "(a map view loads dozens of tiles; 0: no limit)",
    )
    tile_rate_limit_burst: int = Field(
        1200, ge=1, description="Tile and static requests a caller may make at once"
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses (IPs or networks, comma-separated) of the reverse proxies "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed: the client address the "
        "rate limits count and the audit log records, and https for the session cookie. "
        "Empty (the default): none, the client is the connection's peer",
    )
    cors_origins: str = Field(
        "",
        description="Origins (scheme://host[:port], comma-separated) whose browser scripts "
        "may call the API with a key (CORS); empty (the default): no cross-origin access",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        for address in split_list(value):
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {address!r} is not an IP address or network"
                ) from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in split_list(value):
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or (parts.path not in ("", "/") or parts.query or parts.fragment)
            ):
                raise ValueError(f"CORS origin {origin!r} is not scheme://host[:port]")
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """``trusted_proxies`` as a list."""
        return split_list(self.trusted_proxies)

    @property
    def cors_origin_list(self) -> list[str]:
        """``cors_origins`` as a list (without a trailing slash, as browsers send them)."""
        return [origin.rstrip("/") for origin in split_list(self.cors_origins)]

    draw_exclude_days: int = Field(
        365,
        ge=0,
        description="Enterprises inspected within this many days before a quarter are not "
        "drawn for it (双随机; 0: none excluded)",
    )
    draw_quotas: str = Field(
        "key=0.25,special=0.15,general=0.05",
        description="Share of each supervision category drawn per quarter, stratum=share "
        "comma-separated (each quota is rounded up)",
    )

    @field_validator("draw_quotas")
    @classmethod
    def _quotas_readable(cls, value: str) -> str:
        parse_quotas(value)
        return value

    risk_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RISK_WEIGHTS),
        description="Weight of each risk component (JSON mapping; components left out weigh "
        "0, the rest are renormalised to sum to 1)",
    )
    risk_tiers: str = Field(
        ",".join(f"{q:g}" for q in DEFAULT_TIERS),
        description="Score quantiles from which a cell or enterprise is high and medium risk",
    )
    dask_scheduler: str = Field(
        "",
        description="Address of the Dask scheduler `geo-service build --backend dask` uses "
        "(tcp://host:8786; its workers must see the build's partition directory); empty: a "
        "LocalCluster of 2 worker processes",
    )

    @field_validator("risk_weights")
    @classmethod
    def _known_components(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"unknown risk components {unknown}; known: {list(COMPONENTS)}")
        if any(not (w >= 0) for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("risk weights must be ≥ 0, at least one > 0")
        return value

    @field_validator("risk_tiers")
    @classmethod
    def _two_quantiles(cls, value: str) -> str:
        high, medium = _quantiles(value)
        if not 0 < medium <= high < 1:
            raise ValueError(
                "risk tiers are two quantiles 'high,medium' with 0 < medium ≤ high < 1"
            )
        return value

    @property
    def risk_tier_quantiles(self) -> tuple[float, float]:
        """``risk_tiers`` as numbers: (high, medium)."""
        return _quantiles(self.risk_tiers)


def split_list(text: str) -> list[str]:
    """The items of a comma-separated setting, stripped, empty ones left out.

    Examples
    --------
    >>> split_list(" 10.0.0.1, ,10.0.0.0/8 ")
    ['10.0.0.1', '10.0.0.0/8']
    """
    return [item.strip() for item in text.split(",") if item.strip()]


def _quantiles(text: str) -> tuple[float, float]:
    parts = [p.strip() for p in text.replace("，", ",").split(",")]
    try:
        high, medium = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"risk tiers {text!r} are not two numbers 'high,medium'") from None
    return high, medium


def parse_quotas(text: str) -> dict[str, float]:
    """``"key=0.25,special=0.15"`` as ``{"key": 0.25, "special": 0.15}``.

    Examples
    --------
    >>> parse_quotas("key=0.25, general=0.05")
    {'key': 0.25, 'general': 0.05}
    """
    quotas: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, share = (s.strip() for s in part.partition("="))
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not name or not 0.0 <= value <= 1.0 or name in quotas:
            raise ValueError(f"quota {part!r} is not stratum=share with a share in [0, 1]")
        quotas[name] = value
    if not quotas:
        raise ValueError("no quotas: give stratum=share, e.g. key=0.25,special=0.15,general=0.05")
    return quotas


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
