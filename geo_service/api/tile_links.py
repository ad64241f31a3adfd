"""What OGC API - Tiles adds to the Features documents: conformance classes and the links
from each collection to its tile sets (:mod:`geo_service.api.ogc_tiles` serves them)."""

from __future__ import annotations

from typing import Any, Final

#: OGC API - Tiles conformance classes the service implements.
CONFORMANCE: Final = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]
#: The heat surface: a ``map`` tile set (PNG); every feature collection has a ``vector`` one.
HEAT: Final = "kde"


def tileset_links(base: str, collection: str) -> list[dict[str, Any]]:
    """The link of a collection document to its tile sets (GDAL's OGCAPI driver and QGIS
    follow ``tilesets-vector`` / ``tilesets-map``).

    Examples
    --------
    >>> tileset_links("http://h", "hexagons")[0]["rel"]
    'http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector'
    """
    kind = "map" if collection == HEAT else "vector"
    return [
        {
            "href": f"{base}/collections/{collection}/tiles",
            "rel": f"http://www.opengis.net/def/rel/ogc/1.0/tilesets-{kind}",
            "type": "application/json",
            "title": "瓦片集 Tile sets",
        }
    ]
