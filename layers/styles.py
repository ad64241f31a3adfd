"""Mapbox GL style documents (style spec v8) of the service's vector tile layers.

One style per tile layer, drawn in the colours the service's own maps use
(:mod:`layers.maps`): Gi* bins, cluster and outlier types, risk tiers, the hexagon
ramp, case points and their aggregates. MapLibre, Mapbox GL, QGIS (Load style from a
Mapbox GL JSON), ArcGIS Pro (through its vector tile style support) read it. Pure: the
tile URL template in, a JSON-ready dict out.
"""

from __future__ import annotations

from typing import Any, Final

from layers.maps import (
    AGGREGATE_COLOUR,
    CASE_COLOUR,
    GI_CLASSES,
    HEXAGON_BREAKS,
    MORAN_CLASSES,
    RISK_TIER_CLASSES,
    YL_OR_RD,
)

#: Layers drawn by one attribute's classes: layer → (attribute, ((value, colour), …)).
_CATEGORIES: Final[dict[str, tuple[str, tuple[tuple[Any, str], ...]]]] = {
    "hotspots": ("gi_bin", tuple((v, c) for v, c, _ in GI_CLASSES)),
    "local-moran": ("co_type", tuple((v, c) for v, c, _ in MORAN_CLASSES)),
    "risk": ("tier", tuple((v, c) for v, c, _ in RISK_TIER_CLASSES)),
}
#: Outline-only layers and their stroke colours.
_OUTLINES: Final = {
    "jurisdictions": "#3c3c3c",
    "clusters": "#e6550d",
    "priority-areas": "#7a0177",
}
_POINT_COLOURS: Final = {
    "cases": CASE_COLOUR,
    "inspections": "#3182bd",
    "enterprises": "#636363",
    "projects": "#31a354",
    "risk": "#d7191c",
}
_DEFAULT_FILL: Final = "#fd8d3c"
_POLYGON: Final = ["==", ["geometry-type"], "Polygon"]
_POINT: Final = ["==", ["geometry-type"], "Point"]


def fill_colour(layer: str) -> Any:
    """The fill colour expression of a polygon layer, as the service's maps draw it.

    Examples
    --------
    >>> fill_colour("risk")[:4]
    ['match', ['get', 'tier'], 'high', '#d7191c']
    >>> fill_colour("hexagons")[:4]
    ['step', ['get', 'cases'], '#ffffcc', 2]
    """
    if layer in _CATEGORIES:
        attribute, classes = _CATEGORIES[layer]
        pairs = [item for value, colour in classes for item in (value, colour)]
        return ["match", ["get", attribute], *pairs, "#cccccc"]
    if layer == "hexagons":
        steps: list[Any] = ["step", ["get", "cases"], YL_OR_RD[0]]
        for brk, colour in zip(HEXAGON_BREAKS[1:], YL_OR_RD[1:], strict=False):
            steps += [brk, colour]
        return steps
    return _DEFAULT_FILL


def _point_layers(layer: str, source: str) -> list[dict[str, Any]]:
    colour = _POINT_COLOURS.get(layer, CASE_COLOUR)
    aggregated = ["==", ["get", "aggregated"], True]
    return [
        {
            "id": f"{layer}-aggregated",
            "type": "circle",
            "source": source,
            "source-layer": layer,
            "filter": ["all", _POINT, aggregated],
            "paint": {
                "circle-color": AGGREGATE_COLOUR,
                "circle-opacity": 0.7,
                "circle-radius": ["interpolate", ["linear"], ["get", "count"], 1, 4, 1000, 18],
            },
        },
        {
            "id": f"{layer}-points",
            "type": "circle",
            "source": source,
            "source-layer": layer,
            "filter": ["all", _POINT, ["!", aggregated]],
            "paint": {
                "circle-color": colour,
                "circle-radius": 4,
                "circle-stroke-color": "#ffffff",
                "circle-stroke-width": 0.8,
            },
        },
    ]


def _polygon_layers(layer: str, source: str) -> list[dict[str, Any]]:
    line: dict[str, Any] = {
        "id": f"{layer}-outline",
        "type": "line",
        "source": source,
        "source-layer": layer,
        "filter": _POLYGON,
        "paint": {"line-color": _OUTLINES.get(layer, "#787878"), "line-width": 1.0},
    }
    if layer in _OUTLINES:
        return [{**line, "paint": {"line-color": _OUTLINES[layer], "line-width": 1.5}}]
    fill = {
        "id": f"{layer}-fill",
        "type": "fill",
        "source": source,
        "source-layer": layer,
        "filter": _POLYGON,
        "paint": {"fill-color": fill_colour(layer), "fill-opacity": 0.75},
    }
    return [fill, {**line, "paint": {"line-color": "#787878", "line-width": 0.2}}]


def mapbox_style(
    layer: str,
    title: str,
    tiles: str,
    bounds: tuple[float, float, float, float],
    maxzoom: int,
) -> dict[str, Any]:
    """A Mapbox GL style (v8) drawing the vector tile layer ``layer`` from ``tiles`` (an
    ``{z}/{x}/{y}`` URL template): polygons filled (or outlined) in the maps' colours,
    points as circles, aggregated points sized by their count.

    Examples
    --------
    >>> doc = mapbox_style("hotspots", "热点", "http://h/t/{z}/{x}/{y}.mvt", (0, 0, 1, 1), 14)
    >>> doc["version"], [lyr["type"] for lyr in doc["layers"]]
    (8, ['fill', 'line', 'circle', 'circle'])
    """
    west, south, east, north = bounds
    return {
        "version": 8,
        "name": title,
        "metadata": {"geo-service:layer": layer},
        "center": [(west + east) / 2, (south + north) / 2],
        "zoom": 8,
        "sources": {
            layer: {
                "type": "vector",
                "tiles": [tiles],
                "minzoom": 0,
                "maxzoom": maxzoom,
                "bounds": [west, south, east, north],
            }
        },
        "layers": [*_polygon_layers(layer, layer), *_point_layers(layer, layer)],
    }
