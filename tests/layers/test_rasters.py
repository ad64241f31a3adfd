"""Density surfaces written as GeoTIFF: equal-area CRS, geotransform, values and tags."""

from __future__ import annotations

import json

import numpy as np
from numpy.testing import assert_allclose
from pyproj import CRS

from analytics.density import kernel_density
from analytics.projection import EQUAL_AREA_CRS
from layers.rasters import read_geotiff, surface_to_geotiff


def test_geotiff_round_trip() -> None:
    rng = np.random.default_rng(4)
    surface = kernel_density(
        rng.normal(0, 3000, 500), rng.normal(0, 3000, 500), bandwidth_m=2000.0, cell_m=250.0
    )
    values, tags, crs = read_geotiff(surface_to_geotiff(surface, {"layer": "kde"}))
    assert values.shape == (surface.grid.ny, surface.grid.nx)
    assert_allclose(values, surface.values, rtol=1e-6, atol=1e-6)
    assert CRS.from_wkt(crs.to_wkt()).equals(EQUAL_AREA_CRS)
    assert float(tags["bandwidth_m"]) == 2000.0 and tags["kernel"] == "quartic"
    assert tags["units"] == "cases per km²" and tags["layer"] == "kde"
    assert json.loads(tags["weighted"]) is False


def test_surface_read_back_and_its_isobands() -> None:
    from layers.rasters import geotiff_to_surface, isobands_frame

    rng = np.random.default_rng(5)
    surface = kernel_density(
        rng.normal(0, 3000, 800), rng.normal(0, 3000, 800), bandwidth_m=2000.0, cell_m=200.0
    )
    back = geotiff_to_surface(surface_to_geotiff(surface))
    assert back.grid == surface.grid and back.bandwidth_m == 2000.0 and back.kernel == "quartic"
    assert_allclose(back.values, surface.values, rtol=1e-6, atol=1e-6)
    bands = isobands_frame(back)
    assert bands.crs.to_epsg() == 4326 and len(bands) == 8
    assert (bands["density_min"].diff().dropna() > 0).all()
    assert bands.geometry.is_valid.all()
