"""Sparse spatial weights: H3 grid rings, polygon contiguity, and the cells of an area.

Weights are ``scipy.sparse.csr_array`` of float64, row ``i`` holding the
neighbours of observation ``i`` (binary: 1.0 for a neighbour, absent otherwise).
With ``include_self=True`` the diagonal is 1.0, which is what Getis-Ord Gi*
expects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
import shapely
from h3ronpy import vector
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from analytics.errors import AnalyticsError


class WeightsError(AnalyticsError):
    """Inputs from which no spatial weights can be built."""


def _as_cells(cells: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(cells)
    if arr.ndim != 1:
        raise WeightsError(f"cells must be a 1-D array of H3 ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise WeightsError(f"cells must be integer H3 ids, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_cells(cells: NDArray[np.int64]) -> pd.Index:
    """Validate ids (valid, one resolution, unique); a hash index over them."""
    checked = pa.array(h3ronpy.cells_valid(cells.view(np.uint64)))  # null = invalid
    valid = checked.is_valid().to_numpy(zero_copy_only=False)
    if not valid.all():
        bad = int(cells[~valid][0])
        raise WeightsError(f"{(~valid).sum()} invalid H3 cell ids, e.g. {bad}")
    res = np.asarray(h3ronpy.cells_resolution(cells.view(np.uint64)))
    if np.unique(res).size > 1:
        raise WeightsError(f"cells mix H3 resolutions {sorted(set(res.tolist()))}")
    index = pd.Index(cells)
    if not index.is_unique:
        raise WeightsError("cells contain duplicate ids")
    return index


def h3_ring_weights(cells: ArrayLike, k: int = 1, include_self: bool = True) -> sp.csr_array:
    """Binary weights between the given H3 cells within grid distance ``k``.

    Each cell's disk (``grid_disk``, computed for all cells at once by h3ronpy)
    is looked up in the given set; neighbours outside the set are simply absent,
    so cells at the edge of the area have fewer neighbours.

    Parameters
    ----------
    cells : array_like of int64
        Unique H3 cell ids, all of one resolution.
    k : int, default 1
        Grid distance (1 = the six adjacent cells).
    include_self : bool, default True
        Put 1.0 on the diagonal (the Gi* convention).

    Returns
    -------
    scipy.sparse.csr_array
        ``n × n`` float64, row and column ``i`` meaning ``cells[i]``; columns
        sorted within each row.

    Raises
    ------
    WeightsError
        Invalid, duplicate or mixed-resolution cells, or ``k < 0``.

    Examples
    --------
    >>> import h3
    >>> centre = h3.latlng_to_cell(22.8, 108.3, 8)
    >>> cells = np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 1)])
    >>> w = h3_ring_weights(cells)
    >>> w.shape, int(w.sum(axis=1)[0]), int(w.sum(axis=1)[1])
    ((7, 7), 7, 4)
    """
    ids = _as_cells(cells)
    if int(k) != k or k < 0:
        raise WeightsError(f"k must be a non-negative integer, got {k}")
    n = ids.size
    if n == 0:
        return sp.csr_array((0, 0), dtype=np.float64)
    index = _check_cells(ids)
    disks = pa.array(h3ronpy.grid_disk(ids.view(np.uint64), int(k)))
    offsets = disks.offsets.to_numpy()
    members = disks.values.to_numpy().view(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    cols = index.get_indexer(members)  # -1: the neighbour is not in the set
    found = cols >= 0
    rows, cols = rows[found], cols[found]
    if not include_self:
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    w = sp.csr_array((np.ones(cols.size), cols, indptr), shape=(n, n))
    w.sort_indices()
    return w


def _as_geometries(geoms: Iterable[BaseGeometry | None]) -> NDArray[np.object_]:
    arr = np.empty(0, dtype=object) if geoms is None else np.array(list(geoms), dtype=object)
    if arr.ndim != 1:
        raise WeightsError("geoms must be a flat sequence of shapely geometries")
    if not all(g is None or isinstance(g, BaseGeometry) for g in arr):
        raise WeightsError("geoms must be shapely geometries (or None)")
    return arr


def polygon_contiguity_weights(
    geoms: Iterable[BaseGeometry | None],
    rule: Literal["queen", "rook"] = "queen",
    include_self: bool = True,
) -> sp.csr_array:
    """Binary contiguity weights between polygons (jurisdictions).

    Candidate pairs come from a shapely ``STRtree`` query with the
    ``intersects`` predicate. *Queen*: two polygons are neighbours when they
    share any boundary point (they touch, or overlap). *Rook*: when they share
    an edge of positive length (the intersection of their boundaries has
    length > 0) or overlap with positive area; a shared corner alone is not
    enough. The test is geometric, so boundaries must meet exactly (snap or
    buffer slivered data first). Empty or missing geometries have no
    neighbours.

    Parameters
    ----------
    geoms : sequence of shapely (Multi)Polygons
        The areas, any CRS (only topology is used).
    rule : {"queen", "rook"}, default "queen"
    include_self : bool, default True
        Put 1.0 on the diagonal (the Gi* convention).

    Returns
    -------
    scipy.sparse.csr_array
        ``n × n`` float64 in the order of ``geoms``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> squares = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(1, 1, 2, 2)]
    >>> polygon_contiguity_weights(squares, "queen").toarray().astype(int).tolist()
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    >>> rook = polygon_contiguity_weights(squares, "rook", include_self=False)
    >>> rook.toarray().astype(int).tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    """
    if rule not in ("queen", "rook"):
        raise WeightsError(f"rule must be 'queen' or 'rook', got {rule!r}")
    arr = _as_geometries(geoms)
    n = arr.size
    present = np.array([g is not None and not g.is_empty for g in arr], dtype=bool)
    idx = np.flatnonzero(present)
    rows = np.empty(0, dtype=np.int64)
    cols = np.empty(0, dtype=np.int64)
    if idx.size:
        tree = shapely.STRtree(arr[idx])
        a, b = tree.query(arr[idx], predicate="intersects")
        upper = a < b
        a, b = idx[a[upper]], idx[b[upper]]
        if rule == "rook" and a.size:
            shared = shapely.length(
                shapely.intersection(shapely.boundary(arr[a]), shapely.boundary(arr[b]))
            )
            overlap = shapely.area(shapely.intersection(arr[a], arr[b]))
            keep = (shared > 0) | (overlap > 0)
            a, b = a[keep], b[keep]
        rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    if include_self:
        diag = np.arange(n, dtype=np.int64)
        rows, cols = np.concatenate([rows, diag]), np.concatenate([cols, diag])
    w = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    w.sort_indices()
    return w


def cells_in_polygon(polygon_wgs84: BaseGeometry, resolution: int) -> NDArray[np.int64]:
    """Every H3 cell whose centre lies in a WGS84 (Multi)Polygon, holes excluded.

    Use it to analyse *every* cell of a jurisdiction, including cells without
    records (their counts are zero). Computed by h3ronpy (``geometry_to_cells``
    with centroid containment), so it equals h3-py's ``geo_to_cells``.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon or MultiPolygon
        Longitude/latitude coordinates.
    resolution : int
        H3 resolution, 0..15.

    Returns
    -------
    numpy.ndarray of int64
        Sorted unique cell ids (empty if no centre falls inside).

    Raises
    ------
    WeightsError
        Not a (Multi)Polygon, coordinates outside lon/lat ranges, bad resolution.

    Examples
    --------
    >>> from shapely.geometry import Polygon
    >>> outer = [(108.0, 22.5), (108.2, 22.5), (108.2, 22.7), (108.0, 22.7)]
    >>> hole = [(108.05, 22.55), (108.15, 22.55), (108.15, 22.65), (108.05, 22.65)]
    >>> full = cells_in_polygon(Polygon(outer), 7)
    >>> holed = cells_in_polygon(Polygon(outer, [hole]), 7)
    >>> bool(holed.size < full.size and np.isin(holed, full).all())
    True
    """
    if int(resolution) != resolution or not 0 <= resolution <= 15:
        raise WeightsError(f"H3 resolution must be 0..15, got {resolution}")
    if not isinstance(polygon_wgs84, BaseGeometry) or polygon_wgs84.geom_type not in (
        "Polygon",
        "MultiPolygon",
    ):
        raise WeightsError("polygon_wgs84 must be a shapely Polygon or MultiPolygon")
    if polygon_wgs84.is_empty:
        return np.empty(0, dtype=np.int64)
    minx, miny, maxx, maxy = polygon_wgs84.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise WeightsError(
            f"polygon bounds {polygon_wgs84.bounds} are not WGS84 longitude/latitude"
        )
    cells = np.asarray(vector.geometry_to_cells(polygon_wgs84, int(resolution)), dtype=np.uint64)
    return np.unique(cells.view(np.int64))
