"""A map as one self-contained HTML file: opened from disk (file://) with no network.

The page :func:`layers.maps.build_map` serves, with everything it would fetch inside:
Leaflet, ``geo-maps.js`` and its styles as inline blocks (Leaflet's icons as ``data:``
URIs), each layer as GeoJSON for the file's filters in place of vector tiles (the
density surface as one PNG over its extent), and the bundled Noto Sans SC cut to the
characters the file uses, as a ``data:`` WOFF in an ``@font-face`` rule. Its filters are
fixed: the picker shows them, there is no month slider, and a hexagon's pop-up shows
what the file holds (the cell profiles stay online).

Pure: the caller loads the data (:class:`MapFileData`) and the assets
(:meth:`FileAssets.from_folder`); :func:`build_map_file` returns the HTML and raises
:class:`layers.offline.OfflineError` if the file would load anything from outside
itself (:func:`file_references`).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element
from folium.map import Layer
from folium.template import Template
from fontTools import subset
from PIL import Image

from layers.files import to_geojson_dict
from layers.heat import HeatSource
from layers.maps import MapContext, MapLayer, MapParts, render_map, script_json
from layers.offline import OfflineError
from layers.tiles import mercator_to_lonlat

#: The family every page's text is set in (geo-maps.css).
FONT_FAMILY: Final = "Noto Sans SC"
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
_CSS_URL = re.compile(r"""url\(\s*["']?(?!data:)([^"')]+)["']?\s*\)""")
#: References a browser follows by itself in markup and styles (scripts, styles, images,
#: frames, icons, fonts); links a reader may click are not among them.
_LOADED = re.compile(
    r"""<(?:script|img|iframe)\b[^>]*\bsrc\s*=\s*["'](?!data:)([^"']+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["'](?!data:)([^"']+)"""
    r"""|url\(\s*["']?(?!data:|none)([^"')]+)""",
    re.IGNORECASE,
)
_SCRIPT_BODY = re.compile(r"(<script\b[^>]*>).*?(</script>)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class HeatImage:
    """The density surface as one PNG over ``bounds`` (west, south, east, north; the image
    in Web Mercator, as Leaflet stretches it) and its legend (``/tiles/kde/legend.json``)."""

    png: bytes
    bounds: tuple[float, float, float, float]
    legend: Mapping[str, Any]


@dataclass(frozen=True)
class MapFileData:
    """What a map file holds: each layer's GeoJSON by layer id, the divisions' outlines
    (GeoJSON with ``adcode``, ``name``, ``level``), the density surface of the heat map,
    and a note saying what was cut and when (shown under the filters)."""

    layers: Mapping[str, Mapping[str, Any]]
    boundaries: Mapping[str, Any]
    heat: HeatImage | None = None
    note: str = ""


@dataclass(frozen=True)
class FileAssets:
    """The texts a map file inlines, and the font it cuts its subset from."""

    leaflet_js: str
    leaflet_css: str
    maps_js: str
    maps_css: str
    favicon_svg: str
    font: bytes  # NotoSansSC-Regular (TrueType)

    @classmethod
    def from_folder(cls, static: Path) -> FileAssets:
        """The assets under the service's ``static`` folder, Leaflet's icons as data URIs."""
        leaflet = static / "vendor" / "leaflet"
        return cls(
            leaflet_js=(leaflet / "leaflet.js").read_text("utf-8"),
            leaflet_css=inline_css_urls((leaflet / "leaflet.css").read_text("utf-8"), leaflet),
            maps_js=(static / "maps" / "geo-maps.js").read_text("utf-8"),
            maps_css=(static / "maps" / "geo-maps.css").read_text("utf-8"),
            favicon_svg=(static / "maps" / "favicon.svg").read_text("utf-8"),
            font=(static / "vendor" / "fonts" / "NotoSansSC-Regular.subset.ttf").read_bytes(),
        )


def inline_css_urls(css: str, folder: Path) -> str:
    """``css`` with each ``url(file)`` relative to ``folder`` as a ``data:`` URI (and old
    IE's ``url(#default#VML)`` as ``none``)."""

    def data_uri(match: re.Match[str]) -> str:
        if match.group(1).startswith("#"):  # old IE's VML behaviour: nothing to load
            return "none"
        path = folder / match.group(1)
        kind = {".png": "image/png", ".svg": "image/svg+xml"}.get(path.suffix, "")
        if not kind or not path.is_file():
            raise OfflineError(f"a style refers to {match.group(1)!r}, which cannot be inlined")
        return f'url("data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}")'

    return _CSS_URL.sub(data_uri, css)


def font_subset(font: bytes, text: str) -> bytes:
    """``font`` (TrueType) cut to the characters of ``text``, as WOFF (zlib: fontTools needs
    no brotli for it). Hinting and layout tables the pages do not use are dropped."""
    options = subset.Options()
    options.flavor = "woff"
    options.hinting = False
    options.layout_features = ["kern", "liga"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]  # copyright and names: the OFL asks to keep them
    options.notdef_outline = True
    loaded = subset.load_font(io.BytesIO(font), options)
    cutter = subset.Subsetter(options)
    cutter.populate(text="".join(sorted(set(text))))
    cutter.subset(loaded)
    out = io.BytesIO()
    subset.save_font(loaded, out, options)
    return out.getvalue()


def font_face(font: bytes) -> str:
    """An ``@font-face`` rule of :data:`FONT_FAMILY` from a WOFF font, inline."""
    data = base64.b64encode(font).decode("ascii")
    return (
        f'@font-face{{font-family:"{FONT_FAMILY}";font-style:normal;font-weight:400;'
        f'src:url("data:font/woff;base64,{data}") format("woff")}}'
    )


def frame_to_geojson(
    gdf: gpd.GeoDataFrame,
    properties: list[str],
    digits: int = 5,
    simplify_deg: float | None = None,
) -> dict[str, Any]:
    """A FeatureCollection of ``gdf`` (WGS84) with only ``properties`` (those it has; floats
    to 4 decimals) and coordinates rounded to ``digits`` decimals (5: about a metre), lines
    and outlines simplified to ``simplify_deg`` first (topology kept), empty geometries
    left out.

    >>> import shapely
    >>> frame = gpd.GeoDataFrame({"n": [1], "x": [2]}, geometry=[shapely.Point(1.234567, 2.0)])
    >>> feature = frame_to_geojson(frame, ["n"], digits=3)["features"][0]
    >>> feature["properties"], feature["geometry"]["coordinates"]
    ({'n': 1}, [1.235, 2.0])
    """
    kept = [p for p in properties if p in gdf.columns]
    frame = gdf[[*kept, gdf.geometry.name]].copy()
    for column in kept:  # what pop-ups show needs no more (they give 3 decimals at most)
        if pd.api.types.is_float_dtype(frame[column].dtype):
            frame[column] = frame[column].round(4)
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    if frame.crs is not None and not frame.crs.equals(4326):
        frame = frame.to_crs(4326)
    if simplify_deg:
        frame = frame.set_geometry(frame.geometry.simplify(simplify_deg, preserve_topology=True))
    doc = to_geojson_dict(frame, {})
    del doc["metadata"]
    for feature in doc["features"]:
        geometry = feature["geometry"]
        if geometry is not None:
            geometry["coordinates"] = _rounded(geometry["coordinates"], digits)
    return doc


def _rounded(coords: Any, digits: int) -> Any:
    if isinstance(coords[0], int | float):
        return [round(float(c), digits) for c in coords]
    return [_rounded(c, digits) for c in coords]


def surface_image(
    source: HeatSource, legend: Mapping[str, Any], max_px: int = 1024
) -> HeatImage | None:
    """The heat tiles' colours over the whole surface as one PNG in Web Mercator (at most
    ``max_px`` wide or high), or None where nothing shows; ``legend`` as its tiles' legend."""
    west_m, south_m, east_m, north_m = source.bounds_m
    step = max(east_m - west_m, north_m - south_m) / max_px
    nx = max(1, round((east_m - west_m) / step))
    ny = max(1, round((north_m - south_m) / step))
    mx, my = np.meshgrid(
        west_m + (np.arange(nx) + 0.5) * step, north_m - (np.arange(ny) + 0.5) * step
    )
    lat = float(np.arctan(np.sinh((south_m + north_m) / 2 / 6378137.0)))
    values = source.sample(mx.ravel(), my.ravel(), step * float(np.cos(lat)))
    rgba = source.scale.colourize(values.reshape(ny, nx))
    if not rgba[..., 3].any():
        return None
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", optimize=True)
    xs = np.array([west_m, west_m + nx * step])  # the image's own edges
    lon, lat_ = mercator_to_lonlat(xs, np.array([north_m - ny * step, north_m]))
    bounds = (float(lon[0]), float(lat_[0]), float(lon[1]), float(lat_[1]))
    return HeatImage(buffer.getvalue(), bounds, legend)


class _InlineLayer(Layer):
    """A Leaflet layer made by a JavaScript expression over inline data."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "var {{ this.get_name() }} = {{ this.js }}.addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(self, name: str, js: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "InlineLayer"
        self.js = js


def _vector_spec(layer: MapLayer) -> dict[str, Any]:
    assert layer.style is not None
    return {**layer.style, "layer": layer.id, "interactive": bool(layer.popup)}


def _inline_layer(layer: MapLayer, data: MapFileData) -> _InlineLayer:
    if layer.style is not None:
        features = data.layers.get(layer.id, {"type": "FeatureCollection", "features": []})
        js = f"GeoMaps.geojson({script_json(features)}, {script_json(_vector_spec(layer))})"
        return _InlineLayer(layer.title, js)
    if data.heat is None:  # a raster with nothing to show
        return _InlineLayer(layer.title, "L.layerGroup()")
    west, south, east, north = data.heat.bounds
    image = "data:image/png;base64," + base64.b64encode(data.heat.png).decode("ascii")
    options = {"opacity": layer.opacity, "className": f"geo-heat geo-{layer.id}"}
    bounds = [[south, west], [north, east]]
    js = f"L.imageOverlay({script_json(image)}, {script_json(bounds)}, {script_json(options)})"
    return _InlineLayer(layer.title, js)


def _boundaries(data: MapFileData) -> _InlineLayer:
    spec = {"layer": "jurisdictions", "style": "boundaries", "interactive": False}
    js = f"GeoMaps.geojson({script_json(data.boundaries)}, {script_json(spec)})"
    return _InlineLayer("行政区划 Boundaries", js)


def _inline_head(assets: FileAssets, font_css: str) -> Any:
    """The head of a map file: Leaflet and geo-maps inline, geo-maps' @font-face rules
    replaced by ``font_css``."""
    maps_css = _FONT_FACE.sub("", assets.maps_css)
    favicon = "data:image/svg+xml;base64," + base64.b64encode(assets.favicon_svg.encode()).decode()

    def head(fmap: folium.Map) -> None:
        fmap.default_js = []
        fmap.default_css = []
        header = fmap.get_root().header  # type: ignore[attr-defined]
        header.add_child(Element(f'<link rel="icon" href="{favicon}">'), name="favicon")
        header.add_child(Element(f"<style>{assets.leaflet_css}</style>"), name="leaflet_css")
        header.add_child(Element(f"<style>{font_css}{maps_css}</style>"), name="geo_maps_css")
        header.add_child(Element(_script(assets.leaflet_js)), name="leaflet")
        header.add_child(Element(_script(assets.maps_js)), name="geo_maps")

    return head


def _script(code: str) -> str:
    if "</script" in code.lower():
        raise OfflineError("a script cannot be inlined: it holds </script>")
    return f"<script>{code}</script>"


def build_map_file(
    name: str, ctx: MapContext, data: MapFileData, assets: FileAssets
) -> tuple[str, int]:
    """Map ``name`` as one HTML file holding ``data``, and the size of its font subset
    (bytes). No basemap (it would be fetched) and no links back to the service's pages.

    The font is cut to every character the page can show (:func:`page_text`), the font
    itself aside (the page is made once without it, then with it: the rule adds ASCII
    only)."""
    ctx = replace(ctx, basemap_url=None, file_path=None, home="", enterprise_path="")

    def page(font_css: str) -> str:
        parts = MapParts(
            head=_inline_head(assets, font_css),
            layer=lambda layer, _bounds: _inline_layer(layer, data),
            boundaries=lambda _bounds: _boundaries(data),
            legend=lambda legend: _file_legend(legend, data),
            config=lambda config: {**config, "time": None, "file": {"note": data.note}},
        )
        return render_map(name, ctx, parts)

    draft = page("")
    font = font_subset(assets.font, page_text(draft))
    html = page(font_face(font))
    outside = file_references(html)
    if outside:
        raise OfflineError(f"the map file would load from outside itself: {outside[:5]}")
    return html, len(font)


def page_text(html: str) -> str:
    r"""Every character a page can show: its text, and what its scripts write as ``\uXXXX``
    escapes (Folium's layer names).

    >>> page_text('"\\u884c\\u653f" 区')[-2:]
    '行政'
    """
    escaped = re.findall(r"\\u([0-9a-fA-F]{4})", html)
    return html + "".join(chr(int(code, 16)) for code in escaped)


def _file_legend(legend: dict[str, Any], data: MapFileData) -> dict[str, Any]:
    """The heat map's legend comes with the file (no /tiles/kde/legend.json to ask)."""
    if legend.get("kind") != "surface":
        return legend
    if data.heat is None:
        return {
            "kind": "classes",
            "title": legend["title"],
            "classes": [],
            "note": "该条件下没有案件 No cases match",
        }
    return {**legend, "doc": dict(data.heat.legend)}


def file_references(html: str) -> list[str]:
    """What a browser would load by itself from outside the file: a script, style, image,
    frame, icon or font that is not a ``data:`` URI.

    Scripts are read for their ``src`` only: what they make at run time is the browser
    tests' to watch.

    >>> file_references('<script src="/static/x.js"></script><a href="/x">x</a>')
    ['/static/x.js']
    >>> file_references('<script>var u = "url(t)";</script><style>i{background:url(a.png)}</style>')
    ['a.png']
    """
    markup = _SCRIPT_BODY.sub(r"\1\2", html)
    return [next(g for g in m.groups() if g) for m in _LOADED.finditer(markup)]
