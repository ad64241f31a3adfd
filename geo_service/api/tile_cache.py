"""The tile service's memory: encoded tiles (bounded in bytes), prepared layers, data version.

Every key holds the store's data version, asked at most once per second, so a
new ingest makes new tiles appear within a second without a query per request;
when the version moves the caches are emptied. Encoded tiles are kept with
their gzip form and a strong ETag; prepared layers (a :class:`TileSource` or a
:class:`HeatSource`) are kept per layer, filters, parameters and version, and
built once even when many tiles of a new layer are asked for at the same time.

Tiles of point records (cases, inspections, enterprises, the risk of each
enterprise) with more than ``max_points`` records inside them (the setting
``GEO_TILE_MAX_POINTS``) carry aggregated points instead, counted by the store
on PostgreSQL and from the prepared layer otherwise: see :mod:`layers.tiles`.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import Request
from sqlalchemy import Engine

from geo_service.api.postgis_tiles import (
    AGGREGATE_SUMS,
    aggregated_bins,
    record_bounds,
    record_fields,
    record_tile_mvt,
    tile_bbox_lonlat,
)
from geo_service.builds.exports import load_layer
from geo_service.builds.risk import is_point_layer
from geo_service.builds.run import analytic_layer
from geo_service.core.errors import AuthenticationRequiredError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.db import is_postgres
from geo_service.store.models import RECORD_TABLES
from geo_service.store.queries import (
    RECORD_KEYS,
    data_version,
    provenance,
    read_jurisdictions,
    read_records,
)
from layers.heat import HeatSource
from layers.rasters import geotiff_to_surface
from layers.tiles import TileSource, aggregated_geojson_tile, geojson_tile, vector_tile

#: Long free texts left out of vector tiles (GeoJSON tiles and items keep them).
HEAVY_COLUMNS = ("description", "attributes")
GZIP_LEVEL = 1  # of cached tiles (see CachedTile.of)
#: ``GEO_TILE_MAX_POINTS``'s default, for services made without settings.
DEFAULT_MAX_POINTS: int = Settings.model_fields["tile_max_points"].default
_T = TypeVar("_T")


@dataclass(frozen=True)
class CachedTile:
    """An encoded tile or document: body (b"": empty), its gzip form, strong ETags."""

    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> CachedTile:
        """Hash and compress ``body`` once (gzip level 1: of a tile of 10k hexagons, 830 KB,
        level 6 took 33 ms, as long as encoding it, for a body 14 % smaller than level 1's
        7 ms)."""
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0) if body else None
        return cls(body, packed, f'"{digest}"', media_type)

    @property
    def etag_gzip(self) -> str:
        """The ETag of the gzip representation (a different one, as strong ETags must be)."""
        return self.etag[:-1] + '-gz"'

    @property
    def n_bytes(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + 256


class TileLru:
    """Least-recently-used tiles, bounded by their total size in bytes (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.n_bytes = 0
        self._items: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> CachedTile | None:
        with self._lock:
            tile = self._items.get(key)
            if tile is not None:
                self._items.move_to_end(key)
            return tile

    def put(self, key: Hashable, tile: CachedTile) -> None:
        if tile.n_bytes > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self.n_bytes += tile.n_bytes - (old.n_bytes if old else 0)
            self._items[key] = tile
            while self.n_bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.n_bytes -= dropped.n_bytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.n_bytes = 0


class Prepared:
    """A few prepared layers, least recently used first out; each built once at a time."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            building = self._building.setdefault(key, threading.Lock())
        with building:  # other threads asking for the same layer wait for this build
            with self._lock:
                if key in self._items:
                    return self._items[key]
            try:
                value = build()
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:  # stored before the build lock goes: no second build
                self._items[key] = value
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
                self._building.pop(key, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass(frozen=True)
class VectorLayer:
    """A feature layer ready for tiles, how it was made, and its extent (WGS84)."""

    source: TileSource
    provenance: dict[str, Any]
    bounds: tuple[float, float, float, float]


@dataclass(frozen=True)
class LayerSummary:
    """What a TileJSON says of a feature layer: field types, extent (WGS84), provenance."""

    fields: dict[str, str]
    bounds: tuple[float, float, float, float]
    provenance: dict[str, Any]


@dataclass(frozen=True)
class HeatLayer:
    """The KDE surface ready for heat tiles, and how it was made."""

    source: HeatSource
    provenance: dict[str, Any]


def feature_ids(frame: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """Integer MVT feature ids — the H3 cell, a numeric ``adcode`` or ``cluster`` — and the
    column whose value is the GeoJSON id (the H3 id as text: JSON numbers stop at 2^53;
    records: their natural key, which is text and not an MVT id)."""
    if "h3" in frame.columns:
        return np.array([int(s, 16) for s in frame["h3"]], dtype=np.uint64), "h3"
    # records: text natural keys (a record's own before the credit code it states)
    for key in ("case_id", "inspection_id", "project_id", "credit_code"):
        if key in frame.columns:
            return None, key
    for column in ("adcode", "cluster"):
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
            if len(values) and np.isfinite(values).all() and (values >= 0).all():
                return values.astype(np.uint64), column
    return None, None


def is_point_records(layer: str, parameters: dict[str, Any]) -> bool:
    """Whether the layer as asked is point records, whose crowded tiles are aggregated."""
    return layer in RECORD_TABLES or is_point_layer(layer, parameters)


class TileService:
    """Tiles of every layer, cached; one per application (``app.state.tile_service``)."""

    def __init__(
        self,
        engine: Engine,
        cache_mb: int,
        version_ttl_s: float = 1.0,
        max_layers: int = 8,
        settings: Settings | None = None,
        max_points: int | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings  # the risk layers' weights and tiers
        if max_points is None:  # not given: the settings' cap (0 given or set: never)
            max_points = settings.tile_max_points if settings else DEFAULT_MAX_POINTS
        #: Point tiles with more records than this inside them are aggregated (None: never).
        self.max_points: int | None = max_points or None
        self.tiles = TileLru(cache_mb * 2**20)
        self.layers = Prepared(max_layers)
        self.version_ttl_s = version_ttl_s
        self._version = (-1, -float("inf"))  # (version, when it was asked)
        self._lock = threading.Lock()

    def version(self) -> int:
        """The store's data version, asked at most once per ``version_ttl_s``."""
        known, asked = self._version
        now = time.monotonic()
        if now - asked < self.version_ttl_s:
            return known
        with self._lock:
            current = data_version(self.engine)
            if current != known:
                self.tiles.clear()
                self.layers.clear()
            self._version = (current, now)
        return current

    def refresh(self) -> int:
        """Ask the store's data version now rather than within ``version_ttl_s``: after a
        write in this process (a finding from the field), the next tile is of the new
        records."""
        self._version = (self._version[0], -float("inf"))
        return self.version()

    def peek(self, key: Hashable) -> CachedTile | None:
        """The cached tile under ``key`` if the data version is fresh; never blocks on the
        store (for the event loop: a miss goes to :meth:`cached` in a worker thread)."""
        known, asked = self._version
        if time.monotonic() - asked >= self.version_ttl_s:
            return None
        return self.tiles.get((key, known))

    def cached(self, key: Hashable, media_type: str, make: Callable[[], bytes]) -> CachedTile:
        """The tile under ``key`` (and the data version), made and kept if missing."""
        full_key = (key, self.version())
        tile = self.tiles.get(full_key)
        if tile is None:
            tile = CachedTile.of(make(), media_type)
            self.tiles.put(full_key, tile)
        return tile

    def vector_layer(self, layer: str, filters: Filters, parameters: dict[str, Any]) -> VectorLayer:
        """A feature layer prepared for tiles (loaded once per data version)."""
        key = ("vector", layer, filters, tuple(sorted(parameters.items())), self.version())
        return self.layers.get(key, lambda: self._load_vector(layer, filters, parameters))

    def feature_tile(
        self,
        layer: str,
        fmt: str,
        filters: Filters,
        parameters: dict[str, Any],
        index: tuple[int, int, int],
    ) -> bytes:
        """The encoded tile (``mvt`` or ``geojson``) of a feature layer; b"" if empty.

        Point records on PostgreSQL are read per tile (:meth:`record_tile`); every
        other layer is cut from the layer prepared once (:meth:`vector_layer`). A tile of
        point records with more than :attr:`max_points` records inside it carries their
        aggregated points (``aggregated: true``, ``count``, for cases ``penalty_sum``).
        """
        if layer in RECORD_TABLES and is_postgres(self.engine):
            return self.record_tile(layer, fmt, filters, index)
        source = self.vector_layer(layer, filters, parameters).source
        cap = self.max_points if is_point_records(layer, parameters) else None
        sums = AGGREGATE_SUMS.get(layer, {})
        if fmt == "geojson":
            return geojson_tile(source, *index, max_points=cap, sums=sums)
        return vector_tile(source, layer, *index, max_points=cap, sums=sums)

    def layer_summary(
        self, layer: str, filters: Filters, parameters: dict[str, Any]
    ) -> LayerSummary:
        """Field types, extent and provenance of a feature layer (for its TileJSON); point
        records on PostgreSQL from the column types and one extent query, not a load."""
        if layer in RECORD_TABLES and is_postgres(self.engine):
            if filters.min_count is not None:
                raise AuthenticationRequiredError(
                    f"{layer} are point records: they need an account"
                )
            found = record_bounds(self.engine, layer, filters)
            bounds = found or self._bounds(gpd.GeoDataFrame(geometry=[]), filters)
            return LayerSummary(
                record_fields(layer, HEAVY_COLUMNS), bounds, provenance(self.engine, layer, filters)
            )
        loaded = self.vector_layer(layer, filters, parameters)
        types = loaded.source.table.types
        fields = {k: types[k] for k in loaded.source.table.keys}
        return LayerSummary(fields, loaded.bounds, loaded.provenance)

    def record_tile(
        self, layer: str, fmt: str, filters: Filters, index: tuple[int, int, int]
    ) -> bytes:
        """A tile of point records straight from PostGIS, never the whole layer in memory:
        MVT by ``ST_AsMVT`` (:func:`record_tile_mvt`); GeoJSON cut by our encoder from the
        records in the buffered tile, found on the GiST index."""
        if filters.min_count is not None:  # the public view, as load_layer refuses it
            raise AuthenticationRequiredError(f"{layer} are point records: they need an account")
        if fmt != "geojson":
            return record_tile_mvt(
                self.engine,
                layer,
                filters,
                *index,
                exclude=HEAVY_COLUMNS,
                max_points=self.max_points,
            )
        if self.max_points is not None:
            bins = aggregated_bins(self.engine, layer, filters, *index, self.max_points)
            if bins is not None:
                return aggregated_geojson_tile(bins)
        frame = read_records(self.engine, layer, filters, bbox=tile_bbox_lonlat(*index))
        source = TileSource(frame, exclude=HEAVY_COLUMNS, id_column=RECORD_KEYS[layer])
        return geojson_tile(source, *index)

    def heat_layer(self, filters: Filters, parameters: dict[str, Any]) -> HeatLayer:
        """The KDE surface prepared for heat tiles (built when missing)."""
        key = ("heat", filters, tuple(sorted(parameters.items())), self.version())
        return self.layers.get(key, lambda: self._load_heat(filters, parameters))

    def _load_vector(self, layer: str, filters: Filters, parameters: dict[str, Any]) -> VectorLayer:
        frame, provenance = load_layer(self.engine, layer, filters, parameters, self.settings)
        ids, id_column = feature_ids(frame)
        source = TileSource(frame, ids=ids, exclude=HEAVY_COLUMNS, id_column=id_column)
        return VectorLayer(source, provenance, self._bounds(frame, filters))

    def _load_heat(self, filters: Filters, parameters: dict[str, Any]) -> HeatLayer:
        stored = analytic_layer(self.engine, "kde", filters, parameters)
        return HeatLayer(HeatSource(geotiff_to_surface(stored.payload)), stored.provenance())

    def _bounds(
        self, frame: gpd.GeoDataFrame, filters: Filters
    ) -> tuple[float, float, float, float]:
        """The layer's extent, else its jurisdiction's, else the whole service area's."""
        if len(frame) and np.isfinite(frame.total_bounds).all():
            w, s, e, n = (float(v) for v in frame.total_bounds)
            return w, s, e, n
        divisions = read_jurisdictions(self.engine, Filters(jurisdiction=filters.jurisdiction))
        if len(divisions):
            w, s, e, n = (float(v) for v in divisions.total_bounds)
            return w, s, e, n
        return (-180.0, -85.0511287798066, 180.0, 85.0511287798066)


_CREATE_LOCK = threading.Lock()


def tile_service(request: Request) -> TileService:
    """The application's tile service, made on first use from its settings."""
    service: TileService | None = getattr(request.app.state, "tile_service", None)
    if service is None:
        with _CREATE_LOCK:
            service = getattr(request.app.state, "tile_service", None)
            if service is None:
                settings = request.app.state.settings
                service = TileService(
                    request.app.state.engine, settings.tile_cache_mb, settings=settings
                )
                request.app.state.tile_service = service
    return service
