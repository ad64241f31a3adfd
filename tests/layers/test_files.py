"""Layer files: what a spreadsheet cell cannot hold is simplified and said, never cut."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.files import XLSX_CELL_CHARS, write_layer


def _wiggly_polygon(n: int) -> shapely.Polygon:
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = 0.5 + 0.01 * np.sin(angle * 97)
    return shapely.Polygon(
        np.column_stack([108 + radius * np.cos(angle), 23 + radius * np.sin(angle)])
    )


def test_outlines_too_long_for_an_excel_cell_are_simplified_and_reported(tmp_path: Path) -> None:
    big, small = _wiggly_polygon(6000), shapely.box(107, 22, 107.1, 22.1)
    assert len(shapely.to_wkt(big, rounding_precision=6)) > XLSX_CELL_CHARS
    gdf = gpd.GeoDataFrame({"name": ["big", "small"]}, geometry=[big, small], crs="EPSG:4326")
    path = write_layer(gdf, tmp_path / "layer.xlsx", "xlsx", {"layer": "test"})
    data = pd.read_excel(path, sheet_name="data")
    outlines = shapely.from_wkt(data["wkt"].to_numpy())
    assert all(len(t) <= XLSX_CELL_CHARS for t in data["wkt"])
    assert shapely.is_valid(outlines).all()
    assert shapely.hausdorff_distance(outlines[0], big) < 0.01  # about a kilometre at most
    assert shapely.equals_exact(outlines[1], small, tolerance=1e-6)  # untouched
    meta = pd.read_excel(path, sheet_name="metadata").set_index("key")["value"]
    note = json.loads(meta["wkt_simplified"])
    assert note["rows"] == 1 and note["max_tolerance_deg"] > 0


def test_outlines_that_fit_are_written_as_they_are(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[_wiggly_polygon(200)], crs="EPSG:4326")
    path = write_layer(gdf, tmp_path / "layer.xlsx", "xlsx", {})
    wkt = pd.read_excel(path, sheet_name="data")["wkt"].iloc[0]
    assert wkt == shapely.to_wkt(gdf.geometry.iloc[0], rounding_precision=6)
    meta = pd.read_excel(path, sheet_name="metadata")
    assert "wkt_simplified" not in set(meta["key"])
