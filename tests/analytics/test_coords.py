"""Tests of analytics.coords: Chinese coordinate systems to and from WGS84."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pyproj import Geod

from analytics import coords
from analytics.errors import AnalyticsError, UnknownCRSError

GEOD = Geod(ellps="WGS84")
N_POINTS = 10_000
#: (lon_min, lon_max, lat_min, lat_max)
GUANGXI = (104.4, 112.1, 20.9, 26.4)
#: China's land extent. GCJ-02 applies in a larger rectangle, but within about a
#: kilometre of that rectangle's edges (open sea, neighbouring countries) the
#: forward transform jumps, so no inverse can round-trip there.
CHINA = (73.5, 135.1, 18.1, 53.6)
ROUND_TRIP_TOLERANCE_M = 0.01
Box = tuple[float, float, float, float]
Floats = np.ndarray

#: Published test vectors of the eviltransform library (googollee/eviltransform):
#: WGS84 lon, lat -> GCJ-02 lon, lat.
EVILTRANSFORM_VECTORS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]

#: Well outside the rectangle where GCJ-02 applies.
OUTSIDE_CHINA = {
    "Paris": (2.3522, 48.8566),
    "Denver": (-104.9903, 39.7392),
    "Brisbane": (153.0251, -27.4698),
    "Tokyo": (139.6917, 35.6895),
    "Rio de Janeiro": (-43.1729, -22.9068),
}


def random_points(box: Box, seed: int) -> tuple[Floats, Floats]:
    """``N_POINTS`` uniform random lon/lat in a box."""
    rng = np.random.default_rng(seed)
    lon_min, lon_max, lat_min, lat_max = box
    return rng.uniform(lon_min, lon_max, N_POINTS), rng.uniform(lat_min, lat_max, N_POINTS)


def distance_m(lon1: Floats, lat1: Floats, lon2: Floats, lat2: Floats) -> Floats:
    """Geodesic distance on the WGS84 ellipsoid, in metres."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# An independent, scalar transcription of the published GCJ-02 / BD-09 formulas
# (the leaked Krasovsky-ellipsoid offsets), written with ``math`` only.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323


def _reference_offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y**2 + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2 / 3
    return ret


def _reference_offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x**2 + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    return ret


def reference_wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 -> GCJ-02 for one point inside China."""
    dlat = _reference_offset_lat(lon - 105.0, lat - 35.0)
    dlon = _reference_offset_lon(lon - 105.0, lat - 35.0)
    radlat = math.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * math.sin(radlat) ** 2
    dlat = dlat * 180.0 / (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / magic**1.5 * math.pi)
    dlon = dlon * 180.0 / (_KRASOVSKY_A / math.sqrt(magic) * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def reference_gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 -> BD-09 for one point."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


@pytest.mark.parametrize(("box", "seed"), [(GUANGXI, 1), (CHINA, 2)], ids=["Guangxi", "China"])
@pytest.mark.parametrize(
    ("forward", "inverse"),
    [
        (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84),
        (coords.wgs84_to_bd09, coords.bd09_to_wgs84),
        (coords.gcj02_to_bd09, coords.bd09_to_gcj02),
    ],
    ids=["GCJ02", "BD09", "GCJ02-BD09"],
)
def test_round_trips_are_accurate_to_a_centimetre(box, seed, forward, inverse):
    lon, lat = random_points(box, seed)
    # from WGS84 and back ...
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert_allclose(distance_m(lon, lat, back_lon, back_lat), 0.0, atol=ROUND_TRIP_TOLERANCE_M)
    # ... and from the offset system (e.g. AMap coordinates) to WGS84 and forward again
    again_lon, again_lat = forward(*inverse(lon, lat))
    assert_allclose(distance_m(lon, lat, again_lon, again_lat), 0.0, atol=ROUND_TRIP_TOLERANCE_M)


@pytest.mark.parametrize(("wgs84", "gcj02"), EVILTRANSFORM_VECTORS)
def test_wgs84_to_gcj02_matches_published_vectors(wgs84, gcj02):
    lon, lat = coords.wgs84_to_gcj02([wgs84[0]], [wgs84[1]])
    assert_allclose([lon[0], lat[0]], gcj02, rtol=0, atol=1e-9)
    assert_allclose(reference_wgs84_to_gcj02(*wgs84), gcj02, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("wgs84", "gcj02"), EVILTRANSFORM_VECTORS)
def test_gcj02_to_wgs84_inverts_published_vectors(wgs84, gcj02):
    lon, lat = coords.gcj02_to_wgs84([gcj02[0]], [gcj02[1]])
    assert_allclose(distance_m(lon, lat, *wgs84), 0.0, atol=ROUND_TRIP_TOLERANCE_M)


def test_forward_transforms_match_an_independent_implementation():
    lon, lat = random_points(CHINA, seed=3)
    lon, lat = lon[:500], lat[:500]
    expected_gcj = np.array([reference_wgs84_to_gcj02(x, y) for x, y in zip(lon, lat, strict=True)])
    gcj_lon, gcj_lat = coords.wgs84_to_gcj02(lon, lat)
    assert_allclose(np.column_stack([gcj_lon, gcj_lat]), expected_gcj, rtol=0, atol=1e-11)

    expected_bd = np.array([reference_gcj02_to_bd09(x, y) for x, y in expected_gcj])
    bd_lon, bd_lat = coords.wgs84_to_bd09(lon, lat)
    assert_allclose(np.column_stack([bd_lon, bd_lat]), expected_bd, rtol=0, atol=1e-11)


def test_offsets_in_guangxi_are_a_few_hundred_metres():
    lon, lat = random_points(GUANGXI, seed=4)
    gcj_offset = distance_m(lon, lat, *coords.wgs84_to_gcj02(lon, lat))
    assert gcj_offset.min() > 100.0
    assert gcj_offset.max() < 700.0
    # BD-09 adds about 0.0065° east and 0.006° north on top of GCJ-02
    bd_offset = distance_m(lon, lat, *coords.wgs84_to_bd09(lon, lat))
    assert np.all(bd_offset > gcj_offset)
    assert bd_offset.min() > 500.0
    assert bd_offset.max() < 1500.0


def test_gcj02_offset_at_nanning_is_east_and_slightly_south():
    # In Guangxi GCJ-02 lies a few hundred metres east of WGS84 and a little south.
    lon, lat = coords.wgs84_to_gcj02([108.3665], [22.8170])
    assert 0.002 < lon[0] - 108.3665 < 0.006
    assert -0.004 < lat[0] - 22.8170 < 0.0


@pytest.mark.parametrize("place", OUTSIDE_CHINA)
@pytest.mark.parametrize("transform", [coords.wgs84_to_gcj02, coords.gcj02_to_wgs84])
def test_points_outside_china_are_unchanged(place, transform):
    lon, lat = OUTSIDE_CHINA[place]
    out_lon, out_lat = transform([lon], [lat])
    assert_array_equal([out_lon[0], out_lat[0]], [lon, lat])


def test_in_china_envelope():
    lon = [108.3, 87.6, 126.6, *(p[0] for p in OUTSIDE_CHINA.values())]
    lat = [22.8, 43.8, 45.8, *(p[1] for p in OUTSIDE_CHINA.values())]
    expected = [True, True, True] + [False] * len(OUTSIDE_CHINA)
    assert coords.in_china_envelope(lon, lat).tolist() == expected


def test_nan_stays_nan_and_does_not_stop_the_others():
    lon, lat = coords.wgs84_to_gcj02([108.0, np.nan], [22.0, 22.0])
    back_lon, back_lat = coords.gcj02_to_wgs84(lon, lat)
    assert np.isnan(back_lon[1])
    assert_allclose([back_lon[0], back_lat[0]], [108.0, 22.0], rtol=0, atol=1e-9)


def test_shapes_are_kept_and_inputs_not_modified():
    lon = np.array([[108.0, 109.0], [110.0, 111.0]])
    lat = np.array([[22.0, 23.0], [24.0, 25.0]])
    lon_copy, lat_copy = lon.copy(), lat.copy()
    for transform in (coords.gcj02_to_wgs84, coords.bd09_to_wgs84, coords.wgs84_to_bd09):
        out_lon, out_lat = transform(lon, lat)
        assert out_lon.shape == out_lat.shape == (2, 2)
    assert_array_equal(lon, lon_copy)
    assert_array_equal(lat, lat_copy)


def test_cgcs2000_is_within_a_metre_of_wgs84():
    lon, lat = random_points(CHINA, seed=5)
    out_lon, out_lat = coords.cgcs2000_to_wgs84(lon, lat)
    assert_allclose(distance_m(lon, lat, out_lon, out_lat), 0.0, atol=1.0)
    back_lon, back_lat = coords.from_wgs84(out_lon, out_lat, "CGCS2000")
    assert_allclose(distance_m(lon, lat, back_lon, back_lat), 0.0, atol=1.0)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("WGS84", "WGS84"),
        ("wgs-84", "WGS84"),
        ("EPSG:4326", "WGS84"),
        ("4326", "WGS84"),
        ("GPS", "WGS84"),
        ("CGCS2000", "CGCS2000"),
        ("epsg:4490", "CGCS2000"),
        ("国家2000", "CGCS2000"),
        ("2000国家大地坐标系", "CGCS2000"),
        (" Gcj-02 ", "GCJ02"),
        ("gcj_02", "GCJ02"),
        ("火星坐标系", "GCJ02"),
        ("高德", "GCJ02"),
        ("AMap", "GCJ02"),
        ("腾讯", "GCJ02"),
        ("bd09", "BD09"),
        ("BD-09", "BD09"),
        ("bd09ll", "BD09"),
        ("百度", "BD09"),
        ("Baidu", "BD09"),
    ],
)
def test_normalize_crs_name_aliases(label, expected):
    assert coords.normalize_crs_name(label) == expected


@pytest.mark.parametrize("label", ["", "UTM50N", "EPSG:3857", "Xian80", "gcj03", "北京54"])
def test_unknown_crs_names_raise(label):
    with pytest.raises(UnknownCRSError, match="unknown coordinate system"):
        coords.normalize_crs_name(label)
    with pytest.raises(ValueError):  # also a plain ValueError for generic handlers
        coords.to_wgs84([108.0], [22.0], crs=label)
    assert issubclass(UnknownCRSError, AnalyticsError)
    assert issubclass(UnknownCRSError, ValueError)


@pytest.mark.parametrize("crs", coords.CRS_NAMES)
def test_to_and_from_wgs84_dispatch(crs):
    lon, lat = random_points(GUANGXI, seed=6)
    source_lon, source_lat = coords.from_wgs84(lon, lat, crs)
    back_lon, back_lat = coords.to_wgs84(source_lon, source_lat, crs=crs.lower())
    assert_allclose(distance_m(lon, lat, back_lon, back_lat), 0.0, atol=ROUND_TRIP_TOLERANCE_M)
