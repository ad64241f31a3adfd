"""Cases placed only at a county's or city's representative point are not locations.

Ten address-only cases at 兴宁区's representative point once made a DBSCAN "cluster". The
point layers (clusters, KDE, the hot spots, emerging hot spots and local Moran of H3 cells)
leave them out and count them in their provenance as 未精确定位; the county layers count
them in their county.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine

from geo_service.builds.inputs import Inputs
from geo_service.builds.run import analytic_layer
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import read_frame
from layers.rasters import read_geotiff
from tests.geo_service.messy import county_points, write_enterprises

COUNTY, CLUSTER_COUNTY = "450102", "450103"  # 兴宁区, 青秀区
N_COUNTY, N_CITY, N_CLUSTER = 10, 2, 12
SCATTERED = ["450202", "450304", "450403", "450502", "451002", "451302", "450181"]
HEADERS = ["case_id", "decision_date", "address", "lon", "lat", "crs", "violation_type"]
LABEL = "未精确定位"


@pytest.fixture
def placed(store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame) -> Engine:
    """Ten cases with only 兴宁区's address, two with only 柳州市's, a tight group of twelve
    with coordinates in 青秀区 and fourteen scattered over seven other counties; a register
    of three."""
    points = county_points(divisions_gdf)
    rows: list[list[str]] = []

    def case(address: str = "", lon: float | None = None, lat: float | None = None) -> None:
        i = len(rows) + 1
        month = 1 + i % 12
        where = ["", ""] if lon is None or lat is None else [f"{lon:.7f}", f"{lat:.7f}"]
        crs = "WGS84" if where[0] else ""
        rows.append(
            [f"精度〔2024〕{i}号", f"2024-{month:02d}-10", address, *where, crs, "超标排放"]
        )

    for _ in range(N_COUNTY):
        case(address="广西壮族自治区南宁市兴宁区")
    for _ in range(N_CITY):
        case(address="广西壮族自治区柳州市")
    lon, lat, _ = points[CLUSTER_COUNTY]
    for k in range(N_CLUSTER):  # within ~200 m of one another
        case(lon=lon + 0.0004 * (k % 4), lat=lat + 0.0004 * (k // 4))
    for k, county in enumerate(SCATTERED * 2):
        lon, lat, _ = points[county]
        case(lon=lon + 0.02 * (k // len(SCATTERED)), lat=lat)
    write_enterprises(tmp_path / "register.csv", divisions_gdf)  # three, at their points
    ingest_file(store, tmp_path / "register.csv", IngestOptions(kind="enterprises", progress=False))
    path = tmp_path / "cases.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    summary = ingest_file(store, path, IngestOptions(kind="cases", progress=False))
    assert summary["accepted"] == len(rows)
    return store


def _n_points() -> int:
    return N_CLUSTER + 2 * len(SCATTERED)


def _assert_counted(parameters: dict[str, object]) -> None:
    assert parameters["not_placed_precisely"] == N_COUNTY + N_CITY
    assert parameters["not_placed_precisely_label"] == LABEL


def test_the_fixture_places_the_address_only_cases_at_the_representative_points(
    placed: Engine,
) -> None:
    frame = read_frame(
        placed, "cases", Filters(), ["lon", "lat", "geocode_precision", "adcode", "city_adcode"]
    )
    assert frame["geocode_precision"].value_counts().to_dict() == {
        "point": _n_points(),
        "county": N_COUNTY,
        "city": N_CITY,
    }
    county = frame[frame["geocode_precision"] == "county"]
    table = read_divisions(placed).table
    rep = table.loc[COUNTY, ["rep_lon", "rep_lat"]].to_numpy(float)
    assert (county["adcode"] == COUNTY).all()
    assert np.allclose(county[["lon", "lat"]].to_numpy(float), rep)  # one point, ten cases
    assert frame.loc[frame["geocode_precision"] == "city", "adcode"].isna().all()
    inputs = Inputs(placed, Filters())
    assert len(inputs.point_cases) == _n_points() and inputs.imprecise_cases == N_COUNTY + N_CITY


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_cases_at_a_representative_point_make_no_cluster(placed: Engine, method: str) -> None:
    stored = analytic_layer(placed, "clusters", Filters(), {"method": method})
    clusters = stored.frame()
    if method == "dbscan":  # eps 1 km, 10 cases: the real group, not the ten
        assert clusters["size"].tolist() == [N_CLUSTER]
    rep = read_divisions(placed).table.loc[COUNTY, ["rep_lon", "rep_lat"]].to_numpy(float)
    assert not clusters.geometry.intersects(shapely.Point(*rep)).any()
    _assert_counted(stored.parameters)


def test_kde_integrates_the_cases_placed_at_a_point(placed: Engine) -> None:
    stored = analytic_layer(placed, "kde", Filters(), {"bandwidth_m": 5000.0, "cell_m": 1000.0})
    values, tags, _ = read_geotiff(stored.payload)
    assert values.sum() * 1.0 == pytest.approx(_n_points(), rel=1e-4)  # 1 km² cells
    assert json.loads(tags["not_placed_precisely"]) == N_COUNTY + N_CITY
    assert tags["not_placed_precisely_label"] == LABEL
    _assert_counted(stored.parameters)
    ratio = analytic_layer(placed, "kde", Filters(), {"ratio_to": "enterprises"})
    assert ratio.parameters["not_placed_precisely_enterprises"] == 0  # all three at points


@pytest.mark.parametrize("layer", ["hotspots", "local-moran"])
def test_cell_statistics_leave_them_out_and_county_statistics_keep_them(
    placed: Engine, layer: str
) -> None:
    cells = analytic_layer(placed, layer, Filters(), {"resolution": 7, "permutations": 0})
    frame = cells.frame()
    assert frame["count"].sum() == _n_points()
    rep = read_divisions(placed).table.loc[COUNTY, ["rep_lon", "rep_lat"]].to_numpy(float)
    at_rep = frame[frame.geometry.contains(shapely.Point(*rep))]
    assert at_rep["count"].tolist() == [0]
    _assert_counted(cells.parameters)
    counties = analytic_layer(placed, layer, Filters(), {"unit": "county"}).frame()
    by_county = counties.set_index("adcode")["count"]
    assert by_county[COUNTY] == N_COUNTY  # placed in their county, counted there
    assert by_county[CLUSTER_COUNTY] == N_CLUSTER
    assert by_county.sum() == N_COUNTY + _n_points()  # the city-level cases have no county


def test_emerging_hot_spots_count_them_as_not_placed(placed: Engine) -> None:
    stored = analytic_layer(placed, "emerging-hotspots", Filters(), {"step": "quarter"})
    _assert_counted(stored.parameters)
