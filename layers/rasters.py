"""Density surfaces as GeoTIFF: one float32 band in the equal-area CRS, provenance in tags."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from analytics.density import DensitySurface
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
    all_tags = {**surface.parameters, "units": surface.units, "n_points": surface.n_points,
                "total_weight": surface.total_weight, **(tags or {})}  # fmt: skip
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(values, 1)
            dataset.update_tags(**{k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                   for k, v in all_tags.items()})  # fmt: skip
            dataset.set_band_description(1, f"density ({surface.units})")
        return bytes(memory.read())


def read_geotiff(data: bytes) -> tuple[np.ndarray, dict[str, str], Any]:
    """Band 1, the tags and the CRS of GeoTIFF bytes (for tests and re-use)."""
    with rasterio.open(BytesIO(data)) as dataset:
        return dataset.read(1), dataset.tags(), dataset.crs
