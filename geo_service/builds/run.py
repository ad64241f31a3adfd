"""The run: compute an analytic layer for a set of filters and parameters, and store it.

Exports, items, tiles and ``geo-service build`` ask for a layer through
:func:`analytic_layer`, which returns the stored build when it is current and computes
(and stores) it otherwise, after the steps the layer needs
(:mod:`geo_service.builds.registry`).

The ``risk`` and ``priority-areas`` layers also take the risk weights and tier
quantiles of the settings as parameters; the caller passes its settings (the service
its own, the command line the environment's), and without settings the analytics
defaults are used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TextIO

import geopandas as gpd
from sqlalchemy import Engine

from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import LayerParameters
from geo_service.builds.problem_types import LABELS_STEP, label_records
from geo_service.builds.public import PublicBuild, store_secret
from geo_service.builds.recipes import geotiff_provenance
from geo_service.builds.registry import ANALYTIC_LAYERS, Recipe, parameters_of, recipe
from geo_service.builds.risk import configured
from geo_service.builds.skips import THIN_DATA, skipped
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.disclosure import lattice
from geo_service.store.layer_builds import GEOTIFF, StoredLayer, load_layer, save_layer

#: The steps layers may need, by name: each makes its result current in the store.
STEPS: dict[str, Callable[[Engine], dict[str, Any]]] = {LABELS_STEP: label_records}


def _compute_and_store(
    inputs: Inputs,
    spec: Recipe,
    parameters: LayerParameters,
    key: dict[str, Any] | None = None,
    compute: Callable[[], gpd.GeoDataFrame | bytes] | None = None,
) -> StoredLayer:
    """Make what the layer needs, compute it and store it under ``key`` (its parameters'
    JSON form unless given)."""
    for step in spec.needs:
        STEPS[step](inputs.engine)
    result = compute() if compute is not None else spec.compute(inputs, parameters)
    filters = inputs.filters.as_dict()
    stored_as = key if key is not None else parameters.as_dict()
    if isinstance(result, bytes):
        return save_layer(
            inputs.engine,
            spec.name,
            filters,
            stored_as,
            result,
            media_type=GEOTIFF,
            n_features=1,
            details=geotiff_provenance(result),
        )
    details = result.attrs.get("parameters") or {}
    return save_layer(inputs.engine, spec.name, filters, stored_as, result, details=details)


def analytic_layer(
    engine: Engine,
    layer: str,
    filters: Filters,
    parameters: LayerParameters | Mapping[str, Any],
    settings: Settings | None = None,
) -> StoredLayer:
    """The current build of ``layer`` for these filters and parameters, built now if missing.

    ``parameters`` are typed (a request's, parsed once) or a program's mapping of the
    ones it sets; the others take the layer's defaults (and the settings').
    """
    spec = recipe(layer)
    wanted = configured(parameters_of(layer, parameters), settings)
    if filters.min_count is not None:  # anonymous: the public view, stored as a build of its own
        return _public_layer(engine, spec, filters, wanted)
    stored = load_layer(engine, layer, filters.as_dict(), wanted.as_dict())
    if stored is not None:
        return stored
    return _compute_and_store(Inputs(engine, filters), spec, wanted)


def _public_layer(
    engine: Engine, spec: Recipe, filters: Filters, asked: LayerParameters
) -> StoredLayer:
    """The public view of a layer (:mod:`geo_service.disclosure`): its parameters within
    the public lattice (401 outside it), computed from perturbed counts and kept beside
    the full build, told apart by the ``disclosure`` parameter."""
    lattice.check_filters(filters)
    given = {k: v for k, v in asked.as_dict().items() if k in asked.given}
    key = lattice.public_parameters(spec.name, given, spec.parameters.defaults())
    stored = load_layer(engine, spec.name, filters.as_dict(), key)
    if stored is not None:
        return stored
    wanted = spec.parameters.of({k: v for k, v in key.items() if k != "disclosure"})
    account_view = replace(filters, min_count=None)

    def full(layer: str, parameters: LayerParameters) -> gpd.GeoDataFrame:
        stored = analytic_layer(engine, layer, account_view, parameters)
        frame = stored.frame()
        frame.attrs["parameters"] = stored.parameters
        return frame

    public = PublicBuild(Inputs(engine, filters), store_secret(engine), full)
    return _compute_and_store(
        public.inputs, spec, wanted, key, lambda: public.layer(spec.name, wanted)
    )


def build_layers(
    engine: Engine,
    filters: Filters,
    layers: list[str] | None = None,
    settings: Settings | None = None,
    report: TextIO | None = None,
) -> dict[str, Any]:
    """Compute and store every variant of the layers (all by default); what was built,
    and what was skipped and why.

    The steps the layers need run first, each once, and are reported under ``steps``. A
    layer (or step) the data cannot give (:data:`~geo_service.builds.skips.THIN_DATA`) is
    skipped with its reason (each variant apart: a ratio to a missing register goes, the
    counts stay), and the rest is built. With ``report``, a line per layer is written to
    it as the build goes.
    """
    recipes = [recipe(name) for name in layers or list(ANALYTIC_LAYERS)]
    # the additive layers' first pass over the store makes the partials of all of them
    planned = tuple(
        (spec.name, configured(v, settings)) for spec in recipes for v in spec.variant_parameters()
    )
    inputs = Inputs(engine, filters, planned=planned)
    needed = dict.fromkeys(step for spec in recipes for step in spec.needs)
    steps: dict[str, dict[str, Any]] = {}
    failed_steps: dict[str, Exception] = {}
    for step in needed:
        try:
            steps[step] = STEPS[step](engine)
        except THIN_DATA as exc:
            failed_steps[step] = exc
    built: dict[str, list[dict[str, Any]]] = {}
    skips: list[dict[str, Any]] = []
    for number, spec in enumerate(recipes, start=1):
        started = time.perf_counter()
        failed = next((failed_steps[s] for s in spec.needs if s in failed_steps), None)
        stored, left_out = [], []
        for variant in spec.variant_parameters():
            parameters = configured(variant, settings)
            if failed is not None:  # a step it needs could not be made
                left_out.append((parameters.as_dict(), skipped(spec.name, failed)))
                continue
            try:
                stored.append(_compute_and_store(inputs, spec, parameters))
            except THIN_DATA as exc:
                left_out.append((parameters.as_dict(), skipped(spec.name, exc)))
        if stored:
            built[spec.name] = [
                {"parameters": s.parameters, "data_version": s.data_version} for s in stored
            ]
        skips += [{"layer": spec.name, "parameters": p, **skip.as_dict()} for p, skip in left_out]
        seconds = time.perf_counter() - started
        done = f"已生成 built: {len(stored)}/{len(stored) + len(left_out)}, {seconds:.1f} s"
        if left_out:
            done += f"; 跳过 skipped {len(left_out)}: {left_out[0][1].reason}"
        _report(report, number, len(recipes), spec.name, done)
    return {
        "filters": filters.as_dict(),
        "steps": {name: provenance["parameters"] for name, provenance in steps.items()},
        "layers": built,
        "skipped": skips,
    }


def _report(out: TextIO | None, number: int, total: int, layer: str, what: str) -> None:
    if out is not None:
        print(f"[{number}/{total}] {layer}: {what}", file=out, flush=True)
