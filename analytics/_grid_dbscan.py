"""DBSCAN on a grid of cells, with scikit-learn's labels (see :mod:`analytics.clusters`).

Private to :mod:`analytics.clusters`. Points are hashed to cells of side eps / 1.5 (and
eps_t / 1.5 along time), so any two points of a cell are neighbours and a neighbour
lies at most two cells away. The work is compiled loops (:mod:`analytics._dbscan_loops`,
imported on the first clustering so that importing this module stays light): per point,
neighbouring cells are ruled out or counted whole by their bounding boxes where they
hold enough points, else compared point by point until the answer is known; core points
are joined cell by cell with a union-find. The neighbour test is scikit-learn's k-d
tree's, ``dx² + dy² ≤ eps²`` in float64, and every box bound holds exactly in floating
point, so labels and core points are scikit-learn's point for point. Memory: a few
arrays of the points and, per occupied cell, its runs of neighbouring cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Mask = NDArray[np.bool_]

SHRINK = 1.5  # a cell's side is eps / SHRINK: its diagonal, 0.94 eps, stays within eps
REACH = 2  # so a neighbour lies at most two cells away along each axis
FLAT = 256  # runs of neighbouring cells with at most this many points: compared point by point
BOX_FROM = 4  # in longer runs, cells of at least this many points (pairs: product) box-tested


@dataclass(frozen=True)
class Metric:
    """Neighbours: within ``eps`` in the plane (squared, as scikit-learn's k-d tree tests
    it), and within ``eps_t`` in time when there is a third coordinate."""

    eps: float
    eps_t: float | None = None


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
    lows, extents = [], []
    for values, side in zip(coords, sides, strict=True):
        low = float(values.min())
        top = math.floor((float(values.max()) - low) / side) if side > 0 else math.nan
        if not top < 2**40:  # also not a number, or infinite
            return None
        lows.append(low)
        extents.append(int(top) + 2 * REACH + 1)
    if math.prod(extents) >= 2**62:
        return None
    from analytics import _dbscan_loops  # numba: only when points are clustered

    labels, core = _dbscan_loops.run(
        np.ascontiguousarray(np.stack(coords), dtype=np.float64),
        np.array(lows),
        np.array(sides),
        np.array(extents, dtype=np.int64),
        metric.eps * metric.eps,
        math.inf if metric.eps_t is None else metric.eps_t,
        int(min_samples),
        FLAT,
        BOX_FROM,
    )
    return Clustering(labels, core)
