"""The analytic layers' result tables shaped as the features users receive.

The statistics come from :mod:`analytics`; this module only gives them their place on
the map: integer H3 ids become string ids and hexagon polygons, county rows get their
adcode, name and outline, and the computation's provenance rides in ``attrs``.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from analytics.cells import cells_to_polygons, cells_to_strings


def cells_frame(table: pd.DataFrame, provenance: dict[str, Any]) -> gpd.GeoDataFrame:
    """Integer ``h3`` ids → string ids and hexagon polygons (WGS84), provenance in attrs."""
    cells = table.pop("h3").to_numpy(np.int64)
    table.insert(0, "h3", cells_to_strings(cells))
    frame = gpd.GeoDataFrame(table, geometry=cells_to_polygons(cells), crs="EPSG:4326")
    frame.attrs["parameters"] = provenance
    return frame


def hotspot_cells(
    table: pd.DataFrame, resolution: int, provenance: dict[str, Any]
) -> gpd.GeoDataFrame:
    """The ``hotspots`` layer from Gi* per cell (:func:`analytics.hotspots.cell_hotspots`)."""
    table.insert(1, "resolution", resolution)
    return cells_frame(table, {**provenance, **table.attrs.get("parameters", {})})


def emerging_cells(
    table: pd.DataFrame,
    cube: np.ndarray,
    labels: list[str],
    resolution: int,
    provenance: dict[str, Any],
) -> gpd.GeoDataFrame:
    """The ``emerging-hotspots`` layer from the categories per cell
    (:func:`analytics.emerging.emerging_hotspots`) of the space-time ``cube`` whose steps
    are ``labels``: only the cells with a pattern, with their count and period."""
    table.insert(1, "resolution", resolution)
    table["count"] = cube.sum(axis=1)
    table["first_step"], table["last_step"] = labels[0], labels[-1]
    keep = table["category"] != "no_pattern"
    provenance = {**provenance, "steps": labels, **table.attrs.get("parameters", {})}
    return cells_frame(table[keep].reset_index(drop=True), provenance)


def county_frame(
    table: pd.DataFrame, counties: gpd.GeoDataFrame, provenance: dict[str, Any]
) -> gpd.GeoDataFrame:
    """County rows (Gi* of :func:`analytics.hotspots.polygon_hotspots`, in the order of
    ``counties``, indexed by adcode with a ``name``) with their adcode, name and outline."""
    table = table.rename(columns={"value": "count"})
    table.insert(0, "adcode", counties.index.to_numpy())
    table.insert(1, "name", counties["name"].to_numpy())
    frame = gpd.GeoDataFrame(table, geometry=counties.geometry.to_numpy(), crs="EPSG:4326")
    frame.attrs["parameters"] = {**provenance, **table.attrs.get("parameters", {})}
    return frame
