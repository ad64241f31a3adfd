"""Density-based spatial clusters of case locations (DBSCAN, HDBSCAN) in metres, as polygons."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import DBSCAN, HDBSCAN
from sklearn.neighbors import NearestNeighbors

from analytics import _grid_dbscan
from analytics.errors import AnalyticsError

METHODS = ("dbscan", "hdbscan")


class ClusterError(AnalyticsError):
    """Bad inputs to a clustering (method, distances)."""


def density_clusters(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    method: str = "dbscan",
    eps_m: float = 500.0,
    min_samples: int = 10,
    min_cluster_size: int | None = None,
) -> NDArray[np.int64]:
    """Cluster label of each point (−1 = noise), deterministic.

    DBSCAN runs in projected metres on a grid of cells (``analytics._grid_dbscan``):
    the same core points, noise and clusters as scikit-learn's DBSCAN (neighbours
    within ``eps_m`` inclusive, ``min_samples`` counting the point itself), without
    its lists of every point's neighbours. HDBSCAN (``min_cluster_size``, default
    ``min_samples``) needs no distance.

    Examples
    --------
    >>> x = [0, 10, 20, 30, 5000, 5010, 5020, 90000]
    >>> density_clusters(x, [0] * 8, eps_m=50, min_samples=3).tolist()
    [0, 0, 0, 0, 1, 1, 1, -1]
    """
    xy = np.column_stack([np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)])
    if method not in METHODS:
        raise ClusterError(f"method {method!r}; expected one of {', '.join(METHODS)}")
    _check_min_samples(min_samples)
    if xy.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    if method == "hdbscan":
        size = max(2, int(min_cluster_size or min_samples))
        if xy.shape[0] < size:
            return np.full(xy.shape[0], -1, dtype=np.int64)
        model = HDBSCAN(min_cluster_size=size, min_samples=min_samples, copy=True)
        labels = model.fit_predict(xy)
        return _renumber(np.asarray(labels, dtype=np.int64))
    if eps_m <= 0:
        raise ClusterError("eps_m must be positive")
    metric = _grid_dbscan.Metric(float(eps_m))
    found = _grid_dbscan.dbscan([xy[:, 0], xy[:, 1]], metric, min_samples)
    if found is None:  # coordinates not finite, or too many cells of eps: scikit-learn's
        model = DBSCAN(eps=eps_m, min_samples=min_samples, algorithm="kd_tree")
        return _renumber(np.asarray(model.fit_predict(xy), dtype=np.int64))
    return _renumber(found.labels)


def _check_min_samples(min_samples: int) -> None:
    if isinstance(min_samples, bool) or not isinstance(min_samples, int | np.integer):
        raise ClusterError(f"min_samples must be an integer, not {min_samples!r}")
    if min_samples < 1:
        raise ClusterError("min_samples must be at least 1")


def _renumber(labels: NDArray[np.int64]) -> NDArray[np.int64]:
    """Clusters numbered 0, 1, … in order of first appearance (stable across runs)."""
    out = np.full(labels.shape, -1, dtype=np.int64)
    seen = np.flatnonzero(labels >= 0)
    if seen.size:
        clustered = labels[seen]
        first = np.full(int(clustered.max()) + 1, labels.size, dtype=np.int64)
        np.minimum.at(first, clustered, seen)  # where each label first appears
        by_first = np.argsort(first, kind="stable")[: np.count_nonzero(first < labels.size)]
        rank = np.empty(first.size, dtype=np.int64)
        rank[by_first] = np.arange(by_first.size)
        out[seen] = rank[clustered]
    return out


def space_time_clusters(
    x_m: ArrayLike,
    y_m: ArrayLike,
    t_days: ArrayLike,
    *,
    eps_m: float,
    eps_days: float,
    min_samples: int = 10,
) -> NDArray[np.int64]:
    """ST-DBSCAN-style clusters: neighbours lie within ``eps_m`` AND ``eps_days``.

    DBSCAN on the grid of cells, with time as a third axis of cells of ``eps_days``:
    the labels of scikit-learn's DBSCAN on the graph of neighbours in both. Times that
    are not finite fall back to that graph (such a point neighbours only itself).

    Examples
    --------
    >>> labels = space_time_clusters([0, 1, 2, 0, 1, 2], [0] * 6, [0, 1, 2, 200, 201, 202],
    ...                              eps_m=10, eps_days=30, min_samples=3)
    >>> labels.tolist()
    [0, 0, 0, 1, 1, 1]
    """
    x, y = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    t = np.asarray(t_days, dtype=float)
    _check_min_samples(min_samples)
    if eps_m <= 0 or eps_days < 0:
        raise ClusterError("eps_m must be positive and eps_days not negative")
    if x.size == 0:
        return np.empty(0, dtype=np.int64)
    found = None
    if np.isfinite(t).all():
        window = float(eps_days)
        if window == 0:  # the same day only: days as ranks, half a rank apart at most
            t, window = np.unique(t, return_inverse=True)[1].astype(float), 0.5
        metric = _grid_dbscan.Metric(float(eps_m), window)
        found = _grid_dbscan.dbscan([x, y, t], metric, min_samples)
    if found is None:
        return _renumber(_space_time_by_graph(x, y, t, eps_m, eps_days, min_samples))
    return _renumber(found.labels)


def _space_time_by_graph(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.float64],
    eps_m: float,
    eps_days: float,
    min_samples: int,
) -> NDArray[np.int64]:
    """scikit-learn's DBSCAN on the graph of neighbours in space (radius query) and time."""
    graph = NearestNeighbors(radius=eps_m, algorithm="kd_tree").fit(np.column_stack([x, y]))
    pairs = graph.radius_neighbors_graph(mode="connectivity").tocoo()
    close = np.abs(t[pairs.row] - t[pairs.col]) <= eps_days
    rows = np.concatenate([pairs.row[close], np.arange(x.size)])  # self is a neighbour
    cols = np.concatenate([pairs.col[close], np.arange(x.size)])
    # a sparse "distance" matrix: stored entries (any value ≤ eps) are the neighbours
    distances = sp.csr_matrix((np.full(rows.size, 0.5), (rows, cols)), shape=(x.size, x.size))
    labels = DBSCAN(eps=1.0, min_samples=min_samples, metric="precomputed").fit_predict(distances)
    return np.asarray(labels, dtype=np.int64)


def cluster_polygons(
    x_m: ArrayLike,
    y_m: ArrayLike,
    labels: ArrayLike,
    *,
    crs: Any,
    buffer_m: float = 250.0,
    attributes: pd.DataFrame | None = None,
    top: int = 3,
) -> gpd.GeoDataFrame:
    """One polygon per cluster (convex hull of its points, buffered), with its profile.

    Properties: ``cluster``, ``size``, ``area_km2``, ``density_per_km2``; for each
    column of ``attributes`` (e.g. ``violation_type``, ``industry_code``) the
    ``top`` values with counts as ``top_<column>`` (a list of [value, count]);
    ``first_date``/``last_date`` when ``attributes`` has a ``date`` column.
    """
    x, y = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    lab = np.asarray(labels, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    geoms = []
    for cluster in np.unique(lab[lab >= 0]):
        mask = lab == cluster
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[mask], y[mask]])))
        polygon = hull.buffer(buffer_m)
        row: dict[str, Any] = {
            "cluster": int(cluster),
            "size": int(mask.sum()),
            "area_km2": polygon.area / 1e6,
        }
        row["density_per_km2"] = row["size"] / row["area_km2"]
        if attributes is not None:
            row.update(_profile(attributes.loc[mask], top))
        rows.append(row)
        geoms.append(polygon)
    columns = ["cluster", "size", "area_km2", "density_per_km2"]
    for column in [] if attributes is None else attributes.columns:
        columns += ["first_date", "last_date"] if column == "date" else [f"top_{column}"]
    # no cluster at all: the same columns, no rows
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=geoms, crs=crs)


def _profile(frame: pd.DataFrame, top: int) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for column in frame.columns:
        values = frame[column].dropna()
        if column == "date":
            dates = pd.to_datetime(values)
            profile["first_date"] = dates.min().date().isoformat() if len(dates) else None
            profile["last_date"] = dates.max().date().isoformat() if len(dates) else None
            continue
        counts = values.astype(str).value_counts().head(top)
        profile[f"top_{column}"] = [[k, int(v)] for k, v in counts.items()]
    return profile
