"""The recipes of the cell, hot-spot, density and cluster layers: each computes its layer
from an :class:`Inputs` and its typed parameters (:mod:`geo_service.builds.parameters`).

The point layers — KDE, clusters and the hot spots, emerging hot spots and local Moran
of H3 cells — read only the records placed at their own point
(:func:`geo_service.builds.inputs.placed_at_point`) and say in their provenance how many
they left out (``not_placed_precisely``); the county layers count every case by its
county, those placed at the county's representative point included.

The builds make the additive layers (hexagons, hot spots, local Moran, KDE, emerging hot
spots) from partials streamed from the store (:mod:`geo_service.builds.streaming`),
with the last steps here (``*_frame``, :func:`kde_payload`); the ``*_layer`` functions of
those layers compute them from whole tables in memory: the reference the streamed
build is tested against, and a direct way to make a layer of a small store."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from analytics.cells import cell_positions, points_to_cells
from analytics.clusters import cluster_polygons, density_clusters, space_time_clusters
from analytics.density import (
    DensitySurface,
    Grid,
    density_grid,
    density_ratio,
    kernel_density,
    silverman_bandwidth_m,
)
from analytics.emerging import emerging_hotspots, space_time_cube
from analytics.hexagons import hexagon_aggregates
from analytics.hotspots import cell_hotspots, polygon_hotspots
from analytics.local_moran import cell_local_moran, polygon_local_moran
from analytics.projection import EQUAL_AREA_CRS, lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs, imprecise_provenance, placed_at_point
from geo_service.builds.parameters import (
    ClusterParameters,
    EmergingParameters,
    HexagonParameters,
    HotspotParameters,
    KdeParameters,
    LayerParameters,
    LocalMoranParameters,
)
from geo_service.core.errors import BadFilterError
from geo_service.store.boundaries import read_divisions
from layers.analytic_frames import cells_frame, county_frame, emerging_cells, hotspot_cells
from layers.rasters import read_geotiff, surface_to_geotiff


def hexagons_layer(inputs: Inputs, parameters: HexagonParameters) -> gpd.GeoDataFrame:
    """Counts, sums and rates per H3 cell (``hexagons``)."""
    resolution = parameters.resolution
    table = hexagon_aggregates(inputs.cases, inputs.inspections, inputs.register, resolution)
    return cells_frame(table, parameters.as_dict())


def _area_counts(inputs: Inputs, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell of the area, the position among them of each case placed at a point
    (−1 outside), and their counts."""
    cases = inputs.point_cases
    cells = cells_in_polygon(inputs.area, resolution)
    position = cell_positions(cells, points_to_cells(cases.lon, cases.lat, resolution))
    counts = np.bincount(position[position >= 0], minlength=cells.size)
    return cells, position, counts


def county_counts(inputs: Inputs) -> pd.Series:
    """Cases per county adcode: every case with a county, wherever in it it is placed."""
    return inputs.frame("cases", ["adcode"])["adcode"].value_counts()


def county_hotspots(inputs: Inputs, parameters: HotspotParameters) -> gpd.GeoDataFrame:
    """Gi* of case counts over the area's counties, with queen contiguity weights."""
    return county_hotspot_frame(inputs.engine, inputs.area, county_counts(inputs), parameters)


def area_counties(engine: Engine, area: BaseGeometry) -> gpd.GeoDataFrame:
    """The counties whose representative point lies in ``area``, indexed by adcode."""
    table = read_divisions(engine).table
    counties = table[table["level"] == "county"]
    inside = counties.geometry.representative_point().within(area.buffer(1e-9))
    return counties[inside.to_numpy()]


def county_hotspot_frame(
    engine: Engine, area: BaseGeometry, counts: pd.Series, parameters: HotspotParameters
) -> gpd.GeoDataFrame:
    """The county ``hotspots`` layer from the cases' count per county adcode (the last step
    of both builds, :mod:`geo_service.scale.dask_build` included)."""
    counties = area_counties(engine, area)
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
    return hotspot_frame(cells, counts, resolution, parameters, imprecise=inputs.imprecise_cases)


def hotspot_frame(
    cells: np.ndarray,
    counts: np.ndarray,
    resolution: int,
    parameters: HotspotParameters,
    *,
    imprecise: int,
) -> gpd.GeoDataFrame:
    """The ``hotspots`` layer from every cell of the area and its count of cases placed at
    a point, ``imprecise`` the cases left out (the last step of both builds,
    :mod:`geo_service.scale.dask_build` included)."""
    table = cell_hotspots(
        cells,
        counts,
        k=parameters.k,
        permutations=parameters.permutations,
        seed=parameters.seed,
        fdr=parameters.fdr,
    )
    return hotspot_cells(table, resolution, _provenance(parameters, imprecise))


def _provenance(parameters: LayerParameters, imprecise: int) -> dict[str, Any]:
    return {**parameters.as_dict(), **imprecise_provenance(imprecise)}


def local_moran_layer(inputs: Inputs, parameters: LocalMoranParameters) -> gpd.GeoDataFrame:
    """Cluster and outlier analysis (Anselin Local Moran's I) of case counts over every H3
    cell of the area (cases placed at a point), or over its counties (every case)."""
    if parameters.unit == "county":
        return county_moran_frame(inputs.engine, inputs.area, county_counts(inputs), parameters)
    resolution = parameters.resolution
    cells, _, counts = _area_counts(inputs, resolution)
    return moran_frame(cells, counts, resolution, parameters, imprecise=inputs.imprecise_cases)


def moran_frame(
    cells: np.ndarray,
    counts: np.ndarray,
    resolution: int,
    parameters: LocalMoranParameters,
    *,
    imprecise: int,
) -> gpd.GeoDataFrame:
    """The ``local-moran`` layer over cells from every cell of the area and its count of
    cases placed at a point (the last step of both builds)."""
    table = cell_local_moran(
        cells,
        counts,
        k=parameters.k,
        permutations=parameters.permutations,
        seed=parameters.seed,
        alpha=parameters.alpha,
        fdr=parameters.fdr,
    ).rename(columns={"value": "count"})
    return hotspot_cells(table, resolution, _provenance(parameters, imprecise))


def county_moran_frame(
    engine: Engine, area: BaseGeometry, counts: pd.Series, parameters: LocalMoranParameters
) -> gpd.GeoDataFrame:
    """The ``local-moran`` layer over the area's counties (queen contiguity) from the cases'
    count per county adcode (the last step of both builds)."""
    counties = area_counties(engine, area)
    values = counts.reindex(counties.index).fillna(0).to_numpy(np.float64)
    result = polygon_local_moran(
        counties.geometry.to_numpy(),
        values,
        rule="queen",
        permutations=parameters.permutations,
        seed=parameters.seed,
        alpha=parameters.alpha,
        fdr=parameters.fdr,
    )
    return county_frame(result, counties, parameters.as_dict())


def emerging_layer(inputs: Inputs, parameters: EmergingParameters) -> gpd.GeoDataFrame:
    """Emerging hot and cold spots: Gi* per time step and a Mann-Kendall trend per cell."""
    resolution = parameters.resolution
    cells, position, _ = _area_counts(inputs, resolution)
    step_index, labels = inputs.case_steps(parameters.step)
    step_index = step_index[inputs.case_at_point]
    inside = position >= 0
    _, cube = space_time_cube(
        cells[position[inside]], step_index[inside], len(labels), all_cells=cells
    )
    return emerging_frame(
        cells, cube, labels, resolution, parameters, imprecise=inputs.imprecise_cases
    )


def emerging_frame(
    cells: np.ndarray,
    cube: np.ndarray,
    labels: list[str],
    resolution: int,
    parameters: EmergingParameters,
    *,
    imprecise: int,
) -> gpd.GeoDataFrame:
    """The ``emerging-hotspots`` layer from the area's space-time cube of the counts of cases
    placed at a point (cells × time steps labelled ``labels``), ``imprecise`` the cases left
    out: the cells with a pattern (the last step of both builds)."""
    table = emerging_hotspots(
        cells,
        cube,
        k=parameters.k,
        neighborhood_time_steps=parameters.neighborhood_time_steps,
        alpha=parameters.alpha,
        fdr=parameters.fdr,
    )
    return emerging_cells(table, cube, labels, resolution, _provenance(parameters, imprecise))


def kde_layer(inputs: Inputs, parameters: KdeParameters) -> bytes:
    """Kernel density of the cases placed at a point per km² (or penalty yuan per km²) as a
    GeoTIFF; as a ratio, to the density of the register entries placed at a point."""
    cases = inputs.point_cases
    if len(cases) == 0:
        raise BadFilterError(NO_POINT_CASES)
    x, y = lonlat_to_equal_area(cases.lon, cases.lat)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weights = cases.amount if parameters.weight == "penalty_amount" else None
    h = parameters.bandwidth_m or silverman_bandwidth_m(
        x, y, None if weights is None else np.nan_to_num(weights)
    )
    bounds = (float(x.min()), float(x.max()), float(y.min()), float(y.max()))
    surface = kernel_density(
        x,
        y,
        weights=weights,
        kernel=parameters.kernel,
        bandwidth_m=parameters.bandwidth_m,
        grid=kde_grid(bounds, h, parameters.kernel, parameters.cell_m, int(x.size)),
    )
    sources = None
    if parameters.ratio_to == "enterprises":  # cases per register enterprise, locally
        register = inputs.point_register
        if len(register) == 0:
            raise BadFilterError(NO_POINT_REGISTER)
        sx, sy = lonlat_to_equal_area(register.lon, register.lat)
        sources = kernel_density(
            sx, sy, bandwidth_m=surface.bandwidth_m, kernel=surface.kernel, grid=surface.grid
        )
    imprecise = kde_imprecise(
        inputs.imprecise_cases,
        int((~inputs.register_at_point).sum()) if sources is not None else None,
    )
    return kde_payload(surface, parameters.weight, sources, imprecise)


def kde_grid(
    bounds_m: tuple[float, float, float, float],
    bandwidth_m: float,
    kernel: str,
    cell_m: float | None,
    points: int,
) -> Grid:
    """The KDE layer's grid for ``points`` cases (:func:`analytics.density.density_grid`),
    chosen alike by both builds: from the bandwidth to 9 significant digits. An automatic
    bandwidth comes out of the two builds a few units in the last place apart (sums in
    another order), and the grid's width is a ceiling that such a difference can tip by
    one cell."""
    return density_grid(bounds_m, float(f"{bandwidth_m:.9g}"), kernel, cell_m, points)


#: The KDE's answer when no case is placed at a point.
NO_POINT_CASES = (
    "筛选范围内没有精确定位的案件 (no case placed at a point matches the filters: nothing to "
    "make a density of; cases placed only at a county or city are left out)"
)

#: The KDE's answer to a ratio to the register when no register entry is placed at a point.
NO_POINT_REGISTER = (
    "筛选范围内没有精确定位的污染源，无法计算案件与污染源之比 (no register entry placed at "
    "a point matches the filters: no ratio of cases to enterprises)"
)


def kde_imprecise(cases: int, enterprises: int | None) -> dict[str, Any]:
    """The KDE's provenance of what it left out: cases, and register entries for a ratio."""
    out = imprecise_provenance(cases)
    if enterprises is not None:
        out["not_placed_precisely_enterprises"] = int(enterprises)
    return out


def kde_payload(
    surface: DensitySurface,
    weight: str,
    sources: DensitySurface | None,
    imprecise: dict[str, Any],
) -> bytes:
    """The ``kde`` layer's GeoTIFF from the case surface, with its units, or as a ratio to
    the register's ``sources`` surface on the same grid, and what was left out
    (``imprecise``, :func:`kde_imprecise`) in its tags (the last step of both builds)."""
    units = "yuan per km²" if weight == "penalty_amount" else "cases per km²"
    surface = replace(surface, units=units)
    if sources is not None:
        # a rate only where there is at least half an enterprise's kernel peak of sources
        one_source_peak = float(sources.values.max()) / max(1.0, sources.total_weight)
        floor = 0.5 * min(one_source_peak, 3.0 / np.pi / (surface.bandwidth_m / 1000) ** 2)
        surface = density_ratio(surface, sources, min_denominator=floor)
        surface = replace(surface, units=units.replace("per km²", "per enterprise"))
    return surface_to_geotiff(surface, {"layer": "kde", "weight": weight, **imprecise})


def geotiff_provenance(payload: bytes) -> dict[str, Any]:
    """What a stored KDE GeoTIFF records of the records it left out (its tags), for the
    build's provenance beside the GeoTIFF's own."""
    _, tags, _ = read_geotiff(payload)
    return {k: _tag_value(v) for k, v in tags.items() if k.startswith("not_placed_precisely")}


def _tag_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def clusters_layer(inputs: Inputs, parameters: ClusterParameters) -> gpd.GeoDataFrame:
    """Density-based clusters of the locations of cases placed at a point, as polygons with
    their profile (WGS84); cases placed only at a county or city are left out and counted."""
    columns = [
        "lon",
        "lat",
        "decision_date",
        "violation_type",
        "industry_code",
        "problem_type_label",
    ]
    read = inputs.frame("cases", [*columns, "geocode_precision"])
    at_point = placed_at_point(read["geocode_precision"])
    frame = read.loc[at_point, columns].reset_index(drop=True)
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
    polygons.attrs["parameters"] = _provenance(parameters, int((~at_point).sum()))
    return polygons
