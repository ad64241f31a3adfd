"""Kernel density surfaces of points: the kernel sum at every cell centre, per km².

Densities are computed in metres in the equal-area projection
(:mod:`analytics.projection`) and reported per km². The kernels are those of
ArcGIS Pro's and QGIS's heat maps: ``quartic`` (biweight, the default),
``epanechnikov`` and ``gaussian``. The surface is the sum of the points' kernels at
the cell centres, to within 0.2 % of its peak (DESIGN), computed one of two ways,
chosen from the bandwidth in cells and the grid's size alone, so that a build split
over partitions (:func:`bin_points`, :func:`binned_density`) gives the same surface as
one process (:func:`kernel_density`):

- binned: the weights spread linearly over a lattice aligned on the cell centres, a
  whole number of times finer than the cells so that every bandwidth spans enough
  lattice steps, then one FFT convolution with the kernel sampled on the lattice, read
  back at the centres. The sampled kernel is less a twelfth of its Laplacian, which
  takes out the mean smoothing linear binning adds. A lattice cell heavy enough for
  binning's error to show against the peak (a lone point, a few close points or one
  address many records share, that make a peak) is taken out of the lattice and summed
  exactly as four stand-in points with its weight, centroid and covariance: exact for
  points at one place.
- exact: each point's kernel evaluated at the centres it reaches (compiled loops,
  :mod:`analytics._kde_loops`), for kernels too narrow for a lattice of reasonable size
  or where that costs less than the lattice would (:func:`lattice_for`). Where a cell
  holds several points, the quartic and epanechnikov kernels, polynomials inside their
  support, are summed from the points' moments at the centres all of them reach: the
  same sum, to rounding, at less cost where points crowd.

Bandwidths under :data:`MIN_BANDWIDTH_CELLS` cells are refused: the centres would
sample such a kernel at a handful of places, and the surface would show dots, not a
density.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import contourpy
import numpy as np
import scipy.fft
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from analytics.errors import AnalyticsError

KERNELS: Final = ("quartic", "epanechnikov", "gaussian")
METHODS: Final = ("auto", "binned", "exact")
#: The narrowest bandwidth a surface is made for, in grid cells.
MIN_BANDWIDTH_CELLS: Final = 2.0
_GAUSSIAN_RADIUS: Final = 4.0  # the gaussian kernel is truncated at 4 σ (mass lost < 0.04 %)
_M2_PER_KM2: Final = 1e6
#: Each kernel's value at its centre, for a bandwidth of 1 (K(0) of :func:`_kernel`).
_KERNEL_PEAK: Final = {"quartic": 3.0 / np.pi, "epanechnikov": 2.0 / np.pi, "gaussian": 0.5 / np.pi}
#: Lattice steps per bandwidth that linear binning, with the heavy lattice cells summed
#: apart, needs to stay well within the 0.2 % of the peak (quartic: worst 0.11 % over 260
#: random surfaces at 8 to 11 steps, 0.088 % over 200 at 5 to 8); the epanechnikov
#: kernel's kink at its radius needs many more.
_STEPS_PER_BANDWIDTH: Final = {"quartic": 6.0, "epanechnikov": 48.0, "gaussian": 6.0}
#: The finest lattice, in steps per cell side; a narrower kernel is summed exactly.
_MAX_PER_CELL: Final = 4
#: What a surface costs, in CPU ns per grid cell at one point a cell (the plan cannot look
#: at the points: the parts of a split build plan alone), from benchmarks/bench_kde.py:
#: summed exactly, a fixed part per point plus one per kernel value in the square its
#: support spans (:mod:`analytics._kde_loops`); binned, by lattice steps per cell, with
#: the heavy lattice cells of clustered points at 6 to 8 cells taken apart (one lattice
#: cell in 30 to 450 heavy). Binned on the cells, clustered points cost about 45 ns, but
#: evenly spread ones several times that at 7 to 9 cells, where most occupied lattice
#: cells are heavy; it is counted as 60 ns, so that the quartic is summed exactly up to 7
#: cells (modelled 55 ns; measured 52 ns under clustered points and 84 under evenly
#: spread ones, against 40 and 230 binned) and binned past 7 (summed exactly at 8 cells:
#: modelled 67 ns, measured 56 and 92).
_EXACT_NS_PER_POINT: Final = 16.0
_EXACT_NS_PER_VALUE: Final = {"quartic": 0.2, "epanechnikov": 0.2, "gaussian": 1.0}
_BINNED_NS: Final = {1: 60.0, 2: 70.0, 3: 200.0, 4: 400.0}
#: A lattice cell whose binning error could reach this share of the peak is summed exactly.
_HEAVY_SHARE: Final = 2.5e-4
#: Points binned at a time (the parts of a split build): their arrays stay in the cache.
_CHUNK: Final = 1 << 15
#: Stand-ins of heavy cells, per grid cell, that :func:`_apart` adds one by one (clipped to
#: the grid, in place); more go through the exact sum's loops, which have a surface to fill.
_FEW_STAND_INS: Final = 16
#: Stencil taps per lattice node a direct scatter of the heavy cells' corner nodes may cost
#: before a second FFT of the lattice costs less (:func:`_apart`).
_SCATTER_PER_NODE: Final = 8.0
#: The provenance of a surface summed exactly.
_EXACT_METHOD: Final = "exact kernel sum at the cell centres"
#: The most nodes a lattice finer than the cells may have (memory of the FFT); past it the
#: kernel is summed exactly.
_MAX_FINE_NODES: Final = 16_000_000


class DensityError(AnalyticsError):
    """Bad inputs to a density computation (kernel, bandwidth, grid)."""


class BandwidthError(DensityError):
    """A bandwidth narrower than :data:`MIN_BANDWIDTH_CELLS` grid cells."""

    def __init__(self, bandwidth_m: float, cell_m: float) -> None:
        super().__init__(
            f"核密度带宽须至少为像元大小的 {MIN_BANDWIDTH_CELLS:g} 倍 (the bandwidth, "
            f"{bandwidth_m:.6g} m, must be at least {MIN_BANDWIDTH_CELLS:g} × the cell size, "
            f"{cell_m:.6g} m: give a larger bandwidth_m or a smaller cell_m)"
        )


@dataclass(frozen=True)
class Lattice:
    """How points are taken under a grid for a bandwidth and kernel: summed ``exact``, or
    binned on a lattice of ``per_cell`` steps per cell side with a node on every cell
    centre and ``pad`` steps beyond the outer centres (the kernel's reach)."""

    per_cell: int = 1
    pad: int = 0
    exact: bool = False
    bandwidth_m: float = 0.0  # what it was chosen for
    kernel: str = ""

    def shape(self, grid: Grid) -> tuple[int, int]:
        """Rows and columns of the lattice under ``grid``."""
        return (
            self.per_cell * (grid.ny - 1) + 2 * self.pad + 1,
            self.per_cell * (grid.nx - 1) + 2 * self.pad + 1,
        )

    def partial_shape(self, grid: Grid) -> tuple[int, int]:
        """Shape of :func:`bin_points`' array: the surface, or six stacked lattices."""
        if self.exact:
            return grid.ny, grid.nx
        rows, cols = self.shape(grid)
        return 6 * rows, cols


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid in metres: upper-left corner, square cells, size.

    ``lattice`` says how points are taken under it (:func:`density_grid` sets it for a
    bandwidth); it is no part of the raster, so grids that differ only in it are equal.
    """

    x_min_m: float
    y_max_m: float
    cell_m: float
    nx: int
    ny: int
    lattice: Lattice = field(default=Lattice(), compare=False, repr=False)

    @classmethod
    def covering(
        cls, x_m: NDArray[np.float64], y_m: NDArray[np.float64], cell_m: float, pad_m: float
    ) -> Grid:
        """The grid of ``cell_m`` cells covering the points' extent plus ``pad_m``.

        A side within a billionth of a cell of a whole number of cells takes that number:
        the automatic cell is a fraction of the extent, so the count sits on a whole number,
        and the last bit of a bandwidth computed two ways (one process, a split build)
        must not add a column."""
        x_min, x_max = float(np.min(x_m)) - pad_m, float(np.max(x_m)) + pad_m
        y_min, y_max = float(np.min(y_m)) - pad_m, float(np.max(y_m)) + pad_m
        nx = max(1, int(np.ceil((x_max - x_min) / cell_m - 1e-9)))
        ny = max(1, int(np.ceil((y_max - y_min) / cell_m - 1e-9)))
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


def _reach(bandwidth_m: float, step_m: float, kernel: str) -> int:
    """Steps of ``step_m`` from a node past the last one its kernel is nonzero at."""
    return math.ceil(kernel_radius_m(bandwidth_m, kernel) / step_m - 1e-9) + 1


def _exact_is_cheaper(cells: float, per_cell: int, kernel: str, points_a_cell: float) -> bool:
    """Whether summing exactly should cost less than binning on a lattice of ``per_cell``
    steps a cell, for a bandwidth of ``cells`` cells and ``points_a_cell`` points a grid
    cell (:data:`_BINNED_NS`). More than one a cell counts as one: in crowded cells the
    exact sum adds the points' moments, not each point's kernel."""
    width = math.ceil(2.0 * kernel_radius_m(cells, kernel) - 1e-9)
    exact = _EXACT_NS_PER_POINT + _EXACT_NS_PER_VALUE[kernel] * width**2
    return min(points_a_cell, 1.0) * exact <= _BINNED_NS[per_cell]


def lattice_for(
    bandwidth_m: float,
    cell_m: float,
    kernel: str,
    method: str = "auto",
    points_a_cell: float = 1.0,
) -> Lattice:
    """How points are taken for ``bandwidth_m`` under cells of ``cell_m``, ``points_a_cell``
    points a cell on average.

    Binned on a lattice fine enough for the kernel's steps per bandwidth
    (:data:`_STEPS_PER_BANDWIDTH`) and padded by its reach; summed exactly when that lattice
    would need more than :data:`_MAX_PER_CELL` steps per cell or would cost more
    (:func:`_exact_is_cheaper`: at one point a cell, up to 7 quartic cells; with fewer
    points, wider), or when ``method`` says so. A bandwidth under
    :data:`MIN_BANDWIDTH_CELLS` cells is refused.

    Examples
    --------
    >>> lattice = lattice_for(10_000.0, 1_000.0, "quartic")
    >>> lattice.per_cell, lattice.pad, lattice.exact
    (1, 11, False)
    >>> lattice_for(5_000.0, 1_000.0, "quartic").exact  # a 2× lattice costs more
    True
    >>> lattice_for(5_000.0, 1_000.0, "gaussian").per_cell  # σ: the kernel reaches 4 σ
    2
    >>> lattice_for(10_000.0, 1_000.0, "quartic", points_a_cell=0.1).exact  # sparse points
    True
    """
    if kernel not in KERNELS:
        raise DensityError(f"kernel {kernel!r}; expected one of {', '.join(KERNELS)}")
    if method not in METHODS:
        raise DensityError(f"method {method!r}; expected one of {', '.join(METHODS)}")
    cells = bandwidth_m / cell_m
    if not cells >= MIN_BANDWIDTH_CELLS * (1 - 1e-9):
        raise BandwidthError(bandwidth_m, cell_m)
    per_cell = max(1, math.ceil(_STEPS_PER_BANDWIDTH[kernel] / cells - 1e-9))
    if method == "exact" or (
        method == "auto"
        and (per_cell > _MAX_PER_CELL or _exact_is_cheaper(cells, per_cell, kernel, points_a_cell))
    ):
        return Lattice(exact=True, bandwidth_m=bandwidth_m, kernel=kernel)
    pad = _reach(bandwidth_m, cell_m / per_cell, kernel)
    return Lattice(per_cell, pad, bandwidth_m=bandwidth_m, kernel=kernel)


def _planned_for(lattice: Lattice, bandwidth_m: float, kernel: str) -> bool:
    """Whether ``lattice`` was chosen for this kernel and bandwidth (to 8 digits: a grid's
    bandwidth may be rounded to make both builds' grids alike)."""
    return lattice.kernel == kernel and math.isclose(lattice.bandwidth_m, bandwidth_m, rel_tol=1e-8)


def _plan(
    grid: Grid, bandwidth_m: float, kernel: str, method: str = "auto", points: int | None = None
) -> Grid:
    """``grid`` with the lattice for ``bandwidth_m`` (:func:`lattice_for`) and ``points``
    points (None: one a cell), kept when it has it already; summed exactly, unless
    ``method`` says otherwise, when a finer lattice would pass :data:`_MAX_FINE_NODES`
    nodes."""
    if method == "auto" and _planned_for(grid.lattice, bandwidth_m, kernel):
        return grid
    share = 1.0 if points is None else points / (grid.nx * grid.ny)
    lattice = lattice_for(bandwidth_m, grid.cell_m, kernel, method, share)
    rows, cols = lattice.shape(grid)
    if method == "auto" and lattice.per_cell > 1 and rows * cols > _MAX_FINE_NODES:
        lattice = lattice_for(bandwidth_m, grid.cell_m, kernel, "exact")
    return replace(grid, lattice=lattice)


def _in_cells(
    x: NDArray[np.float64], y: NDArray[np.float64], grid: Grid
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Each point's lattice cell (one past the last for points out of the kernel's reach
    of every centre, or not numbers) and its offsets from the cell's node, in steps."""
    lattice = grid.lattice
    rows, cols = lattice.shape(grid)
    scale, shift = lattice.per_cell / grid.cell_m, lattice.pad - lattice.per_cell / 2.0
    fx = x * scale
    fx += shift - grid.x_min_m * scale
    fy = y * -scale
    fy += shift + grid.y_max_m * scale
    inside = (fx >= 0) & (fx < cols - 1) & (fy >= 0) & (fy < rows - 1)
    everywhere = bool(inside.all())
    if not everywhere:
        fx[~inside], fy[~inside] = 0.0, 0.0
    ix = fx.astype(np.intp)
    cell = fy.astype(np.intp)
    fx -= ix
    fy -= cell
    cell *= cols
    cell += ix
    if not everywhere:
        cell[~inside] = rows * cols
    return cell, fx, fy


def _shares(
    dx: NDArray[np.float64], dy: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Each point's shares of the corners of its lattice cell: its own node, the node east,
    south and south-east of it."""
    south_east = dx * dy
    east = dx - south_east  # dx·(1 − dy)
    south = dy - south_east  # dy·(1 − dx)
    return 1.0 - dx - south, east, south, south_east


def _lattice_arguments(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64] | None, grid: Grid
) -> tuple[Any, ...]:
    """The arguments of the compiled loops over a lattice (:mod:`analytics._kde_loops`):
    the points, their weights and how they map onto the grid's lattice, as in
    :func:`_in_cells`."""
    lattice = grid.lattice
    rows, cols = lattice.shape(grid)
    scale, shift = lattice.per_cell / grid.cell_m, lattice.pad - lattice.per_cell / 2.0
    return (
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64),
        w is not None,
        scale,
        shift - grid.x_min_m * scale,
        shift + grid.y_max_m * scale,
        rows,
        cols,
    )


def _binned_lattice(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64] | None, grid: Grid
) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
    """Linear binning on the grid's lattice: each point's weight shared by the corners of its
    lattice cell as :func:`_in_cells` and :func:`_shares` say, in one compiled pass
    (:func:`analytics._kde_loops.bin_linear`); with no weights, also the points in each
    lattice cell, to 255 (flat; else empty)."""
    from analytics import _kde_loops as loops  # numba: only when a surface is binned

    binned, counts = loops.bin_linear(*_lattice_arguments(x, y, w, grid))
    return binned.reshape(grid.lattice.shape(grid)), counts


def _channels(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64] | None, grid: Grid
) -> list[NDArray[np.float64]]:
    """The points' parts of a surface split over partitions: per lattice cell, the weights
    its points give each corner (:func:`_shares`), then Σ w·dx² and Σ w·dy²."""
    size = int(np.prod(grid.lattice.shape(grid)))
    channels = [np.zeros(size + 1) for _ in range(6)]  # past the end: the points out of reach
    for start in range(0, x.size, _CHUNK):
        part = slice(start, start + _CHUNK)
        cell, dx, dy = _in_cells(x[part], y[part], grid)
        for channel, share in zip(channels, (*_shares(dx, dy), dx * dx, dy * dy), strict=True):
            np.add.at(channel, cell, share if w is None else share * w[part])
    return [channel[:size] for channel in channels]


def _combine(corners: list[NDArray[np.float64]], cols: int) -> NDArray[np.float64]:
    """The four corner grids of :func:`_channels` added into one lattice."""
    own, east, south, south_east = corners[:4]
    binned = own.copy()
    binned[1:] += east[:-1]  # no point's cell is in the last column or row
    binned[cols:] += south[:-cols]
    binned[cols + 1 :] += south_east[: -cols - 1]
    return binned


def _stencil(bandwidth_m: float, step_m: float, kernel: str) -> NDArray[np.float64]:
    """The kernel (per km²) at lattice offsets, less a twelfth of its Laplacian.

    Linear binning spreads each point over the four nodes around it, which adds on average
    a variance of a sixth of a step² per axis to every kernel; the Laplacian term removes it.
    """
    reach = _reach(bandwidth_m, step_m, kernel)
    offsets = np.arange(-reach, reach + 1) * step_m
    u2 = (offsets[None, :] ** 2 + offsets[:, None] ** 2) / bandwidth_m**2
    k = _kernel(u2, kernel) * (_M2_PER_KM2 / bandwidth_m**2)
    laplacian = np.zeros_like(k)
    laplacian[1:-1, 1:-1] = k[1:-1, 2:] + k[1:-1, :-2] + k[2:, 1:-1] + k[:-2, 1:-1]
    laplacian[1:-1, 1:-1] -= 4 * k[1:-1, 1:-1]
    return (k - laplacian / 12.0)[1:-1, 1:-1]  # the outer ring, zero, was for the Laplacian


def _spectrum(part: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[np.complex128]:
    """The real FFT of a small array placed at node (0, 0) of a periodic lattice of
    ``shape``: along its few rows, then down the columns."""
    rows = scipy.fft.rfft(part, n=shape[1], axis=1)
    return np.asarray(scipy.fft.fft(rows, n=shape[0], axis=0), np.complex128)


def _convolve(
    binned: NDArray[np.float64], grid: Grid, bandwidth_m: float, kernel: str, clamp: bool = True
) -> NDArray[np.float64]:
    """The binned lattice convolved with the stencil, at the cell centres, per km²; with
    ``clamp``, its round-off below zero set to zero.

    Only the centres are wanted, one lattice node in ``per_cell`` a side, so the lattice
    is taken apart into its ``per_cell``² phases (every ``per_cell``-th node from an
    offset), each convolved with the stencil's nodes that reach centres from it; the
    phases' spectra are summed and one inverse FFT at the cells' resolution gives the
    centres: ``per_cell``² forward FFTs and one inverse of the grid's size, where the
    whole lattice would take two FFTs ``per_cell``² times as large. Each phase is taken
    from the first binned weight and the FFT is long enough for no weight to reach a
    centre the long way round.
    """
    lattice = grid.lattice
    r, p = lattice.per_cell, lattice.pad
    stencil = _stencil(bandwidth_m, grid.cell_m / r, kernel)
    q = stencil.shape[0] // 2
    occupied = [np.flatnonzero(binned.any(axis=1 - axis)) for axis in (0, 1)]
    if occupied[0].size == 0:
        return np.zeros((grid.ny, grid.nx))
    first = [int(u[0]) for u in occupied]
    last = [int(u[-1]) for u in occupied]
    # centre i takes node n = first + phase + r·m through stencil node p + q − first −
    # phase + r·(i − m); k = i − m runs from low to high over the phases
    low = [-((p + q - a) // r) for a in first]
    high = [(a + r - 1 - p + q) // r for a in first]
    nodes = [-((a - b - 1) // r) for a, b in zip(first, last, strict=True)]  # phase 0's
    shape = (
        scipy.fft.next_fast_len(nodes[0] + high[0] - low[0], True),
        scipy.fft.next_fast_len(nodes[1] + high[1] - low[1], True),
    )
    padded = np.zeros((2 * q + 1 + 2 * r, 2 * q + 1 + 2 * r))
    padded[r:-r, r:-r] = stencil  # stencil node s at padded[s + r]: zero past its ends
    spectrum: NDArray[np.complex128] | None = None
    for py, px in itertools.product(range(r), repeat=2):
        part = binned[first[0] + py : last[0] + 1 : r, first[1] + px : last[1] + 1 : r]
        if part.size == 0:
            continue
        taps = [  # stencil node of each k, clipped into the zero margin where out of reach
            np.clip(p + q - a - phase + r * np.arange(lo, hi + 1), -r, 2 * q + r) + r
            for a, phase, lo, hi in zip(first, (py, px), low, high, strict=True)
        ]
        term = scipy.fft.rfft2(part, s=shape) * _spectrum(padded[np.ix_(*taps)], shape)
        spectrum = term if spectrum is None else spectrum + term
    full = scipy.fft.irfft2(spectrum, s=shape)
    reads = [np.arange(n) - lo for n, lo in zip((grid.ny, grid.nx), low, strict=True)]
    if all(t[0] >= 0 and t[-1] < size for t, size in zip(reads, shape, strict=True)):
        rows, cols = (slice(int(t[0]), int(t[-1]) + 1) for t in reads)
        return np.maximum(full[rows, cols], 0.0) if clamp else full[rows, cols].copy()
    inside = [(t >= 0) & (t < size) for t, size in zip(reads, shape, strict=True)]
    values = np.zeros((grid.ny, grid.nx))  # centres no weight reaches stay at zero
    values[np.ix_(*inside)] = full[np.ix_(reads[0][inside[0]], reads[1][inside[1]])]
    return np.maximum(values, 0.0) if clamp else values


def _exact(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64] | None,
    grid: Grid,
    bandwidth_m: float,
    kernel: str,
) -> NDArray[np.float64]:
    """Each point's kernel at the cell centres it reaches, summed (per km²): compiled
    loops (:mod:`analytics._kde_loops`) over the points bucketed by rows, each adding its
    kernel to the square of cells its support spans, or, for the points of a crowded
    cell, their moments' polynomial where all of them reach."""
    from analytics import _kde_loops as loops  # numba: only when a surface is summed

    cell = grid.cell_m
    fx, fy, fw, ends = loops.bucketed(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64),
        w is not None,
        grid.x_min_m + cell / 2,
        grid.y_max_m - cell / 2,
        cell,
        grid.ny,
        grid.nx,
        kernel_radius_m(bandwidth_m, kernel) / cell,
    )
    scale = _KERNEL_PEAK[kernel] * _M2_PER_KM2 / bandwidth_m**2
    h = bandwidth_m / cell
    if kernel == "gaussian":
        return loops.scatter_gaussian(fx, fy, fw, grid.ny, grid.nx, h, _GAUSSIAN_RADIUS, scale)
    return loops.scatter_polynomial(
        fx, fy, fw, ends, grid.ny, grid.nx, h, kernel == "quartic", scale
    )


def _binning_error(kernel: str, steps: float) -> float:
    """Worst error of linearly binning one point, as a share of its kernel's peak, at
    ``steps`` lattice steps per bandwidth (a bound on measured worst cases)."""
    if kernel == "epanechnikov":  # the kink at the radius makes it first order
        return 0.45 / steps
    if kernel == "gaussian":  # smooth, but cut at 4 σ
        return 0.2 / steps**2 + 4e-4
    return 0.7 / steps**2


def _heavy_threshold(peak: float, grid: Grid, bandwidth_m: float, kernel: str) -> float:
    """The weight of a lattice cell whose binning error could reach :data:`_HEAVY_SHARE` of
    the peak."""
    steps = bandwidth_m * grid.lattice.per_cell / grid.cell_m
    per_weight = float(_kernel(np.zeros(1), kernel)[0]) * _M2_PER_KM2 / bandwidth_m**2
    return _HEAVY_SHARE * peak / (_binning_error(kernel, steps) * per_weight)


@dataclass(frozen=True)
class _Heavy:
    """Heavy lattice cells and, over each one's points, the sums of w, w·dx, w·dy, w·dx·dy,
    w·dx² and w·dy² (dx, dy: the offsets from the cell's node, in steps)."""

    cells: NDArray[np.intp]
    sums: NDArray[np.float64]  # one row per sum


def _heavy_points(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64] | None,
    grid: Grid,
    binned: NDArray[np.float64],
    counts: NDArray[np.uint8],
    threshold: float,
) -> _Heavy | None:
    """The lattice cells heavier than ``threshold`` with their sums, from the points, their
    ``binned`` lattice and, with no weights, the ``counts`` of their lattice cells, in one
    compiled pass (:func:`analytics._kde_loops.heavy_sums`); None if no cell is."""
    from analytics import _kde_loops as loops  # numba: only when a surface is binned

    arguments = (*_lattice_arguments(x, y, w, grid), binned.ravel(), counts, threshold)
    cells, sums = loops.heavy_sums(*arguments)
    if cells.size == 0:
        return None
    return _Heavy(cells.astype(np.intp), sums)


def _heavy_channels(channels: list[NDArray[np.float64]], threshold: float) -> _Heavy | None:
    """The lattice cells heavier than ``threshold`` with their sums, from :func:`_channels`."""
    own, east, south, south_east, xx, yy = channels
    weight = own + east + south + south_east
    heavy = np.flatnonzero(weight > threshold)
    if heavy.size == 0:
        return None
    sums = (
        weight[heavy],
        east[heavy] + south_east[heavy],
        south[heavy] + south_east[heavy],
        south_east[heavy],
        xx[heavy],
        yy[heavy],
    )
    return _Heavy(heavy, np.array(sums, dtype=np.float64))


def _stand_ins(
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    cov: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    weight: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Four points with each cell's weight, centroid and covariance ``(xx, yy, xy)``: two
    on each principal axis at √(λ₁ + λ₂) from the centroid, weighted as the λ. For points
    at one place (a lone point among them), one point there with the weight; the points
    themselves for two of equal weight."""
    xx, yy, xy = cov
    half = (xx + yy) / 2
    root = np.sqrt(np.maximum(half**2 - (xx * yy - xy**2), 0.0))
    first = np.maximum(half + root, 0.0)
    spread = first + np.maximum(half - root, 0.0)
    spread[spread < 1e-12] = 0.0  # one place
    share = np.divide(first, spread, out=np.full_like(spread, 0.5), where=spread > 0)
    angle = np.arctan2(2 * xy, xx - yy) / 2
    ux, uy = np.sqrt(spread) * np.cos(angle), np.sqrt(spread) * np.sin(angle)
    apart = spread > 0  # the other three stand-ins of a place coincide with the first
    x = np.concatenate([fx + ux, (fx - ux)[apart], (fx - uy)[apart], (fx + uy)[apart]])
    y = np.concatenate([fy + uy, (fy - uy)[apart], (fy + ux)[apart], (fy - ux)[apart]])
    rest = weight[apart] * share[apart] / 2, weight[apart] * (1 - share[apart]) / 2
    w = np.concatenate([np.where(apart, weight * share / 2, weight), *rest, rest[1]])
    return x, y, w


def _apart(
    whole: NDArray[np.float64], heavy: _Heavy, grid: Grid, bandwidth_m: float, kernel: str
) -> NDArray[np.float64]:
    """The surface with the heavy cells' points taken out of the lattice and summed
    exactly as four stand-ins a cell with their weight, centroid and covariance
    (:func:`_stand_ins`), which the whole and the parts of a split build alike know.

    ``whole`` is the whole lattice convolved, unclamped (:func:`_convolve`). The
    convolution is linear, so the heavy cells' binned weights, on their corner nodes
    alone, are taken out of it by scattering the stencil from those nodes onto the
    centres (:func:`analytics._kde_loops.scatter_stencil`): a few operations per heavy
    node where a second FFT of the lattice would cost as much as the first.
    """
    from analytics import _kde_loops as loops  # numba: only when a surface is binned

    lattice = grid.lattice
    weight, sx, sy, sxy, sxx, syy = heavy.sums
    corners = (weight - sx - sy + sxy, sx - sxy, sy - sxy, sxy)  # own, east, south, south-east
    rows, cols = lattice.shape(grid)
    values = np.ascontiguousarray(whole, dtype=np.float64)
    binned, nodes = loops.corner_nodes(
        heavy.cells.astype(np.int64), np.array(corners), rows * cols, cols
    )
    stencil = _stencil(bandwidth_m, grid.cell_m / lattice.per_cell, kernel)
    if nodes.size * (stencil.shape[0] / lattice.per_cell) ** 2 < _SCATTER_PER_NODE * rows * cols:
        loops.scatter_stencil(values, binned, nodes, stencil, cols, lattice.per_cell, lattice.pad)
    else:  # so many heavy nodes that a second FFT costs less
        values -= _convolve(binned.reshape(rows, cols), grid, bandwidth_m, kernel, clamp=False)
    mx, my = sx / weight, sy / weight
    cov = (sxx / weight - mx**2, syy / weight - my**2, sxy / weight - mx * my)
    row, col = np.divmod(heavy.cells, cols)
    fx, fy, w = _stand_ins(col + mx, row + my, cov, weight)
    # node (pad + per_cell·j, pad + per_cell·i) is the centre of cell (i, j)
    cx, cy = (fx - lattice.pad) / lattice.per_cell, (fy - lattice.pad) / lattice.per_cell
    if w.size * _FEW_STAND_INS < grid.nx * grid.ny:  # added in place, each clipped to the grid
        scale = _KERNEL_PEAK[kernel] * _M2_PER_KM2 / bandwidth_m**2
        h, kind = bandwidth_m / grid.cell_m, KERNELS.index(kernel)
        loops.add_kernels(values, cx, cy, w, h, kind, _GAUSSIAN_RADIUS, scale)
    else:  # so many that the exact sum's bucketed loops cost less
        x = grid.x_min_m + (cx + 0.5) * grid.cell_m
        values += _exact(x, grid.y_max_m - (cy + 0.5) * grid.cell_m, w, grid, bandwidth_m, kernel)
    return np.maximum(values, 0.0, out=values)


def _may_be_heavy(binned: NDArray[np.float64], threshold: float) -> bool:
    """Whether some lattice cell may pass ``threshold``: a cell weighs at most four times
    the largest binned node, which settles most surfaces. Not with signed weights."""
    top, bottom = float(binned.max(initial=0.0)), float(binned.min(initial=0.0))
    return 4.0 * top > threshold and bottom >= -1e-9 * top


def _check_lattice(grid: Grid) -> None:
    """Refuse a lattice finer than the cells with more than :data:`_MAX_FINE_NODES` nodes
    (asked for by ``method="binned"``)."""
    rows, cols = grid.lattice.shape(grid)
    if not grid.lattice.exact and grid.lattice.per_cell > 1 and rows * cols > _MAX_FINE_NODES:
        raise DensityError(
            f"核密度计算网格过大 (a bandwidth this narrow over {grid.ny} × {grid.nx} cells needs "
            f"a lattice of {rows * cols:,} nodes, more than {_MAX_FINE_NODES:,}: choose "
            "larger cells, a larger bandwidth or a smaller area)"
        )


def _values(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    w: NDArray[np.float64] | None,
    grid: Grid,
    bandwidth_m: float,
    kernel: str,
) -> tuple[NDArray[np.float64], str]:
    """The surface (per km²) the grid's lattice says how to make, and how it was made."""
    if grid.lattice.exact:  # at the lattice's bandwidth, as bin_points sums it
        return _exact(x, y, w, grid, grid.lattice.bandwidth_m, kernel), _EXACT_METHOD
    _check_lattice(grid)
    binned, counts = _binned_lattice(x, y, w, grid)
    whole = _convolve(binned, grid, bandwidth_m, kernel, clamp=False)
    threshold = _heavy_threshold(float(whole.max()), grid, bandwidth_m, kernel)
    heavy = (
        _heavy_points(x, y, w, grid, binned, counts, threshold)
        if _may_be_heavy(binned, threshold)
        else None
    )
    if heavy is None:
        return np.maximum(whole, 0.0, out=whole), _binned_method(grid.lattice, 0)
    values = _apart(whole, heavy, grid, bandwidth_m, kernel)
    return values, _binned_method(grid.lattice, heavy.cells.size)


def _binned_method(lattice: Lattice, heavy: int) -> str:
    """How a binned surface was made, for its provenance."""
    how = f"linear binning on a {lattice.per_cell}× lattice + FFT convolution"
    if heavy:
        how += f"; {heavy} heavy lattice cell{'s' if heavy > 1 else ''} summed exactly"
    return how


def kernel_density(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    bandwidth_m: float | None = None,
    cell_m: float | None = None,
    kernel: str = "quartic",
    grid: Grid | None = None,
    method: str = "auto",
) -> DensitySurface:
    """Kernel density of points (per km²) at the centres of a grid's cells.

    Parameters
    ----------
    x_m, y_m : array_like
        Point coordinates in metres (equal-area projection).
    weights : array_like, optional
        A weight per point (e.g. penalty amounts); the density is then weight per km².
    bandwidth_m : float, optional
        Kernel bandwidth (the radius for quartic/epanechnikov, σ for gaussian), at least
        :data:`MIN_BANDWIDTH_CELLS` cells; default :func:`silverman_bandwidth_m`.
    cell_m : float, optional
        Grid cell size; default a twentieth of the bandwidth, coarsened so that the grid
        has at most about 2,000 cells a side.
    kernel : {"quartic", "epanechnikov", "gaussian"}
    grid : Grid, optional
        Use this grid (its cell size wins over ``cell_m``); points outside it count
        where their kernel reaches into it.
    method : {"auto", "binned", "exact"}
        ``auto`` bins unless the kernel is too narrow for the lattice (:func:`lattice_for`);
        the same surface as :func:`bin_points` and :func:`binned_density` make.

    Examples
    --------
    >>> s = kernel_density([0.0, 0.0], [0.0, 0.0], bandwidth_m=1000.0, cell_m=50.0)
    >>> round(float(s.values.sum()) * (50.0 / 1000) ** 2, 4)  # integral ≈ 2 points
    2.0
    >>> round(float(s.values.max()), 3)  # 2 · 3/π per km², 35 m from the nearest centre
    1.905
    """
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    w = None if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64))
    if kernel not in KERNELS:
        raise DensityError(f"kernel {kernel!r}; expected one of {', '.join(KERNELS)}")
    if x.size == 0:
        raise DensityError("no points")
    h = float(bandwidth_m) if bandwidth_m else silverman_bandwidth_m(x, y, w)
    if h <= 0:
        raise DensityError("bandwidth must be positive")
    if grid is None:
        bounds = (float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y)))
        grid = density_grid(bounds, h, kernel, cell_m, points=x.size)
    grid = _plan(grid, h, kernel, method, points=x.size)
    values, how = _values(x, y, w, grid, h, kernel)
    total = float(x.size) if w is None else float(w.sum())
    return _surface(
        values, grid, h, kernel, int(x.size), total, bool(bandwidth_m), w is not None, how
    )


def density_grid(
    bounds_m: tuple[float, float, float, float],
    bandwidth_m: float,
    kernel: str,
    cell_m: float | None = None,
    points: int | None = None,
) -> Grid:
    """The automatic grid of :func:`kernel_density` for points within ``bounds_m``, with how
    points are taken under it for ``bandwidth_m`` (:func:`lattice_for`).

    ``bounds_m`` is ``(x_min, x_max, y_min, y_max)`` of the points and ``points`` how many
    they are (None: as many as the grid has cells): what partitions of the points (each
    binned by :func:`bin_points`) need to share one grid and plan.

    Examples
    --------
    >>> g = density_grid((0.0, 1000.0, 0.0, 500.0), 1000.0, "quartic", 100.0)
    >>> g.nx, g.ny, g.x_min_m, g.lattice.per_cell
    (32, 27, -1100.0, 1)
    """
    pad = kernel_radius_m(bandwidth_m, kernel)
    x_min, x_max, y_min, y_max = bounds_m
    extent = max(x_max - x_min, y_max - y_min) + 2 * pad
    cell = float(cell_m) if cell_m else max(bandwidth_m / 20.0, extent / 2000.0)
    grid = Grid.covering(np.array([x_min, x_max]), np.array([y_min, y_max]), cell, pad + cell)
    return _plan(grid, bandwidth_m, kernel, points=points)


def bin_points(
    x_m: ArrayLike, y_m: ArrayLike, weights: ArrayLike, grid: Grid
) -> NDArray[np.float64]:
    """The points taken as ``grid``'s lattice says (``grid`` from :func:`density_grid`):
    the four corner grids of their linear binning and two of their second moments,
    stacked; or, for a kernel summed exactly, their kernel sum. Additive: the arrays of
    parts sum to the whole's."""
    x, y = np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if grid.lattice.exact:
        return _exact(x, y, w, grid, grid.lattice.bandwidth_m, grid.lattice.kernel)
    _check_lattice(grid)
    rows, cols = grid.lattice.shape(grid)
    return np.concatenate(_channels(x, y, w, grid)).reshape(6 * rows, cols)


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
    """The density surface of points taken by :func:`bin_points` on ``grid`` (summed over
    parts): the same surface :func:`kernel_density` makes of all the points at once."""
    lattice = grid.lattice
    if not _planned_for(lattice, bandwidth_m, kernel) or (
        binned.shape != lattice.partial_shape(grid) and binned.any()
    ):
        raise DensityError(
            "the points were binned for another bandwidth or kernel: bin them on the grid "
            "density_grid gives for this bandwidth"
        )
    if lattice.exact:
        values, how = np.maximum(binned, 0.0), _EXACT_METHOD
    elif not binned.any():  # no points
        values, how = np.zeros((grid.ny, grid.nx)), _binned_method(lattice, 0)
    else:
        values, heavy = _binned_parts(binned, grid, bandwidth_m, kernel)
        how = _binned_method(lattice, heavy)
    return _surface(
        values,
        grid,
        bandwidth_m,
        kernel,
        n_points,
        total_weight,
        fixed_bandwidth,
        weighted,
        how,
    )


def _binned_parts(
    binned: NDArray[np.float64], grid: Grid, bandwidth_m: float, kernel: str
) -> tuple[NDArray[np.float64], int]:
    """The surface (per km²) of the summed arrays of :func:`bin_points`, and how many heavy
    lattice cells it summed exactly: as :func:`kernel_density` does, from the cells'
    sums rather than the points."""
    _check_lattice(grid)
    rows, cols = grid.lattice.shape(grid)
    channels = list(np.array(binned, dtype=np.float64).reshape(6, -1))
    combined = _combine(channels, cols)
    whole = _convolve(combined.reshape(rows, cols), grid, bandwidth_m, kernel, clamp=False)
    threshold = _heavy_threshold(float(whole.max()), grid, bandwidth_m, kernel)
    heavy = _heavy_channels(channels, threshold) if _may_be_heavy(combined, threshold) else None
    if heavy is None:
        return np.maximum(whole, 0.0, out=whole), 0
    return _apart(whole, heavy, grid, bandwidth_m, kernel), int(heavy.cells.size)


def _surface(
    values: NDArray[np.float64],
    grid: Grid,
    bandwidth_m: float,
    kernel: str,
    n_points: int,
    total_weight: float,
    fixed_bandwidth: bool,
    weighted: bool,
    method: str,
) -> DensitySurface:
    """The surface with its provenance."""
    parameters = {
        "bandwidth_m": bandwidth_m,
        "bandwidth_rule": "fixed" if fixed_bandwidth else "silverman (ArcGIS spatial variant)",
        "kernel": kernel,
        "cell_m": grid.cell_m,
        "weighted": weighted,
        "method": method,
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
    >>> round(float(np.nanmax(rate.values)), 9), rate.units
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
