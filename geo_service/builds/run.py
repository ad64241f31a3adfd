"""``geo-service build``: compute the analytic layers for a set of filters and store them.

Each analytic layer is a :class:`LayerSpec`: its default parameters, the
parameter sets a full build makes, and a function computing it from the
records matching the filters. Exports and (later) the HTTP service ask for a
layer through :func:`analytic_layer`, which returns the stored build when it is
current and computes (and stores) it otherwise.

The ``risk`` and ``priority-areas`` layers also take the risk weights and tier
quantiles of the settings as parameters (:func:`configured_parameters`): the
service passes its own settings, the command line reads them from the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import geopandas as gpd
from sqlalchemy import Engine

from geo_service.builds.inputs import Inputs
from geo_service.builds.public import PublicBuild, store_secret
from geo_service.builds.recipes import SPECS, LayerSpec
from geo_service.builds.risk import RISK_LAYERS, risk_configuration
from geo_service.core.errors import UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings, get_settings
from geo_service.disclosure import lattice
from geo_service.store.layer_builds import GEOTIFF, StoredLayer, load_layer, save_layer

ANALYTIC_LAYERS = tuple(SPECS)


def _spec(layer: str) -> LayerSpec:
    try:
        return SPECS[layer]
    except KeyError:
        raise UnknownLayerError(
            f"no analytic layer {layer!r}; choose from {', '.join(ANALYTIC_LAYERS)}"
        ) from None


def _compute_and_store(
    inputs: Inputs,
    spec: LayerSpec,
    parameters: dict[str, Any],
    compute: Callable[[Inputs, dict[str, Any]], gpd.GeoDataFrame | bytes] | None = None,
) -> StoredLayer:
    result = (compute or spec.compute)(inputs, parameters)
    filters = inputs.filters.as_dict()
    if isinstance(result, bytes):
        return save_layer(
            inputs.engine, spec.name, filters, parameters, result, media_type=GEOTIFF, n_features=1
        )
    details = result.attrs.get("parameters") or {}
    return save_layer(inputs.engine, spec.name, filters, parameters, result, details=details)


def configured_parameters(layer: str, settings: Settings | None = None) -> dict[str, Any]:
    """Parameters of ``layer`` that come from the settings (``get_settings()`` when none are
    given): the risk weights and tiers of the risk layers, nothing for the others."""
    if layer not in RISK_LAYERS:
        return {}
    return risk_configuration(settings if settings is not None else get_settings())


def analytic_layer(
    engine: Engine,
    layer: str,
    filters: Filters,
    parameters: dict[str, Any],
    settings: Settings | None = None,
) -> StoredLayer:
    """The current build of ``layer`` for these filters and parameters, built now if missing.

    Parameters not given take the layer's defaults (and the settings').
    """
    spec = _spec(layer)
    if filters.min_count is not None:  # anonymous: the public view, stored as a build of its own
        return _public_layer(engine, spec, filters, parameters)
    wanted = {**spec.defaults, **configured_parameters(layer, settings), **parameters}
    stored = load_layer(engine, layer, filters.as_dict(), wanted)
    if stored is not None:
        return stored
    return _compute_and_store(Inputs(engine, filters), spec, wanted)


def _public_layer(
    engine: Engine, spec: LayerSpec, filters: Filters, given: dict[str, Any]
) -> StoredLayer:
    """The public view of a layer (:mod:`geo_service.disclosure`): its parameters within
    the public lattice (401 outside it), computed from perturbed counts and kept beside
    the full build, told apart by the ``disclosure`` parameter."""
    lattice.check_filters(filters)
    wanted = lattice.public_parameters(spec.name, given, spec.defaults)
    stored = load_layer(engine, spec.name, filters.as_dict(), wanted)
    if stored is not None:
        return stored
    account_view = replace(filters, min_count=None)

    def full(layer: str, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
        stored = analytic_layer(engine, layer, account_view, parameters)
        frame = stored.frame()
        frame.attrs["parameters"] = stored.parameters
        return frame

    public = PublicBuild(Inputs(engine, filters), store_secret(engine), full)
    return _compute_and_store(
        public.inputs, spec, wanted, lambda _inputs, p: public.layer(spec.name, p)
    )


def build_layers(
    engine: Engine,
    filters: Filters,
    layers: list[str] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Compute and store every variant of the layers (all by default); what was built."""
    inputs = Inputs(engine, filters)
    built: dict[str, list[dict[str, Any]]] = {}
    for name in layers or list(ANALYTIC_LAYERS):
        spec = _spec(name)
        defaults = {**spec.defaults, **configured_parameters(name, settings)}
        stored = [_compute_and_store(inputs, spec, {**defaults, **v}) for v in spec.variants]
        built[name] = [{"parameters": s.parameters, "data_version": s.data_version} for s in stored]
    return {"filters": filters.as_dict(), "layers": built}
