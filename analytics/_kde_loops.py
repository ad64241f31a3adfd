"""Compiled loops of :mod:`analytics.density`: the exact kernel sum, point by point, and
linear binning on a lattice.

Private to :mod:`analytics.density`, which imports it only when it sums or bins points,
so that importing the package stays light (numba compiles each loop on its first call
in a process and keeps the machine code on disk, ``cache=True``).

The exact sum takes the points in buckets of a few grid rows (a counting sort), so that
consecutive points add into the same few rows of the surface, which stay in the
processor's cache. Each point adds its kernel to a fixed square of cells around it, as
wide as its support: the same loop for every point, which the compiler unrolls and
vectorises; cells of the square outside the support add zero.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

#: Grid rows a bucket of points spans in :func:`bucketed`.
_BUCKET_ROWS = 4


@numba.njit(cache=True, nogil=True)
def bucketed(
    x: Floats,
    y: Floats,
    w: Floats,
    weighted: bool,
    x0: float,
    y0: float,
    cell: float,
    ny: int,
    nx: int,
    reach: float,
) -> tuple[Floats, Floats, Floats]:
    """The points within ``reach`` cells of a centre, in cells from the centre of cell (0, 0)
    (x east, y south: ``(x - x0) / cell``, ``(y0 - y) / cell``), bucketed by rows, with
    their weights (none unless ``weighted``: each weighs 1). Points that are not numbers
    are left out. Two passes rather than a stored key: less memory to fault in."""
    n = x.size
    low_x, high_x = -reach, nx - 1 + reach
    low_y, high_y = -reach, ny - 1 + reach
    buckets = int((high_y - low_y) // _BUCKET_ROWS) + 2
    counts = np.zeros(buckets + 1, np.int64)
    for i in range(n):
        px = (x[i] - x0) / cell
        py = (y0 - y[i]) / cell
        if low_x < px < high_x and low_y < py < high_y:
            counts[int((py - low_y) // _BUCKET_ROWS) + 1] += 1
    for k in range(1, buckets + 1):
        counts[k] += counts[k - 1]
    m = counts[buckets]
    sx, sy, sw = np.empty(m), np.empty(m), np.empty(m if weighted else 0)
    for i in range(n):
        px = (x[i] - x0) / cell
        py = (y0 - y[i]) / cell
        if low_x < px < high_x and low_y < py < high_y:
            k = int((py - low_y) // _BUCKET_ROWS)
            at = counts[k]
            sx[at] = px
            sy[at] = py
            if weighted:
                sw[at] = w[i]
            counts[k] = at + 1
    return sx, sy, sw


@numba.njit(cache=True, nogil=True)
def _finish(out: Floats, pad: int, ny: int, nx: int, scale: float) -> Floats:
    """The grid's cells of the padded sum, times ``scale``, moved to the front of its own
    memory (every cell moves towards the start, so none is overwritten before it is
    read): no second array to fault in."""
    flat = out.reshape(-1)
    width = nx + 2 * pad
    for r in range(ny):
        source, target = (r + pad) * width + pad, r * nx
        for c in range(nx):
            flat[target + c] = flat[source + c] * scale
    return flat[: ny * nx].reshape((ny, nx))


@numba.njit(cache=True, nogil=True)
def scatter_polynomial(
    fx: Floats,
    fy: Floats,
    w: Floats,
    ny: int,
    nx: int,
    bandwidth: float,
    squared: bool,
    scale: float,
) -> Floats:
    """Σ w·(1 − u²)² (``squared``: quartic) or Σ w·(1 − u²) (epanechnikov) over the points
    (from :func:`bucketed`; no weights: each weighs 1) at every cell centre,
    u = distance / ``bandwidth`` (in cells) under 1, times ``scale``."""
    rows = math.ceil(2.0 * bandwidth)
    width = (rows + 3) // 4 * 4  # whole vectors of four: no loop remainder
    pad = width + 1
    out = np.zeros((ny + 2 * pad, nx + 2 * pad))
    inv = 1.0 / (bandwidth * bandwidth)
    dx2 = np.empty(width)
    weighted = w.size > 0
    for i in range(fx.size):
        px, py = fx[i] + pad, fy[i] + pad
        wi = w[i] if weighted else 1.0
        c0 = math.floor(px - bandwidth) + 1
        r0 = math.floor(py - bandwidth) + 1
        for k in range(width):
            d = c0 + k - px
            dx2[k] = d * d * inv
        for j in range(rows):
            dy = r0 + j - py
            a = 1.0 - dy * dy * inv
            if a <= 0.0:
                continue
            row = out[r0 + j, c0 : c0 + width]  # one contiguous run: vectorised
            if squared:
                for k in range(width):
                    t = max(a - dx2[k], 0.0)
                    row[k] += wi * (t * t)
            else:
                for k in range(width):
                    row[k] += wi * max(a - dx2[k], 0.0)
    return _finish(out, pad, ny, nx, scale)


@numba.njit(cache=True, nogil=True)
def scatter_gaussian(
    fx: Floats,
    fy: Floats,
    w: Floats,
    ny: int,
    nx: int,
    sigma: float,
    radius: float,
    scale: float,
) -> Floats:
    """Σ w·exp(−u²/2) over the points (from :func:`bucketed`) at every cell centre,
    u = distance / ``sigma`` (in cells), cut where u reaches ``radius``; times ``scale``."""
    reach = radius * sigma
    width = math.ceil(2.0 * reach)
    pad = width + 1
    out = np.zeros((ny + 2 * pad, nx + 2 * pad))
    inv = 1.0 / (sigma * sigma)
    limit = radius * radius
    dx2 = np.empty(width)
    weighted = w.size > 0
    for i in range(fx.size):
        px, py = fx[i] + pad, fy[i] + pad
        wi = w[i] if weighted else 1.0
        c0 = math.floor(px - reach) + 1
        r0 = math.floor(py - reach) + 1
        for k in range(width):
            d = c0 + k - px
            dx2[k] = d * d * inv
        for j in range(width):
            dy = r0 + j - py
            dy2 = dy * dy * inv
            if dy2 >= limit:
                continue
            row = out[r0 + j, c0 : c0 + width]
            for k in range(width):
                u2 = dy2 + dx2[k]
                if u2 < limit:
                    row[k] += wi * math.exp(-0.5 * u2)
    return _finish(out, pad, ny, nx, scale)


@numba.njit(cache=True, nogil=True)
def bin_linear(
    x: Floats,
    y: Floats,
    w: Floats,
    weighted: bool,
    scale: float,
    shift_x: float,
    shift_y: float,
    rows: int,
    cols: int,
) -> Floats:
    """Linear binning on a lattice of ``rows`` × ``cols`` nodes: a point at lattice
    coordinates (x·scale + shift_x, y·−scale + shift_y) shares its weight among the four
    nodes around it; points outside the lattice's last row and column, or not numbers,
    are left out. The same sums as :func:`analytics.density._binned_lattice`'s."""
    out = np.zeros(rows * cols)
    for i in range(x.size):
        fx = x[i] * scale + shift_x
        fy = y[i] * -scale + shift_y
        if not (0.0 <= fx < cols - 1 and 0.0 <= fy < rows - 1):
            continue
        ix, iy = int(fx), int(fy)
        dx, dy = fx - ix, fy - iy
        south_east = dx * dy
        east = dx - south_east
        south = dy - south_east
        own = 1.0 - dx - south
        cell = iy * cols + ix
        if weighted:
            wi = w[i]
            own, east, south, south_east = own * wi, east * wi, south * wi, south_east * wi
        out[cell] += own
        out[cell + 1] += east
        out[cell + cols] += south
        out[cell + cols + 1] += south_east
    return out


@numba.njit(cache=True, nogil=True)
def heavy_sums(
    x: Floats,
    y: Floats,
    w: Floats,
    weighted: bool,
    scale: float,
    shift_x: float,
    shift_y: float,
    rows: int,
    cols: int,
    binned: Floats,
    threshold: float,
) -> tuple[NDArray[np.int64], Floats]:
    """The lattice cells whose points weigh more than ``threshold`` (ascending), and over
    each one's points the sums of w, w·dx, w·dy, w·dx·dy, w·dx² and w·dy² (dx, dy: the
    offsets from the cell's node, in steps), cells and points taken as in
    :func:`bin_linear`. Weights not below zero: a cell weighs at most its four corners in
    ``binned`` (the lattice of :func:`bin_linear`), so only cells whose corners pass the
    threshold are summed, in one pass over the points."""
    slot = np.zeros(rows * cols, np.int32)  # a candidate cell's index + 1
    count = 0
    for r in range(rows - 1):
        for c in range(r * cols, r * cols + cols - 1):
            corners = binned[c] + binned[c + 1] + binned[c + cols] + binned[c + cols + 1]
            if corners * (1.0 + 1e-9) > threshold:
                count += 1
                slot[c] = count
    candidates = np.empty(count, np.int64)
    for c in range(slot.size):
        if slot[c] > 0:
            candidates[slot[c] - 1] = c
    # a candidate's sums in one cache line; row 0 the other cells' (no branch to mispredict)
    sums = np.zeros((count + 1, 6))
    for i in range(x.size):
        fx = x[i] * scale + shift_x
        fy = y[i] * -scale + shift_y
        if not (0.0 <= fx < cols - 1 and 0.0 <= fy < rows - 1):
            continue
        ix, iy = int(fx), int(fy)
        dx, dy = fx - ix, fy - iy
        wi = w[i] if weighted else 1.0
        cell = sums[slot[iy * cols + ix]]
        cell[0] += wi
        cell[1] += wi * dx
        cell[2] += wi * dy
        cell[3] += wi * dx * dy
        cell[4] += wi * dx * dx
        cell[5] += wi * dy * dy
    keep = sums[1:, 0] > threshold
    return candidates[keep], np.ascontiguousarray(sums[1:][keep].T)


@numba.njit(cache=True, nogil=True)
def corner_nodes(
    cells: NDArray[np.int64], corners: Floats, size: int, cols: int
) -> tuple[Floats, NDArray[np.int64]]:
    """The lattice of ``size`` nodes holding the ``corners`` (own, east, south, south-east:
    four rows) of lattice ``cells`` and, once each, the nodes they fall on."""
    lattice = np.zeros(size)
    seen = np.zeros(size, np.bool_)
    nodes = np.empty(4 * cells.size, np.int64)
    count = 0
    for k in range(cells.size):
        for corner, offset in enumerate((0, 1, cols, cols + 1)):
            node = cells[k] + offset
            if not seen[node]:
                seen[node] = True
                nodes[count] = node
                count += 1
            lattice[node] += corners[corner, k]
    return lattice, nodes[:count]


@numba.njit(cache=True, nogil=True)
def scatter_stencil(
    values: Floats,
    lattice: Floats,
    nodes: NDArray[np.int64],
    stencil: Floats,
    cols: int,
    per_cell: int,
    pad: int,
) -> None:
    """Take each node's weight in ``lattice`` (flat, ``cols`` a row) times the stencil,
    centred on it, from ``values`` at the cell centres, in place: the centre of cell
    (i, j) is node (per_cell·i + pad, per_cell·j + pad), as in
    :func:`analytics.density._convolve`. The stencil is symmetric: indexed by the centre
    minus the node, runs along a row are contiguous."""
    ny, nx = values.shape
    q = stencil.shape[0] // 2
    r = per_cell
    for n in range(nodes.size):
        nr, nc = nodes[n] // cols - pad, nodes[n] % cols - pad
        i0, i1 = max(0, -((q - nr) // r)), min(ny - 1, (nr + q) // r)
        j0, j1 = max(0, -((q - nc) // r)), min(nx - 1, (nc + q) // r)
        wn = lattice[nodes[n]]
        for i in range(i0, i1 + 1):
            taps = stencil[q + r * i - nr]
            row = values[i]
            for j in range(j0, j1 + 1):
                row[j] -= wn * taps[q + r * j - nc]
