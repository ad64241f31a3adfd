"""The analytic layers: their parameters and how each is computed from an :class:`Inputs`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from analytics.cells import cells_to_polygons, cells_to_strings, points_to_cells
from analytics.clusters import cluster_polygons, density_clusters, space_time_clusters
from analytics.density import DensitySurface, density_ratio, kernel_density
from analytics.emerging import emerging_hotspots, space_time_cube
from analytics.hexagons import RESOLUTIONS, hexagon_aggregates
from analytics.hotspots import cell_hotspots, polygon_hotspots
from analytics.projection import EQUAL_AREA_CRS, lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs
from geo_service.builds.problem_types import problem_types_layer
from geo_service.builds.risk import (
    AREA_DEFAULTS,
    RISK_DEFAULTS,
    priority_areas_layer,
    risk_layer,
)
from geo_service.core.errors import BadFilterError
from geo_service.store.boundaries import read_divisions
from layers.rasters import surface_to_geotiff


@dataclass(frozen=True)
class LayerSpec:
    """How one analytic layer is made."""

    name: str
    defaults: dict[str, Any]
    variants: tuple[dict[str, Any], ...]  # parameter sets a full build stores
    compute: Callable[[Inputs, dict[str, Any]], gpd.GeoDataFrame | bytes]  # bytes: GeoTIFF


def cells_frame(table: pd.DataFrame, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Integer ``h3`` ids → string ids and hexagon polygons (WGS84), provenance in attrs."""
    cells = table.pop("h3").to_numpy(np.int64)
    table.insert(0, "h3", cells_to_strings(cells))
    frame = gpd.GeoDataFrame(table, geometry=cells_to_polygons(cells), crs="EPSG:4326")
    frame.attrs["parameters"] = parameters
    return frame


def hexagons_layer(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Counts, sums and rates per H3 cell (``hexagons``)."""
    resolution = int(parameters["resolution"])
    table = hexagon_aggregates(inputs.cases, inputs.inspections, inputs.register, resolution)
    return cells_frame(table, parameters)


def _area_counts(inputs: Inputs, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every cell of the area, each case's position among them (−1 outside), and counts."""
    cells = cells_in_polygon(inputs.area, resolution)
    position = cell_positions(
        cells, points_to_cells(inputs.cases.lon, inputs.cases.lat, resolution)
    )
    counts = np.bincount(position[position >= 0], minlength=cells.size)
    return cells, position, counts


def cell_positions(cells: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The position of each of the cells ``found`` among the sorted ``cells`` (−1 where it
    is not one of them)."""
    position = np.searchsorted(cells, found)
    position = np.where(position < cells.size, position, 0)
    return np.where(cells[position] == found, position, -1) if cells.size else position - 1


def county_hotspots(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Gi* of case counts over the area's counties, with queen contiguity weights."""
    counts = inputs.frame("cases", ["adcode"])["adcode"].value_counts()
    return county_hotspot_frame(inputs.engine, inputs.area, counts, parameters)


def county_hotspot_frame(
    engine: Engine, area: BaseGeometry, counts: pd.Series, parameters: dict[str, Any]
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
        permutations=int(parameters["permutations"]),
        seed=int(parameters["seed"]),
        fdr=bool(parameters["fdr"]),
    )
    result = result.rename(columns={"value": "count"})
    result.insert(0, "adcode", counties.index.to_numpy())
    result.insert(1, "name", counties["name"].to_numpy())
    frame = gpd.GeoDataFrame(result, geometry=counties.geometry.to_numpy(), crs="EPSG:4326")
    frame.attrs["parameters"] = {**parameters, **result.attrs.get("parameters", {})}
    return frame


def hotspots_layer(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* of case counts over every H3 cell of the area (zeros included),
    or over its counties (``unit="county"``)."""
    if parameters["unit"] == "county":
        return county_hotspots(inputs, parameters)
    resolution = int(parameters["resolution"])
    cells, _, counts = _area_counts(inputs, resolution)
    return hotspot_frame(cells, counts, resolution, parameters)


def hotspot_frame(
    cells: np.ndarray, counts: np.ndarray, resolution: int, parameters: dict[str, Any]
) -> gpd.GeoDataFrame:
    """The ``hotspots`` layer from every cell of the area and its case count (the last step
    of both builds, :mod:`geo_service.scale.dask_build` included)."""
    table = cell_hotspots(
        cells,
        counts,
        k=int(parameters["k"]),
        permutations=int(parameters["permutations"]),
        seed=int(parameters["seed"]),
        fdr=bool(parameters["fdr"]),
    )
    table.insert(1, "resolution", resolution)
    return cells_frame(table, {**parameters, **table.attrs.get("parameters", {})})


def emerging_layer(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Emerging hot and cold spots: Gi* per time step and a Mann-Kendall trend per cell."""
    resolution = int(parameters["resolution"])
    cells, position, _ = _area_counts(inputs, resolution)
    step_index, labels = inputs.case_steps(str(parameters["step"]))
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
    parameters: dict[str, Any],
) -> gpd.GeoDataFrame:
    """The ``emerging-hotspots`` layer from the area's space-time cube of case counts (cells
    × time steps labelled ``labels``): the cells with a pattern (the last step of both
    builds)."""
    table = emerging_hotspots(
        cells,
        cube,
        k=int(parameters["k"]),
        neighborhood_time_steps=int(parameters["neighborhood_time_steps"]),
        alpha=float(parameters["alpha"]),
        fdr=bool(parameters["fdr"]),
    )
    table.insert(1, "resolution", resolution)
    table["count"] = cube.sum(axis=1)
    table["first_step"], table["last_step"] = labels[0], labels[-1]
    keep = table["category"] != "no_pattern"  # the layer carries the cells with a pattern
    provenance = {**parameters, "steps": labels, **table.attrs.get("parameters", {})}
    return cells_frame(table[keep].reset_index(drop=True), provenance)


def kde_layer(inputs: Inputs, parameters: dict[str, Any]) -> bytes:
    """Kernel density of cases per km² (or penalty yuan per km²) as a GeoTIFF."""
    cases = inputs.cases
    if len(cases) == 0:
        raise BadFilterError("no located cases match the filters: nothing to make a density of")
    x, y = lonlat_to_equal_area(cases.lon, cases.lat)
    weights = cases.amount if parameters["weight"] == "penalty_amount" else None
    bandwidth = parameters["bandwidth_m"]
    surface = kernel_density(
        x,
        y,
        weights=weights,
        kernel=str(parameters["kernel"]),
        cell_m=parameters["cell_m"],
        bandwidth_m=None if bandwidth is None else float(bandwidth),
    )
    sources = None
    if parameters["ratio_to"] == "enterprises":  # cases per register enterprise, locally
        sx, sy = lonlat_to_equal_area(inputs.register.lon, inputs.register.lat)
        sources = kernel_density(
            sx, sy, bandwidth_m=surface.bandwidth_m, kernel=surface.kernel, grid=surface.grid
        )
    return kde_payload(surface, str(parameters["weight"]), sources)


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


def clusters_layer(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
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
    eps_m = float(parameters["eps_m"])
    min_samples = int(parameters["min_samples"])
    if parameters["eps_days"] is not None:  # space-time clusters: near in place AND in time
        days = (pd.to_datetime(frame["decision_date"]) - pd.Timestamp("1990-01-01")).dt.days
        eps_days = float(parameters["eps_days"])
        labels = space_time_clusters(
            x, y, days.to_numpy(float), eps_m=eps_m, eps_days=eps_days, min_samples=min_samples
        )
    else:
        method = str(parameters["method"])
        labels = density_clusters(x, y, method=method, eps_m=eps_m, min_samples=min_samples)
    attributes = frame[columns[3:]].assign(date=frame["decision_date"])
    polygons = cluster_polygons(
        x, y, labels, crs=EQUAL_AREA_CRS, buffer_m=eps_m / 2, attributes=attributes
    )
    for column in [c for c in polygons.columns if c.startswith("top_")]:
        polygons[column] = polygons[column].map(lambda v: json.dumps(v, ensure_ascii=False))
    polygons = polygons.to_crs("EPSG:4326")
    polygons.attrs["parameters"] = parameters
    return polygons


_KDE = {
    "kernel": "quartic",
    "bandwidth_m": None,
    "cell_m": None,
    "weight": "none",
    "ratio_to": None,
}
_TYPES = {"n_types": None, "n_types_range": [4, 16], "seed": 0}
_CLUSTERS = {"method": "dbscan", "eps_m": 1000.0, "min_samples": 10, "eps_days": None}
_HOT = {"unit": "h3", "resolution": 6, "k": 1, "permutations": 0, "seed": 0, "fdr": True}
_EMERGING = {
    "resolution": 6,
    "step": "quarter",
    "k": 1,
    "neighborhood_time_steps": 1,
    "alpha": 0.05,
    "fdr": True,
}

SPECS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "hexagons",
            {"resolution": 8},
            tuple({"resolution": r} for r in RESOLUTIONS),
            hexagons_layer,
        ),
        LayerSpec(
            "hotspots",
            _HOT,
            ({"resolution": 6}, {"resolution": 7}, {"resolution": 8}, {"unit": "county"}),
            hotspots_layer,
        ),
        LayerSpec(
            "kde", _KDE, ({}, {"weight": "penalty_amount"}, {"ratio_to": "enterprises"}), kde_layer
        ),
        # before clusters: the whole-province typing labels the records clusters profile
        LayerSpec("problem-types", _TYPES, ({},), problem_types_layer),
        LayerSpec("clusters", _CLUSTERS, ({}, {"method": "hdbscan"}), clusters_layer),
        LayerSpec(
            "emerging-hotspots", _EMERGING, ({"step": "quarter"}, {"step": "month"}), emerging_layer
        ),
        # after problem-types: the cases' problem types feed the problem_mix component
        LayerSpec("risk", RISK_DEFAULTS, ({}, {"unit": "enterprise"}), risk_layer),
        LayerSpec("priority-areas", AREA_DEFAULTS, ({},), priority_areas_layer),
    )
}


#: What a request may set for each layer, and within which bounds (a choice or a range):
#: ranges keep a request from asking for a province of resolution-10 cells.
#: Dates are bounded by ISO text (``(dt.date, "2000-01-01", "2099-12-31")``).
Bound = tuple[str, ...] | tuple[type, Any, Any]
_AS_OF: Bound = (dt.date, "2000-01-01", "2099-12-31")
USER_PARAMETERS: dict[str, dict[str, Bound]] = {
    "hexagons": {"resolution": (int, 5, 10)},
    "hotspots": {
        "unit": ("h3", "county"),
        "resolution": (int, 5, 8),
        "k": (int, 1, 3),
        "permutations": (int, 0, 999),
        "seed": (int, 0, 2**31 - 1),
    },
    "kde": {
        "kernel": ("quartic", "epanechnikov", "gaussian"),
        "bandwidth_m": (float, 100, 100_000),
        "cell_m": (float, 250, 10_000),
        "weight": ("none", "penalty_amount"),
        "ratio_to": ("enterprises",),
    },
    "emerging-hotspots": {"resolution": (int, 5, 7), "step": ("quarter", "month")},
    "clusters": {
        "method": ("dbscan", "hdbscan"),
        "eps_m": (float, 50, 20_000),
        "min_samples": (int, 2, 1000),
        "eps_days": (float, 1, 3650),
    },
    "problem-types": {"n_types": (int, 2, 40), "seed": (int, 0, 2**31 - 1)},
    "risk": {
        "unit": ("cell", "enterprise"),
        "resolution": (int, 5, 8),
        "as_of": _AS_OF,
        "window_years": (int, 1, 5),
    },
    "priority-areas": {
        "resolution": (int, 5, 8),
        "as_of": _AS_OF,
        "window_years": (int, 1, 5),
        "min_cells": (int, 1, 100),
    },
}


def bound_text(bound: Bound) -> str:
    """A bound as people read it: ``a|b|c`` or ``low…high``."""
    if isinstance(bound[0], str):
        return "|".join(map(str, bound))
    low, high = bound[1], bound[2]
    return f"{low:g}…{high:g}" if isinstance(low, int | float) else f"{low}…{high}"


def _checked_date(layer: str, name: str, text: str, low: str, high: str) -> str:
    try:
        value = dt.date.fromisoformat(text)
    except ValueError:
        raise BadFilterError(f"{layer} {name} {text!r} is not a date (YYYY-MM-DD)") from None
    if not low <= value.isoformat() <= high:
        raise BadFilterError(f"{layer} {name} must be within {low}…{high}")
    return value.isoformat()


def refuse_unknown(layer: str, names: Iterable[str], also: Collection[str] = ()) -> None:
    """BadFilterError for the first of ``names`` that is neither a parameter of ``layer``
    nor one of ``also`` (the filters, where a request may carry them too)."""
    accepted = USER_PARAMETERS.get(layer, {})
    unknown = [name for name in names if name not in accepted and name not in also]
    if unknown:
        takes = ", ".join([*sorted(also), *accepted]) or "no parameters"
        raise BadFilterError(
            f"{unknown[0]!r} is not a parameter of the {layer} layer; it takes {takes}"
        )


def layer_parameters(layer: str, given: Mapping[str, str]) -> dict[str, Any]:
    """The analytic-layer parameters among ``given`` (query parameters, CLI options), checked.

    Other names are left alone (they are filters or property filters); a bad value raises
    :class:`BadFilterError` with the allowed choices or range.
    """
    parameters: dict[str, Any] = {}
    for name, bound in USER_PARAMETERS.get(layer, {}).items():
        if name not in given or given[name] in ("", None):
            continue
        text = str(given[name])
        if isinstance(bound[0], str):
            if text not in bound:
                raise BadFilterError(f"{layer} {name} must be one of {', '.join(map(str, bound))}")
            parameters[name] = text
            continue
        kind, low, high = bound
        if kind is dt.date:
            parameters[name] = _checked_date(layer, name, text, low, high)
            continue
        try:
            value = kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
        except ValueError:
            raise BadFilterError(f"{layer} {name} {text!r} is not a number") from None
        if not low <= value <= high:
            raise BadFilterError(f"{layer} {name} must be within {low:g}…{high:g}")
        parameters[name] = value
    bandwidth, cell = parameters.get("bandwidth_m"), parameters.get("cell_m")
    if bandwidth is not None and cell is not None and not cell <= bandwidth <= 200 * cell:
        raise BadFilterError("bandwidth_m must be between cell_m and 200 × cell_m")
    # a bandwidth alone gets cells of a twentieth of it: keep those at 250 m or more
    if bandwidth is not None and cell is None and bandwidth / 20 < 250:
        raise BadFilterError("give cell_m (≥ 250 m) with a bandwidth_m below 5000 m")
    return parameters
