"""The recipes of the cell, hot-spot, density and cluster layers: each computes its layer
from an :class:`Inputs` and its typed parameters (:mod:`geo_service.builds.parameters`)."""

from __future__ import annotations

import json
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from analytics.cells import cell_positions, points_to_cells
from analytics.clusters import cluster_polygons, density_clusters, space_time_clusters
from analytics.density import DensitySurface, density_ratio, kernel_density
from analytics.emerging import emerging_hotspots, space_time_cube
from analytics.hexagons import hexagon_aggregates
from analytics.hotspots import cell_hotspots, polygon_hotspots
from analytics.projection import EQUAL_AREA_CRS, lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import (
    ClusterParameters,
    EmergingParameters,
    HexagonParameters,
    HotspotParameters,
    KdeParameters,
)
from geo_service.core.errors import BadFilterError
from geo_service.store.boundaries import read_divisions
from layers.analytic_frames import cells_frame, county_frame, emerging_cells, hotspot_cells
from layers.rasters import surface_to_geotiff


def hexagons_layer(inputs: Inputs, parameters: HexagonParameters) -> gpd.GeoDataFrame:
    """Counts, sums and rates per H3 cell (``hexagons``)."""
    resolution = parameters.resolution
    table = hexagon_aggregates(inputs.cases, inputs.inspections, inputs.register, resolution)
    return cells_frame(table, parameters.as_dict())


def _area_counts(inputs: Inputs, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell of the area, each case's position among them (−1 outside), and counts."""
    cells = cells_in_polygon(inputs.area, resolution)
    position = cell_positions(
        cells, points_to_cells(inputs.cases.lon, inputs.cases.lat, resolution)
    )
    counts = np.bincount(position[position >= 0], minlength=cells.size)
    return cells, position, counts


def county_hotspots(inputs: Inputs, parameters: HotspotParameters) -> gpd.GeoDataFrame:
    """Gi* of case counts over the area's counties, with queen contiguity weights."""
    counts = inputs.frame("cases", ["adcode"])["adcode"].value_counts()
    return county_hotspot_frame(inputs.engine, inputs.area, counts, parameters)


def county_hotspot_frame(
    engine: Engine, area: BaseGeometry, counts: pd.Series, parameters: HotspotParameters
) -> gpd.GeoDataFrame:
    """The county ``hotspots`` layer from the cases' count per county adcode (the last step
    of both builds, :mod:`geo_service.scale.dask_build` included)."""
    table = read_divisions(engine).table
    counties = table[table["level"] == "county"]
    inside = counties.geometry.representative_point().within(area.buffer(1e-9))
    counties = counties[inside.to_numpy()]
    values = counts.reindex(counties.index).fillna(0).to_numpy(np.float64)
    result = polygon_hotspots(
        counties.geometry.to_numpy(),
        values,
        rule="queen",
        permutations=parameters.permutations,
        seed=parameters.seed,
        fdr=parameters.fdr,
    )
    return county_frame(result, counties, parameters.as_dict())


def hotspots_layer(inputs: Inputs, parameters: HotspotParameters) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* of case counts over every H3 cell of the area (zeros included),
    or over its counties (``unit="county"``)."""
    if parameters.unit == "county":
        return county_hotspots(inputs, parameters)
    resolution = parameters.resolution
    cells, _, counts = _area_counts(inputs, resolution)
    return hotspot_frame(cells, counts, resolution, parameters)


def hotspot_frame(
    cells: np.ndarray, counts: np.ndarray, resolution: int, parameters: HotspotParameters
) -> gpd.GeoDataFrame:
    """The ``hotspots`` layer from every cell of the area and its case count (the last step
    of both builds, :mod:`geo_service.scale.dask_build` included)."""
    table = cell_hotspots(
        cells,
        counts,
        k=parameters.k,
        permutations=parameters.permutations,
        seed=parameters.seed,
        fdr=parameters.fdr,
    )
    return hotspot_cells(table, resolution, parameters.as_dict())


def emerging_layer(inputs: Inputs, parameters: EmergingParameters) -> gpd.GeoDataFrame:
    """Emerging hot and cold spots: Gi* per time step and a Mann-Kendall trend per cell."""
    resolution = parameters.resolution
    cells, position, _ = _area_counts(inputs, resolution)
    step_index, labels = inputs.case_steps(parameters.step)
    inside = position >= 0
    _, cube = space_time_cube(
        cells[position[inside]], step_index[inside], len(labels), all_cells=cells
    )
    return emerging_frame(cells, cube, labels, resolution, parameters)


def emerging_frame(
    cells: np.ndarray,
    cube: np.ndarray,
    labels: list[str],
    resolution: int,
    parameters: EmergingParameters,
) -> gpd.GeoDataFrame:
    """The ``emerging-hotspots`` layer from the area's space-time cube of case counts (cells
    × time steps labelled ``labels``): the cells with a pattern (the last step of both
    builds)."""
    table = emerging_hotspots(
        cells,
        cube,
        k=parameters.k,
        neighborhood_time_steps=parameters.neighborhood_time_steps,
        alpha=parameters.alpha,
        fdr=parameters.fdr,
    )
    return emerging_cells(table, cube, labels, resolution, parameters.as_dict())


def kde_layer(inputs: Inputs, parameters: KdeParameters) -> bytes:
    """Kernel density of cases per km² (or penalty yuan per km²) as a GeoTIFF."""
    cases = inputs.cases
    if len(cases) == 0:
        raise BadFilterError("no located cases match the filters: nothing to make a density of")
    x, y = lonlat_to_equal_area(cases.lon, cases.lat)
    weights = cases.amount if parameters.weight == "penalty_amount" else None
    surface = kernel_density(
        x,
        y,
        weights=weights,
        kernel=parameters.kernel,
        cell_m=parameters.cell_m,
        bandwidth_m=parameters.bandwidth_m,
    )
    sources = None
    if parameters.ratio_to == "enterprises":  # cases per register enterprise, locally
        sx, sy = lonlat_to_equal_area(inputs.register.lon, inputs.register.lat)
        sources = kernel_density(
            sx, sy, bandwidth_m=surface.bandwidth_m, kernel=surface.kernel, grid=surface.grid
        )
    return kde_payload(surface, parameters.weight, sources)


def kde_payload(surface: DensitySurface, weight: str, sources: DensitySurface | None) -> bytes:
    """The ``kde`` layer's GeoTIFF from the case surface, with its units, or as a ratio to
    the register's ``sources`` surface on the same grid (the last step of both builds)."""
    units = "yuan per km²" if weight == "penalty_amount" else "cases per km²"
    surface = replace(surface, units=units)
    if sources is not None:
        # a rate only where there is at least half an enterprise's kernel peak of sources
        one_source_peak = float(sources.values.max()) / max(1.0, sources.total_weight)
        floor = 0.5 * min(one_source_peak, 3.0 / np.pi / (surface.bandwidth_m / 1000) ** 2)
        surface = density_ratio(surface, sources, min_denominator=floor)
        surface = replace(surface, units=units.replace("per km²", "per enterprise"))
    return surface_to_geotiff(surface, {"layer": "kde", "weight": weight})


def clusters_layer(inputs: Inputs, parameters: ClusterParameters) -> gpd.GeoDataFrame:
    """Density-based clusters of case locations as polygons with their profile (WGS84)."""
    columns = [
        "lon",
        "lat",
        "decision_date",
        "violation_type",
        "industry_code",
        "problem_type_label",
    ]
    frame = inputs.frame("cases", columns)
    x, y = lonlat_to_equal_area(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    eps_m, min_samples, eps_days = parameters.eps_m, parameters.min_samples, parameters.eps_days
    if eps_days is not None:  # space-time clusters: near in place AND in time
        days = (pd.to_datetime(frame["decision_date"]) - pd.Timestamp("1990-01-01")).dt.days
        labels = space_time_clusters(
            x, y, days.to_numpy(float), eps_m=eps_m, eps_days=eps_days, min_samples=min_samples
        )
    else:
        method = parameters.method
        labels = density_clusters(x, y, method=method, eps_m=eps_m, min_samples=min_samples)
    attributes = frame[columns[3:]].assign(date=frame["decision_date"])
    polygons = cluster_polygons(
        x, y, labels, crs=EQUAL_AREA_CRS, buffer_m=eps_m / 2, attributes=attributes
    )
    for column in [c for c in polygons.columns if c.startswith("top_")]:
        polygons[column] = polygons[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    polygons = polygons.to_crs("EPSG:4326")
    polygons.attrs["parameters"] = parameters.as_dict()
    return polygons
