"""H3 cell ids of points (integer ids inside the service, string ids outside)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import h3
import numpy as np
import pyarrow as pa
import shapely
from h3ronpy import vector
from numpy.typing import ArrayLike, NDArray


def points_to_cells(lon: ArrayLike, lat: ArrayLike, resolution: int) -> NDArray[np.int64]:
    """H3 cell of each WGS84 point at ``resolution``, as int64 ids.

    Vectorised through h3ronpy (which releases the GIL, so large inputs are
    split over one thread per core); ids equal h3-py's ``latlng_to_cell``.

    Examples
    --------
    >>> cells = points_to_cells([108.3665], [22.8170], 8)
    >>> h3.int_to_str(int(cells[0])) == h3.latlng_to_cell(22.8170, 108.3665, 8)
    True
    """
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be 0..15, got {resolution}")
    x = np.ascontiguousarray(lon, dtype=np.float64)
    y = np.ascontiguousarray(lat, dtype=np.float64)
    if x.size == 0:
        return np.empty(0, dtype=np.int64)
    workers = min(os.cpu_count() or 1, max(1, x.size // _ROWS_PER_THREAD))
    if workers == 1:
        return _cells(x, y, resolution)
    bounds = np.linspace(0, x.size, workers + 1).astype(int)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        slices = [slice(bounds[i], bounds[i + 1]) for i in range(workers)]
        parts = pool.map(lambda s: _cells(x[s], y[s], resolution), slices)
        return np.concatenate(list(parts))


_ROWS_PER_THREAD = 100_000


def _cells(x: NDArray[np.float64], y: NDArray[np.float64], resolution: int) -> NDArray[np.int64]:
    cells = np.asarray(vector.coordinates_to_cells(y, x, resolution), dtype=np.uint64)
    return cells.astype(np.int64)


def cells_to_strings(cells: ArrayLike) -> list[str]:
    """Integer H3 ids → the usual hexadecimal strings.

    Examples
    --------
    >>> cells_to_strings([0x8841524A1BFFFFF])
    ['8841524a1bfffff']
    """
    return [h3.int_to_str(int(c)) for c in np.asarray(cells, dtype=np.int64)]


def cells_to_polygons(cells: ArrayLike) -> NDArray[np.object_]:
    """Hexagon (or pentagon) polygons of H3 cells, WGS84, as shapely geometries.

    Examples
    --------
    >>> poly = cells_to_polygons(points_to_cells([108.3], [22.8], 8))[0]
    >>> poly.geom_type, len(poly.exterior.coords)
    ('Polygon', 7)
    """
    ids = np.ascontiguousarray(cells, dtype=np.int64).astype(np.uint64)
    if ids.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(vector.cells_to_wkb_polygons(ids)).to_numpy(zero_copy_only=False)
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


def cell_positions(cells: NDArray[np.int64], found: NDArray[np.int64]) -> NDArray[np.int64]:
    """The position of each of the cells ``found`` among the sorted ``cells`` (−1 where it
    is not one of them).

    Examples
    --------
    >>> cell_positions(np.array([3, 5, 9]), np.array([5, 4, 9, 10])).tolist()
    [1, -1, 2, -1]
    """
    position = np.searchsorted(cells, found)
    position = np.where(position < cells.size, position, 0)
    return np.where(cells[position] == found, position, -1) if cells.size else position - 1
