"""The real server (uvicorn on a loopback port) read as GIS staff read it: GDAL's OAPIF and MVT
drivers, carried by pyogrio."""

from __future__ import annotations

import json
import math
import os
import subprocess
import urllib.request
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer
from shapely.geometry import box

from geo_service.api.features import COLLECTIONS
from geo_service.builds.exports import load_layer
from geo_service.core.filters import Filters
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow


def _oapif(server: LiveServer) -> str:
    return f"OAPIF:{server.url}"


@pytest.fixture(autouse=True)
def gdal_credentials(live_server: LiveServer) -> Iterator[None]:
    """GIS staff give GDAL their API key (GDAL_HTTP_AUTH=BEARER, GDAL_HTTP_BEARER)."""
    pyogrio.set_gdal_config_options(
        {"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": live_server.api_key}
    )
    yield
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})


def test_without_a_key_gdal_gets_aggregates_but_no_point_records(live_server: LiveServer) -> None:
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None})
    hexagons = pyogrio.read_dataframe(_oapif(live_server), layer="hexagons")
    counts = pd.to_numeric(hexagons["cases"])  # GDAL types all-null first pages as text
    assert len(hexagons) > 0 and not counts.isin([1, 2]).any()  # the public view's counts
    assert set(hexagons["resolution"]) == {6} and "penalty_sum" not in hexagons
    with pytest.raises(Exception, match="401"):
        pyogrio.read_dataframe(_oapif(live_server), layer="cases")


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
    divisions, _ = load_layer(live_server.engine, "jurisdictions", Filters())
    assert np.allclose(bbox, divisions.total_bounds)  # the area, not the extreme records
    ((start, end),) = doc["extent"]["temporal"]["interval"]
    assert start[:10] == str(stored["decision_date"].min())[:4] + "-01-01"  # whole years
    assert end[:10] == str(stored["decision_date"].max())[:4] + "-12-31"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_gdal_mvt_driver_reads_a_hexagon_tile(live_server: LiveServer) -> None:
    """The busiest z9 tile through GDAL's MVT driver: exactly the hexagons of the tile."""
    hexagons, _ = load_layer(live_server.engine, "hexagons", Filters(), {"resolution": 8})
    cases, _ = load_layer(live_server.engine, "cases", Filters())
    z = 9
    counts = Counter(_tile_of(p.x, p.y, z) for p in cases.geometry)
    (x, y), _ = counts.most_common(1)[0]
    url = f"/vsicurl/{live_server.url}/tiles/hexagons/{z}/{x}/{y}.mvt?resolution=8"
    tile = pyogrio.read_dataframe(url, X=x, Y=y, Z=z)
    assert tile.crs.to_epsg() == 3857
    to_lonlat = Transformer.from_crs("EPSG:3857", "OGC:CRS84", always_xy=True)
    size = 2 * 20037508.342789244 / 2**z
    west, north = -20037508.342789244 + x * size, 20037508.342789244 - y * size
    lon0, lat0 = to_lonlat.transform(west, north - size)
    lon1, lat1 = to_lonlat.transform(west + size, north)
    touching = set(hexagons.loc[hexagons.intersects(box(lon0, lat0, lon1, lat1)), "h3"])
    near = set(hexagons.loc[hexagons.intersects(box(lon0, lat0, lon1, lat1).buffer(0.02)), "h3"])
    assert touching <= set(tile["h3"]) <= near  # the tile plus its buffer, nothing else
    expected = hexagons.set_index("h3").loc[list(tile["h3"]), "cases"].to_numpy()
    assert (tile["cases"].to_numpy() == expected).all() and expected.sum() > 0


def _requests(server: LiveServer, path: str) -> list[str]:
    """The request lines for ``path`` in the server's access log so far."""
    assert server.log is not None
    lines = server.log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in lines if f"GET {path}" in line]


def test_current_gdal_sends_an_attribute_filter_to_the_server(live_server: LiveServer) -> None:
    """GDAL turns an OGR attribute filter into CQL2 text (``filter=``) when the service
    declares it; the server answers with the matching cases only."""
    before = len(_requests(live_server, "/collections/cases/items"))
    where = "penalty_amount > 50000 AND violation_type LIKE '%排放%'"
    frame = pyogrio.read_dataframe(_oapif(live_server), layer="cases", where=where)
    stored, _ = load_layer(live_server.engine, "cases", Filters())
    amounts = pd.to_numeric(stored["penalty_amount"])
    expected = stored[(amounts > 50000) & stored["violation_type"].str.contains("排放", na=False)]
    assert set(frame["case_id"]) == set(expected["case_id"]) and len(expected) > 0
    sent = _requests(live_server, "/collections/cases/items")[before:]
    pages = sent[1:]  # the first request reads the schema, unfiltered
    assert pages and all("filter=" in line and "filter-lang=" in line for line in pages), pages


DEBIAN_OGRINFO = "/usr/bin/ogrinfo"  # GDAL 3.6 from Debian 12, as bureaus run it


@pytest.mark.skipif(
    not os.path.exists(DEBIAN_OGRINFO) and not os.environ.get("CI"),
    reason="Debian's gdal-bin is not installed (scripts/sysdeps.sh installs it)",
)
def test_debian_gdal_reads_a_collection_at_large_pages_with_basic_auth(
    live_server: LiveServer,
) -> None:
    """GDAL 3.6 signs in the documented way (HTTP Basic, the key as the password), pages
    by 1,000 as the documented open option asks (it reads no page size from the
    service), and pushes an attribute filter (found through the queryables)."""
    version = subprocess.run([DEBIAN_OGRINFO, "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("GDAL 3.6"), version.stdout
    before = len(_requests(live_server, "/collections/cases/items"))
    auth = ["--config", "GDAL_HTTP_AUTH", "BASIC"]
    auth += ["--config", "GDAL_HTTP_USERPWD", f"gis:{live_server.api_key}"]
    where = "penalty_amount > 50000 AND violation_type LIKE '%排放%'"
    ran = subprocess.run(
        [
            DEBIAN_OGRINFO,
            "-ro",
            "-al",
            "-so",
            *auth,
            "-oo",
            "PAGE_SIZE=1000",
            "-where",
            where,
            f"OAPIF:{live_server.url}",
            "cases",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr
    count = int(
        next(line for line in ran.stdout.splitlines() if "Feature Count" in line).split(":")[1]
    )
    stored, _ = load_layer(live_server.engine, "cases", Filters())
    amounts = pd.to_numeric(stored["penalty_amount"])
    emitting = stored["violation_type"].str.contains("排放", na=False)
    assert count == int(((amounts > 50000) & emitting).sum()) > 0
    sent = _requests(live_server, "/collections/cases/items")[before:]
    pages = sent[1:]  # the first request reads the schema, unfiltered
    assert pages and all("limit=1000" in line for line in pages), pages[:2]
    assert all("filter=" in line for line in pages), pages[:2]
