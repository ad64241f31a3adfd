"""Kernel density: both ways against the exact kernel sum on random grids, the refusal of
narrow bandwidths, integral, units, bandwidth rule."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from analytics import density
from analytics.density import (
    KERNELS,
    MIN_BANDWIDTH_CELLS,
    BandwidthError,
    DensityError,
    Grid,
    Lattice,
    bin_points,
    binned_density,
    density_grid,
    exact_kernel_density,
    kernel_density,
    lattice_for,
    silverman_bandwidth_m,
)


def _clustered(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 50_000, (6, 2))
    which = rng.integers(0, 6, n)
    x = centres[which, 0] + rng.normal(0, 2_000, n)
    y = centres[which, 1] + rng.normal(0, 2_000, n)
    return x, y


def _points(rng: np.random.Generator, grid: Grid, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clusters, a uniform background, points past the grid's edges and one place that
    holds a tenth of the points (an address many records share)."""
    width, height = grid.nx * grid.cell_m, grid.ny * grid.cell_m
    u = rng.uniform(-0.15, 1.15, (n, 2))
    centres = rng.uniform(0.2, 0.8, (3, 2))
    clustered = rng.random(n) < 0.5
    which = rng.integers(0, 3, n)
    u[clustered] = centres[which[clustered]] + rng.normal(0, 0.05, (int(clustered.sum()), 2))
    u[: n // 10] = rng.uniform(0.3, 0.7, 2)
    return grid.x_min_m + u[:, 0] * width, grid.y_max_m - u[:, 1] * height


def _random_case(seed: int) -> tuple[Grid, float, np.ndarray, np.ndarray, np.ndarray | None]:
    """A grid, a bandwidth (from the smallest accepted, 2 cells, up) and weighted or
    unweighted points, all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    cell = float(rng.uniform(100.0, 2_000.0))
    nx, ny = (int(v) for v in rng.integers(25, 60, 2))
    grid = Grid(float(rng.uniform(-1e6, 1e6)), float(rng.uniform(2e6, 4e6)), cell, nx, ny)
    cells_per_bandwidth = MIN_BANDWIDTH_CELLS if seed % 4 == 0 else float(rng.uniform(2.0, 25.0))
    x, y = _points(rng, grid, int(rng.integers(20, 4_000)))
    weights = rng.lognormal(0.0, 1.0, x.size) if seed % 2 else None
    return grid, cells_per_bandwidth * cell, x, y, weights


@pytest.mark.parametrize("method", ["exact", "binned", "auto"])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("seed", range(8))
def test_the_surface_is_within_0_2_percent_of_peak_of_the_exact_sum(
    seed: int, kernel: str, method: str
) -> None:
    grid, bandwidth, x, y, weights = _random_case(seed)
    surface = kernel_density(
        x, y, weights=weights, bandwidth_m=bandwidth, kernel=kernel, grid=grid, method=method
    )
    exact = exact_kernel_density(x, y, grid, bandwidth, kernel, weights=weights)
    error = np.abs(surface.values - exact).max() / exact.max()
    assert error <= 0.002, (error, surface.parameters["method"])


def test_heavy_cells_taken_out_by_scatter_or_by_a_second_fft_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clustered points at 7.5 cells, binned on the cells with many heavy lattice cells: their
    binned weights are taken out of the convolved lattice by scattering the stencil from
    their corner nodes, or, when there are very many, by a second FFT. The same surface
    (to round-off), within 0.2 % of the exact sum."""
    x, y = _clustered(20_000)
    x, y = np.concatenate([x, np.full(400, 20_000.0)]), np.concatenate([y, np.full(400, 9e3)])
    monkeypatch.setattr(density, "_SCATTER_PER_NODE", np.inf)
    scattered = kernel_density(x, y, bandwidth_m=7_500.0, cell_m=1_000.0)
    assert "1× lattice" in scattered.parameters["method"]
    assert "heavy lattice cells summed exactly" in scattered.parameters["method"]
    monkeypatch.setattr(density, "_SCATTER_PER_NODE", 0.0)
    convolved = kernel_density(x, y, bandwidth_m=7_500.0, grid=scattered.grid)
    peak = float(scattered.values.max())
    np.testing.assert_allclose(convolved.values, scattered.values, rtol=0, atol=1e-9 * peak)
    flat = scattered.values.ravel()
    rng = np.random.default_rng(0)
    cells = np.unique(
        np.concatenate([rng.choice(flat.size, 1500, replace=False), np.argsort(flat)[-200:]])
    )
    exact = exact_kernel_density(x, y, scattered.grid, 7_500.0, cells=cells)
    assert np.abs(flat[cells] - exact).max() / exact.max() <= 0.002


@pytest.mark.parametrize("kernel", KERNELS)
def test_dense_points_at_five_cells_per_bandwidth_are_within_0_2_percent(kernel: str) -> None:
    """The configuration the bilinear binning missed by 0.9 %: 20,000 points, 1 km cells,
    a 5 km bandwidth, through the binned path."""
    x, y = _clustered(20_000)
    surface = kernel_density(
        x, y, bandwidth_m=5_000.0, cell_m=1_000.0, kernel=kernel, method="binned"
    )
    flat = surface.values.ravel()
    rng = np.random.default_rng(0)
    cells = np.unique(
        np.concatenate([rng.choice(flat.size, 1500, replace=False), np.argsort(flat)[-200:]])
    )
    exact = exact_kernel_density(x, y, surface.grid, 5_000.0, kernel, cells=cells)
    assert np.abs(flat[cells] - exact).max() / exact.max() <= 0.002


def test_a_heavy_place_is_summed_exactly_when_binning_would_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binning alone misses a place that makes the peak on its own by more than the
    contract allows: such a place is taken out of the lattice and summed exactly."""
    rng = np.random.default_rng(4)
    grid = Grid(0.0, 100_000.0, 1_000.0, 100, 100)
    x = np.concatenate([rng.uniform(0, 100_000, 3_000), np.full(2_000, 50_321.0)])
    y = np.concatenate([rng.uniform(0, 100_000, 3_000), np.full(2_000, 49_876.0)])
    exact = exact_kernel_density(x, y, grid, 11_500.0)
    surface = kernel_density(x, y, bandwidth_m=11_500.0, grid=grid, method="binned")
    assert "heavy lattice cell" in surface.parameters["method"]
    assert np.abs(surface.values - exact).max() / exact.max() <= 0.002
    monkeypatch.setattr(density, "_HEAVY_SHARE", np.inf)  # bin every point
    binned_only = kernel_density(x, y, bandwidth_m=11_500.0, grid=grid, method="binned")
    assert np.abs(binned_only.values - exact).max() / exact.max() > 0.002


@pytest.mark.parametrize("weighted", [False, True])
def test_parts_binned_apart_make_the_surface_of_the_whole(weighted: bool) -> None:
    """A split build sums the parts' arrays: heavy cells included, it gets the surface
    the whole makes at once (the stand-ins come from the cells' sums either way)."""
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(4e5, 8e3, 4_000), np.full(300, 401_234.0), [4.1e5, 4.1e5 + 7]])
    y = np.concatenate([rng.normal(2.6e6, 8e3, 4_000), np.full(300, 2_598_765.0), [2.6e6] * 2])
    w = rng.lognormal(0.0, 1.0, x.size) if weighted else np.ones(x.size)
    grid = density_grid((x.min(), x.max(), y.min(), y.max()), 3_000.0, "quartic", 250.0)
    parts = np.array_split(rng.permutation(x.size), 5)
    binned = np.sum([bin_points(x[i], y[i], w[i], grid) for i in parts], axis=0)
    split = binned_density(
        binned, grid, bandwidth_m=3_000.0, kernel="quartic", n_points=x.size, total_weight=w.sum()
    )
    whole = kernel_density(x, y, weights=w if weighted else None, bandwidth_m=3_000.0, grid=grid)
    assert "heavy lattice cell" in whole.parameters["method"]
    assert split.parameters["method"] == whole.parameters["method"]
    assert_allclose(split.values, whole.values, rtol=1e-9, atol=1e-12 * whole.values.max())
    exact = exact_kernel_density(x, y, grid, 3_000.0, weights=w)
    assert np.abs(whole.values - exact).max() / exact.max() <= 0.002


def test_points_beyond_the_grid_count_where_their_kernel_reaches_in() -> None:
    grid = Grid(0.0, 10_000.0, 500.0, 20, 20)
    x, y = np.array([-600.0, 10_400.0]), np.array([5_000.0, 9_000.0])  # left of, right of it
    for method in ("exact", "binned"):
        surface = kernel_density(x, y, bandwidth_m=2_000.0, grid=grid, method=method)
        exact = exact_kernel_density(x, y, grid, 2_000.0)
        assert exact.max() > 0 and surface.values[:, 0].max() > 0
        assert np.abs(surface.values - exact).max() / exact.max() <= 0.002


@pytest.mark.parametrize("kernel", KERNELS)
def test_integral_equals_the_count_and_the_total_weight(kernel: str) -> None:
    # the kernel sum at cell centres integrates to the count to within the error of sampling
    # the kernel at 10 cells per bandwidth (the epanechnikov kink's, 0.1 %, is the largest)
    x, y = _clustered(5_000)
    surface = kernel_density(x, y, bandwidth_m=2_000.0, cell_m=200.0, kernel=kernel)
    cell_km2 = (surface.grid.cell_m / 1000) ** 2
    assert_allclose(surface.values.sum() * cell_km2, 5_000, rtol=2e-3)
    weights = np.random.default_rng(1).uniform(1e3, 1e5, 5_000)
    weighted = kernel_density(
        x, y, weights=weights, bandwidth_m=2_000.0, cell_m=200.0, kernel=kernel
    )
    assert_allclose(weighted.values.sum() * cell_km2, weights.sum(), rtol=2e-3)
    assert weighted.total_weight == pytest.approx(weights.sum())


def test_units_are_per_square_kilometre() -> None:
    # 100 points at one place, quartic, h = 1 km: peak = 100 · 3/π per km² (cell-averaged a little lower)
    surface = kernel_density(np.zeros(100), np.zeros(100), bandwidth_m=1_000.0, cell_m=20.0)
    assert surface.values.max() == pytest.approx(100 * 3 / np.pi, rel=0.01)
    assert surface.units == "cases per km²"


def test_silverman_rule_by_hand_and_robust_to_an_outlier() -> None:
    x = np.array([0.0, 100.0, 200.0, 300.0, 400.0])
    y = np.zeros(5)
    sd = np.sqrt(np.mean((x - 200.0) ** 2))  # standard distance: 141.42
    dm = 100.0  # median distance from the mean centre: 0,100,100,200,200 → 100
    expected = 0.9 * min(sd, np.sqrt(1 / np.log(2)) * dm) * 5**-0.2
    assert silverman_bandwidth_m(x, y) == pytest.approx(expected)
    rng = np.random.default_rng(2)
    bx, by = rng.normal(0, 1000, 2000), rng.normal(0, 1000, 2000)
    base = silverman_bandwidth_m(bx, by)
    far = silverman_bandwidth_m(np.append(bx, 50_000.0), np.append(by, 0.0))  # 50 σ away
    assert far / base < 1.05  # the median distance keeps one far outlier from inflating it


def test_automatic_grid_and_bandwidth_record_their_provenance() -> None:
    x, y = _clustered(2_000)
    surface = kernel_density(x, y)
    assert surface.parameters["bandwidth_rule"].startswith("silverman")
    assert surface.parameters["kernel"] == "quartic"
    assert surface.grid.nx <= 2_001 and surface.grid.ny <= 2_001
    assert isinstance(surface.grid, Grid) and surface.grid.transform[5] < 0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DensityError):
        kernel_density([0.0], [0.0], bandwidth_m=100.0, kernel="triangle")
    with pytest.raises(DensityError):
        kernel_density([], [], bandwidth_m=100.0)
    with pytest.raises(DensityError):
        kernel_density([0.0], [0.0], bandwidth_m=100.0, method="fast")
    assert issubclass(DensityError, ValueError)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_bandwidth_under_two_cells_is_refused_in_both_languages(kernel: str) -> None:
    grid = Grid(0.0, 10_000.0, 1_000.0, 10, 10)
    for method in ("auto", "exact", "binned"):
        with pytest.raises(BandwidthError) as refused:
            kernel_density([5_000.0], [5_000.0], bandwidth_m=1_999.0, grid=grid, method=method)
        assert "核密度带宽须至少为像元大小的 2 倍" in str(refused.value)
        assert "must be at least 2 × the cell size" in str(refused.value)
    with pytest.raises(BandwidthError):
        kernel_density([0.0, 1.0], [0.0, 1.0], bandwidth_m=1_000.0, cell_m=600.0, kernel=kernel)
    surface = kernel_density([5_000.0], [5_000.0], bandwidth_m=2_000.0, grid=grid, kernel=kernel)
    assert surface.values.max() > 0  # two cells is accepted
    assert issubclass(BandwidthError, DensityError)


def test_binned_weights_must_be_binned_for_the_bandwidth() -> None:
    grid = density_grid((0.0, 10_000.0, 0.0, 10_000.0), 2_000.0, "quartic", 200.0)
    binned = bin_points([5_000.0], [5_000.0], [1.0], grid)
    surface = binned_density(
        binned, grid, bandwidth_m=2_000.0, kernel="quartic", n_points=1, total_weight=1.0
    )
    assert surface.values.max() > 0
    with pytest.raises(DensityError, match="binned for another bandwidth"):
        binned_density(
            binned, grid, bandwidth_m=1_000.0, kernel="quartic", n_points=1, total_weight=1.0
        )
    assert lattice_for(2_000.0, 200.0, "quartic") == grid.lattice
    assert grid == replace(grid, lattice=Lattice())  # the lattice is no part of the raster


def test_default_grid_keeps_the_binning_error_small_on_sparse_points() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 300_000, 3_000), rng.uniform(0, 300_000, 3_000)  # sparse, rough
    surface = kernel_density(x, y)  # Silverman bandwidth, default cell
    flat = surface.values.ravel()
    cells = np.unique(
        np.concatenate([rng.choice(flat.size, 500, replace=False), np.argsort(flat)[-100:]])
    )
    exact = exact_kernel_density(x, y, surface.grid, surface.bandwidth_m, "quartic", cells=cells)
    assert np.abs(flat[cells] - exact).max() / exact.max() <= 0.002


@pytest.mark.parametrize("method", ["auto", "binned"])
@pytest.mark.parametrize("cells_per_bandwidth", [2.0, 3.0, 5.0, 8.0])
def test_narrow_and_middle_bandwidths_are_within_0_2_percent_of_peak(
    cells_per_bandwidth: float, method: str
) -> None:
    """At 2, 3, 5 and 8 cells, where the surface is summed exactly or binned on a lattice
    finer than the cells (``auto`` takes the cheaper), every kernel, weighted or not,
    with points past the grid's edges and one place holding a tenth of them."""
    rng = np.random.default_rng(int(cells_per_bandwidth * 10) + (method == "binned"))
    cell = float(rng.uniform(150.0, 900.0))
    grid = Grid(float(rng.uniform(-1e5, 1e5)), float(rng.uniform(1e6, 2e6)), cell, 70, 55)
    x, y = _points(rng, grid, 4_000)
    lognormal = rng.lognormal(0.0, 1.0, x.size)
    bandwidth = cells_per_bandwidth * cell
    for kernel in KERNELS:
        for weights in (None, lognormal):
            surface = kernel_density(
                x,
                y,
                weights=weights,
                bandwidth_m=bandwidth,
                grid=grid,
                kernel=kernel,
                method=method,
            )
            exact = exact_kernel_density(x, y, grid, bandwidth, kernel, weights=weights)
            error = np.abs(surface.values - exact).max() / exact.max()
            assert error <= 0.002, (kernel, error, surface.parameters["method"])


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_exact_sum_is_the_reference_to_rounding(kernel: str) -> None:
    """The compiled exact sum is the direct kernel sum at every centre, to rounding: a
    centre its support only just reaches (the gaussian's cut at 4 σ included) is not lost,
    and points beyond the grid, weighted, count where they reach in."""
    rng = np.random.default_rng(11)
    grid = Grid(1_000.0, 50_000.0, 500.0, 47, 39)
    x = rng.uniform(-2_000.0, 28_000.0, 3_000)
    y = rng.uniform(28_000.0, 53_000.0, 3_000)
    w = rng.uniform(0.5, 3.0, x.size)
    for bandwidth in (1_000.0, 1_730.0, 4_100.0):
        surface = kernel_density(
            x, y, weights=w, bandwidth_m=bandwidth, grid=grid, kernel=kernel, method="exact"
        )
        assert surface.parameters["method"] == density._EXACT_METHOD
        exact = exact_kernel_density(x, y, grid, bandwidth, kernel, weights=w)
        assert_allclose(surface.values, exact, rtol=1e-9, atol=1e-12 * exact.max())


def test_auto_takes_the_cheaper_way_and_says_which() -> None:
    """The cost model: quartic summed exactly up to 7 cells (a 2× to 4× lattice costs
    more, and the cells themselves cost more under evenly spread points), binned on the
    cells themselves past 7; a gaussian of σ = 4 cells, which reaches 16, on a 2×
    lattice; the provenance says which. At least a point a cell, as the model counts."""
    grid = Grid(0.0, 60_000.0, 1_000.0, 60, 60)
    x, y = _clustered(4_000)
    cases = [(2.0, "quartic", "exact"), (3.0, "quartic", "exact"), (6.0, "quartic", "exact")]
    cases += [(6.1, "quartic", "exact"), (7.0, "quartic", "exact"), (7.1, "quartic", "1×")]
    cases += [(7.5, "quartic", "1×"), (8.0, "quartic", "1×")]
    cases += [(12.0, "quartic", "1×"), (4.0, "gaussian", "2×")]
    for cells, kernel, how in cases:
        surface = kernel_density(x, y, bandwidth_m=cells * 1_000.0, grid=grid, kernel=kernel)
        method = surface.parameters["method"]
        assert (method == density._EXACT_METHOD) if how == "exact" else (f"{how} lattice" in method)


def test_sparse_points_are_summed_exactly_by_the_whole_and_its_parts() -> None:
    """2,000 points on a grid of 35,916 cells at 12 cells a bandwidth: their kernels cost
    less than binning and convolving the grid, so the plan that counts the points sums
    them exactly, and the split build given the same count plans alike; planned for a
    point a cell, the same grid is binned."""
    x, y = _clustered(2_000)
    bounds = (float(x.min()), float(x.max()), float(y.min()), float(y.max()))
    grid = density_grid(bounds, 3_000.0, "quartic", 250.0, points=x.size)
    assert grid.lattice.exact and grid.nx * grid.ny == 35_916
    assert not density_grid(bounds, 3_000.0, "quartic", 250.0).lattice.exact
    whole = kernel_density(x, y, bandwidth_m=3_000.0, cell_m=250.0)
    assert whole.parameters["method"] == density._EXACT_METHOD
    assert (whole.grid.nx, whole.grid.ny) == (grid.nx, grid.ny)
    parts = np.array_split(np.arange(x.size), 3)
    split = binned_density(
        np.sum([bin_points(x[i], y[i], np.ones(i.size), grid) for i in parts], axis=0),
        grid,
        bandwidth_m=3_000.0,
        kernel="quartic",
        n_points=x.size,
        total_weight=float(x.size),
    )
    assert split.parameters["method"] == density._EXACT_METHOD
    assert_allclose(split.values, whole.values, rtol=1e-9, atol=1e-12 * whole.values.max())
    exact = exact_kernel_density(x, y, grid, 3_000.0)
    assert_allclose(whole.values, exact, rtol=1e-9, atol=1e-12 * exact.max())


@pytest.mark.parametrize(
    ("kernel", "cells_per_bandwidth"), [("quartic", 3.0), ("quartic", 9.0), ("gaussian", 4.0)]
)
def test_parts_make_the_whole_at_narrow_bandwidths(kernel: str, cells_per_bandwidth: float) -> None:
    """A split build at 3 cells (each part summed exactly), 9 (binned on the cells) and a
    gaussian at 4 (binned on a 2× lattice) gets the surface one process makes."""
    rng = np.random.default_rng(12)
    x, y = rng.normal(4e5, 6e3, 5_000), rng.normal(2.6e6, 6e3, 5_000)
    w = rng.lognormal(0.0, 1.0, x.size)
    bandwidth = cells_per_bandwidth * 400.0
    grid = density_grid((x.min(), x.max(), y.min(), y.max()), bandwidth, kernel, 400.0)
    parts = np.array_split(rng.permutation(x.size), 4)
    binned = np.sum([bin_points(x[i], y[i], w[i], grid) for i in parts], axis=0)
    split = binned_density(
        binned, grid, bandwidth_m=bandwidth, kernel=kernel, n_points=x.size, total_weight=w.sum()
    )
    whole = kernel_density(x, y, weights=w, bandwidth_m=bandwidth, grid=grid, kernel=kernel)
    assert split.parameters["method"] == whole.parameters["method"]
    assert_allclose(split.values, whole.values, rtol=1e-9, atol=1e-12 * whole.values.max())
    exact = exact_kernel_density(x, y, grid, bandwidth, kernel, weights=w)
    assert np.abs(whole.values - exact).max() / exact.max() <= 0.002


def _dense(rng: np.random.Generator, grid: Grid, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight clusters (tens of points a cell), one place with more than 255 points (a
    cell count saturates there), a uniform background and points past the grid's edges,
    a tight cluster at its corner included."""
    width, height = grid.nx * grid.cell_m, grid.ny * grid.cell_m
    u = rng.uniform(-0.1, 1.1, (n, 2))
    centres = np.array([[0.3, 0.4], [0.7, 0.6], [0.02, 0.97]])
    clustered = rng.random(n) < 0.7
    which = rng.integers(0, 3, n)
    u[clustered] = centres[which[clustered]] + rng.normal(0, 0.03, (int(clustered.sum()), 2))
    u[:400] = (0.55, 0.25)
    return grid.x_min_m + u[:, 0] * width, grid.y_max_m - u[:, 1] * height


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kernel", ["quartic", "epanechnikov"])
def test_cells_of_many_points_summed_by_their_moments_are_the_exact_sum(
    kernel: str, weighted: bool
) -> None:
    """A cell holding several points, for a kernel wide enough, adds its points' sum at the
    centres all of them reach from their moments, and point by point only on the ring
    where their supports end: still the direct kernel sum to rounding, at bandwidths on
    both sides of where that starts, near and past the grid's edges."""
    from analytics import _kde_loops as loops

    rng = np.random.default_rng(21)
    grid = Grid(1_000.0, 40_000.0, 400.0, 64, 57)
    x, y = _dense(rng, grid, 6_000)
    w = rng.lognormal(0.0, 1.0, x.size) if weighted else None
    col = np.floor((x - grid.x_min_m) / grid.cell_m).astype(int)
    row = np.floor((grid.y_max_m - y) / grid.cell_m).astype(int)
    inside = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    assert np.bincount(row[inside] * grid.nx + col[inside]).max() > 255
    grouped = []
    for cells_per_bandwidth in (2.0, 3.7, 4.5, 5.0, 6.0, 7.3):
        rows = math.ceil(2 * cells_per_bandwidth)
        ring = loops._cell_offsets(cells_per_bandwidth, 100)[0].size
        grouped.append(ring * loops._RING_SHARE <= rows * ((rows + 3) // 4 * 4))
        bandwidth = cells_per_bandwidth * grid.cell_m
        surface = kernel_density(
            x, y, weights=w, bandwidth_m=bandwidth, grid=grid, kernel=kernel, method="exact"
        )
        exact = exact_kernel_density(x, y, grid, bandwidth, kernel, weights=w)
        assert_allclose(surface.values, exact, rtol=1e-9, atol=1e-12 * exact.max())
    assert any(grouped) and not all(grouped)  # both ways taken


@pytest.mark.parametrize("kernel", KERNELS)
def test_heavy_cells_from_counts_and_from_weights_of_one_agree(kernel: str) -> None:
    """Points without weights find their heavy lattice cells by counting them (a byte a
    cell, saturating at 255), weighted ones through their binned corners: weights of one
    give the same cells and surface, within 0.2 % of the exact sum, the stand-ins of a
    heavy place at the grid's corner clipped to it."""
    rng = np.random.default_rng(22)
    grid = Grid(0.0, 30_000.0, 500.0, 60, 60)
    x, y = _dense(rng, grid, 8_000)
    bandwidth = (3.0 if kernel == "gaussian" else 7.0) * grid.cell_m
    plain = kernel_density(x, y, bandwidth_m=bandwidth, grid=grid, kernel=kernel, method="binned")
    ones = kernel_density(
        x,
        y,
        weights=np.ones(x.size),
        bandwidth_m=bandwidth,
        grid=grid,
        kernel=kernel,
        method="binned",
    )
    assert "heavy lattice cell" in plain.parameters["method"]
    assert plain.parameters["method"] == ones.parameters["method"]
    peak = float(plain.values.max())
    assert_allclose(plain.values, ones.values, rtol=1e-9, atol=1e-12 * peak)
    exact = exact_kernel_density(x, y, grid, bandwidth, kernel)
    assert np.abs(plain.values - exact).max() / exact.max() <= 0.002


@pytest.mark.parametrize("kernel", ["quartic", "epanechnikov"])
def test_points_on_cell_edges_and_centres_are_summed_exactly(kernel: str) -> None:
    """Points on the cells' edges and centres, many at each (where rounding decides a
    point's cell and bucket), past the grid's edges too: the sum by cells is still the
    direct kernel sum to rounding."""
    rng = np.random.default_rng(23)
    grid = Grid(0.0, 24_000.0, 300.0, 80, 80)
    k = rng.integers(
        -12, 2 * 80 + 12, (20_000, 2)
    )  # half cells, from past one edge to past the other
    x, y = k[:, 0] * 150.0, grid.y_max_m - k[:, 1] * 150.0
    cells = np.unique((k + 1) // 2, axis=0, return_counts=True)[1]  # cells, edges rounded up
    assert cells.max() >= 8  # crowded enough to be summed by moments
    for bandwidth in (1_500.0, 1_950.0):  # 5 and 6.5 cells: summed by cells
        surface = kernel_density(
            x, y, bandwidth_m=bandwidth, grid=grid, kernel=kernel, method="exact"
        )
        exact = exact_kernel_density(x, y, grid, bandwidth, kernel)
        assert_allclose(surface.values, exact, rtol=1e-9, atol=1e-12 * exact.max())


def test_a_grid_side_on_a_whole_number_of_cells_does_not_turn_on_the_last_bit() -> None:
    """The automatic cell divides the extent, so a grid's side sits on a whole number of
    cells: a cell one bit apart (its bandwidth summed over partitions, or in one process)
    gives the same grid, which still covers the extent but for a billionth of a cell."""
    side, n = 821_234.567891, 2_002
    cell = side / n
    cells = (cell, np.nextafter(cell, 0.0), np.nextafter(cell, np.inf))
    grids = [Grid.covering(np.array([0.0, side]), np.array([0.0, side / 2]), c, 0.0) for c in cells]
    assert {(g.nx, g.ny) for g in grids} == {(n, n // 2)}
    for g in grids:
        assert g.nx * g.cell_m >= side * (1 - 1e-12)
