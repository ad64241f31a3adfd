"""Offline tile packages: a layer's vector tiles as one MBTiles or PMTiles file.

Pure: the tiles (XYZ index → encoded MVT bytes) and what the package says of them
(:class:`PackageInfo`) in, the file's bytes out. The tiles to ask for are those of
Web Mercator covering a lon/lat box over a zoom range (:func:`covering_tiles`), counted
first (:func:`check_tile_count`) so that a request cannot ask for millions.

MBTiles follows the 1.3 specification: a SQLite file with a ``metadata`` table (name,
format=pbf, bounds, center, minzoom, maxzoom, json with ``vector_layers``) and a
``tiles`` table whose rows are numbered TMS-wise, from the south (``y`` flipped).
PMTiles is version 3, written by :mod:`pmtiles.writer`. In both the tiles are gzip'd,
as the specifications expect of vector tiles, and empty tiles are left out.

Examples
--------
>>> zooms = ZoomRange(5, 6)
>>> count_tiles((108.2, 22.7, 108.6, 23.0), zooms)
2
>>> list(covering_tiles((108.2, 22.7, 108.6, 23.0), zooms))
[(5, 25, 13), (6, 51, 27)]
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

import morecantile
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from layers.errors import LayerError

#: Tiles one package may hold at most (before empty ones are left out).
MAX_PACKAGE_TILES: Final = 10_000
#: MBTiles 1.3: the SQLite ``application_id`` of an MBTiles file ("MPBX").
MBTILES_APPLICATION_ID: Final = 0x4D504258
#: The MBTiles 1.3 tables, and the application id ("MPBX") that marks the file as one.
_MBTILES_SCHEMA: Final = """
PRAGMA application_id = 1297105496;
CREATE TABLE metadata (name TEXT, value TEXT);
CREATE UNIQUE INDEX name ON metadata (name);
CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row);
"""
_WEB_MERCATOR: Final = morecantile.tms.get("WebMercatorQuad")
_EPSILON: Final = 1e-9  # degrees: a box ending on a tile's edge does not take the next tile

Bounds = tuple[float, float, float, float]
TileIndex = tuple[int, int, int]


class TilePackageError(LayerError):
    """A package that cannot be made as asked (a 400 over HTTP)."""

    code = "bad_parameter"


class BadZoomRangeError(TilePackageError):
    """A zoom range outside the tile set's, or upside down."""

    code = "bad_zoom_range"


class TooManyTilesError(TilePackageError):
    """More tiles asked for than a package holds (:data:`MAX_PACKAGE_TILES`)."""

    code = "too_many_tiles"


@dataclass(frozen=True)
class ZoomRange:
    """The zoom levels of a package, ``minzoom`` to ``maxzoom`` inclusive."""

    minzoom: int
    maxzoom: int

    def check(self, deepest: int) -> ZoomRange:
        """This range if 0 ≤ minzoom ≤ maxzoom ≤ ``deepest``; :class:`BadZoomRangeError`
        (in Chinese and English) otherwise."""
        if not 0 <= self.minzoom <= self.maxzoom <= deepest:
            raise BadZoomRangeError(
                f"缩放级别须满足 0 ≤ minzoom ≤ maxzoom ≤ {deepest}，收到 "
                f"{self.minzoom}–{self.maxzoom}。Zoom levels must satisfy 0 ≤ minzoom ≤ "
                f"maxzoom ≤ {deepest}; got {self.minzoom}–{self.maxzoom}."
            )
        return self

    @property
    def levels(self) -> range:
        return range(self.minzoom, self.maxzoom + 1)


def tile_span(bounds: Bounds, z: int) -> tuple[int, int, int, int]:
    """The columns and rows (``x0, y0, x1, y1``, inclusive) of the XYZ tiles at zoom ``z``
    covering a lon/lat box (west, south, east, north)."""
    west, south, east, north = bounds
    top_left = _WEB_MERCATOR.tile(west + _EPSILON, north - _EPSILON, z, truncate=True)
    bottom_right = _WEB_MERCATOR.tile(
        max(west, east - _EPSILON), min(north, south + _EPSILON), z, truncate=True
    )
    return top_left.x, top_left.y, bottom_right.x, bottom_right.y


def count_tiles(bounds: Bounds, zooms: ZoomRange) -> int:
    """How many tiles :func:`covering_tiles` gives."""
    total = 0
    for z in zooms.levels:
        x0, y0, x1, y1 = tile_span(bounds, z)
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


def check_tile_count(bounds: Bounds, zooms: ZoomRange, max_tiles: int = MAX_PACKAGE_TILES) -> int:
    """The number of tiles covering the box, or :class:`TooManyTilesError` (bilingual)
    beyond ``max_tiles``."""
    n = count_tiles(bounds, zooms)
    if n > max_tiles:
        raise TooManyTilesError(
            f"缩放级别 {zooms.minzoom}–{zooms.maxzoom} 需要 {n:,} 个瓦片，超过离线包上限 "
            f"{max_tiles:,}：请降低 maxzoom 或缩小辖区。Zoom {zooms.minzoom}–{zooms.maxzoom} "
            f"takes {n:,} tiles, more than a package holds ({max_tiles:,}): ask for a lower "
            "maxzoom or a smaller jurisdiction."
        )
    return n


def covering_tiles(bounds: Bounds, zooms: ZoomRange) -> Iterator[TileIndex]:
    """The XYZ tiles (z, x, y) covering a lon/lat box, zoom by zoom, row by row."""
    for z in zooms.levels:
        x0, y0, x1, y1 = tile_span(bounds, z)
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                yield z, x, y


@dataclass(frozen=True)
class PackageInfo:
    """What a package says of its tiles: the MVT layer's name, its title, the box and
    zoom levels it covers, the field types (``Number``, ``String``, ``Boolean``) and
    free-text description and attribution."""

    layer: str
    title: str
    bounds: Bounds
    zooms: ZoomRange
    fields: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    attribution: str = ""

    @property
    def center(self) -> tuple[float, float, int]:
        west, south, east, north = self.bounds
        return (west + east) / 2, (south + north) / 2, self.zooms.minzoom

    def vector_layers(self) -> list[dict[str, object]]:
        """The TileJSON ``vector_layers`` of the package (one layer)."""
        return [
            {
                "id": self.layer,
                "description": self.title,
                "minzoom": self.zooms.minzoom,
                "maxzoom": self.zooms.maxzoom,
                "fields": dict(self.fields),
            }
        ]


def _packed(tiles: Mapping[TileIndex, bytes]) -> dict[TileIndex, bytes]:
    """The non-empty tiles gzip'd (no time stamp: the same tiles, the same file)."""
    return {i: gzip.compress(b, compresslevel=6, mtime=0) for i, b in tiles.items() if b}


def _numbers(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:.7g}" if isinstance(v, int) else f"{v:.7f}" for v in values)


def mbtiles_metadata(info: PackageInfo) -> dict[str, str]:
    """The rows of an MBTiles 1.3 ``metadata`` table."""
    lon, lat, zoom = info.center
    return {
        "name": info.title,
        "format": "pbf",
        "type": "overlay",
        "version": "1",
        "bounds": _numbers(info.bounds),
        "center": f"{lon:.7f},{lat:.7f},{zoom}",
        "minzoom": str(info.zooms.minzoom),
        "maxzoom": str(info.zooms.maxzoom),
        "description": info.description or info.title,
        "attribution": info.attribution,
        "json": json.dumps({"vector_layers": info.vector_layers()}, ensure_ascii=False),
    }


def mbtiles_bytes(tiles: Mapping[TileIndex, bytes], info: PackageInfo) -> bytes:
    """An MBTiles 1.3 file of XYZ-indexed MVT tiles (gzip'd inside; rows TMS-wise).

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> info = PackageInfo("p", "P", (0.0, 0.0, 1.0, 1.0), ZoomRange(1, 1))
    >>> data = mbtiles_bytes({(1, 1, 0): b"tile", (1, 1, 1): b""}, info)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.mbtiles"
    >>> _ = path.write_bytes(data)
    >>> db = sqlite3.connect(path)
    >>> db.execute("SELECT zoom_level, tile_column, tile_row FROM tiles").fetchall()
    [(1, 1, 1)]
    >>> db.close()
    """
    with sqlite3.connect(":memory:") as db:
        db.executescript(_MBTILES_SCHEMA)
        db.executemany("INSERT INTO metadata VALUES (?, ?)", mbtiles_metadata(info).items())
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            (((z, x, (1 << z) - 1 - y, data)) for (z, x, y), data in _packed(tiles).items()),
        )
        db.commit()
        data = db.serialize()
    db.close()
    return bytes(data)


def _e7(degrees: float) -> int:
    return round(degrees * 10_000_000)


def pmtiles_bytes(tiles: Mapping[TileIndex, bytes], info: PackageInfo) -> bytes:
    """A PMTiles v3 file of XYZ-indexed MVT tiles (gzip'd inside, clustered by tile id).

    A package of no tile at all cannot be written (PMTiles has no empty form):
    :class:`TilePackageError`.
    """
    packed = _packed(tiles)
    if not packed:
        raise TilePackageError("no tile holds data: PMTiles cannot be empty")
    west, south, east, north = info.bounds
    lon, lat, zoom = info.center
    header = {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": _e7(west),
        "min_lat_e7": _e7(south),
        "max_lon_e7": _e7(east),
        "max_lat_e7": _e7(north),
        "center_zoom": zoom,
        "center_lon_e7": _e7(lon),
        "center_lat_e7": _e7(lat),
    }
    metadata = {
        "name": info.title,
        "description": info.description or info.title,
        "attribution": info.attribution,
        "type": "overlay",
        "minzoom": str(info.zooms.minzoom),
        "maxzoom": str(info.zooms.maxzoom),
        "vector_layers": info.vector_layers(),
    }
    out = io.BytesIO()
    writer = Writer(out)
    for tile_id, data in sorted((zxy_to_tileid(*i), d) for i, d in packed.items()):
        writer.write_tile(tile_id, data)
    writer.finalize(header, metadata)
    return out.getvalue()
