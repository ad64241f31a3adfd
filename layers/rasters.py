"""Density surfaces as GeoTIFF: one float32 band in the equal-area CRS, provenance in tags."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from analytics.density import DensitySurface, Grid, density_isobands
from analytics.projection import EQUAL_AREA_CRS

NODATA = -9999.0


def surface_to_geotiff(surface: DensitySurface, tags: dict[str, Any] | None = None) -> bytes:
    """The surface as GeoTIFF bytes (DEFLATE, tiled), with its parameters and ``tags``.

    Tag values that are not strings are stored as JSON text.
    """
    grid = surface.grid
    profile = {
        "driver": "GTiff",
        "width": grid.nx,
        "height": grid.ny,
        "count": 1,
        "dtype": "float32",
        "crs": EQUAL_AREA_CRS.to_wkt(),
        "transform": Affine.from_gdal(*grid.transform),
        "nodata": NODATA,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    values = np.where(np.isfinite(surface.values), surface.values, NODATA).astype(np.float32)
    all_tags = {
        **surface.parameters,
        "units": surface.units,
        "n_points": surface.n_points,
        "total_weight": surface.total_weight,
        **(tags or {}),
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(values, 1)
            dataset.update_tags(
                **{
                    k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for k, v in all_tags.items()
                }
            )
            dataset.set_band_description(1, f"density ({surface.units})")
        return bytes(memory.read())


def read_geotiff(data: bytes) -> tuple[np.ndarray, dict[str, str], Any]:
    """Band 1, the tags and the CRS of GeoTIFF bytes (for tests and re-use)."""
    with rasterio.open(BytesIO(data)) as dataset:
        return dataset.read(1), dataset.tags(), dataset.crs


def geotiff_to_surface(data: bytes) -> DensitySurface:
    """A surface written by :func:`surface_to_geotiff`, read back (values, grid, bandwidth)."""
    with rasterio.open(BytesIO(data)) as dataset:
        values = dataset.read(1).astype(np.float64)
        values[values == NODATA] = np.nan
        t, tags = dataset.transform, dataset.tags()
        grid = Grid(t.c, t.f, t.a, dataset.width, dataset.height)
    return DensitySurface(
        values,
        grid,
        float(tags["bandwidth_m"]),
        tags["kernel"],
        int(tags["n_points"]),
        float(tags["total_weight"]),
        dict(tags),
        tags.get("units", "cases per km²"),
    )


#: Band boundaries as shares of the peak: fine steps at the low end, where most area is.
BAND_SHARES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)


def isobands_frame(surface: DensitySurface, levels: list[float] | None = None) -> gpd.GeoDataFrame:
    """Density bands as WGS84 polygons with ``density_min``/``density_max`` (for maps)."""
    peak = float(np.nanmax(surface.values)) if np.isfinite(surface.values).any() else 0.0
    chosen = levels or [round(peak * s, 6) for s in BAND_SHARES if peak > 0]
    bands = density_isobands(surface, chosen)
    frame = gpd.GeoDataFrame(
        {
            "density_min": [b[0] for b in bands],
            "density_max": [b[1] for b in bands],
            "units": surface.units,
        },
        geometry=[b[2] for b in bands],
        crs=EQUAL_AREA_CRS,
    )
    return frame.to_crs("EPSG:4326")
