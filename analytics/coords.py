"""Coordinate systems used by Chinese data sources, converted to and from WGS84.

Four systems appear in bureau files:

* ``WGS84`` (EPSG:4326) — GPS receivers, most GIS software;
* ``CGCS2000`` (EPSG:4490) — the national geodetic datum; within centimetres of
  WGS84, converted through pyproj;
* ``GCJ02`` — the obfuscated "Mars" system required of web maps in mainland China
  (AMap/Gaode, Tencent); offsets of a few hundred metres;
* ``BD09`` — Baidu's further offset on top of GCJ-02.

The forward GCJ-02 and BD-09 transforms are the published formulas. Their
inverses have no closed form; they are solved here by fixed-point iteration to
1e-10 degrees (about 0.01 mm), far below a metre.

All functions are vectorised over numpy arrays and return new arrays.

Examples
--------
>>> import numpy as np
>>> lon, lat = np.array([108.3665]), np.array([22.8170])
>>> glon, glat = wgs84_to_gcj02(lon, lat)
>>> bool(abs(glon[0] - lon[0]) > 1e-4)
True
>>> wlon, wlat = gcj02_to_wgs84(glon, glat)
>>> bool(np.allclose([wlon[0], wlat[0]], [108.3665, 22.8170], atol=1e-9))
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

from analytics.errors import UnknownCRSError

FloatArray = NDArray[np.float64]
LonLat = tuple[FloatArray, FloatArray]

_A: Final = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE: Final = 0.00669342162296594323  # its first eccentricity squared
_X_PI: Final = np.pi * 3000.0 / 180.0

#: Canonical names of the supported coordinate systems.
CRS_NAMES: Final = ("WGS84", "CGCS2000", "GCJ02", "BD09")

_CRS_ALIASES: Final[dict[str, str]] = {
    "wgs84": "WGS84",
    "wgs-84": "WGS84",
    "wgs 84": "WGS84",
    "epsg:4326": "WGS84",
    "4326": "WGS84",
    "crs84": "WGS84",
    "gps": "WGS84",
    "cgcs2000": "CGCS2000",
    "cgcs-2000": "CGCS2000",
    "epsg:4490": "CGCS2000",
    "4490": "CGCS2000",
    "国家2000": "CGCS2000",
    "2000国家大地坐标系": "CGCS2000",
    "gcj02": "GCJ02",
    "gcj-02": "GCJ02",
    "gcj_02": "GCJ02",
    "火星坐标": "GCJ02",
    "火星坐标系": "GCJ02",
    "高德": "GCJ02",
    "腾讯": "GCJ02",
    "amap": "GCJ02",
    "bd09": "BD09",
    "bd-09": "BD09",
    "bd_09": "BD09",
    "bd09ll": "BD09",
    "百度": "BD09",
    "百度坐标": "BD09",
    "baidu": "BD09",
}


def normalize_crs_name(name: str) -> str:
    """Return the canonical CRS name for a user-supplied label.

    Parameters
    ----------
    name : str
        A label such as ``"gcj-02"``, ``"EPSG:4490"`` or ``"百度"``.

    Returns
    -------
    str
        One of :data:`CRS_NAMES`.

    Raises
    ------
    UnknownCRSError
        When the label names no supported system.

    Examples
    --------
    >>> normalize_crs_name(" Gcj-02 ")
    'GCJ02'
    >>> normalize_crs_name("EPSG:4490")
    'CGCS2000'
    """
    key = str(name).strip().lower()
    if key.upper() in CRS_NAMES:
        return key.upper()
    try:
        return _CRS_ALIASES[key]
    except KeyError:
        raise UnknownCRSError(f"unknown coordinate system {name!r}") from None


def _as_float(values: ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def in_china_envelope(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points lie in the rough envelope where GCJ-02 offsets apply.

    Examples
    --------
    >>> in_china_envelope([108.0, 2.35], [22.0, 48.85]).tolist()
    [True, False]
    """
    x, y = _as_float(lon), _as_float(lat)
    return (x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271)


def _gcj_offset(lon: FloatArray, lat: FloatArray) -> LonLat:
    """GCJ-02 minus WGS84 at WGS84 positions, in degrees."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = in_china_envelope(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS84 longitude/latitude to GCJ-02 (points outside China unchanged).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02([116.3975], [39.9087])
    >>> [round(float(lon[0]), 4), round(float(lat[0]), 4)]
    [116.4037, 39.9101]
    """
    x, y = _as_float(lon), _as_float(lat)
    dlon, dlat = _gcj_offset(x, y)
    return x + dlon, y + dlat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 longitude/latitude to Baidu BD-09."""
    x, y = _as_float(lon), _as_float(lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert WGS84 longitude/latitude to Baidu BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(
    forward: Callable[[FloatArray, FloatArray], LonLat],
    lon: FloatArray,
    lat: FloatArray,
    tol_deg: float = 1e-10,
    max_iter: int = 30,
) -> LonLat:
    """Solve ``forward(x) == target`` by fixed-point iteration from the target."""
    x, y = lon.copy(), lat.copy()
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x -= ex
        y -= ey
        if not (
            np.nanmax(np.abs(ex), initial=0.0) > tol_deg
            or np.nanmax(np.abs(ey), initial=0.0) > tol_deg
        ):
            break
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert GCJ-02 longitude/latitude to WGS84 (iterative, error < 1e-9°).

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(*wgs84_to_gcj02([110.29], [25.27]))
    >>> [round(float(lon[0]), 9), round(float(lat[0]), 9)]
    [110.29, 25.27]
    """
    return _invert(wgs84_to_gcj02, _as_float(lon), _as_float(lat))


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert Baidu BD-09 longitude/latitude to GCJ-02 (iterative)."""
    return _invert(gcj02_to_bd09, _as_float(lon), _as_float(lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert Baidu BD-09 longitude/latitude to WGS84 (iterative, error < 1e-9°).

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09([109.41], [24.33]))
    >>> [round(float(lon[0]), 9), round(float(lat[0]), 9)]
    [109.41, 24.33]
    """
    return _invert(wgs84_to_bd09, _as_float(lon), _as_float(lat))


@lru_cache(maxsize=4)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def cgcs2000_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    """Convert CGCS2000 (EPSG:4490) longitude/latitude to WGS84 through pyproj."""
    x, y = _transformer("EPSG:4490", "EPSG:4326").transform(_as_float(lon), _as_float(lat))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _identity(lon: ArrayLike, lat: ArrayLike) -> LonLat:
    return _as_float(lon).copy(), _as_float(lat).copy()


_TO_WGS84: Final[dict[str, Callable[[ArrayLike, ArrayLike], LonLat]]] = {
    "WGS84": _identity,
    "CGCS2000": cgcs2000_to_wgs84,
    "GCJ02": gcj02_to_wgs84,
    "BD09": bd09_to_wgs84,
}

_FROM_WGS84: Final[dict[str, Callable[[ArrayLike, ArrayLike], LonLat]]] = {
    "WGS84": _identity,
    "CGCS2000": lambda lon, lat: _transformer("EPSG:4326", "EPSG:4490").transform(
        _as_float(lon), _as_float(lat)
    ),
    "GCJ02": wgs84_to_gcj02,
    "BD09": wgs84_to_bd09,
}


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert coordinates in any supported system to WGS84.

    Parameters
    ----------
    lon, lat : array_like
        Coordinates in ``crs``.
    crs : str
        Any label accepted by :func:`normalize_crs_name`.

    Examples
    --------
    >>> lon, lat = to_wgs84(*wgs84_to_bd09([108.0], [22.5]), crs="百度")
    >>> round(float(lon[0]), 8), round(float(lat[0]), 8)
    (108.0, 22.5)
    """
    return _TO_WGS84[normalize_crs_name(crs)](lon, lat)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> LonLat:
    """Convert WGS84 coordinates to any supported system (see :func:`to_wgs84`)."""
    x, y = _FROM_WGS84[normalize_crs_name(crs)](lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
