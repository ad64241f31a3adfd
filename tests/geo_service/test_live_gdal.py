"""The real server (uvicorn on a loopback port) read as GIS staff read it: GDAL's OAPIF and MVT
drivers, carried by pyogrio."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pyogrio
import pytest
from pyproj import Transformer

from geo_service.api.features import COLLECTIONS
from geo_service.exports import load_layer
from geo_service.filters import Filters
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow


def _oapif(server: LiveServer) -> str:
    return f"OAPIF:{server.url}"


def test_gdal_lists_every_collection(live_server: LiveServer) -> None:
    listed = {str(name) for name, _ in pyogrio.list_layers(_oapif(live_server))}
    assert listed == set(COLLECTIONS)


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_gdal_loads_every_collection_completely(live_server: LiveServer, collection: str) -> None:
    """Paging through next links yields every feature once, as the store holds them."""
    frame = pyogrio.read_dataframe(_oapif(live_server), layer=collection)
    stored, _ = load_layer(live_server.engine, collection, Filters())
    assert len(frame) == len(stored) > 0
    ids = frame["id"].astype(str)
    assert ids.is_unique
    assert frame.crs is not None and frame.crs.equals("OGC:CRS84")
    bounds = stored.total_bounds
    assert np.allclose(frame.total_bounds, bounds, atol=1e-6)


def test_gdal_reads_cases_in_cgcs2000_and_web_mercator(live_server: LiveServer) -> None:
    """OGC API - Features Part 2 through GDAL: the same cases in EPSG:4490 and EPSG:3857."""
    lonlat = pyogrio.read_dataframe(_oapif(live_server), layer="cases").sort_values("case_id")
    mercator = pyogrio.read_dataframe(
        _oapif(live_server), layer="cases", CRS="EPSG:3857"
    ).sort_values("case_id")
    assert mercator.crs.to_epsg() == 3857 and len(mercator) == len(lonlat)
    to_3857 = Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
    x, y = to_3857.transform(lonlat.geometry.x.to_numpy(), lonlat.geometry.y.to_numpy())
    assert np.allclose(mercator.geometry.x, x, atol=0.01)
    assert np.allclose(mercator.geometry.y, y, atol=0.01)
    cgcs = pyogrio.read_dataframe(_oapif(live_server), layer="cases", CRS="EPSG:4490")
    assert cgcs.crs.to_epsg() == 4490
    # GDAL hands back traditional lon/lat order whatever the axis order on the wire
    assert np.allclose(np.sort(cgcs.geometry.x), np.sort(lonlat.geometry.x), atol=1e-9)


def test_gdal_filters_by_bbox_and_attribute(live_server: LiveServer) -> None:
    box = (108.0, 22.5, 108.6, 23.0)  # around Nanning
    inside = pyogrio.read_dataframe(_oapif(live_server), layer="cases", bbox=box)
    stored, _ = load_layer(live_server.engine, "cases", Filters())
    x, y = stored.geometry.x, stored.geometry.y
    expected = ((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])).sum()
    assert len(inside) == expected > 0


def test_collections_carry_extents(live_server: LiveServer) -> None:
    with urllib.request.urlopen(f"{live_server.url}/collections/cases", timeout=30) as response:
        doc = json.loads(response.read())
    (bbox,) = doc["extent"]["spatial"]["bbox"]
    stored, _ = load_layer(live_server.engine, "cases", Filters())
    assert np.allclose(bbox, stored.total_bounds)
    ((start, end),) = doc["extent"]["temporal"]["interval"]
    assert start[:10] == str(stored["decision_date"].min())[:10]
    assert end[:10] == str(stored["decision_date"].max())[:10]
