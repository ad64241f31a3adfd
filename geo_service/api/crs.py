"""OGC API - Features Part 2: the CRSs the service answers in, and axis order."""

from __future__ import annotations

import geopandas as gpd
import shapely
from pyproj import CRS, Transformer

from geo_service.core.errors import BadFilterError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
SUPPORTED = {
    CRS84: "OGC:CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4490": "EPSG:4490",
    "http://www.opengis.net/def/crs/EPSG/0/3857": "EPSG:3857",
    "http://www.opengis.net/def/crs/EPSG/0/4326": "EPSG:4326",
}


#: Short forms clients send for the offered CRSs (``EPSG:4490``, ``OGC:CRS84``, URNs).
_SHORT = {
    **{code.upper(): uri for uri, code in SUPPORTED.items()},
    "CRS84": CRS84,
    **{
        f"URN:OGC:DEF:CRS:{code.replace(':', '::').upper()}": uri
        for uri, code in SUPPORTED.items()
        if code.startswith("EPSG")
    },
    "URN:OGC:DEF:CRS:OGC:1.3:CRS84": CRS84,
}


def parse_crs(uri: str | None) -> str:
    """The supported CRS's URI (CRS84 when none is asked for); the short forms
    ``EPSG:4490``, ``OGC:CRS84`` and their URNs name the same CRSs."""
    if uri is None:
        return CRS84
    text = uri.strip()
    if text in SUPPORTED:
        return text
    found = _SHORT.get(text.upper()) or _SHORT.get(text.upper().strip("[]"))
    if found is None:
        offered = ", ".join(SUPPORTED.values())
        raise BadFilterError(
            f"不提供坐标系 {uri!r}，可用：{offered} (crs {uri!r} is not offered; use one of "
            f"{', '.join(SUPPORTED)} or {offered})"
        )
    return found


def _latitude_first(uri: str) -> bool:
    return CRS(SUPPORTED[uri]).axis_info[0].direction == "north"


def to_response_crs(frame: gpd.GeoDataFrame, uri: str) -> gpd.GeoDataFrame:
    """Features in ``uri``, coordinates in that CRS's own axis order (EPSG:4490: lat, lon)."""
    if uri == CRS84:
        return frame
    out = frame.to_crs(SUPPORTED[uri])
    if _latitude_first(uri):
        out = out.set_geometry(shapely.transform(out.geometry.to_numpy(), lambda xy: xy[:, ::-1]))
    return out


def bbox_to_crs84(
    bbox: tuple[float, float, float, float], uri: str
) -> tuple[float, float, float, float]:
    """A ``bbox`` given in ``bbox-crs`` (in its axis order) as CRS84 lon/lat bounds."""
    if uri == CRS84:
        return bbox
    a, b, c, d = bbox
    if _latitude_first(uri):
        a, b, c, d = b, a, d, c
    transformer = Transformer.from_crs(SUPPORTED[uri], "OGC:CRS84", always_xy=True)
    x0, y0, x1, y1 = transformer.transform_bounds(a, b, c, d)
    return x0, y0, x1, y1
