"""``geo-service build``: compute the analytic layers for a set of filters and store them.

Each analytic layer is a :class:`LayerSpec`: its default parameters, the
parameter sets a full build makes, and a function computing it from the
records matching the filters. Exports and (later) the HTTP service ask for a
layer through :func:`analytic_layer`, which returns the stored build when it is
current and computes (and stores) it otherwise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from geo_service.errors import UnknownLayerError
from geo_service.filters import Filters
from geo_service.inputs import Inputs
from geo_service.layer_specs import SPECS, LayerSpec
from geo_service.store.layer_builds import GEOTIFF, StoredLayer, load_layer, save_layer

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
    filters = inputs.filters.as_dict()
    if isinstance(result, bytes):
        return save_layer(inputs.engine, spec.name, filters, parameters, result,
                          media_type=GEOTIFF, n_features=1)  # fmt: skip
    details = result.attrs.get("parameters") or {}
    return save_layer(inputs.engine, spec.name, filters, parameters, result, details=details)


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
