"""DBSCAN on a grid of cells, with scikit-learn's labels (see :mod:`analytics.clusters`).

Private to :mod:`analytics.clusters`. Points are hashed to cells of side eps / 1.5 (and
eps_t / 1.5 along time), so any two points of a cell are neighbours and a neighbour
lies at most two cells away. Whole cells are decided at once where their bounding
boxes allow it: a cell of ``min_samples`` points is all core, two cells whose boxes
are within eps are joined. Points are compared pair by pair only where the boxes
leave it open. The neighbour test is scikit-learn's k-d tree's, ``dx² + dy² ≤ eps²``
in float64, and every box bound holds exactly in floating point (rounding is
monotone), so labels and core points are scikit-learn's point for point. Memory: the
points and the neighbouring cell pairs not ruled out (at most 12 a cell in the
plane); point pairs are compared in blocks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
Mask = NDArray[np.bool_]
Pairs = tuple[Ints, Ints]

SHRINK = 1.5  # a cell's side is eps / SHRINK: its diagonal, 0.94 eps, stays within eps
REACH = 2  # so a neighbour lies at most two cells away along each axis
# work in blocks small enough to stay in the processor's cache
CELL_PAIRS = 1 << 14  # cell pairs classified at once
ROWS = 1 << 14  # points compared at once with the points of a neighbouring cell
FLIP = 16  # a cell pair's rows are its smaller cell's points, up to cells of this size
SMALL = 4  # cells with at most this many pairs of core points: compared point by point
SPARE = 8  # larger ones left by a first look: pairs already joined dropped first if the
# rest holds more than this many point pairs a core point
NONE = np.iinfo(np.intp).max


@dataclass(frozen=True)
class Box:
    """Per cell, the bounding box of some of its points (lo/hi per coordinate)."""

    lo: list[Floats]
    hi: list[Floats]


@dataclass(frozen=True)
class Metric:
    """Neighbours: within ``eps`` in the plane (squared, as scikit-learn's k-d tree tests
    it), and within ``eps_t`` in time when there is a third coordinate."""

    eps: float
    eps_t: float | None = None

    def near(self, xi: list[Floats], xj: list[Floats]) -> Mask:
        dx = xi[0] - xj[0]
        dy = xi[1] - xj[1]
        dx *= dx
        dy *= dy
        dx += dy
        ok: Mask = dx <= self.eps * self.eps
        if self.eps_t is not None:
            ok &= np.abs(xi[2] - xj[2]) <= self.eps_t
        return ok

    def boxes(self, a: Box, ia: Ints, b: Box, ib: Ints) -> tuple[Mask, Mask]:
        """Box pairs (a[ia], b[ib]) with no pair of points near, and with every pair near."""
        gaps, spans = [], []
        for d in range(len(a.lo)):
            # b above a by u, or below by v (negative: overlap); a_hi - b_lo is -u exactly
            u = b.lo[d].take(ib)
            u -= a.hi[d].take(ia)
            v = a.lo[d].take(ia)
            v -= b.hi[d].take(ib)
            spans.append(np.minimum(u, v))  # minus the largest distance
            gaps.append(np.maximum(np.maximum(u, v, out=u), 0.0, out=u))
        if self.eps_t is not None:
            none: Mask = gaps[2] > self.eps_t
            full: Mask = spans[2] >= -self.eps_t
        else:
            none, full = np.zeros(ia.size, dtype=bool), np.ones(ia.size, dtype=bool)
        eps2 = self.eps * self.eps
        for sums in (gaps, spans):
            sums[0] *= sums[0]
            sums[1] *= sums[1]
            sums[0] += sums[1]
        none |= gaps[0] > eps2
        full &= spans[0] <= eps2
        return none, full


@dataclass(frozen=True)
class Part:
    """Some of the points, grouped by cell: those of cell c are ``at[start[c]:][:count[c]]``
    (sorted positions), with their coordinates ``cs`` in that order and their box."""

    at: Ints
    start: Ints
    count: Ints
    cs: list[Floats]
    box: Box


@dataclass(frozen=True)
class Grid:
    """Points sorted by cell, and the pairs of neighbouring cells that their boxes leave
    possibly near: ``full`` (every pair of points near) and ``open`` (some may be)."""

    order: Ints  # sorted position → input index
    cell_of: Ints  # sorted position → cell
    points: Part  # every point
    full: Pairs
    open: Pairs

    def part(self, at: Ints) -> Part:
        """The points at sorted positions ``at`` (increasing), grouped by cell."""
        count = np.bincount(self.cell_of[at], minlength=self.points.count.size)
        start = np.cumsum(count) - count
        cs = [c.take(at) for c in self.points.cs]
        return Part(at, start, count, cs, _boxes(cs, self.cell_of.take(at), count.size))


@dataclass(frozen=True)
class Clustering:
    """scikit-learn's DBSCAN labels (−1 noise) and core points, in input order."""

    labels: NDArray[np.int64]
    core: Mask


def dbscan(coords: list[Floats], metric: Metric, min_samples: int) -> Clustering | None:
    """DBSCAN of the points ``coords`` (x, y[, t]), or None where the grid would be too
    fine (or coordinates are not finite).

    Clusters are numbered by their lowest-indexed core point, and a border point takes
    the lowest-numbered cluster among its core neighbours, as scikit-learn's expansion
    order gives them.
    """
    n = coords[0].size
    if n == 0:
        return Clustering(np.empty(0, dtype=np.int64), np.empty(0, dtype=bool))
    sides = [metric.eps / SHRINK] * 2
    if metric.eps_t is not None:
        sides.append(metric.eps_t / SHRINK)
    grid = _grid(coords, sides, metric)
    if grid is None:
        return None
    core = _core(grid, metric, min_samples)
    cores = grid.part(np.flatnonzero(core))
    ranked = _rank(grid, cores, _components(grid, metric, cores))
    labels = np.full(n, -1, dtype=np.int64)  # in sorted order, then in input order
    labels[cores.at] = ranked.take(grid.cell_of.take(cores.at))
    others = grid.part(np.flatnonzero(~core))
    labels[others.at] = _borders(grid, metric, cores, others, ranked)
    out = Clustering(np.empty(n, dtype=np.int64), np.empty(n, dtype=bool))
    out.labels[grid.order] = labels
    out.core[grid.order] = core
    return out


def _ranges(lo: Ints, size: Ints) -> Ints:
    """``lo[0] … lo[0]+size[0]-1, lo[1] …`` in one array."""
    ends = np.cumsum(size)
    total = int(ends[-1]) if ends.size else 0
    return np.arange(total) + np.repeat(lo - (ends - size), size)


def _boxes(cs: list[Floats], cell: Ints, ncell: int) -> Box:
    """Per cell, the box of the points of ``cs`` (lying in cells ``cell``)."""
    lo, hi = [], []
    for values in cs:
        low, high = np.full(ncell, np.inf), np.full(ncell, -np.inf)
        np.minimum.at(low, cell, values)
        np.maximum.at(high, cell, values)
        lo.append(low)
        hi.append(high)
    return Box(lo, hi)


def _grid(coords: list[Floats], sides: list[float], metric: Metric) -> Grid | None:
    cells = []
    for values, side in zip(coords, sides, strict=True):
        u = np.floor((values - values.min()) / side)
        if not u.max() < 2**40:
            return None
        cells.append(u.astype(np.intp) + REACH)
    extents = [int(c.max()) + REACH + 1 for c in cells]
    if math.prod(extents) >= 2**62:
        return None
    key = cells[0]
    for c, e in zip(cells[1:], extents[1:], strict=True):
        key = key * e + c
    order = np.argsort(key)
    keys = key.take(order)
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    count = np.diff(np.r_[first, keys.size])
    cs = [c.take(order) for c in coords]
    cell_of = np.repeat(np.arange(first.size), count)
    points = Part(np.arange(keys.size), first, count, cs, _boxes(cs, cell_of, first.size))
    full, open_ = [], []
    for a, b in _cell_pairs(keys.take(first), extents):
        none, all_near = metric.boxes(points.box, a, points.box, b)
        some = np.flatnonzero(~(none | all_near))
        every = np.flatnonzero(all_near)
        full.append((a.take(every), b.take(every)))
        open_.append((a.take(some), b.take(some)))
    return Grid(order, cell_of, points, _stack(full), _stack(open_))


def _stack(pairs: list[Pairs]) -> Pairs:
    none = np.empty(0, dtype=np.intp)
    return np.concatenate([none, *(p[0] for p in pairs)]), np.concatenate(
        [none, *(p[1] for p in pairs)]
    )


def _cell_pairs(ukeys: Ints, extents: list[int]) -> Iterator[Pairs]:
    """Neighbouring cells (a, b), each unordered pair once, in blocks: per offset of the
    leading coordinates (lexicographically ≥ 0), a contiguous run of keys along the last."""
    strides = [math.prod(extents[d + 1 :]) for d in range(len(extents))]
    lo, hi = [], []
    offsets = range(-REACH, REACH + 1)
    for prefix in itertools.product(range(REACH + 1), *[offsets] * (len(extents) - 2)):
        if any(prefix) and next(p for p in prefix if p) < 0:
            continue
        base = ukeys + sum(p * s for p, s in zip(prefix, strides, strict=False))
        if any(prefix):
            lo.append(_count_up_to(ukeys, base - REACH - 1))
        else:  # the cells after this one
            lo.append(np.arange(1, ukeys.size + 1))
        hi.append(_count_up_to(ukeys, base + REACH))
    ends = np.cumsum(sum(h - low for low, h in zip(lo, hi, strict=True)))
    cuts = np.searchsorted(ends, np.arange(CELL_PAIRS, ends[-1], CELL_PAIRS))
    for c0, c1 in itertools.pairwise(sorted({0, *(int(c) + 1 for c in cuts), ukeys.size})):
        a, b = [], []
        for low, high in zip(lo, hi, strict=True):
            size = high[c0:c1] - low[c0:c1]
            a.append(np.repeat(np.arange(c0, c1), size))
            b.append(_ranges(low[c0:c1], size))
        yield np.concatenate(a), np.concatenate(b)


def _count_up_to(keys: Ints, bounds: Ints) -> Ints:
    """Per bound, how many keys are at most it (both sorted): ``searchsorted(…, "right")``
    as a merge of two sorted runs, which the stable sort does in linear time."""
    order = np.argsort(np.concatenate([keys, bounds]), kind="stable")
    return np.flatnonzero(order >= keys.size) - np.arange(bounds.size)


def _near_pairs(
    metric: Metric, a: Part, ia: Ints, b: Part, ib: Ints
) -> Iterator[tuple[Ints, Ints, Ints]]:
    """The near pairs of points of cells ``ia[k]`` (of ``a``) and ``ib[k]`` (of ``b``):
    positions i in ``a.at``, j in ``b.at``, and k, in blocks."""
    ca, cb = a.count[ia], b.count[ib]
    # rows from the smaller cell (fewer rows), unless that makes many columns
    flip = (ca > cb) == (np.maximum(ca, cb) <= FLIP)
    keep = np.flatnonzero(~flip)
    for i, j, k in _sweep(metric, a, ia.take(keep), b, ib.take(keep)):
        yield i, j, keep.take(k)
    swap = np.flatnonzero(flip)
    for j, i, k in _sweep(metric, b, ib.take(swap), a, ia.take(swap)):
        yield i, j, swap.take(k)


def _sweep(
    metric: Metric, a: Part, ia: Ints, b: Part, ib: Ints
) -> Iterator[tuple[Ints, Ints, Ints]]:
    """As :func:`_near_pairs`: each point of an a-cell is a row, compared with the points
    of its b-cell one column at a time, rows ordered by length so a column is a prefix."""
    ends = np.cumsum(a.count[ia])
    if not ends.size:
        return
    cuts = np.searchsorted(ends, np.arange(ROWS, ends[-1], ROWS))
    for k0, k1 in itertools.pairwise(sorted({0, *(int(c) + 1 for c in cuts), ia.size})):
        ks = k0 + _by_count_down(b.count.take(ib[k0:k1]))
        ca, cb = ia.take(ks), ib.take(ks)
        rows = a.count.take(ca)
        row_k = np.repeat(ks, rows)
        row_i = _ranges(a.start.take(ca), rows)
        lo, size = np.repeat(b.start.take(cb), rows), np.repeat(b.count.take(cb), rows)
        xi = [c.take(row_i) for c in a.cs]
        active = np.searchsorted(-size, -np.arange(size[0] if size.size else 0), side="left")
        for t, r in enumerate(active.tolist()):
            j = lo[:r] + t
            near = np.flatnonzero(metric.near([x[:r] for x in xi], [c.take(j) for c in b.cs]))
            yield row_i.take(near), j.take(near), row_k.take(near)


def _by_count_down(count: Ints) -> Ints:
    """The order of ``count``, largest first (a radix sort when counts fit in 16 bits)."""
    if count.size and count.max() < 2**16:
        return np.argsort((2**16 - 1 - count).astype(np.uint16), kind="stable")
    return np.argsort(-count, kind="stable")


def _core(grid: Grid, metric: Metric, min_samples: int) -> Mask:
    """Core points: at least ``min_samples`` neighbours, themselves included."""
    points = grid.points
    count = points.count
    # whole cells: one's own (any two of its points are near) and those all near
    fa, fb = grid.full
    size = count.size
    by_cell = count + np.bincount(fa, count[fb], size) + np.bincount(fb, count[fa], size)
    dense = count >= min_samples  # all core already
    oa, ob = _take(np.flatnonzero(~(dense[grid.open[0]] & dense[grid.open[1]])), *grid.open)
    by_point = np.zeros(count.sum(), dtype=np.intp)
    for i, j, _ in _near_pairs(metric, points, oa, points, ob):
        np.add.at(by_point, i, 1)
        np.add.at(by_point, j, 1)
    core: Mask = by_cell.take(grid.cell_of) + by_point >= min_samples
    return core


def _components(grid: Grid, metric: Metric, cores: Part) -> Ints:
    """Per cell, the connected component of its core points (core points of a cell are
    all neighbours, so cells are the nodes)."""
    has = cores.count > 0
    edges = [_both(grid.full, has, has)]
    full, undecided = _reclassify(grid, metric, cores, cores, _both(grid.open, has, has))
    return _connect(has.size, _join(grid, metric, cores, undecided, [*edges, full]))


def _join(grid: Grid, metric: Metric, cores: Part, pairs: Pairs, edges: list[Pairs]) -> list[Pairs]:
    """``edges`` and those of the cell ``pairs`` with core points near."""
    oa, ob = pairs
    small = np.flatnonzero(cores.count[oa] * cores.count[ob] <= SMALL)
    edges = [*edges, _near_cells(metric, cores, *_take(small, oa, ob))]
    # larger ones: first a quick look at the points nearest to each other along an axis
    oa, ob = _take(np.flatnonzero(cores.count[oa] * cores.count[ob] > SMALL), oa, ob)
    near = np.zeros(oa.size, dtype=bool)
    for low, high in (_extremes(grid, cores, d) for d in range(len(cores.cs))):
        near |= metric.near(
            [c.take(high[oa]) for c in cores.cs], [c.take(low[ob]) for c in cores.cs]
        )
        near |= metric.near(
            [c.take(low[oa]) for c in cores.cs], [c.take(high[ob]) for c in cores.cs]
        )
    edges.append((oa[near], ob[near]))
    # then every pair of points, where the cells may still be apart
    oa, ob = _take(np.flatnonzero(~near), oa, ob)
    if int(np.dot(cores.count[oa], cores.count[ob])) > SPARE * cores.at.size:
        comp = _connect(cores.count.size, edges)  # leave out the pairs already joined
        oa, ob = _take(np.flatnonzero(comp[oa] != comp[ob]), oa, ob)
    return [*edges, _near_cells(metric, cores, oa, ob)]


def _near_cells(metric: Metric, cores: Part, oa: Ints, ob: Ints) -> Pairs:
    """The cell pairs (oa, ob) with core points near."""
    joined = np.zeros(oa.size, dtype=bool)
    for _, _, k in _near_pairs(metric, cores, oa, cores, ob):
        joined[k] = True
    return _take(np.flatnonzero(joined), oa, ob)


def _reclassify(grid: Grid, metric: Metric, a: Part, b: Part, pairs: Pairs) -> tuple[Pairs, Pairs]:
    """Open cell pairs, some of ``a``'s points against some of ``b``'s: those now all
    near, and those still open (pairs of whole cells stay as they were)."""
    count = grid.points.count
    oa, ob = pairs
    whole = (a.count[oa] == count[oa]) & (b.count[ob] == count[ob])
    some = np.flatnonzero(~whole)
    none, full = metric.boxes(a.box, oa.take(some), b.box, ob.take(some))
    undecided = np.concatenate([np.flatnonzero(whole), some[~(none | full)]])
    return _take(some[full], oa, ob), _take(undecided, oa, ob)


def _take(keep: Ints, a: Ints, b: Ints) -> Pairs:
    return a.take(keep), b.take(keep)


def _both(pairs: Pairs, has_a: Mask, has_b: Mask) -> Pairs:
    keep = np.flatnonzero(has_a[pairs[0]] & has_b[pairs[1]])
    return pairs[0].take(keep), pairs[1].take(keep)


def _extremes(grid: Grid, cores: Part, d: int) -> tuple[Ints, Ints]:
    """Per cell with core points, the positions (in ``cores.at``) of its core points lowest
    and highest along coordinate ``d`` (elsewhere 0)."""
    values = cores.cs[d]
    cell = grid.cell_of[cores.at]
    out = []
    for box in (cores.box.lo[d], cores.box.hi[d]):
        hit = np.flatnonzero(values == box[cell])
        first = hit[np.diff(cell[hit], prepend=-1) != 0]
        pos = np.zeros(cores.count.size, dtype=np.intp)
        pos[cell[first]] = first
        out.append(pos)
    return out[0], out[1]


def _connect(ncell: int, edges: list[Pairs]) -> Ints:
    a, b = _stack(edges)
    graph = sp.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(ncell, ncell))
    _, comp = connected_components(graph, directed=True, connection="weak")
    return np.asarray(comp, dtype=np.intp)


def _rank(grid: Grid, cores: Part, comp: Ints) -> NDArray[np.int64]:
    """Per cell, the cluster number of its core points: components ordered by their
    lowest input index among core points (scikit-learn's order); −1 without any."""
    has = cores.count > 0
    lowest = np.full(comp.max() + 1, NONE, dtype=np.intp)
    if cores.at.size:
        cell_lowest = np.minimum.reduceat(grid.order.take(cores.at), cores.start[has])
        np.minimum.at(lowest, comp[has], cell_lowest)
    rank = np.argsort(np.argsort(lowest, kind="stable"), kind="stable")
    ranked = np.where(has, rank[comp], -1)
    return ranked.astype(np.int64)


def _borders(
    grid: Grid, metric: Metric, cores: Part, others: Part, ranked: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Labels of the points that are not core, in ``others.at`` order: the lowest
    cluster number among their core neighbours, −1 (noise) without any."""
    has_core, has_other = cores.count > 0, others.count > 0
    by_cell = np.where(has_core, ranked, NONE)  # core points of one's own cell are near
    by_point = np.full(others.at.size, NONE, dtype=np.int64)
    for fa, fb in (grid.full, grid.full[::-1]):  # the non-core points of a, core ones of b
        fa, fb = _both((fa, fb), has_other, has_core)
        np.minimum.at(by_cell, fa, ranked.take(fb))
    for oa, ob in (grid.open, grid.open[::-1]):
        full, (oa, ob) = _reclassify(
            grid, metric, others, cores, _both((oa, ob), has_other, has_core)
        )
        np.minimum.at(by_cell, full[0], ranked.take(full[1]))
        for i, _, k in _near_pairs(metric, others, oa, cores, ob):
            np.minimum.at(by_point, i, ranked.take(ob.take(k)))
    best = np.minimum(by_point, by_cell.take(grid.cell_of.take(others.at)))
    return np.where(best == NONE, -1, best)
