"""Hexagon aggregates against a plain h3-py computation, and additivity over partitions."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from analytics.hexagons import Records, ResolutionError, count_points_per_cell, hexagon_aggregates


def _records(n: int, seed: int, **extra: object) -> Records:
    rng = np.random.default_rng(seed)
    lon = rng.normal(108.35, 0.05, n)
    lat = rng.normal(22.82, 0.05, n)
    entity = rng.choice([f"E{i}" for i in range(40)], n).astype(object)
    return Records.of(
        lon, lat, entity=entity, amount=rng.uniform(0, 1e5, n), flag=rng.random(n) < 0.3
    )


@pytest.mark.parametrize("resolution", [5, 8, 10])
def test_counts_match_h3_py(resolution: int) -> None:
    rec = _records(3000, 1)
    cells, counts = count_points_per_cell(rec.lon, rec.lat, resolution)
    expected = (
        pd.Series(
            [
                h3.str_to_int(h3.latlng_to_cell(y, x, resolution))
                for x, y in zip(rec.lon, rec.lat, strict=True)
            ]
        )
        .value_counts()
        .sort_index()
    )
    assert_array_equal(cells, expected.index.to_numpy())
    assert_array_equal(counts, expected.to_numpy())


def test_aggregates_against_a_direct_computation() -> None:
    cases, inspections, register = _records(2000, 2), _records(5000, 3), _records(800, 4)
    got = hexagon_aggregates(cases, inspections, register, 8).set_index("h3")

    def cell(rec: Records) -> np.ndarray:
        return np.array(
            [
                h3.str_to_int(h3.latlng_to_cell(y, x, 8))
                for x, y in zip(rec.lon, rec.lat, strict=True)
            ]
        )

    c = pd.DataFrame({"h3": cell(cases), "e": cases.entity, "amount": cases.amount})
    i = pd.DataFrame({"h3": cell(inspections), "e": inspections.entity, "flag": inspections.flag})
    r = pd.DataFrame({"h3": cell(register)})
    assert got["cases"].sum() == 2000 and got["inspections"].sum() == 5000
    assert got["enterprises"].sum() == 800
    for h, row in got.sample(25, random_state=0).iterrows():
        cc, ii = c[c.h3 == h], i[i.h3 == h]
        assert row.cases == len(cc) and row.inspections == len(ii)
        assert row.enterprises == (r.h3 == h).sum()
        assert row.problems_found == ii.flag.sum()
        assert_allclose(row.penalty_sum, cc.amount.sum())
        assert row.offending_enterprises == cc.e.nunique()
        assert row.inspected_enterprises == ii.e.nunique()
        assert row.repeat_offenders == (cc.e.value_counts() >= 2).sum()
        if len(ii):
            assert_allclose(row.problems_per_inspection, ii.flag.mean())
        else:
            assert np.isnan(row.problems_per_inspection)
        if ii.e.nunique():
            assert_allclose(row.cases_per_inspected_enterprise, len(cc) / ii.e.nunique())


def test_counts_and_sums_are_additive_over_partitions() -> None:
    cases, inspections, register = _records(3000, 5), _records(3000, 6), _records(500, 7)
    whole = hexagon_aggregates(cases, inspections, register, 7).set_index("h3")
    half = [slice(0, 1500), slice(1500, 3000)]
    parts = [
        hexagon_aggregates(
            Records.of(cases.lon[s], cases.lat[s], amount=cases.amount[s]),
            Records.of(inspections.lon[s], inspections.lat[s], flag=inspections.flag[s]),
            Records.of(register.lon[:0], register.lat[:0]),
            7,
        ).set_index("h3")
        for s in half
    ]
    summed = parts[0][["cases", "inspections", "problems_found", "penalty_sum"]].add(
        parts[1][["cases", "inspections", "problems_found", "penalty_sum"]], fill_value=0
    )
    assert_allclose(
        summed.sort_index().to_numpy(),
        whole.loc[summed.index].sort_index()[summed.columns].to_numpy(),
    )


def test_resolution_outside_range_is_refused() -> None:
    with pytest.raises(ResolutionError):
        count_points_per_cell([108.0], [22.0], 11)
    assert issubclass(ResolutionError, ValueError)


def test_large_inputs_split_over_threads_give_the_same_cells() -> None:
    from h3ronpy import vector

    from analytics.cells import points_to_cells

    rng = np.random.default_rng(9)
    lon, lat = rng.uniform(104, 112, 250_001), rng.uniform(21, 26, 250_001)
    single = np.asarray(vector.coordinates_to_cells(lat, lon, 9), dtype=np.uint64).astype(np.int64)
    assert_array_equal(points_to_cells(lon, lat, 9), single)
