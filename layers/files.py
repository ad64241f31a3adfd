"""Writing a layer (a GeoDataFrame plus how it was made) as GeoJSON, GeoPackage, CSV or XLSX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.errors import UnsupportedFormatError
from layers.spreadsheets import safe_frame

FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: The most characters an Excel cell holds.
XLSX_CELL_CHARS = 32_767


def _plain_properties(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Properties with dates as ISO text and dicts as JSON text (portable everywhere)."""
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for column in props.columns:
        values = props[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            props[column] = values.dt.strftime("%Y-%m-%d").astype(object)
        elif values.dtype == object:
            props[column] = values.map(_plain_value)
    return props


def _plain_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_geojson_dict(
    gdf: gpd.GeoDataFrame, metadata: dict[str, Any], *, to_wgs84: bool = True
) -> dict[str, Any]:
    """A FeatureCollection with ``metadata`` as a foreign member.

    RFC 7946 (WGS84) by default; ``to_wgs84=False`` keeps the coordinates as
    they are (OGC API - Features Part 2 responses in another CRS).
    """
    reproject = to_wgs84 and gdf.crs is not None and not gdf.crs.equals(4326)
    wgs84 = gdf.to_crs(4326) if reproject else gdf
    props = _plain_properties(wgs84).astype(object)
    props = props.where(props.notna(), None)
    geometries = [None if g is None else shapely.geometry.mapping(g) for g in wgs84.geometry]
    features = [
        {"type": "Feature", "properties": p, "geometry": g}
        for p, g in zip(props.to_dict(orient="records"), geometries, strict=True)
    ]
    return {"type": "FeatureCollection", "metadata": metadata, "features": features}


def write_layer(gdf: gpd.GeoDataFrame, path: Path, fmt: str, metadata: dict[str, Any]) -> Path:
    """Write ``gdf`` to ``path`` in ``fmt`` with its provenance ``metadata``.

    GeoJSON carries it as the foreign member ``metadata``; GeoPackage as dataset
    layer metadata (JSON text under the key ``provenance``); CSV and XLSX as a side
    file ``<path>.metadata.json`` (CSV) or a second sheet ``metadata`` (XLSX).
    Points become ``lon``/``lat`` columns in CSV and XLSX, other geometries WKT. Text
    cells of CSV and XLSX that start like a formula get a ``'`` in front
    (:func:`layers.spreadsheets.safe_frame`).
    """
    if fmt not in FORMATS:
        raise UnsupportedFormatError(f"format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_text = json.dumps(metadata, ensure_ascii=False, default=str)
    if fmt == "geojson":
        with path.open("w", encoding="utf-8") as fh:
            json.dump(to_geojson_dict(gdf, metadata), fh, ensure_ascii=False, default=str)
        return path
    if fmt == "gpkg":
        out = gpd.GeoDataFrame(_plain_properties(gdf), geometry=gdf.geometry, crs=gdf.crs)
        out.to_file(path, driver="GPKG", engine="pyogrio", metadata={"provenance": meta_text})
        return path
    table = _tabular(gdf)
    if fmt == "csv":
        # CRLF ends records (RFC 4180), so that a cell holding a lone CR is quoted too
        safe_frame(table).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        path.with_name(path.name + ".metadata.json").write_text(meta_text, encoding="utf-8")
        return path
    table, simplified = _fit_spreadsheet_cells(table, gdf)
    if simplified:
        metadata = {**metadata, "wkt_simplified": simplified}
    meta_sheet = pd.DataFrame(
        {
            "key": list(metadata),
            "value": [json.dumps(v, ensure_ascii=False, default=str) for v in metadata.values()],
        }
    )
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        safe_frame(table).to_excel(writer, index=False, sheet_name="data")
        safe_frame(meta_sheet).to_excel(writer, index=False, sheet_name="metadata")
    return path


def _tabular(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    props = _plain_properties(gdf)
    geoms = gdf.geometry
    if len(geoms) and bool((geoms.geom_type == "Point").all()):
        props = props.drop(columns=[c for c in ("lon", "lat") if c in props])
        props["lon"] = geoms.x.to_numpy()
        props["lat"] = geoms.y.to_numpy()
    else:
        props["wkt"] = shapely.to_wkt(geoms.to_numpy(), rounding_precision=6)
    return props


def _fit_spreadsheet_cells(
    table: pd.DataFrame, gdf: gpd.GeoDataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """WKT too long for an Excel cell, simplified (topology kept) until it fits.

    Excel cuts cells at 32,767 characters, which would leave a broken polygon; the
    simplified rows and the largest tolerance used are reported in the metadata.
    """
    if "wkt" not in table or not len(table):
        return table, {}
    long = table["wkt"].str.len().to_numpy() > XLSX_CELL_CHARS
    if not long.any():
        return table, {}
    texts = [str(t) for t in table["wkt"]]
    tolerance = 0.0
    for row in np.flatnonzero(long):
        geometry, tolerance_row = gdf.geometry.iloc[int(row)], 1e-5
        while len(texts[row]) > XLSX_CELL_CHARS:
            tolerance_row *= 2
            simple = shapely.simplify(geometry, tolerance_row, preserve_topology=True)
            texts[row] = str(shapely.to_wkt(simple, rounding_precision=6))
        tolerance = max(tolerance, tolerance_row)
    table = table.assign(wkt=texts)
    why = "Excel cells hold 32,767 characters; GeoPackage/GeoJSON keep the full outline"
    note = {"rows": int(long.sum()), "max_tolerance_deg": tolerance, "why": why}
    return table, note


def write_tables_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> Path:
    """Write tables as the sheets of one XLSX workbook (lists and dicts as JSON text; text
    that starts like a formula with a ``'`` in front)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in sheets.items():
            plain = table.copy()
            for column in plain.columns:
                if plain[column].dtype == object:
                    plain[column] = plain[column].map(_plain_value)
            safe_frame(plain).to_excel(writer, index=False, sheet_name=name[:31])
    return path
