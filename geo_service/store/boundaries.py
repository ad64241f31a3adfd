"""Administrative divisions: loading the bundled boundaries and reading them back."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, delete, insert, select

from geo_service.core.errors import InputFileError
from geo_service.core.paths import BUNDLED_BOUNDARIES, BUNDLED_DIVISIONS
from geo_service.store.models import Jurisdiction

LEVELS = ("province", "city", "county")
_COLUMNS = ("adcode", "name", "level", "parent_adcode", "city_adcode", "province_adcode")


def divisions_path(boundaries: str | Path) -> Path:
    """The file of bundled boundaries by name (``guangxi``, ``china``), else the path itself."""
    return BUNDLED_BOUNDARIES.get(str(boundaries), Path(boundaries))


def read_divisions_file(path: Path = BUNDLED_DIVISIONS) -> gpd.GeoDataFrame:
    """Read a divisions file in WGS84.

    GeoJSON or GeoPackage with the bundled file's columns; a name ending in
    ``.gz`` is read gzip-compressed (as the bundled national file is).
    """
    try:
        if Path(path).suffix == ".gz":
            gdf = gpd.read_file(gzip.decompress(Path(path).read_bytes()))
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated types
        raise InputFileError(f"cannot read boundaries {path}: {exc}") from exc
    missing = [c for c in _COLUMNS if c not in gdf.columns]
    if missing:
        raise InputFileError(f"boundaries {path} lack columns {missing}")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    bad_levels = set(gdf["level"]) - set(LEVELS)
    if bad_levels:
        raise InputFileError(f"boundaries {path}: unknown levels {sorted(bad_levels)}")
    return gdf


def load_divisions(engine: Engine, divisions: gpd.GeoDataFrame) -> int:
    """Replace the stored jurisdictions by ``divisions``; returns how many were stored."""
    geoms = shapely.make_valid(divisions.geometry.to_numpy())
    reps = shapely.point_on_surface(geoms)
    bounds = shapely.bounds(geoms)
    rows = [
        {
            "adcode": str(r.adcode),
            "name": str(r.name),
            "level": str(r.level),
            "parent_adcode": _opt(r.parent_adcode),
            "city_adcode": _opt(r.city_adcode),
            "province_adcode": str(r.province_adcode),
            "rep_lon": float(shapely.get_x(rep)),
            "rep_lat": float(shapely.get_y(rep)),
            "min_lon": float(b[0]),
            "min_lat": float(b[1]),
            "max_lon": float(b[2]),
            "max_lat": float(b[3]),
            "geom_wkb": shapely.to_wkb(g),
        }
        for r, g, rep, b in zip(divisions.itertuples(), geoms, reps, bounds, strict=True)
    ]
    with engine.begin() as conn:
        conn.execute(delete(Jurisdiction))
        conn.execute(insert(Jurisdiction), rows)
    return len(rows)


def _opt(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return str(value)


@dataclass(frozen=True)
class Divisions:
    """The stored jurisdictions, ready for point-in-polygon and name look-ups."""

    table: gpd.GeoDataFrame  # one row per division, index = adcode

    @property
    def counties(self) -> gpd.GeoDataFrame:
        """County-level divisions only (the finest level), sorted by adcode."""
        return self.table[self.table["level"] == "county"].sort_index()

    def of_level(self, level: str) -> gpd.GeoDataFrame:
        """Divisions of one level, sorted by adcode."""
        return self.table[self.table["level"] == level].sort_index()


def read_divisions(engine: Engine) -> Divisions:
    """Read the stored jurisdictions as a :class:`Divisions` (WGS84)."""
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(select(Jurisdiction.__table__)).mappings().all())
    if df.empty:
        return Divisions(gpd.GeoDataFrame({c: [] for c in _COLUMNS}, geometry=[], crs=4326))
    geometry = shapely.from_wkb(df.pop("geom_wkb").to_numpy())
    gdf = gpd.GeoDataFrame(df, geometry=geometry, crs="EPSG:4326").set_index("adcode", drop=False)
    gdf.index.name = None
    return Divisions(gdf)
