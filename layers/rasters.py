"""Density surfaces as GeoTIFF: one float32 band in the equal-area CRS, provenance in tags.

The surfaces are stored in the service's own Albers (:data:`EQUAL_AREA_CRS`, unnamed: no
registry holds it); the file people download (:func:`deliverable_geotiff`) is warped to
:data:`DELIVERABLE_CRS`, a registered equal-area CRS, masked to the jurisdiction, with its
unit on the band and its provenance in the tags.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from shapely.geometry.base import BaseGeometry

from analytics.density import DensitySurface, Grid, density_isobands
from analytics.projection import EQUAL_AREA_CRS

NODATA = -9999.0
#: The downloaded GeoTIFF's CRS: WGS 84 / NSIDC EASE-Grid 2.0 Global, a cylindrical
#: equal-area projection registered by EPSG (cells keep their km², so density × cell area
#: still sums to the cases), which GDAL and QGIS name by its code.
DELIVERABLE_CRS = "EPSG:6933"


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
            dataset.update_tags(**_tag_texts(all_tags))
            dataset.set_band_description(1, f"density ({surface.units})")
        return bytes(memory.read())


def deliverable_geotiff(
    payload: bytes, boundary: BaseGeometry, provenance: dict[str, Any]
) -> bytes:
    """A stored surface (:func:`surface_to_geotiff` bytes) as the file people download.

    Warped (bilinear, same cell size) to :data:`DELIVERABLE_CRS`; cells whose centre lies
    outside ``boundary`` (the jurisdiction, WGS84) are NoData, and so are cells without a
    value inside it (a ratio where there are too few sources), but for a density's cells
    beyond the stored grid, which are 0 (it reaches as far as the kernels do); the band
    carries its unit
    (``set_band_unit``) and a description; the tags keep the stored surface's and add
    ``provenance`` (layer, filters, parameters, data version: JSON text where not text).
    """
    with rasterio.open(BytesIO(payload)) as source:
        values = source.read(1)
        tags, src_crs, src_transform = source.tags(), source.crs, source.transform
        width, height, bounds, cell = source.width, source.height, source.bounds, source.res
    units = tags.get("units", "cases per km²")
    transform, nx, ny = calculate_default_transform(
        src_crs, DELIVERABLE_CRS, width, height, *bounds, resolution=cell
    )
    out = np.full((ny, nx), NODATA, dtype=np.float32)
    reproject(
        values,
        out,
        src_transform=src_transform,
        src_crs=src_crs,
        src_nodata=NODATA,
        dst_transform=transform,
        dst_crs=DELIVERABLE_CRS,
        dst_nodata=NODATA,
        resampling=Resampling.bilinear,
    )
    if units.endswith("per km²"):  # a density is 0 beyond the grid (the kernels' reach)
        covered = np.zeros((ny, nx), dtype=np.uint8)
        reproject(
            np.ones(values.shape, dtype=np.uint8),
            covered,
            src_transform=src_transform,
            src_crs=src_crs,
            dst_transform=transform,
            dst_crs=DELIVERABLE_CRS,
            dst_nodata=0,
            resampling=Resampling.nearest,
        )
        out[covered == 0] = 0.0
    area = gpd.GeoSeries([boundary], crs="EPSG:4326").to_crs(DELIVERABLE_CRS).iloc[0]
    outside = geometry_mask([area], out_shape=(ny, nx), transform=transform)
    out[outside] = NODATA
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": 1,
        "dtype": "float32",
        "crs": DELIVERABLE_CRS,
        "transform": transform,
        "nodata": NODATA,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    all_tags = {**tags, **provenance, "units": units, "nodata_means": NODATA_MEANS}
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(out, 1)
            dataset.update_tags(**_tag_texts(all_tags))
            dataset.set_band_unit(1, units)
            dataset.set_band_description(1, f"{_UNITS_ZH.get(units, units)} density ({units})")
        return bytes(memory.read())


#: What a NoData cell of the download is (a tag of the file).
NODATA_MEANS = "辖区外或无有效值 outside the jurisdiction, or no value (a ratio without sources)"
_UNITS_ZH = {
    "cases per km²": "案件核密度（件/平方公里）",
    "yuan per km²": "罚款金额核密度（元/平方公里）",
    "cases per enterprise": "案件数与污染源数之比（件/家）",
    "yuan per enterprise": "罚款金额与污染源数之比（元/家）",
}


def _tag_texts(tags: dict[str, Any]) -> dict[str, str]:
    return {
        k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
        for k, v in tags.items()
    }


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
