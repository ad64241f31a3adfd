"""Compiled loops of :mod:`analytics._grid_dbscan`: DBSCAN over a grid of cells.

Private to :mod:`analytics._grid_dbscan`, which imports it only when it clusters, so
that importing the package stays light (numba compiles on the first call in a process
and keeps the machine code on disk, ``cache=True``).

Points are sorted by cell (a radix sort of the cell keys); cells are eps / 1.5 wide, so
any two points of a cell are neighbours and a neighbour lies at most ``REACH`` cells
away. Per point, per neighbouring cell, a box test first where the cell holds enough
points: the cell's bounding box out of reach (skip), wholly in reach (count it whole),
or else point by point, stopping as soon as the answer is known. Core points are joined
cell by cell with a union-find, skipping cell pairs already joined. Every box bound
holds exactly in floating point (rounding is monotone), and the neighbour test is
scikit-learn's k-d tree's, ``dx² + dy² ≤ eps²`` in float64, so the results are
scikit-learn's point for point.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Mask = NDArray[np.bool_]

REACH = 2  # a neighbour lies at most this many cells away along each axis
_DIGIT = 16  # bits per pass of the radix sort
_NONE = np.iinfo(np.int64).max


@numba.njit(cache=True, nogil=True)
def run(
    cs: Floats,
    lows: Floats,
    sides: Floats,
    extents: Ints,
    eps2: float,
    eps_t: float,
    min_samples: int,
    flat: int,
    box_from: int,
) -> tuple[Ints, Mask]:
    """Labels (−1 noise; clusters numbered by their lowest-indexed core point) and core
    flags of the points ``cs`` (one row per axis: x, y[, t]), in input order.

    ``lows``/``sides``/``extents``: per axis, the lowest value, the cell side and the
    number of cells (``REACH`` spare on each side). A time axis (a third row) makes
    points neighbours only within ``eps_t`` too. A run of neighbouring cells (contiguous
    along the last axis) of at most ``flat`` points is compared point by point in one
    loop; in longer ones, cells of at least ``box_from`` points are tested by their box
    first.
    """
    keys, order = _radix_sort(_keys(cs, lows, sides, extents))
    p = _gather(cs, order)
    start, ukey = _cells(keys)
    near = _neighbour_ranges(ukey, extents)
    lo, hi = _boxes(p, start)
    core = _core(p, start, near, lo, hi, eps2, eps_t, min_samples, flat, box_from)
    cp, cstart = _core_points(p, start, core)
    clo, chi = _boxes(cp, cstart)
    parent = _join(cp, cstart, near, clo, chi, eps2, eps_t, box_from)
    cell_label = _numbers(order, core, start, cstart, parent)
    return _labels(
        p, order, start, core, cp, cstart, near, clo, chi, cell_label, eps2, eps_t, flat, box_from
    )


@numba.njit(cache=True, nogil=True)
def _keys(cs: Floats, lows: Floats, sides: Floats, extents: Ints) -> Ints:
    """Per point, the key of its cell: cell numbers along each axis, axis by axis."""
    dims, n = cs.shape
    key = np.empty(n, np.int64)
    for i in range(n):
        k = 0
        for a in range(dims):
            u = np.int64(math.floor((cs[a, i] - lows[a]) / sides[a])) + REACH
            k = k * extents[a] + u
        key[i] = k
    return key


@numba.njit(cache=True, nogil=True)
def _gather(cs: Floats, order: Ints) -> Floats:
    """The points ``cs[:, order]``."""
    dims, n = cs.shape
    p = np.empty((dims, n))
    for a in range(dims):
        for i in range(n):
            p[a, i] = cs[a, order[i]]
    return p


@numba.njit(cache=True, nogil=True)
def _core_points(p: Floats, start: Ints, core: Mask) -> tuple[Floats, Ints]:
    """The core points alone, still grouped by cell, and where each cell's begin."""
    ncell = start.size - 1
    cstart = np.zeros(ncell + 1, np.int64)
    for c in range(ncell):
        m = 0
        for i in range(start[c], start[c + 1]):
            m += core[i]
        cstart[c + 1] = cstart[c] + m
    dims = p.shape[0]
    cp = np.empty((dims, cstart[ncell]))
    at = 0
    for i in range(p.shape[1]):
        if core[i]:
            for a in range(dims):
                cp[a, at] = p[a, i]
            at += 1
    return cp, cstart


@numba.njit(cache=True, nogil=True)
def _numbers(order: Ints, core: Mask, start: Ints, cstart: Ints, parent: Ints) -> Ints:
    """Per cell, the cluster number of its core points (_NONE without any): clusters
    numbered by their lowest input index among core points, scikit-learn's order."""
    ncell = cstart.size - 1
    lowest = np.full(ncell, _NONE, np.int64)  # per component (its root), then per cell
    for c in range(ncell):
        if cstart[c + 1] > cstart[c]:
            r = _find(parent, c)
            for i in range(start[c], start[c + 1]):
                if core[i] and order[i] < lowest[r]:
                    lowest[r] = order[i]
    roots = np.flatnonzero(lowest != _NONE)
    number = np.empty(ncell, np.int64)
    number[roots[np.argsort(lowest[roots])]] = np.arange(roots.size)
    cell_label = np.full(ncell, _NONE, np.int64)
    for c in range(ncell):
        if cstart[c + 1] > cstart[c]:
            cell_label[c] = number[_find(parent, c)]
    return cell_label


@numba.njit(cache=True, nogil=True)
def _labels(
    p: Floats,
    order: Ints,
    start: Ints,
    core: Mask,
    cp: Floats,
    cstart: Ints,
    near: NDArray[np.int32],
    clo: Floats,
    chi: Floats,
    cell_label: Ints,
    eps2: float,
    eps_t: float,
    flat: int,
    box_from: int,
) -> tuple[Ints, Mask]:
    """Labels and core flags in input order; border points as :func:`_border`."""
    ncell = start.size - 1
    core_label = np.empty(cp.shape[1], np.int64)
    for c in range(ncell):
        core_label[cstart[c] : cstart[c + 1]] = cell_label[c]
    n = order.size
    labels = np.empty(n, np.int64)
    core_out = np.empty(n, np.bool_)
    for c in range(ncell):
        none_around = _around(cstart, near, c) == 0  # no core point: noise
        for i in range(start[c], start[c + 1]):
            if core[i] or none_around:
                best = cell_label[c]
            else:
                best = _border(
                    p,
                    i,
                    c,
                    cp,
                    cstart,
                    core_label,
                    near,
                    clo,
                    chi,
                    cell_label,
                    eps2,
                    eps_t,
                    flat,
                    box_from,
                )
            labels[order[i]] = best if best != _NONE else -1
            core_out[order[i]] = core[i]
    return labels, core_out


@numba.njit(cache=True, nogil=True)
def _radix_sort(key: Ints) -> tuple[Ints, Ints]:
    """``key`` sorted (non-negative) and the order that sorts it: an LSD radix sort, stable."""
    n = key.size
    keys, order = key.copy(), np.arange(n)
    spare_keys, spare_order = np.empty(n, np.int64), np.empty(n, np.int64)
    top = 0
    for i in range(n):
        top = max(top, keys[i])
    mask = (1 << _DIGIT) - 1
    shift = 0
    while (top >> shift) > 0:
        counts = np.zeros((1 << _DIGIT) + 1, np.int64)
        for i in range(n):
            counts[((keys[i] >> shift) & mask) + 1] += 1
        for d in range(1 << _DIGIT):
            counts[d + 1] += counts[d]
        for i in range(n):
            d = (keys[i] >> shift) & mask
            at = counts[d]
            spare_keys[at] = keys[i]
            spare_order[at] = order[i]
            counts[d] = at + 1
        keys, spare_keys = spare_keys, keys
        order, spare_order = spare_order, order
        shift += _DIGIT
    return keys, order


@numba.njit(cache=True, nogil=True)
def _cells(keys: Ints) -> tuple[Ints, Ints]:
    """Of sorted keys: each cell's first point (and one past the last), each cell's key."""
    n = keys.size
    ncell = 0
    for i in range(n):
        ncell += i == 0 or keys[i] != keys[i - 1]
    start = np.empty(ncell + 1, np.int64)
    ukey = np.empty(ncell, np.int64)
    c = 0
    for i in range(n):
        if i == 0 or keys[i] != keys[i - 1]:
            start[c] = i
            ukey[c] = keys[i]
            c += 1
    start[ncell] = n
    return start, ukey


@numba.njit(cache=True, nogil=True)
def _neighbour_ranges(ukey: Ints, extents: Ints) -> NDArray[np.int32]:
    """Per cell, per offset of the leading axes (−REACH…REACH each), the run of cells
    ``[lo, hi)`` within REACH along the last axis: keys are contiguous along it."""
    dims = extents.size
    lead = 1
    for _ in range(dims - 1):
        lead *= 2 * REACH + 1
    offsets = np.zeros(lead, np.int64)
    for k in range(lead):
        rest, stride, off = k, np.int64(1), np.int64(0)
        for a in range(dims - 1, -1, -1):
            if a < dims - 1:
                off += ((rest % (2 * REACH + 1)) - REACH) * stride
                rest //= 2 * REACH + 1
            stride *= extents[a]
        offsets[k] = off
    ncell = ukey.size
    out = np.empty((ncell, lead, 2), np.int32)
    for k in range(lead):
        lo, hi = 0, 0
        for c in range(ncell):  # keys increase, so both ends only move up
            first, last = ukey[c] + offsets[k] - REACH, ukey[c] + offsets[k] + REACH
            while lo < ncell and ukey[lo] < first:
                lo += 1
            if hi < lo:
                hi = lo
            while hi < ncell and ukey[hi] <= last:
                hi += 1
            out[c, k, 0] = lo
            out[c, k, 1] = hi
    return out


@numba.njit(cache=True, nogil=True)
def _boxes(p: Floats, start: Ints) -> tuple[Floats, Floats]:
    """Per cell, per axis, the lowest and highest coordinate of its points (in ``p``,
    grouped by cell from ``start``); empty cells get an empty box (inf, -inf)."""
    dims, ncell = p.shape[0], start.size - 1
    lo, hi = np.full((dims, ncell), np.inf), np.full((dims, ncell), -np.inf)
    for c in range(ncell):
        for i in range(start[c], start[c + 1]):
            for a in range(dims):
                lo[a, c] = min(lo[a, c], p[a, i])
                hi[a, c] = max(hi[a, c], p[a, i])
    return lo, hi


@numba.njit(cache=True, nogil=True, inline="always")
def _near(p: Floats, i: int, q: Floats, j: int, eps2: float, eps_t: float) -> bool:
    """Whether point i of ``p`` and point j of ``q`` are neighbours, as scikit-learn's
    k-d tree tests it (plus the time window on a third axis)."""
    dx = p[0, i] - q[0, j]
    dy = p[1, i] - q[1, j]
    if dx * dx + dy * dy > eps2:
        return False
    return p.shape[0] < 3 or abs(p[2, i] - q[2, j]) <= eps_t


@numba.njit(cache=True, nogil=True, inline="always")
def _point_box(p: Floats, i: int, lo: Floats, hi: Floats, c: int, eps2: float, eps_t: float) -> int:
    """Point i against the box of cell c: 0 no point of it near, 1 every point near, 2 open.
    Per axis the gap is at most, and the span at least, what any point of the box gives."""
    gap2 = 0.0
    span2 = 0.0
    for a in range(2):
        u = lo[a, c] - p[a, i]
        v = p[a, i] - hi[a, c]
        g = max(u, v, 0.0)
        s = max(p[a, i] - lo[a, c], hi[a, c] - p[a, i])
        gap2 += g * g  # two terms: the sum rounds as dx² + dy² does
        span2 += s * s
    if p.shape[0] < 3:
        if gap2 > eps2:
            return 0
        return 1 if span2 <= eps2 else 2
    g = max(lo[2, c] - p[2, i], p[2, i] - hi[2, c], 0.0)
    s = max(p[2, i] - lo[2, c], hi[2, c] - p[2, i])
    if gap2 > eps2 or g > eps_t:
        return 0
    return 1 if span2 <= eps2 and s <= eps_t else 2


@numba.njit(cache=True, nogil=True, inline="always")
def _box_box(lo: Floats, hi: Floats, c: int, d: int, eps2: float, eps_t: float) -> int:
    """Boxes of cells c and d: 0 no pair of points near, 1 every pair near, 2 open."""
    gap2 = 0.0
    span2 = 0.0
    dims = lo.shape[0]
    gap_t = 0.0
    span_t = 0.0
    for a in range(dims):
        u = lo[a, d] - hi[a, c]  # d above c by u, or below by v; hi_c - lo_d is -u exactly
        v = lo[a, c] - hi[a, d]
        g = max(u, v, 0.0)
        s = -min(u, v)  # the largest distance along the axis
        if a < 2:
            gap2 += g * g
            span2 += s * s
        else:
            gap_t, span_t = g, s
    if gap2 > eps2 or (dims > 2 and gap_t > eps_t):
        return 0
    return 1 if span2 <= eps2 and (dims < 3 or span_t <= eps_t) else 2


@numba.njit(cache=True, nogil=True)
def _core(
    p: Floats,
    start: Ints,
    near: NDArray[np.int32],
    lo: Floats,
    hi: Floats,
    eps2: float,
    eps_t: float,
    min_samples: int,
    flat: int,
    box_from: int,
) -> Mask:
    """Core points (sorted order): at least ``min_samples`` neighbours, themselves included.
    A cell of that many points is all core; other points count until they reach it."""
    ncell = start.size - 1
    core = np.zeros(p.shape[1], np.bool_)
    by_distance = _nearest_first(near.shape[1])
    counts = np.zeros(min(max(min_samples, 1), p.shape[1]), np.int64)  # a sparse cell's
    for c in range(ncell):
        s, e = start[c], start[c + 1]
        if e - s >= min_samples:
            core[s:e] = True
            continue
        if _around(start, near, c) < min_samples:  # too few, none core
            continue
        counts[: e - s] = 0
        for k in by_distance:  # the cell's points together, run by run
            first, last = near[c, k, 0], near[c, k, 1]
            j0, j1 = start[first], start[last]
            done = True
            for i in range(s, e):
                if counts[i - s] >= min_samples:
                    continue
                if j1 - j0 <= flat:  # one run of points, no cells
                    counts[i - s] += _count_near(p, i, p, j0, j1, eps2, eps_t)
                else:
                    counts[i - s] += _count_cells(
                        p, i, start, lo, hi, first, last, eps2, eps_t, box_from
                    )
                done &= counts[i - s] >= min_samples
            if done:
                break
        for i in range(s, e):
            core[i] = counts[i - s] >= min_samples
    return core


@numba.njit(cache=True, nogil=True, inline="always")
def _around(start: Ints, near: NDArray[np.int32], c: int) -> int:
    """The points of cell c's neighbouring cells, its own included."""
    count = 0
    for k in range(near.shape[1]):
        count += start[near[c, k, 1]] - start[near[c, k, 0]]
    return count


@numba.njit(cache=True, nogil=True)
def _count_cells(
    p: Floats,
    i: int,
    start: Ints,
    lo: Floats,
    hi: Floats,
    first: int,
    last: int,
    eps2: float,
    eps_t: float,
    box_from: int,
) -> int:
    """How many points of the cells ``first…last-1`` are near point i, cell by cell."""
    count = 0
    for d in range(first, last):
        count += _count_cell(p, i, p, start, lo, hi, d, eps2, eps_t, box_from)
    return count


@numba.njit(cache=True, nogil=True, inline="always")
def _lowest_near(
    p: Floats, i: int, cp: Floats, label: Ints, j0: int, j1: int, eps2: float, eps_t: float
) -> int:
    """The lowest ``label`` of the points ``cp[:, j0:j1]`` near point i of ``p`` (_NONE
    without any): a loop without branches."""
    best = _NONE
    if p.shape[0] < 3:
        for j in range(j0, j1):
            dx = p[0, i] - cp[0, j]
            dy = p[1, i] - cp[1, j]
            best = min(best, label[j] if dx * dx + dy * dy <= eps2 else _NONE)
    else:
        for j in range(j0, j1):
            dx = p[0, i] - cp[0, j]
            dy = p[1, i] - cp[1, j]
            ok = (dx * dx + dy * dy <= eps2) & (abs(p[2, i] - cp[2, j]) <= eps_t)
            best = min(best, label[j] if ok else _NONE)
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _count_near(p: Floats, i: int, q: Floats, j0: int, j1: int, eps2: float, eps_t: float) -> int:
    """How many points ``q[:, j0:j1]`` are near point i of ``p``: a loop without branches."""
    count = 0
    if p.shape[0] < 3:
        for j in range(j0, j1):
            dx = p[0, i] - q[0, j]
            dy = p[1, i] - q[1, j]
            count += dx * dx + dy * dy <= eps2
    else:
        for j in range(j0, j1):
            dx = p[0, i] - q[0, j]
            dy = p[1, i] - q[1, j]
            count += (dx * dx + dy * dy <= eps2) & (abs(p[2, i] - q[2, j]) <= eps_t)
    return count


@numba.njit(cache=True, nogil=True, inline="always")
def _count_cell(
    p: Floats,
    i: int,
    q: Floats,
    start: Ints,
    lo: Floats,
    hi: Floats,
    d: int,
    eps2: float,
    eps_t: float,
    box_from: int,
) -> int:
    """How many points of cell d (of ``q``) are near point i of ``p``: by the cell's box
    where it holds at least ``box_from`` points and the box decides, else one by one."""
    j0, j1 = start[d], start[d + 1]
    if j1 - j0 >= box_from:
        seen = _point_box(p, i, lo, hi, d, eps2, eps_t)
        if seen == 0:
            return 0
        if seen == 1:
            return j1 - j0
    return _count_near(p, i, q, j0, j1, eps2, eps_t)


@numba.njit(cache=True, nogil=True)
def _nearest_first(lead: int) -> Ints:
    """The offsets of the leading axes (see :func:`_neighbour_ranges`), the nearest rows
    of cells first, so that counts reach ``min_samples`` sooner."""
    side = 2 * REACH + 1
    far = np.zeros(lead, np.int64)
    for k in range(lead):
        rest, span = k, 1
        while span < lead:  # one digit per leading axis
            far[k] = max(far[k], abs(rest % side - REACH))
            rest //= side
            span *= side
    return np.argsort(far, kind="mergesort")


@numba.njit(cache=True, nogil=True)
def _find(parent: Ints, c: int) -> int:
    while parent[c] != c:
        parent[c] = parent[parent[c]]  # path halving
        c = parent[c]
    return c


@numba.njit(cache=True, nogil=True)
def _join(
    cp: Floats,
    cstart: Ints,
    near: NDArray[np.int32],
    clo: Floats,
    chi: Floats,
    eps2: float,
    eps_t: float,
    box_from: int,
) -> Ints:
    """Union-find of the cells by their core points (``cp`` grouped by cell from
    ``cstart``): two cells are joined when a core point of one is near one of the other.
    The core points of one cell are all near each other."""
    ncell = cstart.size - 1
    parent = np.arange(ncell)
    by_distance = _nearest_first(near.shape[1])
    for c in range(ncell):
        if cstart[c + 1] == cstart[c]:
            continue
        rc = _find(parent, c)  # roots only ever move down: the lower one is kept
        for k in by_distance:  # nearest first: more pairs found joined already
            for d in range(max(near[c, k, 0], c + 1), near[c, k, 1]):  # each pair once
                if cstart[d + 1] == cstart[d]:
                    continue
                rd = _find(parent, d)
                if rc != rd and _cells_near(cp, cstart, clo, chi, c, d, eps2, eps_t, box_from):
                    parent[max(rc, rd)] = min(rc, rd)
                    rc = min(rc, rd)
    return parent


@numba.njit(cache=True, nogil=True)
def _border(
    p: Floats,
    i: int,
    c: int,
    cp: Floats,
    cstart: Ints,
    core_label: Ints,
    near: NDArray[np.int32],
    clo: Floats,
    chi: Floats,
    cell_label: Ints,
    eps2: float,
    eps_t: float,
    flat: int,
    box_from: int,
) -> int:
    """Label of a point that is not core (point i, in cell c): the lowest cluster number
    among its core neighbours (scikit-learn expands clusters in that order), or _NONE.
    ``core_label``: per core point, its cluster number."""
    best = cell_label[c]  # core points of one's own cell are near (_NONE without any)
    for k in range(near.shape[1]):
        first, last = near[c, k, 0], near[c, k, 1]
        if cstart[last] - cstart[first] <= flat:  # one run of core points, no cells
            best = min(
                best, _lowest_near(p, i, cp, core_label, cstart[first], cstart[last], eps2, eps_t)
            )
            continue
        for d in range(first, last):
            if cell_label[d] >= best:  # also skips cells without core points
                continue
            if _near_cell(p, i, cp, cstart, clo, chi, d, eps2, eps_t, box_from):
                best = cell_label[d]
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _cells_near(
    cp: Floats,
    cstart: Ints,
    clo: Floats,
    chi: Floats,
    c: int,
    d: int,
    eps2: float,
    eps_t: float,
    box_from: int,
) -> bool:
    """Whether some core point of cell c is near one of cell d: by their boxes when the
    cells hold at least ``box_from`` pairs and the boxes decide, else pair by pair."""
    cs, ce, ds, de = cstart[c], cstart[c + 1], cstart[d], cstart[d + 1]
    if (ce - cs) * (de - ds) >= box_from:
        seen = _box_box(clo, chi, c, d, eps2, eps_t)
        if seen < 2:
            return seen == 1
    for i in range(cs, ce):
        for j in range(ds, de):
            if _near(cp, i, cp, j, eps2, eps_t):
                return True
    return False


@numba.njit(cache=True, nogil=True, inline="always")
def _near_cell(
    p: Floats,
    i: int,
    cp: Floats,
    cstart: Ints,
    clo: Floats,
    chi: Floats,
    d: int,
    eps2: float,
    eps_t: float,
    box_from: int,
) -> bool:
    """Whether some core point of cell d is near point i of ``p``: by the box when the
    cell holds at least ``box_from`` of them and the box decides, else one by one."""
    ds, de = cstart[d], cstart[d + 1]
    if de - ds >= box_from:
        seen = _point_box(p, i, clo, chi, d, eps2, eps_t)
        if seen < 2:
            return seen == 1
    for j in range(ds, de):  # noqa: SIM110 (numba compiles no generator for any())
        if _near(p, i, cp, j, eps2, eps_t):
            return True
    return False
