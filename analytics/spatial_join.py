"""Vectorised point-in-polygon assignment (which division holds each point)."""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely import STRtree
from shapely.geometry.base import BaseGeometry


def points_to_polygons(
    lon: ArrayLike, lat: ArrayLike, polygons: list[BaseGeometry] | NDArray[np.object_]
) -> NDArray[np.int64]:
    """Index of the polygon containing each point, or -1 where none does.

    Points on a shared edge go to the polygon with the lowest index, so every
    point gets at most one polygon and the answer does not depend on order.

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
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any() or len(polygons) == 0:
        return result
    geoms = np.asarray(polygons, dtype=object)
    shapely.prepare(geoms)
    points = shapely.points(x[finite], y[finite])
    tree = STRtree(geoms)
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    # keep the lowest polygon index per point: sort by (point, polygon), take first
    order = np.lexsort((poly_idx, point_idx))
    point_idx, poly_idx = point_idx[order], poly_idx[order]
    first = np.ones(point_idx.shape[0], dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    finite_positions = np.flatnonzero(finite)
    result[finite_positions[point_idx[first]]] = poly_idx[first]
    return result
