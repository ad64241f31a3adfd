"""Typed layer parameters: parsed once, bounds in the type, the stored form unchanged."""

from __future__ import annotations

import datetime as dt

import pytest

from geo_service.builds.parameters import (
    ClusterParameters,
    HexagonParameters,
    KdeParameters,
    RiskParameters,
)
from geo_service.builds.registry import (
    ANALYTIC_LAYERS,
    PARAMETER_NAMES,
    RECIPES,
    parameters_of,
    parse_parameters,
)
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import FILTER_NAMES


def test_parsing_gives_typed_values_and_remembers_what_was_asked() -> None:
    parsed = parse_parameters("clusters", {"eps_m": "500", "min_samples": "4.0", "x": "y"})
    assert isinstance(parsed, ClusterParameters)
    assert parsed.eps_m == 500.0 and parsed.min_samples == 4 and parsed.method == "dbscan"
    assert parsed.given == {"eps_m", "min_samples"}
    assert parsed.asked() == {"eps_m": 500.0, "min_samples": 4}


@pytest.mark.parametrize(
    ("layer", "given", "reason"),
    [
        ("hexagons", {"resolution": "11"}, "hexagons resolution must be within 5…10"),
        ("hexagons", {"resolution": "8.5"}, "hexagons resolution '8.5' is not a number"),
        ("kde", {"kernel": "box"}, "kde kernel must be one of quartic, epanechnikov, gaussian"),
        ("kde", {"bandwidth_m": "1000"}, "give cell_m (≥ 250 m) with a bandwidth_m below 5000 m"),
        ("risk", {"as_of": "2024-13-01"}, "risk as_of '2024-13-01' is not a date (YYYY-MM-DD)"),
        ("risk", {"as_of": "1999-12-31"}, "risk as_of must be within 2000-01-01…2099-12-31"),
    ],
)
def test_a_value_out_of_bounds_is_refused_with_the_bound(
    layer: str, given: dict[str, str], reason: str
) -> None:
    with pytest.raises(BadFilterError) as refused:
        parse_parameters(layer, given)
    assert str(refused.value) == reason


def test_with_the_filters_named_other_names_are_refused() -> None:
    with pytest.raises(BadFilterError, match="'eps_m' is not a parameter of the hexagons layer"):
        parse_parameters("hexagons", {"eps_m": "500"}, also=FILTER_NAMES)
    with pytest.raises(BadFilterError, match="'resolution' is not a parameter of the cases"):
        parse_parameters("cases", {"resolution": "8"}, also=FILTER_NAMES)
    assert (
        parse_parameters("hexagons", {"jurisdiction": "450100"}, also=FILTER_NAMES).given == set()
    )


def test_the_stored_form_is_every_parameter_json_ready() -> None:
    # the key builds are stored and found by: a change here orphans every stored build
    assert HexagonParameters().as_dict() == {"resolution": 8}
    assert KdeParameters().as_dict() == {
        "kernel": "quartic",
        "bandwidth_m": None,
        "cell_m": None,
        "weight": "none",
        "ratio_to": None,
    }
    risk = parse_parameters("risk", {"as_of": "2024-06-30"})
    assert isinstance(risk, RiskParameters) and risk.as_of == dt.date(2024, 6, 30)
    stored = risk.as_dict()
    assert stored["as_of"] == "2024-06-30" and isinstance(stored["tiers"], list)
    assert parameters_of("risk", stored) == risk  # the stored form reads back the same


def test_every_layer_has_typed_variants_and_declared_needs() -> None:
    for layer in ANALYTIC_LAYERS:
        spec = RECIPES[layer]
        variants = spec.variant_parameters()
        assert all(isinstance(v, spec.parameters) for v in variants)
        assert len({str(sorted(v.as_dict().items())) for v in variants}) == len(variants)
    assert RECIPES["clusters"].needs == RECIPES["risk"].needs == ("problem-type-labels",)
    assert not set(FILTER_NAMES) & PARAMETER_NAMES  # a query name is a filter or a parameter


def test_a_program_naming_an_unknown_parameter_is_told() -> None:
    with pytest.raises(BadFilterError, match="'bandwith_m' is not a parameter of the kde layer"):
        parameters_of("kde", {"bandwith_m": 2000})
