"""Priority areas from contiguous risky cells, and the capacity-bound inspection plan."""

from __future__ import annotations

import itertools

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.testing import assert_allclose

from analytics.cells import cells_to_polygons
from analytics.errors import PriorityError
from analytics.priority import inspection_plan, priority_areas

RES = 7
WEST = h3.latlng_to_cell(22.8170, 108.3665, RES)
EAST = h3.grid_ring(WEST, 5)[0]
#: The cells strictly between the two blobs' rims (grid distance 2..3 from WEST).
BRIDGE = [c for c in h3.grid_path_cells(WEST, EAST) if 1 < h3.grid_distance(WEST, c) < 4]


def _ids(cells: list[str]) -> list[int]:
    return [h3.str_to_int(c) for c in cells]


def _cells(bridge: str = "low") -> pd.DataFrame:
    """Two blobs of seven high cells; the west one driven by severity, the east by hot spots."""
    west, east = h3.grid_disk(WEST, 1), h3.grid_disk(EAST, 1)
    rows = (
        [
            {
                "h3": c,
                "score": 0.8,
                "tier": "high",
                "expected_findings": 1.0,
                "c_severity": 0.5,
                "c_hotspot": 0.1,
                "c_trend": 0.2,
            }
            for c in _ids(west)
        ]
        + [
            {
                "h3": c,
                "score": 0.7,
                "tier": "high",
                "expected_findings": 2.0,
                "c_severity": 0.1,
                "c_hotspot": 0.4,
                "c_trend": 0.2,
            }
            for c in _ids(east)
        ]
        + [
            {
                "h3": c,
                "score": 0.5,
                "tier": bridge,
                "expected_findings": 0.5,
                "c_severity": 0.0,
                "c_hotspot": 0.0,
                "c_trend": 0.5,
            }
            for c in _ids(BRIDGE)
        ]
    )
    outside = [c for c in h3.grid_ring(WEST, 4) if h3.grid_distance(EAST, c) > 2][:3]
    rows += [
        {
            "h3": c,
            "score": 0.1,
            "tier": "low",
            "expected_findings": 0.1,
            "c_severity": 0.1,
            "c_hotspot": 0.0,
            "c_trend": 0.0,
        }
        for c in _ids(outside)
    ]
    return pd.DataFrame(rows)


def _enterprises() -> pd.DataFrame:
    """Twelve in the west centre cell, two in the east centre, one in a low cell."""
    west, east = h3.str_to_int(WEST), h3.str_to_int(EAST)
    low = int(_cells()["h3"].iloc[-1])
    codes = [f"W{i:02d}" for i in range(12)] + ["E0", "E1", "L0"]
    cells = [west] * 12 + [east, east, low]
    scores = [0.1 * (i % 7) for i in range(12)] + [0.9, 0.95, 0.2]
    return pd.DataFrame({"credit_code": codes, "h3": cells, "score": scores})


def test_two_blobs_make_two_areas_and_a_bridge_merges_them() -> None:
    areas = priority_areas(_cells(), _enterprises())
    assert areas["cells"].tolist() == [7, 7]
    assert areas.crs.to_epsg() == 4326
    bridged = priority_areas(_cells(bridge="high"), _enterprises())
    assert bridged["cells"].tolist() == [14 + len(BRIDGE)]
    assert bridged["enterprises"].tolist() == [14]
    assert_allclose(bridged["expected_findings"], 7 * 1.0 + 7 * 2.0 + 0.5 * len(BRIDGE))
    # the bridge counts only when its tier is chosen
    assert len(priority_areas(_cells(bridge="medium"), _enterprises())) == 2
    assert len(priority_areas(_cells("medium"), _enterprises(), tiers=("high", "medium"))) == 1


def test_areas_are_ranked_by_expected_findings_with_dominant_reasons() -> None:
    areas = priority_areas(_cells(), _enterprises())
    assert areas["area_id"].tolist() == [1, 2]
    assert areas["rank"].tolist() == [1, 2]
    assert_allclose(areas["expected_findings"], [14.0, 7.0])  # east first
    assert_allclose(areas["score"], [0.7, 0.8])
    assert areas.loc[0, "reasons"] == ["hotspot", "trend", "severity"]
    assert areas.loc[1, "reasons"] == ["severity", "trend", "hotspot"]
    assert areas.loc[0, "top_enterprises"] == ["E1", "E0"]
    west = areas.loc[1, "top_enterprises"]
    assert len(west) == 10 and areas.loc[1, "enterprises"] == 12
    assert west[:4] == ["W06", "W05", "W04", "W11"]  # scores 0.6, 0.5, 0.4, 0.4: code breaks ties


def test_equal_areas_share_a_rank_and_small_areas_drop_out() -> None:
    cells = _cells()
    cells.loc[cells["expected_findings"] == 2.0, "expected_findings"] = 1.0
    areas = priority_areas(cells, _enterprises())
    assert areas["rank"].tolist() == [1, 1]
    assert areas["area_id"].tolist() == [1, 2]
    assert_allclose(areas["score"], [0.8, 0.7])  # ties broken by the mean score
    lone = cells[~cells["h3"].isin(_ids(h3.grid_ring(EAST, 1)))]
    assert priority_areas(lone, _enterprises())["cells"].tolist() == [7, 1]
    assert priority_areas(lone, _enterprises(), min_cells=2)["cells"].tolist() == [7]


def test_area_geometry_is_the_union_of_its_hexagons() -> None:
    areas = priority_areas(_cells(), _enterprises())
    west = cells_to_polygons(_ids(h3.grid_disk(WEST, 1)))
    geom = areas.geometry.iloc[1]
    assert geom.geom_type == "Polygon" and geom.is_valid
    assert geom.area == pytest.approx(sum(p.area for p in west), rel=1e-9)
    assert shapely.equals_exact(geom.normalize(), shapely.union_all(west).normalize(), 1e-12)


def test_no_chosen_cells_give_an_empty_layer() -> None:
    cells = _cells().assign(tier="low")
    areas = priority_areas(cells, _enterprises())
    assert areas.empty and areas.crs.to_epsg() == 4326
    assert list(areas.columns)[:3] == ["area_id", "rank", "cells"]
    with pytest.raises(PriorityError, match="min_cells"):
        priority_areas(_cells(), _enterprises(), min_cells=0)
    with pytest.raises(PriorityError, match="duplicate"):
        priority_areas(pd.concat([_cells(), _cells()]), _enterprises())


def _brute_force(days: np.ndarray, values: np.ndarray, capacity: float) -> float:
    best = 0.0
    for size in range(1, days.size + 1):
        for subset in itertools.combinations(range(days.size), size):
            idx = list(subset)
            if days[idx].sum() <= capacity + 1e-9:
                best = max(best, float(values[idx].sum()))
    return best


def _instance(seed: int, n: int = 9) -> tuple[pd.DataFrame, float]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "credit_code": [f"C{i}" for i in range(n)],
            "category": rng.choice(["key", "special", "general"], n),
            "expected_findings": np.round(rng.gamma(1.5, 1.0, n), 3),
        }
    )
    return frame, float(rng.integers(1, 12)) / 2


COSTS = {"key": 2.0, "special": 1.5, "general": 0.5}


@pytest.mark.parametrize("seed", range(25))
def test_exact_plan_equals_the_brute_force_optimum(seed: int) -> None:
    ents, capacity = _instance(seed)
    plan = inspection_plan(ents, inspector_days=capacity, days_per_enterprise=COSTS)
    summary = plan.attrs["summary"]
    assert summary["method"] == "exact"
    assert summary["days_used"] <= capacity
    days = ents["category"].map(COSTS).to_numpy()
    optimum = _brute_force(days, ents["expected_findings"].to_numpy(), capacity)
    assert summary["expected_findings"] == pytest.approx(optimum)
    assert_allclose(plan["days"].sum(), summary["days_used"])
    assert plan["expected_findings"].is_monotonic_decreasing


@pytest.mark.parametrize("seed", range(25))
def test_greedy_plan_fits_and_gets_at_least_half_the_optimum(seed: int) -> None:
    ents, capacity = _instance(seed)
    costs = {"key": 1.7, "special": 1.1, "general": 0.3}  # not half-days: greedy
    plan = inspection_plan(ents, inspector_days=capacity, days_per_enterprise=costs)
    summary = plan.attrs["summary"]
    assert summary["method"] == "greedy"
    assert summary["days_used"] <= capacity + 1e-9
    days = ents["category"].map(costs).to_numpy()
    optimum = _brute_force(days, ents["expected_findings"].to_numpy(), capacity)
    assert optimum / 2 <= summary["expected_findings"] <= optimum + 1e-12


def test_greedy_keeps_the_single_best_when_it_is_worth_more() -> None:
    ents = pd.DataFrame(
        {
            "credit_code": ["small", "big"],
            "category": ["cheap", "general"],
            "expected_findings": [1.0, 9.0],
        }
    )
    costs = {"cheap": 0.1, "general": 2.0}
    # by findings per day "small" (10/day) goes first, and then "big" (4.5/day) no longer fits
    plan = inspection_plan(ents, inspector_days=2.0, days_per_enterprise=costs, method="greedy")
    assert plan["credit_code"].tolist() == ["big"]
    exact = inspection_plan(ents, inspector_days=2.0, days_per_enterprise=costs)
    assert exact.attrs["summary"]["method"] == "greedy"  # 0.1 day is no half-day
    assert inspection_plan(ents, inspector_days=2.1, days_per_enterprise=costs)[
        "credit_code"
    ].tolist() == ["big", "small"]


def test_plan_summary_zero_findings_and_bad_inputs() -> None:
    ents = pd.DataFrame(
        {
            "credit_code": list("ABCD"),
            "category": ["key", None, "general", "general"],
            "expected_findings": [4.0, 3.0, 2.0, 0.0],
        }
    )
    plan = inspection_plan(ents, inspector_days=2)
    assert plan["credit_code"].tolist() == ["A", "B"]
    assert plan.attrs["summary"] == {
        "method": "exact",
        "inspector_days": 2.0,
        "days_used": 2.0,
        "enterprises": 2,
        "candidates": 3,
        "expected_findings": 7.0,
        "share_of_expected_findings": 7 / 9,
    }
    assert inspection_plan(ents, inspector_days=0).empty
    with pytest.raises(PriorityError, match="no cost"):
        inspection_plan(ents, inspector_days=2, days_per_enterprise={"key": 1.0})
    with pytest.raises(PriorityError, match=r"multiples of 0\.5"):
        inspection_plan(ents, inspector_days=2, days_per_enterprise=0.3, method="exact")
    with pytest.raises(PriorityError, match="inspector_days"):
        inspection_plan(ents, inspector_days=float("nan"))


def test_plan_within_priority_areas() -> None:
    areas = priority_areas(_cells(), _enterprises())
    ents = _enterprises().assign(expected_findings=lambda f: 1.0 + f["score"])
    plan = inspection_plan(ents, inspector_days=3, areas=areas)
    assert "L0" not in plan["credit_code"].tolist()  # in a low cell
    assert plan["credit_code"].tolist() == ["E1", "E0", "W06"]
    assert plan["area_id"].tolist() == [1, 1, 2]
    assert plan.attrs["summary"]["candidates"] == 14
