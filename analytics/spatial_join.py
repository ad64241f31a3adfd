"""Vectorised point-in-polygon assignment (which division holds each point)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry


def points_to_polygons(
    lon: ArrayLike, lat: ArrayLike, polygons: Sequence[BaseGeometry] | NDArray[np.object_]
) -> NDArray[np.int64]:
    """Index of the polygon containing each point, or -1 where none does.

    Points are sorted by longitude once; each polygon then tests only the points
    inside its bounding box (two binary searches and a latitude mask) with a
    prepared ``contains_xy``. Points on a shared edge go to the polygon with the
    lowest index, so the answer does not depend on the order of the points.

    Parameters
    ----------
    lon, lat : array_like
        Point coordinates (same CRS as the polygons).
    polygons : sequence of shapely geometries
        Non-overlapping (Multi)Polygons, e.g. the counties of a province.

    Returns
    -------
    numpy.ndarray of int64
        For each point, the position of its polygon in ``polygons``, or -1.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> points_to_polygons([0.5, 1.5, 5.0, 1.0], [0.5, 0.5, 5.0, 0.5],
    ...                    [box(0, 0, 1, 1), box(1, 0, 2, 1)]).tolist()
    [0, 1, -1, 0]
    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    result = np.full(x.shape[0], -1, dtype=np.int64)
    geoms = np.asarray(polygons, dtype=object)
    if x.size == 0 or geoms.size == 0:
        return result
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    found = np.full(x.shape[0], -1, dtype=np.int64)  # in sorted order
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    for i, geom in enumerate(geoms):
        minx, miny, maxx, maxy = bounds[i]
        lo = int(np.searchsorted(xs, minx, side="left"))
        hi = int(np.searchsorted(xs, maxx, side="right"))
        window = np.arange(lo, hi)
        window = window[(found[lo:hi] < 0) & (ys[lo:hi] >= miny) & (ys[lo:hi] <= maxy)]
        if window.size:
            # intersects (not contains): points on the boundary belong to the polygon
            hit = shapely.intersects_xy(geom, xs[window], ys[window])
            found[window[hit]] = i
    result[order] = found
    return result
