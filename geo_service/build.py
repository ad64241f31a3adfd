"""``geo-service build``: compute the analytic layers for a set of filters and store them.

Each analytic layer is a :class:`LayerSpec`: its default parameters, the
parameter sets a full build makes, and a function computing it from the
records matching the filters. Exports and (later) the HTTP service ask for a
layer through :func:`analytic_layer`, which returns the stored build when it is
current and computes (and stores) it otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine

from analytics.cells import cells_to_polygons, cells_to_strings
from analytics.hexagons import RESOLUTIONS, Records, hexagon_aggregates
from geo_service.errors import UnknownLayerError
from geo_service.filters import Filters
from geo_service.store.layer_builds import StoredLayer, load_layer, save_layer
from geo_service.store.queries import read_frame


@dataclass
class Inputs:
    """The records a build reads, loaded lazily and once per build."""

    engine: Engine
    filters: Filters
    _frames: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = field(default_factory=dict)

    def frame(self, kind: str, columns: list[str]) -> pd.DataFrame:
        """Columns of the records of ``kind`` matching the filters."""
        key = (kind, tuple(columns))
        if key not in self._frames:
            self._frames[key] = read_frame(self.engine, kind, self.filters, columns)
        return self._frames[key]

    @cached_property
    def cases(self) -> Records:
        """Located penalty cases (amount = penalty, entity = credit code)."""
        f = self.frame("cases", ["lon", "lat", "credit_code", "penalty_amount"])
        return Records.of(f["lon"], f["lat"], entity=f["credit_code"].to_numpy(object),
                          amount=f["penalty_amount"].astype(float).to_numpy())  # fmt: skip

    @cached_property
    def inspections(self) -> Records:
        """Located inspections (flag = a problem was found)."""
        f = self.frame("inspections", ["lon", "lat", "credit_code", "problem_found"])
        found = f["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        return Records.of(f["lon"], f["lat"], entity=f["credit_code"].to_numpy(object), flag=found)

    @cached_property
    def register(self) -> Records:
        """Located register enterprises."""
        f = self.frame("enterprises", ["lon", "lat", "credit_code"])
        return Records.of(f["lon"], f["lat"], entity=f["credit_code"].to_numpy(object))


Computed: TypeAlias = gpd.GeoDataFrame


@dataclass(frozen=True)
class LayerSpec:
    """How one analytic layer is made."""

    name: str
    defaults: dict[str, Any]
    variants: tuple[dict[str, Any], ...]  # parameter sets a full build stores
    compute: Callable[[Inputs, dict[str, Any]], Computed]


def hexagons_layer(inputs: Inputs, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """The ``hexagons`` layer: string ids outside, polygons in WGS84."""
    resolution = int(parameters["resolution"])
    table = hexagon_aggregates(inputs.cases, inputs.inspections, inputs.register, resolution)
    cells = table.pop("h3").to_numpy(np.int64)
    table.insert(0, "h3", cells_to_strings(cells))
    return gpd.GeoDataFrame(table, geometry=cells_to_polygons(cells), crs="EPSG:4326")


SPECS: dict[str, LayerSpec] = {
    "hexagons": LayerSpec(
        "hexagons",
        {"resolution": 8},
        tuple({"resolution": r} for r in RESOLUTIONS),
        hexagons_layer,
    ),
}

ANALYTIC_LAYERS = tuple(SPECS)


def _spec(layer: str) -> LayerSpec:
    try:
        return SPECS[layer]
    except KeyError:
        raise UnknownLayerError(
            f"no analytic layer {layer!r}; choose from {', '.join(ANALYTIC_LAYERS)}"
        ) from None


def _compute_and_store(inputs: Inputs, spec: LayerSpec, parameters: dict[str, Any]) -> StoredLayer:
    result = spec.compute(inputs, parameters)
    return save_layer(inputs.engine, spec.name, inputs.filters.as_dict(), parameters, result)


def analytic_layer(
    engine: Engine, layer: str, filters: Filters, parameters: dict[str, Any]
) -> StoredLayer:
    """The current build of ``layer`` for these filters and parameters, built now if missing.

    Parameters not given take the layer's defaults.
    """
    spec = _spec(layer)
    wanted = {**spec.defaults, **parameters}
    stored = load_layer(engine, layer, filters.as_dict(), wanted)
    if stored is not None:
        return stored
    return _compute_and_store(Inputs(engine, filters), spec, wanted)


def build_layers(
    engine: Engine, filters: Filters, layers: list[str] | None = None
) -> dict[str, Any]:
    """Compute and store every variant of the layers (all by default); what was built."""
    inputs = Inputs(engine, filters)
    built: dict[str, list[dict[str, Any]]] = {}
    for name in layers or list(ANALYTIC_LAYERS):
        spec = _spec(name)
        stored = [_compute_and_store(inputs, spec, {**spec.defaults, **v}) for v in spec.variants]
        built[name] = [{"parameters": s.parameters, "data_version": s.data_version} for s in stored]
    return {"filters": filters.as_dict(), "layers": built}
