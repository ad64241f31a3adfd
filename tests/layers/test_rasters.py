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
    surface = kernel_density(rng.normal(0, 3000, 500), rng.normal(0, 3000, 500),
                             bandwidth_m=2000.0, cell_m=250.0)  # fmt: skip
    values, tags, crs = read_geotiff(surface_to_geotiff(surface, {"layer": "kde"}))
    assert values.shape == (surface.grid.ny, surface.grid.nx)
    assert_allclose(values, surface.values, rtol=1e-6, atol=1e-6)
    assert CRS.from_wkt(crs.to_wkt()).equals(EQUAL_AREA_CRS)
    assert float(tags["bandwidth_m"]) == 2000.0 and tags["kernel"] == "quartic"
    assert tags["units"] == "cases per km²" and tags["layer"] == "kde"
    assert json.loads(tags["weighted"]) is False
