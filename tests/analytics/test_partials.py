"""Partials of random partitions add up to the aggregate of the whole."""

from __future__ import annotations

import datetime as dt
import functools
import operator

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal

from analytics.cells import points_to_cells
from analytics.density import bin_points, binned_density, density_grid, kernel_density
from analytics.density import silverman_bandwidth_m as silverman
from analytics.emerging import space_time_cube
from analytics.hexagons import Records, hexagon_aggregates
from analytics.partials import (
    BinnedGrid,
    HexagonPartial,
    MonthSpan,
    PartialsError,
    PointMoments,
    add_partials,
    counts_on_cells,
    hexagon_partial,
    hexagon_table,
    month_counts,
    month_cube,
    month_ordinals,
    point_moments,
    silverman_from_distances,
    step_labels,
    sum_partials,
)

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _fresh_rng() -> None:
    """Each test draws the same records whichever tests ran before it in its worker: at
    H3 resolution 10 some draws put no entity twice in one cell."""
    global RNG
    RNG = np.random.default_rng(7)


def _records(n: int, *, amounts: bool = False, flags: bool = False) -> Records:
    lon = RNG.normal(108.3, 0.05, n)
    lat = RNG.normal(22.8, 0.05, n)
    entity = RNG.choice(np.array(["A", "B", "C", "D", None, ""], dtype=object), n)
    fields: dict = {"entity": entity}
    if amounts:
        amount = RNG.choice([1e4, 2.5e4, 3333.33, np.nan], n)
        fields["amount"] = amount
    if flags:
        fields["flag"] = RNG.random(n) < 0.4
    return Records.of(lon, lat, **fields)


def _take(records: Records, index: np.ndarray) -> Records:
    return Records(
        records.lon[index],
        records.lat[index],
        records.entity[index],
        records.amount[index],
        records.flag[index],
    )


def _split(n: int, parts: int) -> list[np.ndarray]:
    """Random partition of range(n) into ``parts`` pieces (some may be empty)."""
    label = RNG.integers(0, parts, n)
    return [np.flatnonzero(label == p) for p in range(parts)]


@pytest.mark.parametrize("resolution", [6, 8, 10])
def test_hexagon_partials_of_random_partitions_make_the_whole_table(resolution: int) -> None:
    cases = _records(600, amounts=True)
    inspections = _records(400, flags=True)
    register = _records(150)
    parts: list[HexagonPartial] = []
    for kind, records in (("cases", cases), ("inspections", inspections), ("register", register)):
        for index in _split(len(records), 5):
            parts.append(hexagon_partial(resolution, **{kind: _take(records, index)}))
    RNG.shuffle(parts)  # type: ignore[arg-type]
    combined = functools.reduce(operator.add, parts)
    whole = hexagon_aggregates(cases, inspections, register, resolution)
    got = hexagon_table(combined)
    assert_frame_equal(got, whole, check_exact=False, rtol=1e-12)
    assert got["repeat_offenders"].sum() > 0  # distinct counts crossed partitions


def test_hexagon_partials_of_nothing_are_an_empty_table_and_add_as_zero() -> None:
    empty = hexagon_partial(8)
    assert hexagon_table(empty).empty
    cases = _records(50, amounts=True)
    some = hexagon_partial(8, cases=cases)
    assert_frame_equal(hexagon_table(empty + some), hexagon_table(some))
    with pytest.raises(PartialsError):
        _ = some + hexagon_partial(7)


def test_counts_on_cells_equal_the_whole_counts() -> None:
    cases = _records(500)
    parts = [hexagon_partial(7, cases=_take(cases, i)) for i in _split(len(cases), 4)]
    combined = functools.reduce(operator.add, parts)
    whole = hexagon_aggregates(cases, Records.of([], []), Records.of([], []), 7)
    area = np.sort(np.concatenate([whole["h3"].to_numpy()[::2], [1, 2, 3]]))  # half, and others
    got = counts_on_cells(area, combined.sums["cases"])
    expected = whole.set_index("h3")["cases"].reindex(area, fill_value=0).to_numpy()
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("step", ["month", "quarter"])
def test_month_partials_make_the_space_time_cube(step: str) -> None:
    cases = _records(700)
    days = RNG.integers(0, 700, len(cases))
    dates = [dt.date(2023, 2, 10) + dt.timedelta(days=int(d)) for d in days]
    months = month_ordinals(dates)
    parts = [month_counts(_take(cases, i), months[i], 6) for i in _split(len(cases), 6)]
    combined = functools.reduce(operator.add, parts)
    first, last = min(dates), max(dates)
    assert (combined.first_month, combined.last_month) == (months.min(), months.max())
    first_step, labels = step_labels(first, last, step)
    whole_cells = hexagon_aggregates(cases, Records.of([], []), Records.of([], []), 6)["h3"]
    cells = whole_cells.to_numpy()
    got = month_cube(combined, cells, first_step, len(labels), step)
    freq = "M" if step == "month" else "Q"
    periods = pd.Series(pd.to_datetime(dates)).dt.to_period(freq)
    index = (periods - periods.min()).map(lambda d: d.n).to_numpy(np.int64)
    _, expected = space_time_cube(
        points_to_cells(cases.lon, cases.lat, 6), index, len(labels), all_cells=cells
    )
    assert got.tolist() == expected.tolist()
    assert len(labels) == (24 if step == "month" else 9)  # ≤ 2025-01-09


@pytest.mark.parametrize("weighted", [False, True])
def test_kde_partials_make_the_whole_surface(weighted: bool) -> None:
    x = RNG.normal(5e5, 2e4, 3000)
    y = RNG.normal(2.5e6, 1e4, 3000)
    w = RNG.uniform(0, 5e4, 3000) if weighted else np.ones(3000)
    pieces = _split(3000, 7)
    moments = functools.reduce(
        operator.add, [point_moments(x[i], y[i], w[i]) for i in pieces], PointMoments()
    )
    cx, cy = moments.centre
    d2 = np.concatenate([(x[i] - cx) ** 2 + (y[i] - cy) ** 2 for i in pieces])
    h = silverman_from_distances(d2, np.concatenate([w[i] for i in pieces]))
    assert h == pytest.approx(silverman(x, y, w), rel=1e-12)
    grid = density_grid(moments.bounds, h, "quartic", points=moments.n)
    grids = [BinnedGrid.of(bin_points(x[i], y[i], w[i], grid)) for i in pieces]
    binned = functools.reduce(operator.add, grids).to_array()
    assert_allclose(binned, bin_points(x, y, w, grid), rtol=1e-12, atol=1e-12 * w.max())
    surface = binned_density(
        binned,
        grid,
        bandwidth_m=h,
        kernel="quartic",
        n_points=moments.n,
        total_weight=moments.weight,
        fixed_bandwidth=False,
        weighted=weighted,
    )
    whole = kernel_density(x, y, weights=w if weighted else None)
    assert (surface.grid.nx, surface.grid.ny) == (whole.grid.nx, whole.grid.ny)
    assert_allclose(surface.grid.transform, whole.grid.transform, rtol=1e-12)
    peak = whole.values.max()
    assert_allclose(surface.values, whole.values, rtol=1e-9, atol=1e-12 * peak)
    assert surface.parameters == {
        **whole.parameters,
        "bandwidth_m": surface.bandwidth_m,
        "cell_m": surface.grid.cell_m,
    }
    assert surface.total_weight == pytest.approx(whole.total_weight, rel=1e-12)


def test_add_partials_adds_key_by_key() -> None:
    total = add_partials(
        {"a": np.ones(3), "m": PointMoments()},
        {"a": np.ones(3)},
        {"m": point_moments([1.0], [2.0], [1.0])},
    )
    assert total["a"].tolist() == [2.0, 2.0, 2.0]
    assert total["m"].n == 1 and total["m"].bounds == (1.0, 1.0, 2.0, 2.0)
    assert add_partials() == {}


def test_binned_grids_add_sparse_then_dense() -> None:
    a = np.zeros((4, 5))
    a[1, 2], a[3, 4] = 1.5, 2.0
    b = np.zeros((4, 5))
    b[1, 2] = 0.5
    total = BinnedGrid.of(a) + BinnedGrid.of(b)
    assert total.dense is None and total.index.tolist() == [7, 19]
    assert_allclose(total.to_array(), a + b)
    full = BinnedGrid.of(np.ones((4, 5)))
    assert (total + full).dense is not None
    assert_allclose((total + full).to_array(), a + b + 1)
    with pytest.raises(PartialsError):
        _ = total + BinnedGrid.of(np.zeros((2, 2)))


@pytest.mark.parametrize("pieces", [1, 2, 7, 16, 13])
def test_sum_partials_of_a_stream_of_pieces_makes_the_whole(pieces: int) -> None:
    """The balanced tree adds every piece once: the chunks of a table, summed as they are
    read, give the whole table's hexagons, moments and month span."""
    cases = _records(700, amounts=True)
    months = RNG.integers(24_200, 24_300, len(cases))
    consumed = []

    def stream():  # type: ignore[no-untyped-def]
        for index in np.array_split(np.arange(len(cases)), pieces):
            consumed.append(index.size)
            part = _take(cases, index)
            yield {
                "hex": hexagon_partial(8, cases=part),
                "moments": point_moments(part.lon, part.lat, np.ones(len(part))),
                "span": MonthSpan.of(months[index]),
                "n": len(part),
            }

    total = sum_partials(stream())
    assert sum(consumed) == len(cases) and len(consumed) == pieces
    assert total["n"] == len(cases)
    whole = hexagon_aggregates(cases, Records.of([], []), Records.of([], []), 8)
    assert_frame_equal(hexagon_table(total["hex"]), whole, check_exact=False, rtol=1e-12)
    assert total["moments"].n == len(cases)
    assert (total["span"].first, total["span"].last) == (months.min(), months.max())
    assert sum_partials(iter([])) == {}
