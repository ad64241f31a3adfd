"""Compiled loops of :mod:`analytics.density`: the exact kernel sum, point by point, and
linear binning on a lattice.

Private to :mod:`analytics.density`, which imports it only when it sums or bins points,
so that importing the package stays light (numba compiles each loop on its first call
in a process and keeps the machine code on disk, ``cache=True``).

The exact sum takes the points in buckets of a few grid rows (a counting sort), so that
consecutive points add into the same few rows of the surface, which stay in the
processor's cache. Each point adds its kernel to a fixed square of cells around it, as
wide as its support: the same loop for every point, which the compiler unrolls and
vectorises; cells of the square outside the support add zero. For kernels wide enough,
the points of a cell that holds several are summed together: at the centres all of
them reach the quartic and epanechnikov kernels are polynomials, so there the sum
comes from the points' moments, and point by point only on the ring of centres where
the edge of their supports passes (:func:`scatter_polynomial`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

#: Grid rows a bucket of points spans in :func:`bucketed`.
_BUCKET_ROWS = 4
#: Points a cell must hold for :func:`scatter_polynomial` to sum them through their moments.
_GROUP_POINTS = 4
#: How many times its ring a point's square must hold for cells' points to be summed
#: together at all (the sorting by cells costs; at 4 cells a bandwidth it does not pay).
_RING_SHARE = 2.5
#: Points a bucket must hold per grid cell of its rows to be sorted by cells: sparser, few
#: of its cells hold :data:`_GROUP_POINTS` points and the sort costs more than it saves.
_SORTED_PER_CELL = 1.0


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
) -> tuple[Floats, Floats, Floats, NDArray[np.int64]]:
    """The points within ``reach`` cells of a centre, in cells from the centre of cell (0, 0)
    (x east, y south: ``(x - x0) / cell``, ``(y0 - y) / cell``, to rounding), bucketed by rows, with
    their weights (none unless ``weighted``: each weighs 1). Points that are not numbers
    are left out. Two passes rather than a stored key: less memory to fault in."""
    n = x.size
    low_x, high_x = -reach, nx - 1 + reach
    low_y, high_y = -reach, ny - 1 + reach
    buckets = int((high_y - low_y) // _BUCKET_ROWS) + 2
    counts = np.zeros(buckets + 1, np.int64)
    inv, per_row = 1.0 / cell, 1.0 / _BUCKET_ROWS  # products: divisions cost more
    for i in range(n):
        px = (x[i] - x0) * inv
        py = (y0 - y[i]) * inv
        if low_x < px < high_x and low_y < py < high_y:
            counts[int((py - low_y) * per_row) + 1] += 1
    for k in range(1, buckets + 1):
        counts[k] += counts[k - 1]
    m = counts[buckets]
    sx, sy, sw = np.empty(m), np.empty(m), np.empty(m if weighted else 0)
    for i in range(n):
        px = (x[i] - x0) * inv
        py = (y0 - y[i]) * inv
        if low_x < px < high_x and low_y < py < high_y:
            k = int((py - low_y) * per_row)  # positive: truncation is the floor
            at = counts[k]
            sx[at] = px
            sy[at] = py
            if weighted:
                sw[at] = w[i]
            counts[k] = at + 1
    return sx, sy, sw, counts[:buckets].copy()


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
def _cell_offsets(
    bandwidth: float, stride: int
) -> tuple[Floats, Floats, NDArray[np.int64], NDArray[np.int64]]:
    """The centres a cell's points reach, by their offsets from the cell's centre (in
    cells; a point lies within half a cell of it on each axis). Those only some of the
    points may reach, the ring: their x and y, and their place in a surface of
    ``stride`` columns. Those all of them reach, the inner centres: in each row of
    offsets −reach … reach, the columns −half … half (half −1: none)."""
    reach = math.ceil(bandwidth + 0.5)
    h2 = bandwidth * bandwidth
    side = (2 * reach + 1) ** 2
    ring_x, ring_y, ring_at = np.empty(side), np.empty(side), np.empty(side, np.int64)
    half = np.full(2 * reach + 1, -1, np.int64)
    rings = 0
    for dr in range(-reach, reach + 1):
        for dc in range(-reach, reach + 1):
            near = max(abs(dc) - 0.5, 0.0) ** 2 + max(abs(dr) - 0.5, 0.0) ** 2
            if near >= h2:  # beyond every point's support
                continue
            if (abs(dc) + 0.5) ** 2 + (abs(dr) + 0.5) ** 2 <= h2:
                half[dr + reach] = max(half[dr + reach], abs(dc))
                continue
            ring_x[rings], ring_y[rings] = dc, dr
            ring_at[rings] = dr * stride + dc
            rings += 1
    return ring_x[:rings].copy(), ring_y[:rings].copy(), ring_at[:rings].copy(), half


@numba.njit(cache=True, nogil=True, fastmath=True)  # points are numbers: no NaN
def _add_inner(
    out: Floats,
    row0: int,
    col0: int,
    half: NDArray[np.int64],
    qx: Floats,
    qy: Floats,
    qw: Floats,
    bandwidth: float,
    squared: bool,
) -> None:
    """The kernel sum of a cell's points (offsets ``qx``, ``qy`` from its centre, in cells;
    weights ``qw``) added at the centres all of them reach (:func:`_cell_offsets`), the
    cell's centre at ``out[row0, col0]``. There the kernel is a polynomial in the
    offsets, so the sum is one in the points' moments: with v the centre's offset and q
    a point's, 1 − |v − q|²/h² = A + B, A = 1 − |v|²/h², B = (2 v·q − |q|²)/h². Along a
    row of centres it is a polynomial in the column, evaluated by Horner's rule."""
    s0 = sx = sy = sxx = sxy = syy = sx3 = sy3 = s4 = 0.0
    for i in range(qx.size):
        x, y, w = qx[i], qy[i], qw[i]
        q2 = x * x + y * y
        s0 += w
        sx += w * x
        sy += w * y
        sxx += w * x * x
        sxy += w * x * y
        syy += w * y * y
        sx3 += w * q2 * x
        sy3 += w * q2 * y
        s4 += w * q2 * q2
    reach = (half.size - 1) // 2
    inv = 1.0 / (bandwidth * bandwidth)
    for j in range(half.size):
        m = half[j]
        if m < 0:
            continue
        dr = float(j - reach)
        alpha = 1.0 - dr * dr * inv  # A = alpha − x²/h² along the row, x the column
        if squared:  # Σw(A + B)² = A²·Σw + 2A·ΣwB + ΣwB², a quartic in x
            b0 = (2.0 * dr * sy - sxx - syy) * inv  # ΣwB = b0 + b1·x
            b1 = 2.0 * sx * inv
            # ΣwB² = (4(x²Sxx + 2x·dr·Sxy + dr²Syy) − 4(x·Sx3 + dr·Sy3) + S4) / h⁴
            inv2 = inv * inv
            e0 = alpha * alpha * s0 + 2.0 * alpha * b0
            e0 += (4.0 * dr * dr * syy - 4.0 * dr * sy3 + s4) * inv2
            e1 = 2.0 * alpha * b1 + (8.0 * dr * sxy - 4.0 * sx3) * inv2
            e2 = -2.0 * alpha * s0 * inv - 2.0 * b0 * inv + 4.0 * sxx * inv2
            e3 = -2.0 * b1 * inv
            e4 = s0 * inv2
        else:  # Σw(A + B) = A·Σw + ΣwB, a quadratic in x
            e0 = alpha * s0 + (2.0 * dr * sy - sxx - syy) * inv
            e1 = 2.0 * sx * inv
            e2 = -s0 * inv
            e3 = e4 = 0.0
        row = out[row0 + j - reach, col0 - m : col0 + m + 1]
        for k in range(2 * m + 1):
            x = float(k - m)
            row[k] += (((e4 * x + e3) * x + e2) * x + e1) * x + e0


@numba.njit(cache=True, nogil=True, fastmath=True)  # points are numbers: no NaN
def scatter_polynomial(
    fx: Floats,
    fy: Floats,
    w: Floats,
    ends: NDArray[np.int64],
    ny: int,
    nx: int,
    bandwidth: float,
    squared: bool,
    scale: float,
) -> Floats:
    """Σ w·(1 − u²)² (``squared``: quartic) or Σ w·(1 − u²) (epanechnikov) over the points
    (from :func:`bucketed`, its buckets ending at ``ends``; no weights: each weighs 1) at
    every cell centre, u = distance / ``bandwidth`` (in cells) under 1, times ``scale``.

    Each bucket's points, if they are not sparser than :data:`_SORTED_PER_CELL` a cell of
    its rows, are sorted by cell, else by column (:func:`_by_cell`). A cell of
    :data:`_GROUP_POINTS` points or more adds its sum at the centres all its points reach
    from their moments (:func:`_add_inner`: exact, the kernel being a polynomial there)
    and point by point only on the ring of centres its supports' edge crosses
    (:func:`_add_ring`); the other points add their kernel to the square of cells their
    support spans, a row at a time (:func:`_add_square`), in order of column: consecutive
    points then add into the same few columns, which stay in the fastest cache."""
    rows = math.ceil(2.0 * bandwidth)
    width = (rows + 3) // 4 * 4  # whole vectors of four: no loop remainder
    pad = width + 2
    stride = nx + 2 * pad
    out = np.zeros((ny + 2 * pad, stride))
    dx2 = np.empty(width)
    weighted = w.size > 0
    ring_x, ring_y, ring_at, half = _cell_offsets(bandwidth, stride)
    if ring_x.size * _RING_SHARE > rows * width:  # too narrow for moments to pay
        _add_squares(out, fx, fy, w, 0, fx.size, pad, bandwidth, squared, dx2)
        return _finish(out, pad, ny, nx, scale)
    ring = np.zeros(ring_x.size)
    low_c = -math.ceil(bandwidth) - 2  # below the lowest column of a cell with points
    cols = nx - 2 * low_c + 1
    # a bucket's 4 rows of points lie in 5 rows of cells, 6 if rounding moved one over
    counts = np.zeros(6 * cols + 1, np.int64)
    largest = 0
    for b in range(ends.size):
        largest = max(largest, ends[b] - (ends[b - 1] if b > 0 else 0))
    key = np.empty(largest, np.int64)
    qx, qy, qw = np.empty(largest), np.empty(largest), np.ones(largest)
    start = 0
    for b in range(ends.size):
        part = slice(start, ends[b])
        start = ends[b]
        n = part.stop - part.start
        if n == 0:
            continue
        part_w = w[part] if weighted else w
        if n < _SORTED_PER_CELL * _BUCKET_ROWS * nx:  # sparse: by column alone
            _by_cell(fx[part], fy[part], part_w, low_c, cols, False, counts, key, qx, qy, qw)
            _add_squares(out, qx, qy, qw if weighted else w, 0, n, pad, bandwidth, squared, dx2)
            continue
        low_r = _by_cell(fx[part], fy[part], part_w, low_c, cols, True, counts, key, qx, qy, qw)
        begin = 0  # counts are now where each cell's points end
        for k in range(counts.size - 1):
            end = counts[k]
            if end - begin >= _GROUP_POINTS:
                r, c = k // cols + low_r, k % cols + low_c
                cx, cy, cw = qx[begin:end], qy[begin:end], qw[begin:end]
                cx -= c
                cy -= r
                _add_inner(out, r + pad, c + pad, half, cx, cy, cw, bandwidth, squared)
                centre = (r + pad) * stride + c + pad
                _add_ring(
                    out, centre, ring_x, ring_y, ring_at, ring, cx, cy, cw, bandwidth, squared
                )
            else:
                for i in range(begin, end):
                    _add_square(out, qx[i] + pad, qy[i] + pad, qw[i], bandwidth, squared, dx2)
            begin = end
    return _finish(out, pad, ny, nx, scale)


@numba.njit(cache=True, nogil=True)
def _by_cell(
    fx: Floats,
    fy: Floats,
    w: Floats,
    low_c: int,
    cols: int,
    by_row: bool,
    counts: NDArray[np.int64],
    key: NDArray[np.int64],
    qx: Floats,
    qy: Floats,
    qw: Floats,
) -> int:
    """Points (some) in at most 6 rows of cells, with their weights if ``w`` has them,
    sorted by cell (``by_row``) or by column alone into ``qx``, ``qy``, ``qw`` (a counting
    sort), and their lowest row of cells, low_r: then cell (low_r + k // cols, low_c + k %
    cols), or column low_c + k, holds the points from where k − 1's end up to
    ``counts[k]``."""
    low_r = math.floor(fy[0] + 0.5)
    for i in range(fy.size):
        low_r = min(low_r, math.floor(fy[i] + 0.5))
    counts[:] = 0
    for i in range(fx.size):
        k = math.floor(fx[i] + 0.5) - low_c
        if by_row:
            k += (math.floor(fy[i] + 0.5) - low_r) * cols
        key[i] = k
        counts[k + 1] += 1
    for k in range(1, counts.size):  # where each cell's points begin
        counts[k] += counts[k - 1]
    for i in range(fx.size):
        k = key[i]
        at = counts[k]
        counts[k] = at + 1
        qx[at], qy[at] = fx[i], fy[i]
        if w.size:
            qw[at] = w[i]
    return low_r


@numba.njit(cache=True, nogil=True, fastmath=True)
def _add_ring(
    out: Floats,
    centre: int,
    ring_x: Floats,
    ring_y: Floats,
    ring_at: NDArray[np.int64],
    ring: Floats,
    qx: Floats,
    qy: Floats,
    qw: Floats,
    bandwidth: float,
    squared: bool,
) -> None:
    """A cell's points (offsets ``qx``, ``qy`` from its centre, weights ``qw``) summed point
    by point on its ring (:func:`_cell_offsets`) in ``ring``, a contiguous run the
    compiler vectorises, then added to the surface ``out`` (its cell's centre at flat
    index ``centre``). ``ring`` is left at zero."""
    inv = 1.0 / (bandwidth * bandwidth)
    for i in range(qx.size):
        x, y, wi = qx[i], qy[i], qw[i]
        if squared:
            for j in range(ring.size):
                dx, dy = ring_x[j] - x, ring_y[j] - y
                t = max(1.0 - (dx * dx + dy * dy) * inv, 0.0)
                ring[j] += wi * (t * t)
        else:
            for j in range(ring.size):
                dx, dy = ring_x[j] - x, ring_y[j] - y
                ring[j] += wi * max(1.0 - (dx * dx + dy * dy) * inv, 0.0)
    flat = out.reshape(-1)
    for j in range(ring.size):
        flat[centre + ring_at[j]] += ring[j]
        ring[j] = 0.0


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _add_square(
    out: Floats,
    px: float,
    py: float,
    wi: float,
    bandwidth: float,
    squared: bool,
    dx2: Floats,
) -> None:
    """One point's kernel added to the square of cells its support spans, a row at a time
    (``px``, ``py``: its place in ``out``'s cells; ``dx2``: room for a row)."""
    width = dx2.size
    rows = math.ceil(2.0 * bandwidth)
    inv = 1.0 / (bandwidth * bandwidth)
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


@numba.njit(cache=True, nogil=True, fastmath=True)
def _add_squares(
    out: Floats,
    fx: Floats,
    fy: Floats,
    w: Floats,
    start: int,
    stop: int,
    pad: int,
    bandwidth: float,
    squared: bool,
    dx2: Floats,
) -> None:
    """Points ``start`` to ``stop`` each add their kernel to the square of cells their
    support spans (:func:`_add_square`), in the order they come."""
    weighted = w.size > 0
    for i in range(start, stop):
        wi = w[i] if weighted else 1.0
        _add_square(out, fx[i] + pad, fy[i] + pad, wi, bandwidth, squared, dx2)


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
def add_kernels(
    values: Floats,
    fx: Floats,
    fy: Floats,
    w: Floats,
    bandwidth: float,
    kind: int,
    radius: float,
    scale: float,
) -> None:
    """Add to ``values`` (rows of cells) the kernels of a few points, at ``fx``, ``fy`` in
    cells from the centre of cell (0, 0) (x east, y south), times ``scale``: w·(1 − u²)²
    (``kind`` 0), w·(1 − u²) (1) or w·exp(−u²/2) cut at u = ``radius`` (2), u = distance
    / ``bandwidth`` (in cells). Each point's square clipped to the grid, in place: no
    padded surface to fill and fold back for a handful of points."""
    ny, nx = values.shape
    limit = radius * radius if kind == 2 else 1.0
    reach = bandwidth * math.sqrt(limit)
    inv = 1.0 / (bandwidth * bandwidth)
    for i in range(fx.size):
        px, py, wi = fx[i], fy[i], w[i] * scale
        c0 = max(math.floor(px - reach) + 1, 0)
        c1 = min(math.ceil(px + reach) - 1, nx - 1)
        r0 = max(math.floor(py - reach) + 1, 0)
        r1 = min(math.ceil(py + reach) - 1, ny - 1)
        for r in range(r0, r1 + 1):
            dy = r - py
            dy2 = dy * dy * inv
            if dy2 >= limit:
                continue
            row = values[r, c0 : c1 + 1]  # a run of the row: vectorised
            x0 = c0 - px
            if kind == 0:
                for c in range(row.size):
                    dx = x0 + c
                    t = max(1.0 - dy2 - dx * dx * inv, 0.0)
                    row[c] += wi * (t * t)
            elif kind == 1:
                for c in range(row.size):
                    dx = x0 + c
                    row[c] += wi * max(1.0 - dy2 - dx * dx * inv, 0.0)
            else:
                for c in range(row.size):
                    dx = x0 + c
                    u2 = dx * dx * inv + dy2
                    if u2 < limit:
                        row[c] += wi * math.exp(-0.5 * u2)


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
) -> tuple[Floats, NDArray[np.uint8]]:
    """Linear binning on a lattice of ``rows`` × ``cols`` nodes: a point at lattice
    coordinates (x·scale + shift_x, y·−scale + shift_y) shares its weight among the four
    nodes around it; points outside the lattice's last row and column, or not numbers,
    are left out. The same sums as :func:`analytics.density._binned_lattice`'s. With no
    weights, also the points in each lattice cell, to 255 (for :func:`heavy_sums`: a
    byte a cell stays in the cache, where a sum of weights would not)."""
    out = np.zeros(rows * cols)
    counts = np.zeros(0 if weighted else rows * cols, np.uint8)
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
        elif counts[cell] < 255:
            counts[cell] += np.uint8(1)
        out[cell] += own
        out[cell + 1] += east
        out[cell + cols] += south
        out[cell + cols + 1] += south_east
    return out, counts


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
    counts: NDArray[np.uint8],
    threshold: float,
) -> tuple[NDArray[np.int64], Floats]:
    """The lattice cells whose points weigh more than ``threshold`` (ascending), and over
    each one's points the sums of w, w·dx, w·dy, w·dx·dy, w·dx² and w·dy² (dx, dy: the
    offsets from the cell's node, in steps), cells and points taken as in
    :func:`bin_linear`, in one pass over the points. The cells summed: with no weights,
    those whose ``counts`` pass the threshold or reach 255 (the heavy cells, and only
    they while the threshold is under 255); else, weights
    not below zero, those whose four corners in ``binned`` (the lattice of
    :func:`bin_linear`) do, a cell weighing at most that. A bit a cell marks them, which
    the cache holds where a table of their places would not: the other cells' points
    cost a test."""
    slot = np.zeros(rows * cols, np.int32)  # a candidate cell's index + 1
    marked = np.zeros((rows * cols + 7) // 8, np.uint8)
    count = 0
    for r in range(rows - 1):
        for c in range(r * cols, r * cols + cols - 1):
            if counts.size:
                candidate = counts[c] > threshold or counts[c] == 255
            else:
                corners = binned[c] + binned[c + 1] + binned[c + cols] + binned[c + cols + 1]
                candidate = corners * (1.0 + 1e-9) > threshold
            if candidate:
                count += 1
                slot[c] = count
                marked[c >> 3] |= np.uint8(1 << (c & 7))
    candidates = np.empty(count, np.int64)
    for c in range(slot.size):
        if slot[c] > 0:
            candidates[slot[c] - 1] = c
    sums = np.zeros((count, 6))  # a candidate's sums in one cache line
    for i in range(x.size if count else 0):
        fx = x[i] * scale + shift_x
        fy = y[i] * -scale + shift_y
        if not (0.0 <= fx < cols - 1 and 0.0 <= fy < rows - 1):
            continue
        ix, iy = int(fx), int(fy)
        at = iy * cols + ix
        if not (marked[at >> 3] >> (at & 7)) & 1:
            continue
        dx, dy = fx - ix, fy - iy
        wi = w[i] if weighted else 1.0
        j = slot[at] - 1  # indexed, not a view of the row: no reference to count
        sums[j, 0] += wi
        sums[j, 1] += wi * dx
        sums[j, 2] += wi * dy
        sums[j, 3] += wi * dx * dy
        sums[j, 4] += wi * dx * dx
        sums[j, 5] += wi * dy * dy
    keep = sums[:, 0] > threshold
    return candidates[keep], np.ascontiguousarray(sums[keep].T)


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
