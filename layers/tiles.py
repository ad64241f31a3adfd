"""Web Mercator tiles of vector layers: tile maths, clipping, MVT, GeoJSON tiles, TileJSON.

A :class:`TileSource` prepares a layer once: geometries in Web Mercator, an
R-tree, flat coordinate arrays and property values encoded once. Each tile is
then cut with numpy: features wholly inside the buffered tile come from the
flat arrays, those crossing its edge are clipped with shapely, detailed layers
are simplified to one tile unit for the zoom, and :mod:`layers.vector_tiles`
encodes the result.

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
from collections.abc import Sequence
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
        inside = (b[:, 0] >= rect[0]) & (b[:, 1] >= rect[1]) & (b[:, 2] <= rect[2]) & (
            b[:, 3] <= rect[3])  # fmt: skip
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


def vector_tile(source: TileSource, name: str, z: int, x: int, y: int,
                extent: int = EXTENT, buffer: int = BUFFER) -> bytes:  # fmt: skip
    """The MVT tile ``z/x/y`` of a prepared layer (one layer called ``name``); b"" if empty."""
    parts, _ = source.select(z, x, y, buffer)
    min_x, _, max_x, max_y = tile_bounds_m(z, x, y)
    scale = extent / (max_x - min_x)
    encoded = [encode_parts(p, (min_x, max_y), (scale, -scale)) for p in parts if len(p.feature)]
    return encode_layer(name, encoded, source.table, source.ids, extent)


def geojson_tile(source: TileSource, z: int, x: int, y: int, buffer: int = BUFFER) -> bytes:
    """The GeoJSON tile ``z/x/y`` (RFC 7946, WGS84, clipped to the tile plus ``buffer``
    tile units, simplified for the zoom), UTF-8; b"" if empty."""
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
        items.append(f'{{"type":"Feature",{id_member}"geometry":{geometry},"properties":'
                     f"{json.dumps(props, ensure_ascii=False)}}}")  # fmt: skip
    return ('{"type":"FeatureCollection","features":[' + ",".join(items) + "]}").encode("utf-8")


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
) -> dict[str, Any]:
    """A TileJSON 3.0.0 document; ``fields`` given: a vector layer called ``name``.

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
        doc["vector_layers"] = [{"id": name, "description": description, "fields": fields,
                                 "minzoom": minzoom, "maxzoom": maxzoom}]  # fmt: skip
    return {**doc, **(extra or {})}
