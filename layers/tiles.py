"""Web Mercator tiles of vector layers: tile maths, clipping, MVT, GeoJSON tiles, TileJSON.

A :class:`TileSource` prepares a layer once: geometries in Web Mercator, an
R-tree, flat coordinate arrays and property values encoded once. Each tile is
then cut with numpy: features wholly inside the buffered tile come from the
flat arrays, those crossing its edge are clipped with shapely, detailed layers
are simplified to one tile unit for the zoom, and :mod:`layers.vector_tiles`
encodes the result.

A tile of points asked for with ``max_points`` carries, when more points than
that lie inside it, aggregated points instead (:class:`PointBins`): one per
occupied cell of a regular grid of the tile's extent, at the mean position of
its points, with ``count``, the sums asked for and ``aggregated: true``. The
cells are found by comparing longitudes and latitudes with the grid's edges
(:func:`tile_grid`), so a store that bins in SQL with the same edges finds the
same cells and counts.

Examples
--------
>>> [round(v, 6) for v in tile_bounds_lonlat(1, 1, 0)]
[0.0, 0.0, 180.0, 85.051129]
>>> [round(v) for v in tile_bounds_m(0, 0, 0)]
[-20037508, -20037508, 20037508, 20037508]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from layers.errors import LayerError
from layers.vector_tiles import (
    EXTENT,
    Parts,
    ValueTable,
    encode_layer,
    encode_parts,
    encode_tile,
    explode,
    merge_parts,
    plain_value,
)

BUFFER: Final = 64  # tile units kept around the tile (so strokes and labels join)
MAX_ZOOM: Final = 22
EARTH_RADIUS_M: Final = 6378137.0
HALF_WORLD_M: Final = math.pi * EARTH_RADIUS_M
MAX_LAT: Final = 85.0511287798066
SIMPLIFY_BELOW_ZOOM: Final = 14  # detailed layers are simplified (1 tile unit) below this zoom
#: Side of an aggregation cell in tile units (of the 4096 extent): a 32 × 32 grid, so an
#: aggregated tile has at most 1,024 features; 8 px on a 256-px map tile, 16 px on a 512-px one.
AGGREGATE_CELL: Final = 128
#: The property every aggregated feature carries (true), that plain record features lack.
AGGREGATED: Final = "aggregated"

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


class TileError(LayerError):
    """Tile coordinates that cannot exist."""


def check_tile(z: int, x: int, y: int, max_zoom: int = MAX_ZOOM) -> None:
    """Raise :class:`TileError` unless 0 ≤ z ≤ ``max_zoom`` and 0 ≤ x, y < 2^z."""
    if not 0 <= z <= max_zoom:
        raise TileError(f"zoom {z} is outside 0..{max_zoom}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise TileError(f"tile {z}/{x}/{y}: x and y must be in 0..{2**z - 1} at zoom {z}")


def tile_bounds_m(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator (EPSG:3857) bounds of an XYZ tile: min x, min y, max x, max y in metres."""
    size = 2 * HALF_WORLD_M / 2**z
    min_x, max_y = -HALF_WORLD_M + x * size, HALF_WORLD_M - y * size
    return min_x, max_y - size, min_x + size, max_y


def lonlat_to_mercator(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Spherical Web Mercator metres of WGS84 degrees (latitudes clamped to ±85.0511°)."""
    lat_rad = np.radians(np.clip(np.asarray(lat, dtype=np.float64), -MAX_LAT, MAX_LAT))
    x = EARTH_RADIUS_M * np.radians(np.asarray(lon, dtype=np.float64))
    return x, EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + lat_rad / 2))


def mercator_to_lonlat(x_m: ArrayLike, y_m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 degrees of Web Mercator metres."""
    lon = np.degrees(np.asarray(x_m, dtype=np.float64) / EARTH_RADIUS_M)
    lat = np.degrees(2 * np.arctan(np.exp(np.asarray(y_m, dtype=np.float64) / EARTH_RADIUS_M)))
    return lon, lat - 90.0


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """WGS84 bounds of an XYZ tile: west, south, east, north."""
    min_x, min_y, max_x, max_y = tile_bounds_m(z, x, y)
    lon, lat = mercator_to_lonlat([min_x, max_x], [min_y, max_y])
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def _to_mercator(coords: FloatArray) -> FloatArray:
    x, y = lonlat_to_mercator(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _to_lonlat(coords: FloatArray) -> FloatArray:
    lon, lat = mercator_to_lonlat(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat]).round(7)


# ---------------------------------------------------------------- prepared layers


@dataclass(frozen=True)
class _Level:
    """Geometries (Web Mercator) at one level of detail, and their flat pieces."""

    geoms: NDArray[np.object_]
    parts: tuple[Parts, ...]


class TileSource:
    """A layer prepared for cutting tiles: Web Mercator geometries, an R-tree, flat
    coordinate arrays and the encoded property values, made once per layer.

    Parameters
    ----------
    frame : GeoDataFrame
        The features (any CRS; WGS84 when none is set).
    ids : array_like of int, optional
        Non-negative integer feature ids for the MVT ``id``.
    id_column : str, optional
        The property whose value is the GeoJSON ``id`` (default: ``ids``, if given).
    exclude : sequence of str
        Properties left out of vector tiles (long texts); GeoJSON tiles keep them.
    """

    def __init__(
        self,
        frame: gpd.GeoDataFrame,
        ids: ArrayLike | None = None,
        exclude: Sequence[str] = (),
        id_column: str | None = None,
    ) -> None:
        if frame.crs is not None and not frame.crs.equals(4326):
            frame = frame.to_crs(4326)
        geoms = np.asarray(frame.geometry.to_numpy(), dtype=object)
        geoms = np.where(shapely.is_missing(geoms), shapely.Point(), geoms)
        self.geometries = shapely.transform(geoms, _to_mercator)
        self.bounds = shapely.bounds(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        self.ids = None if ids is None else np.asarray(ids, dtype=np.uint64)
        self.id_column = id_column
        self.properties = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        mvt_columns = [c for c in self.properties.columns if c not in set(exclude)]
        self.table = ValueTable.from_frame(self.properties[mvt_columns])
        vertices = shapely.get_num_coordinates(geoms)
        self.detailed = bool(len(geoms)) and float(vertices.mean()) > 32
        self.lonlat = _point_lonlat(geoms)
        self._base = _Level(self.geometries, tuple(explode(self.geometries)))
        self._levels: dict[int, _Level] = {}

    def __len__(self) -> int:
        return len(self.geometries)

    @property
    def n_bytes(self) -> int:
        """A rough size in memory (coordinates, codes, values)."""
        coords = sum(p.coords.nbytes + p.offsets.nbytes for p in self._base.parts)
        values = sum(len(f) for f in self.table.fields)
        return 2 * coords + self.table.codes.nbytes + values + 64 * len(self)

    def _level(self, z: int) -> _Level:
        """Geometries simplified to one tile unit at zoom ``z`` (detailed layers only)."""
        if not self.detailed or z >= SIMPLIFY_BELOW_ZOOM:
            return self._base
        if z not in self._levels:
            tolerance = 2 * HALF_WORLD_M / 2**z / EXTENT
            simple = shapely.simplify(self.geometries, tolerance, preserve_topology=True)
            self._levels[z] = _Level(simple, tuple(explode(simple)))
        return self._levels[z]

    def select(self, z: int, x: int, y: int, buffer: int = BUFFER) -> tuple[list[Parts], Any]:
        """Pieces of the features in the buffered tile (clipped where they cross its edge),
        and the feature indices with their geometries (for GeoJSON)."""
        min_x, min_y, max_x, max_y = tile_bounds_m(z, x, y)
        pad = (max_x - min_x) * buffer / EXTENT
        rect = (min_x - pad, min_y - pad, max_x + pad, max_y + pad)
        found = np.sort(self.tree.query(shapely.box(*rect))).astype(np.int64)
        b = self.bounds[found]
        inside = (
            (b[:, 0] >= rect[0])
            & (b[:, 1] >= rect[1])
            & (b[:, 2] <= rect[2])
            & (b[:, 3] <= rect[3])
        )
        level = self._level(z)
        crossing = found[~inside]
        clipped = shapely.clip_by_rect(level.geoms[crossing], *rect)
        kept = ~shapely.is_empty(clipped)
        crossing, clipped = crossing[kept], clipped[kept]
        cut = {p.kind: p for p in explode(clipped, crossing)}
        parts = []
        for whole in (p.of_features(found[inside]) for p in level.parts):
            parts.append(merge_parts(whole, cut.pop(whole.kind)) if whole.kind in cut else whole)
        parts.extend(cut.values())
        features = np.concatenate([found[inside], crossing])
        geometries = np.concatenate([level.geoms[found[inside]], clipped])
        return parts, (features, geometries)

    @property
    def points(self) -> bool:
        """Whether every feature is a point (or has no geometry): the layer can be aggregated."""
        return self.lonlat is not None

    def in_tile(self, z: int, x: int, y: int, cell: int = AGGREGATE_CELL) -> IntArray:
        """The (sorted) points inside tile ``z/x/y`` itself, its buffer left out: longitude in
        [west, east) and latitude in [south, north) of :func:`tile_grid`'s edges. Candidates
        come from the R-tree; a point layer only (TileError otherwise)."""
        if self.lonlat is None:
            raise TileError("only a layer of points can be counted and aggregated per tile")
        lon_edges, lat_edges = tile_grid(z, x, y, cell)
        min_x, min_y, max_x, max_y = tile_bounds_m(z, x, y)
        pad = (max_x - min_x) / EXTENT  # one tile unit: every point the edges take is found
        box = shapely.box(min_x - pad, min_y - pad, max_x + pad, max_y + pad)
        found = np.sort(self.tree.query(box)).astype(np.int64)
        lon, lat = self.lonlat[found, 0], self.lonlat[found, 1]
        inside = _inside(lon, lat, lon_edges, lat_edges)
        return found[inside]

    def point_bins(
        self,
        z: int,
        x: int,
        y: int,
        sums: Mapping[str, str] | None = None,
        cell: int = AGGREGATE_CELL,
        inside: IntArray | None = None,
    ) -> PointBins:
        """The points inside tile ``z/x/y`` counted per cell of its grid (:func:`bin_points`);
        ``sums`` maps an output property to the column it sums (``{"penalty_sum":
        "penalty_amount"}``); ``inside``: :meth:`in_tile`'s answer, if already asked."""
        chosen = self.in_tile(z, x, y, cell) if inside is None else inside
        assert self.lonlat is not None  # in_tile refused any other layer
        values = {
            out: pd.to_numeric(self.properties[column].to_numpy()[chosen], errors="coerce")
            for out, column in (sums or {}).items()
        }
        return bin_points(self.lonlat[chosen, 0], self.lonlat[chosen, 1], z, x, y, values, cell)

    @cached_property
    def _plain(self) -> list[NDArray[np.object_]]:
        """Property columns as JSON-ready Python values (for GeoJSON tiles)."""
        columns = []
        for name in self.properties.columns:
            values = np.empty(len(self), dtype=object)
            values[:] = [plain_value(v) for v in self.properties[name].tolist()]
            columns.append(values)
        return columns

    def records(self, features: IntArray) -> list[dict[str, Any]]:
        """The properties of these features as dicts of plain values."""
        names = [str(c) for c in self.properties.columns]
        rows = zip(*(c[features] for c in self._plain), strict=True) if names else []
        return [dict(zip(names, row, strict=True)) for row in rows] or [{} for _ in features]


def _aggregates(
    source: TileSource,
    z: int,
    x: int,
    y: int,
    max_points: int | None,
    sums: Mapping[str, str] | None,
) -> PointBins | None:
    """The tile's aggregated points when it is a point layer with more than ``max_points``
    points inside the tile (None: the tile carries its features)."""
    if max_points is None or not source.points:
        return None
    inside = source.in_tile(z, x, y)
    return source.point_bins(z, x, y, sums, inside=inside) if len(inside) > max_points else None


def vector_tile(
    source: TileSource,
    name: str,
    z: int,
    x: int,
    y: int,
    extent: int = EXTENT,
    buffer: int = BUFFER,
    *,
    max_points: int | None = None,
    sums: Mapping[str, str] | None = None,
) -> bytes:
    """The MVT tile ``z/x/y`` of a prepared layer (one layer called ``name``); b"" if empty.

    A point layer with more than ``max_points`` points inside the tile gives its aggregated
    points instead (:func:`aggregated_vector_tile`, with the ``sums`` of
    :meth:`TileSource.point_bins`); None: never aggregated.
    """
    bins = _aggregates(source, z, x, y, max_points, sums)
    if bins is not None:
        return aggregated_vector_tile(bins, name, extent)
    parts, _ = source.select(z, x, y, buffer)
    min_x, _, max_x, max_y = tile_bounds_m(z, x, y)
    scale = extent / (max_x - min_x)
    encoded = [encode_parts(p, (min_x, max_y), (scale, -scale)) for p in parts if len(p.feature)]
    return encode_layer(name, encoded, source.table, source.ids, extent)


def geojson_tile(
    source: TileSource,
    z: int,
    x: int,
    y: int,
    buffer: int = BUFFER,
    *,
    max_points: int | None = None,
    sums: Mapping[str, str] | None = None,
) -> bytes:
    """The GeoJSON tile ``z/x/y`` (RFC 7946, WGS84, clipped to the tile plus ``buffer``
    tile units, simplified for the zoom), UTF-8; b"" if empty. Above ``max_points`` points
    inside the tile: its aggregated points (:func:`aggregated_geojson_tile`)."""
    bins = _aggregates(source, z, x, y, max_points, sums)
    if bins is not None:
        return aggregated_geojson_tile(bins)
    _, (features, geometries) = source.select(z, x, y, buffer)
    if not len(features):
        return b""
    order = np.argsort(features, kind="stable")
    features, geometries = features[order], geometries[order]
    lonlat = shapely.orient_polygons(shapely.transform(geometries, _to_lonlat), exterior_cw=False)
    texts = shapely.to_geojson(lonlat)
    if source.id_column is not None:
        values = source.properties[source.id_column].to_numpy()[features]
        ids = [None if v is None else str(plain_value(v)) for v in values]  # as items: text
    else:
        ids = [None] * len(features) if source.ids is None else source.ids[features].tolist()
    items = []
    for fid, geometry, props in zip(ids, texts, source.records(features), strict=True):
        id_member = "" if fid is None else f'"id":{json.dumps(fid, ensure_ascii=False)},'
        items.append(
            f'{{"type":"Feature",{id_member}"geometry":{geometry},"properties":'
            f"{json.dumps(props, ensure_ascii=False)}}}"
        )
    return ('{"type":"FeatureCollection","features":[' + ",".join(items) + "]}").encode("utf-8")


# ---------------------------------------------------------------- aggregated points


def _point_lonlat(geoms: NDArray[np.object_]) -> FloatArray | None:
    """(n, 2) WGS84 lon/lat of a layer of points (NaN: no geometry); None if any is not a point."""
    empty = shapely.is_empty(geoms)
    if not ((shapely.get_type_id(geoms) == 0) | empty).all():
        return None
    lonlat = np.full((len(geoms), 2), np.nan)
    lonlat[~empty, 0] = shapely.get_x(geoms[~empty])
    lonlat[~empty, 1] = shapely.get_y(geoms[~empty])
    return lonlat


def tile_grid(
    z: int, x: int, y: int, cell: int = AGGREGATE_CELL, extent: int = EXTENT
) -> tuple[FloatArray, FloatArray]:
    """Longitudes and latitudes (ascending, n + 1 each) of the edges of the regular grid of
    ``cell`` × ``cell`` tile units over tile ``z/x/y``: n = extent / cell cells a side, equal
    in Web Mercator. A point is in the tile when west ≤ lon < east and south ≤ lat < north.

    Each edge is computed from its index in the grid of the whole zoom level, so a tile's
    east (north) edge is the same float as its neighbour's west (south) edge: every point
    is in exactly one tile of a zoom.

    Examples
    --------
    >>> lon, lat = tile_grid(1, 1, 0, cell=2048)
    >>> [round(float(v), 4) for v in lon], [round(float(v), 4) for v in lat]
    ([0.0, 90.0, 180.0], [0.0, 66.5133, 85.0511])
    """
    if cell <= 0 or extent % cell or (extent // cell) & (extent // cell - 1):
        raise TileError(f"{extent} / {cell} tile units is not a power of two cells a side")
    n = extent // cell
    size = 2 * HALF_WORLD_M / 2**z  # metres a tile
    steps = np.arange(n + 1, dtype=np.float64) / n  # exact: n is a power of two
    xs = -HALF_WORLD_M + (x + steps) * size
    ys = HALF_WORLD_M - (y + steps[::-1]) * size  # south to north
    lon, _ = mercator_to_lonlat(xs, np.zeros(n + 1))
    _, lat = mercator_to_lonlat(np.zeros(n + 1), ys)
    return lon, lat


def _inside(
    lon: FloatArray, lat: FloatArray, lon_edges: FloatArray, lat_edges: FloatArray
) -> NDArray[np.bool_]:
    return (
        (lon >= lon_edges[0])
        & (lon < lon_edges[-1])
        & (lat >= lat_edges[0])
        & (lat < lat_edges[-1])
    )


@dataclass(frozen=True)
class PointBins:
    """The points of one tile counted per cell of its grid (:func:`tile_grid`), occupied
    cells only, ordered by row then column.

    ``column`` runs west to east and ``row`` north to south (as tile y), 0 … n − 1;
    ``lon``/``lat`` are the mean position of the cell's points; ``sums`` are totals of
    property values per cell (NaN where none of its points has a value).
    """

    z: int
    x: int
    y: int
    cell: int
    column: IntArray
    row: IntArray
    count: IntArray
    lon: FloatArray
    lat: FloatArray
    sums: dict[str, FloatArray]

    @classmethod
    def from_sums(
        cls,
        z: int,
        x: int,
        y: int,
        cell: int,
        column: ArrayLike,
        row: ArrayLike,
        count: ArrayLike,
        sum_lon: ArrayLike,
        sum_lat: ArrayLike,
        sums: Mapping[str, ArrayLike],
    ) -> PointBins:
        """Bins from per-cell counts and sums (made here or by a database's GROUP BY)."""
        n = np.asarray(count, dtype=np.int64)
        col, row_ = np.asarray(column, dtype=np.int64), np.asarray(row, dtype=np.int64)
        order = np.lexsort((col, row_))
        totals = {k: np.asarray(v, dtype=np.float64)[order] for k, v in sums.items()}
        return cls(
            z,
            x,
            y,
            cell,
            col[order],
            row_[order],
            n[order],
            (np.asarray(sum_lon, dtype=np.float64) / np.maximum(n, 1))[order],
            (np.asarray(sum_lat, dtype=np.float64) / np.maximum(n, 1))[order],
            totals,
        )

    def __len__(self) -> int:
        return len(self.count)

    def tile_units(self, extent: int = EXTENT) -> FloatArray:
        """(n, 2) positions in tile units (x right, y down), not rounded."""
        min_x, _, max_x, max_y = tile_bounds_m(self.z, self.x, self.y)
        scale = extent / (max_x - min_x)
        xm, ym = lonlat_to_mercator(self.lon, self.lat)
        return np.column_stack([(xm - min_x) * scale, (max_y - ym) * scale])

    def properties(self) -> pd.DataFrame:
        """``count``, the sums, ``aggregated`` (true): the features' properties."""
        return pd.DataFrame(
            {"count": self.count, **self.sums, AGGREGATED: np.ones(len(self), dtype=bool)}
        )


def bin_points(
    lon: ArrayLike,
    lat: ArrayLike,
    z: int,
    x: int,
    y: int,
    values: Mapping[str, ArrayLike] | None = None,
    cell: int = AGGREGATE_CELL,
) -> PointBins:
    """Count the points inside tile ``z/x/y`` (others are left out) per cell of its grid,
    with their mean position and the per-cell sums of ``values`` (NaN values skipped).

    Examples
    --------
    >>> bins = bin_points([10.0, 10.2, 100.0, 200.0], [10.0, 10.2, 50.0, 0.0], 1, 1, 0,
    ...                   {"fine": [1.0, 2.0, np.nan, 5.0]}, cell=2048)
    >>> bins.column.tolist(), bins.row.tolist(), bins.count.tolist(), bins.sums["fine"].tolist()
    ([0, 1], [1, 1], [2, 1], [3.0, nan])
    >>> [round(float(v), 2) for v in bins.lon]
    [10.1, 100.0]
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    lon_edges, lat_edges = tile_grid(z, x, y, cell)
    keep = _inside(lon_a, lat_a, lon_edges, lat_edges)
    n = len(lon_edges) - 1
    lon_a, lat_a = lon_a[keep], lat_a[keep]
    # the cell whose lower edges are the last at or below the point (SQL's width_bucket − 1)
    column = np.searchsorted(lon_edges[:-1], lon_a, side="right") - 1
    from_south = np.searchsorted(lat_edges[:-1], lat_a, side="right") - 1
    flat = (n - 1 - from_south) * n + column
    cells, index = np.unique(flat, return_inverse=True)
    count = np.bincount(index, minlength=len(cells))
    sums = {}
    for name, raw in (values or {}).items():
        v = np.asarray(raw, dtype=np.float64)[keep]
        has = ~np.isnan(v)
        total = np.bincount(index, weights=np.where(has, v, 0.0), minlength=len(cells))
        seen = np.bincount(index, weights=has.astype(np.float64), minlength=len(cells))
        sums[name] = np.where(seen > 0, total, np.nan)
    return PointBins.from_sums(
        z,
        x,
        y,
        cell,
        cells % n,
        cells // n,
        count,
        np.bincount(index, weights=lon_a, minlength=len(cells)),
        np.bincount(index, weights=lat_a, minlength=len(cells)),
        sums,
    )


def aggregated_vector_tile(bins: PointBins, name: str, extent: int = EXTENT) -> bytes:
    """The MVT tile of aggregated points: one point feature per cell (layer ``name``), at
    the mean position of its points, with ``count``, the sums and ``aggregated: true``."""
    if not len(bins):
        return b""
    units = bins.tile_units(extent)
    points = shapely.points(units)
    return encode_tile(name, points, bins.properties(), extent=extent)


def aggregated_geojson_tile(bins: PointBins) -> bytes:
    """The GeoJSON tile of aggregated points (WGS84 mean positions, 7 decimals), UTF-8."""
    if not len(bins):
        return b""
    rows = bins.properties().to_dict(orient="records")
    items = []
    for lon, lat, row in zip(bins.lon.round(7), bins.lat.round(7), rows, strict=True):
        props = {k: plain_value(v) for k, v in row.items()}
        items.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                "properties": props,
            }
        )
    doc = {"type": "FeatureCollection", "features": items}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def tilejson(
    name: str,
    tiles: str,
    bounds: Sequence[float],
    *,
    minzoom: int = 0,
    maxzoom: int = 14,
    fields: dict[str, str] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
    layer_description: str | None = None,
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document; ``fields`` given: a vector layer called ``name``, described
    by ``layer_description`` (default: ``description``).

    The centre is the middle of ``bounds`` at the zoom where they fill about a
    1000-pixel view.
    """
    west, south, east, north = (float(v) for v in bounds)
    span = max(east - west, (north - south) * 1.2, 1e-9)
    zoom = int(np.clip(math.floor(math.log2(360 * 4 / span)), minzoom, maxzoom))
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, zoom],
    }
    if fields is not None:
        about = description if layer_description is None else layer_description
        doc["vector_layers"] = [
            {
                "id": name,
                "description": about,
                "fields": fields,
                "minzoom": minzoom,
                "maxzoom": maxzoom,
            }
        ]
    return {**doc, **(extra or {})}
