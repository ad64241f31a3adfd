"""Writing a layer (a GeoDataFrame plus how it was made) as GeoJSON, GeoPackage, CSV or XLSX."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.errors import UnsupportedFormatError
from layers.spreadsheets import safe_frame

FORMATS = ("geojson", "gpkg", "csv", "xlsx")
#: The GeoPackage version written: 1.3, the newest that GDAL 3.6 (Debian 12, QGIS 3.22)
#: reads without a warning (a current GDAL writes 1.4 unless told).
GPKG_VERSION = "1.3"
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


@dataclass(frozen=True)
class LayerNames:
    """What a layer is called inside a GeoPackage: its table ``name`` (the collection's),
    its ``title`` (``gpkg_contents.identifier``) and its fields' ``aliases`` (column →
    label, Chinese first: ``"罚款金额（元）penalty (yuan)"``)."""

    name: str
    title: str = ""
    aliases: Mapping[str, str] = field(default_factory=dict)


def write_layer(
    gdf: gpd.GeoDataFrame,
    path: Path,
    fmt: str,
    metadata: dict[str, Any],
    names: LayerNames | None = None,
) -> Path:
    """Write ``gdf`` to ``path`` in ``fmt`` with its provenance ``metadata``.

    GeoJSON carries it as the foreign member ``metadata``; GeoPackage as dataset
    layer metadata (JSON text under the key ``provenance``, in ``gpkg_metadata``) and as
    the layer's description; CSV and XLSX as a side file ``<path>.metadata.json`` (CSV) or
    a second sheet ``metadata`` (XLSX).
    A GeoPackage is version :data:`GPKG_VERSION`; its layer is ``names.name`` (else the
    ``layer`` of ``metadata``, else the file's stem), its fields' Chinese titles are in
    ``gpkg_data_columns`` (the schema extension) and, for QGIS, in the layer's default
    style (:func:`write_gpkg_field_titles`).
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
        names = names or LayerNames(str(metadata.get("layer") or path.stem))
        out = gpd.GeoDataFrame(_plain_properties(gdf), geometry=gdf.geometry, crs=gdf.crs)
        out.to_file(
            path,
            driver="GPKG",
            engine="pyogrio",
            layer=names.name,
            metadata={"provenance": meta_text},
            dataset_options={"VERSION": GPKG_VERSION},
            layer_options={
                "IDENTIFIER": names.title or names.name,
                "DESCRIPTION": provenance_text(metadata),
            },
        )
        aliases = {c: a for c, a in names.aliases.items() if c in out.columns}
        write_gpkg_field_titles(path, names.name, aliases)
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


def provenance_text(metadata: Mapping[str, Any]) -> str:
    """One line saying how a layer was made, Chinese first (a GeoPackage layer's
    description)."""
    parts = {
        "图层 layer": metadata.get("layer"),
        "数据版本 data version": metadata.get("data_version"),
        "筛选条件 filters": metadata.get("filters") or {},
        "参数 parameters": metadata.get("parameters") or {},
    }
    return "；".join(
        f"{k}: {json.dumps(v, ensure_ascii=False, default=str)}"
        for k, v in parts.items()
        if v is not None
    )


def short_title(label: str) -> str:
    """The Chinese part of a bilingual label: up to its last CJK character or full-width
    bracket (the whole label when it has none).

    Examples
    --------
    >>> short_title("罚款金额（元）penalty (yuan)"), short_title("Gi* z 值 z-score")
    ('罚款金额（元）', 'Gi* z 值')
    >>> short_title("风险得分 0…1 risk score"), short_title("h3")
    ('风险得分', 'h3')
    """
    found = re.match(r"^.*[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]", label)
    return found.group(0).strip() if found else label


#: The GeoPackage schema extension (GeoPackage 1.3, F.9), as ``gpkg_extensions`` lists it.
_SCHEMA_EXTENSION = (
    "gpkg_schema",
    "http://www.geopackage.org/spec/#extension_schema",
    "read-write",
)
_DATA_COLUMNS = """
CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT,
  description TEXT, mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gdc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name)
);
CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
  constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC,
  min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value)
);
"""
#: QGIS's own table of layer styles (what "Save as default" writes into a GeoPackage).
_LAYER_STYLES = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
  f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
  styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
  description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT CURRENT_TIMESTAMP
);
"""


def write_gpkg_field_titles(path: Path, table: str, aliases: Mapping[str, str]) -> None:
    """Field titles of ``table`` in the GeoPackage at ``path``, where clients look for them.

    ``gpkg_data_columns`` (the GeoPackage schema extension, registered in
    ``gpkg_extensions``): ``name`` and ``title`` the Chinese part of the label
    (:func:`short_title`), ``description`` the whole label; GDAL 3.7 and later read
    ``name`` as the field's alternative name. GDAL 3.6 does not, so QGIS 3.22 would not
    see them: the same titles are also the aliases of the layer's default QGIS style
    (``layer_styles``, which QGIS applies when it opens the layer).
    """
    if not aliases:
        return
    rows = [(table, c, short_title(a), short_title(a), a) for c, a in aliases.items()]
    with closing(sqlite3.connect(path)) as con, con:
        con.executescript(_DATA_COLUMNS)
        con.executescript(_LAYER_STYLES)
        con.executemany(
            "INSERT OR REPLACE INTO gpkg_data_columns "
            "(table_name, column_name, name, title, description) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        for extended in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            con.execute(
                "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, "
                "extension_name, definition, scope) VALUES (?, NULL, ?, ?, ?)",
                (extended, *_SCHEMA_EXTENSION),
            )
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
            "description, srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', "
            "'QGIS 图层样式 layer styles (field aliases)', 0)"
        )
        geometry = con.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)
        ).fetchone()
        con.execute(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description) "
            "VALUES ('', '', ?, ?, ?, ?, '', 1, ?)",
            (
                table,
                geometry[0] if geometry else "",
                f"{table} 字段中文名",
                _alias_qml(con, table, aliases),
                "字段中文名 Chinese field aliases",
            ),
        )


def _alias_qml(con: sqlite3.Connection, table: str, aliases: Mapping[str, str]) -> str:
    """A QGIS style carrying only the fields' aliases (its ``Fields`` category); fields are
    numbered as QGIS numbers them (the table's columns but the geometry)."""
    geometry = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (table,)
        )
    }
    columns = [row[0] for row in con.execute("SELECT name FROM pragma_table_info(?)", (table,))]
    fields = [c for c in columns if c not in geometry]
    lines = [
        f'    <alias field={quoteattr(c)} index="{i}" name={quoteattr(short_title(aliases[c]))}/>'
        for i, c in enumerate(fields)
        if c in aliases
    ]
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="Fields">\n  <aliases>\n'
        + "\n".join(lines)
        + "\n  </aliases>\n</qgis>\n"
    )


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
