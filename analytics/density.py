"""Kernel density surfaces of points, by binning and one FFT convolution.

Densities are computed in metres in the equal-area projection
(:mod:`analytics.projection`) and reported per km². The kernels are those of
ArcGIS Pro's and QGIS's heat maps: ``quartic`` (biweight, the default),
``epanechnikov`` and ``gaussian``.

Method: the points' weights are spread linearly over the four nearest grid
nodes (bilinear binning), then convolved once with the kernel sampled on the
same grid (:func:`scipy.signal.fftconvolve`). The sampled kernel is
renormalised to sum to one, so the surface integrates exactly to the number of
points (or the total weight) whenever the grid covers every kernel — the
automatic grid is padded by the kernel's radius for that.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import contourpy
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.signal import fftconvolve
from shapely.geometry.base import BaseGeometry

from analytics.errors import AnalyticsError

KERNELS: Final = ("quartic", "epanechnikov", "gaussian")
_GAUSSIAN_RADIUS: Final = 4.0  # the gaussian kernel is truncated at 4 σ (mass lost < 0.04 %)
_M2_PER_KM2: Final = 1e6


class DensityError(AnalyticsError):
    """Bad inputs to a density computation (kernel, bandwidth, grid)."""


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in metres: upper-left corner, square cells, size."""

    x_min_m: float
    y_max_m: float
    cell_m: float
    nx: int
    ny: int

    @classmethod
    def covering(
        cls, x_m: NDArray[np.float64], y_m: NDArray[np.float64], cell_m: float, pad_m: float
    ) -> Grid:
        """The grid of ``cell_m`` cells covering the points' extent plus ``pad_m``."""
        x_min, x_max = float(np.min(x_m)) - pad_m, float(np.max(x_m)) + pad_m
        y_min, y_max = float(np.min(y_m)) - pad_m, float(np.max(y_m)) + pad_m
        nx = max(1, int(np.ceil((x_max - x_min) / cell_m)))
        ny = max(1, int(np.ceil((y_max - y_min) / cell_m)))
        return cls(x_min, y_max, cell_m, nx, ny)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform (x_min, cell, 0, y_max, 0, −cell)."""
        return (self.x_min_m, self.cell_m, 0.0, self.y_max_m, 0.0, -self.cell_m)

    def centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell-centre coordinates: x per column, y per row (row 0 = north)."""
        xs = self.x_min_m + (np.arange(self.nx, dtype=np.float64) + 0.5) * self.cell_m
        ys = self.y_max_m - (np.arange(self.ny, dtype=np.float64) + 0.5) * self.cell_m
        return xs.astype(np.float64), ys.astype(np.float64)


@dataclass(frozen=True)
class DensitySurface:
    """A density raster: ``values[row, col]`` per km² (row 0 = north)."""

    values: NDArray[np.float64]
    grid: Grid
    bandwidth_m: float
    kernel: str
    n_points: int
    total_weight: float
    parameters: dict[str, Any] = field(default_factory=dict)
    units: str = "cases per km²"


def _kernel(u2: NDArray[np.float64], kernel: str) -> NDArray[np.float64]:
    """Kernel K with ∫K = 1 over the plane, at squared scaled distance u² = (d/h)²."""
    if kernel == "quartic":
        return np.where(u2 < 1.0, 3.0 / np.pi * (1.0 - u2) ** 2, 0.0)
    if kernel == "epanechnikov":
        return np.where(u2 < 1.0, 2.0 / np.pi * (1.0 - u2), 0.0)
    if kernel == "gaussian":
        return np.where(u2 < _GAUSSIAN_RADIUS**2, np.exp(-u2 / 2.0) / (2.0 * np.pi), 0.0)
    raise DensityError(f"kernel {kernel!r}; expected one of {', '.join(KERNELS)}")


def kernel_radius_m(bandwidth_m: float, kernel: str) -> float:
    """Distance beyond which the kernel is zero (the bandwidth; 4 σ for gaussian)."""
    return bandwidth_m * (_GAUSSIAN_RADIUS if kernel == "gaussian" else 1.0)


def silverman_bandwidth_m(
    x_m: ArrayLike, y_m: ArrayLike, weights: ArrayLike | None = None
) -> float:
    """Search radius by the spatial variant of Silverman's rule that ArcGIS Pro documents.

    ``0.9 · min(SD, sqrt(1 / ln 2) · Dm) · n^(−0.2)``, with SD the standard
    distance of the points from their (weighted) mean centre, Dm the
    (weighted) median distance from that centre — which keeps far outliers from
    inflating the radius — and n the number of points (or the sum of weights).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(0, 1000, 5000), rng.normal(0, 1000, 5000)
    >>> round(silverman_bandwidth_m(x, y))  # 0.9 · √2 · 1000 · 5000^−0.2 ≈ 232 (sample SD)
    231
    """
    x, y = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if x.size < 2 or w.sum() <= 0:
        raise DensityError("the bandwidth rule needs at least two points with weight")
    cx, cy = np.average(x, weights=w), np.average(y, weights=w)
    d2 = (x - cx) ** 2 + (y - cy) ** 2
    sd = float(np.sqrt(np.average(d2, weights=w)))
    order = np.argsort(d2)
    cumulative = np.cumsum(w[order])
    dm = float(np.sqrt(d2[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)]))
    return 0.9 * min(sd, np.sqrt(1.0 / np.log(2.0)) * dm) * float(w.sum()) ** -0.2


def _bin(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], grid: Grid
) -> NDArray[np.float64]:
    """Bilinear (linear) binning of weights onto the grid's cell centres."""
    fx = (x - grid.x_min_m) / grid.cell_m - 0.5
    fy = (grid.y_max_m - y) / grid.cell_m - 0.5
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    dx, dy = fx - ix, fy - iy
    out = np.zeros(grid.ny * grid.nx)
    for ox, oy, share in (
        (0, 0, (1 - dx) * (1 - dy)),
        (1, 0, dx * (1 - dy)),
        (0, 1, (1 - dx) * dy),
        (1, 1, dx * dy),
    ):
        cx, cy = ix + ox, iy + oy
        inside = (cx >= 0) & (cx < grid.nx) & (cy >= 0) & (cy < grid.ny)
        out += np.bincount(
            cy[inside] * grid.nx + cx[inside], weights=(w * share)[inside], minlength=out.size
        )
    return out.reshape(grid.ny, grid.nx)


def _stencil(bandwidth_m: float, cell_m: float, kernel: str) -> NDArray[np.float64]:
    """The kernel sampled on grid offsets, summing to 1."""
    reach = int(np.ceil(kernel_radius_m(bandwidth_m, kernel) / cell_m))
    offsets = np.arange(-reach, reach + 1) * cell_m
    u2 = (offsets[None, :] ** 2 + offsets[:, None] ** 2) / bandwidth_m**2
    stencil = _kernel(u2, kernel)
    total = stencil.sum()
    if total <= 0:
        raise DensityError("the bandwidth is smaller than a grid cell")
    return stencil / total


def kernel_density(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    bandwidth_m: float | None = None,
    cell_m: float | None = None,
    kernel: str = "quartic",
    grid: Grid | None = None,
) -> DensitySurface:
    """Kernel density of points (per km²) on a grid, by binning and FFT convolution.

    Parameters
    ----------
    x_m, y_m : array_like
        Point coordinates in metres (equal-area projection).
    weights : array_like, optional
        A weight per point (e.g. penalty amounts); the density is then weight per km².
    bandwidth_m : float, optional
        Kernel bandwidth (the radius for quartic/epanechnikov, σ for gaussian);
        default :func:`silverman_bandwidth_m`.
    cell_m : float, optional
        Grid cell size; default a twentieth of the bandwidth (binning error about
        0.2 % of the peak), coarsened so that the grid has at most about 2,000
        cells a side.
    kernel : {"quartic", "epanechnikov", "gaussian"}
    grid : Grid, optional
        Use this grid (its cell size wins over ``cell_m``).

    Examples
    --------
    >>> s = kernel_density([0.0, 0.0], [0.0, 0.0], bandwidth_m=1000.0, cell_m=50.0)
    >>> round(float(s.values.sum()) * (50.0 / 1000) ** 2, 9)  # integral = 2 points
    2.0
    >>> round(float(s.values.max()), 2)  # 2 · 3/π · 1/(1 km)² at the centre, cell-averaged
    1.9
    """
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64))
    if kernel not in KERNELS:
        raise DensityError(f"kernel {kernel!r}; expected one of {', '.join(KERNELS)}")
    if x.size == 0:
        raise DensityError("no points")
    h = float(bandwidth_m) if bandwidth_m else silverman_bandwidth_m(x, y, w)
    if h <= 0:
        raise DensityError("bandwidth must be positive")
    if grid is None:
        bounds = (float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y)))
        grid = density_grid(bounds, h, kernel, cell_m)
    return binned_density(
        bin_points(x, y, w, grid),
        grid,
        bandwidth_m=h,
        kernel=kernel,
        n_points=int(x.size),
        total_weight=float(w.sum()),
        fixed_bandwidth=bool(bandwidth_m),
        weighted=weights is not None,
    )


def density_grid(
    bounds_m: tuple[float, float, float, float],
    bandwidth_m: float,
    kernel: str,
    cell_m: float | None = None,
) -> Grid:
    """The automatic grid of :func:`kernel_density` for points within ``bounds_m``.

    ``bounds_m`` is ``(x_min, x_max, y_min, y_max)`` of the points: what partitions of the
    points (each binned by :func:`bin_points`) need to share one grid.

    Examples
    --------
    >>> g = density_grid((0.0, 1000.0, 0.0, 500.0), 1000.0, "quartic", 100.0)
    >>> g.nx, g.ny, g.x_min_m
    (32, 27, -1100.0)
    """
    pad = kernel_radius_m(bandwidth_m, kernel)
    x_min, x_max, y_min, y_max = bounds_m
    extent = max(x_max - x_min, y_max - y_min) + 2 * pad
    cell = float(cell_m) if cell_m else max(bandwidth_m / 20.0, extent / 2000.0)
    return Grid.covering(np.array([x_min, x_max]), np.array([y_min, y_max]), cell, pad + cell)


def bin_points(
    x_m: ArrayLike, y_m: ArrayLike, weights: ArrayLike, grid: Grid
) -> NDArray[np.float64]:
    """The points' weights spread bilinearly over ``grid`` (additive: bins of parts sum)."""
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    return _bin(x, y, np.asarray(weights, dtype=np.float64), grid)


def binned_density(
    binned: NDArray[np.float64],
    grid: Grid,
    *,
    bandwidth_m: float,
    kernel: str,
    n_points: int,
    total_weight: float,
    fixed_bandwidth: bool = True,
    weighted: bool = False,
) -> DensitySurface:
    """The density surface of binned weights (:func:`bin_points`): one FFT convolution."""
    values = fftconvolve(binned, _stencil(bandwidth_m, grid.cell_m, kernel), mode="same")
    values = np.clip(values, 0.0, None) * (_M2_PER_KM2 / grid.cell_m**2)
    parameters = {
        "bandwidth_m": bandwidth_m,
        "bandwidth_rule": "fixed" if fixed_bandwidth else "silverman (ArcGIS spatial variant)",
        "kernel": kernel,
        "cell_m": grid.cell_m,
        "weighted": weighted,
        "method": "bilinear binning + FFT convolution",
        "units": "per km²",
    }
    return DensitySurface(values, grid, bandwidth_m, kernel, n_points, total_weight, parameters)


def exact_kernel_density(
    x_m: ArrayLike,
    y_m: ArrayLike,
    grid: Grid,
    bandwidth_m: float,
    kernel: str = "quartic",
    weights: ArrayLike | None = None,
    cells: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """The direct per-point kernel sum at cell centres (per km²): the reference for tests.

    ``cells`` limits it to those flat cell indices (returns their values only).
    """
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    xs, ys = grid.centres()
    flat = np.arange(grid.nx * grid.ny) if cells is None else np.asarray(cells)
    cx, cy = xs[flat % grid.nx], ys[flat // grid.nx]
    out = np.zeros(flat.size)
    for start in range(0, flat.size, 256):
        part = slice(start, start + 256)
        u2 = (
            (cx[part, None] - x[None, :]) ** 2 + (cy[part, None] - y[None, :]) ** 2
        ) / bandwidth_m**2
        out[part] = (_kernel(u2, kernel) * w[None, :]).sum(axis=1)
    out *= _M2_PER_KM2 / bandwidth_m**2
    return out if cells is not None else out.reshape(grid.ny, grid.nx)


def density_ratio(
    numerator: DensitySurface, denominator: DensitySurface, *, min_denominator: float
) -> DensitySurface:
    """A rate surface (e.g. cases per enterprise): numerator ÷ denominator on one grid.

    NaN where the denominator density is below ``min_denominator`` (per km²), so
    that a handful of sources far from anything do not make extreme rates.

    Examples
    --------
    >>> cases = kernel_density([0.0] * 6, [0.0] * 6, bandwidth_m=1000.0, cell_m=100.0)
    >>> sources = kernel_density([0.0] * 3, [0.0] * 3, bandwidth_m=1000.0, grid=cases.grid)
    >>> rate = density_ratio(cases, sources, min_denominator=0.01)
    >>> float(np.nanmax(rate.values)), rate.units
    (2.0, 'ratio')
    """
    if numerator.grid != denominator.grid:
        raise DensityError("the two surfaces must share one grid")
    below = denominator.values < min_denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(below, np.nan, numerator.values / denominator.values)
    parameters = {
        **numerator.parameters,
        "ratio_to": denominator.parameters,
        "min_denominator_per_km2": min_denominator,
    }
    return replace(numerator, values=values, parameters=parameters, units="ratio")


def _polygon(points: NDArray[np.float64], offsets: NDArray[np.uint32]) -> shapely.Polygon:
    """A polygon from contourpy's points and ring offsets (first ring outer, then holes)."""
    rings = [points[a:b] for a, b in itertools.pairwise(offsets.tolist())]
    return shapely.Polygon(rings[0], rings[1:])


def density_isobands(
    surface: DensitySurface, levels: Sequence[float]
) -> list[tuple[float, float, BaseGeometry]]:
    """Polygons of the surface between consecutive ``levels`` (in its CRS, metres).

    Each band is a (Multi)Polygon with holes where the density dips below it;
    the last band is open above (``levels[-1]`` to the maximum).

    Examples
    --------
    >>> s = kernel_density([0.0] * 10, [0.0] * 10, bandwidth_m=1000.0, cell_m=50.0)
    >>> bands = density_isobands(s, [0.5, 2.0])
    >>> [(lo, round(hi, 1)) for lo, hi, _ in bands]
    [(0.5, 2.0), (2.0, 9.5)]
    >>> [round(band.area / 1e6, 1) for _, _, band in bands]  # km²: a ring, then the core
    [0.7, 1.7]
    """
    xs, ys = surface.grid.centres()
    values = np.where(np.isfinite(surface.values), surface.values, 0.0)
    generator = contourpy.contour_generator(
        xs, ys, values, fill_type=contourpy.FillType.OuterOffset
    )
    top = float(values.max())
    bounds = [float(v) for v in levels if v < top]
    bands = []
    for lo, hi in zip(bounds, [*bounds[1:], top * (1 + 1e-9)], strict=True):
        filled = generator.filled(lo, hi)
        polygons = [  # FillType.OuterOffset: per polygon, its points and ring offsets
            _polygon(np.asarray(p), np.asarray(o))
            for p, o in zip(filled[0], filled[1], strict=True)
        ]
        if polygons:
            bands.append((lo, hi, shapely.make_valid(shapely.MultiPolygon(polygons))))
    return bands
