"""The analytic layers: each one's parameter class, recipe, full-build variants and needs.

A layer that reads something another step writes says so in ``needs`` (the
problem-type labels of the records, :mod:`geo_service.builds.problem_types`); the
run makes what a layer needs first, so no result depends on the order below.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from analytics.hexagons import RESOLUTIONS
from geo_service.builds.commonalities import commonalities_layer
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import (
    ClusterParameters,
    CommonalityParameters,
    EmergingParameters,
    HexagonParameters,
    HotspotParameters,
    KdeParameters,
    LayerParameters,
    LocalMoranParameters,
    PriorityAreaParameters,
    ProblemTypeParameters,
    RiskParameters,
    refuse_unknown,
)
from geo_service.builds.problem_types import LABELS_STEP, problem_types_layer
from geo_service.builds.recipes import clusters_layer
from geo_service.builds.risk import priority_areas_layer, risk_layer
from geo_service.builds.streaming import streamed
from geo_service.core.errors import UnknownLayerError

Compute = Callable[[Inputs, Any], gpd.GeoDataFrame | bytes]  # bytes: a GeoTIFF


@dataclass(frozen=True)
class Recipe:
    """How one analytic layer is made."""

    name: str
    parameters: type[LayerParameters]
    compute: Compute
    variants: tuple[Mapping[str, Any], ...]  # the parameter sets a full build stores
    needs: tuple[str, ...] = ()  # steps whose results the recipe reads from the store

    def variant_parameters(self) -> list[LayerParameters]:
        """The parameters of each variant a full build stores."""
        return [self.parameters.of(v) for v in self.variants]


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "hexagons",
            HexagonParameters,
            streamed("hexagons"),
            tuple({"resolution": r} for r in RESOLUTIONS),
        ),
        Recipe(
            "hotspots",
            HotspotParameters,
            streamed("hotspots"),
            ({"resolution": 6}, {"resolution": 7}, {"resolution": 8}, {"unit": "county"}),
        ),
        Recipe(
            "local-moran",
            LocalMoranParameters,
            streamed("local-moran"),
            ({"resolution": 6}, {"resolution": 7}, {"unit": "county"}),
        ),
        Recipe(
            "kde",
            KdeParameters,
            streamed("kde"),
            ({}, {"weight": "penalty_amount"}, {"ratio_to": "enterprises"}),
        ),
        Recipe("problem-types", ProblemTypeParameters, problem_types_layer, ({},)),
        # commonalities and differences (共性与差异) test the types the labels gave
        Recipe(
            "commonalities",
            CommonalityParameters,
            commonalities_layer,
            ({}, {"unit": "city"}),
            needs=(LABELS_STEP,),
        ),
        # the clusters' profile names the problem types of their records
        Recipe(
            "clusters",
            ClusterParameters,
            clusters_layer,
            ({}, {"method": "hdbscan"}),
            needs=(LABELS_STEP,),
        ),
        Recipe(
            "emerging-hotspots",
            EmergingParameters,
            streamed("emerging-hotspots"),
            ({"step": "quarter"}, {"step": "month"}),
        ),
        # the cases' problem types feed the problem_mix component of risk
        Recipe("risk", RiskParameters, risk_layer, ({}, {"unit": "enterprise"}), (LABELS_STEP,)),
        Recipe(
            "priority-areas", PriorityAreaParameters, priority_areas_layer, ({},), (LABELS_STEP,)
        ),
    )
}

ANALYTIC_LAYERS = tuple(RECIPES)
#: Every name a request may set on some layer.
PARAMETER_NAMES = frozenset(n for r in RECIPES.values() for n in r.parameters.bounds())


def parameter_docs(layers: Collection[str] = ANALYTIC_LAYERS) -> dict[str, str]:
    """Each parameter name with the layers that take it and their bounds (for OpenAPI)."""
    docs: dict[str, list[str]] = {}
    for layer in layers:
        if layer in RECIPES:
            for name, bound in RECIPES[layer].parameters.bounds().items():
                docs.setdefault(name, []).append(f"{layer}: {bound.text()}")
    return {name: "; ".join(text) for name, text in docs.items()}


def recipe(layer: str) -> Recipe:
    """The recipe of ``layer`` (:class:`UnknownLayerError` naming the layers otherwise)."""
    try:
        return RECIPES[layer]
    except KeyError:
        raise UnknownLayerError(
            f"no analytic layer {layer!r}; choose from {', '.join(ANALYTIC_LAYERS)}"
        ) from None


def parse_parameters(
    layer: str, given: Mapping[str, Any], also: Collection[str] | None = None
) -> LayerParameters:
    """A request's parameters of ``layer`` (:meth:`LayerParameters.parse`); layers that are
    not analytic (records, jurisdictions) take none, and get the empty base."""
    if layer not in RECIPES:
        if also is not None:
            refuse_unknown(layer, given, (), also)
        return LayerParameters()
    return RECIPES[layer].parameters.parse(given, also)


def parameters_of(layer: str, parameters: LayerParameters | Mapping[str, Any]) -> LayerParameters:
    """Typed parameters of ``layer`` from typed ones (as they are) or a program's mapping."""
    cls = recipe(layer).parameters
    if isinstance(parameters, cls):
        return parameters
    if isinstance(parameters, LayerParameters):
        raise UnknownLayerError(f"{type(parameters).__name__} are not parameters of {layer}")
    return cls.of(parameters)
