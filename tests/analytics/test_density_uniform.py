"""Kernel density of evenly spread points, about one a cell: against the exact kernel sum
at the bandwidths (4 to 8 cells) where the surface is summed exactly or binned with
nearly every occupied lattice cell heavy."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics.density import Grid, exact_kernel_density, kernel_density


def _even(rng: np.random.Generator, grid: Grid, per_cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points, ``per_cell`` a cell on average, over the grid and a margin past its
    edges."""
    n = int(per_cell * grid.nx * grid.ny * 1.1**2)
    u = rng.uniform(-0.05, 1.05, (n, 2))
    return grid.x_min_m + u[:, 0] * grid.nx * grid.cell_m, grid.y_max_m - u[:, 1] * (
        grid.ny * grid.cell_m
    )


@pytest.mark.parametrize("method", ["auto", "binned"])
@pytest.mark.parametrize("cells_per_bandwidth", [4.0, 5.0, 6.0, 6.5, 7.0, 7.5, 8.0])
def test_evenly_spread_points_are_within_0_2_percent_of_peak(
    cells_per_bandwidth: float, method: str
) -> None:
    """One point a cell on average: the peak is low against a lone point's kernel, so
    binning's error weighs more there than under clustered points; every cell of the
    surface within 0.2 % of the peak of the exact sum, weighted or not."""
    rng = np.random.default_rng(int(cells_per_bandwidth * 10) + (method == "binned"))
    cell = float(rng.uniform(200.0, 900.0))
    grid = Grid(float(rng.uniform(-1e5, 1e5)), float(rng.uniform(1e6, 2e6)), cell, 64, 58)
    x, y = _even(rng, grid, 1.0)
    bandwidth = cells_per_bandwidth * cell
    for weights in (None, rng.lognormal(0.0, 0.5, x.size)):
        surface = kernel_density(
            x, y, weights=weights, bandwidth_m=bandwidth, grid=grid, method=method
        )
        exact = exact_kernel_density(x, y, grid, bandwidth, weights=weights)
        error = np.abs(surface.values - exact).max() / exact.max()
        assert error <= 0.002, (error, surface.parameters["method"])


@pytest.mark.parametrize("cells_per_bandwidth", [5.0, 6.0])
def test_sparse_and_crowded_rows_are_summed_exactly(cells_per_bandwidth: float) -> None:
    """Rows of two points a cell (their buckets sorted by cells, crowded cells summed by
    moments) above rows of a point in four cells (their buckets sorted by column, summed
    point by point): the direct kernel sum to rounding either way, weighted or not."""
    rng = np.random.default_rng(31)
    grid = Grid(0.0, 40_000.0, 500.0, 70, 80)
    top = Grid(0.0, 40_000.0, 500.0, 70, 40)
    bottom = Grid(0.0, 20_000.0, 500.0, 70, 40)
    x1, y1 = _even(rng, top, 2.0)
    x2, y2 = _even(rng, bottom, 0.25)
    x, y = np.concatenate([x1, x2]), np.concatenate([y1, y2])
    bandwidth = cells_per_bandwidth * grid.cell_m
    for weights in (None, rng.lognormal(0.0, 0.5, x.size)):
        surface = kernel_density(
            x, y, weights=weights, bandwidth_m=bandwidth, grid=grid, method="exact"
        )
        exact = exact_kernel_density(x, y, grid, bandwidth, weights=weights)
        assert_allclose(surface.values, exact, rtol=1e-9, atol=1e-12 * exact.max())
