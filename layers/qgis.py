"""A QGIS 3 project (``.qgs`` XML) that opens with a running service's live layers.

OGC API - Features layers (QGIS provider ``OAPIF``), Mapbox vector tiles
(``vectortile``), XYZ raster tiles (``wms`` with ``type=xyz``) and the KDE
GeoTIFF read by GDAL, each styled, in groups with Chinese names, over a
project in CGCS2000 (EPSG:4490, the national datum the bureaus' own data are in;
QGIS reprojects the WGS84 features and Web Mercator tiles on the fly) framed on
the data. Pure: the service's address, the layers and the extent in, XML text out.

An account's project names a QGIS authentication configuration in every data source
(``authcfg=geosvc1``), never the key: :func:`auth_config_xml` is that configuration
(QGIS's ``Basic`` method, the key as the password, as the service reads HTTP Basic),
which the user imports once into QGIS (Settings ▸ Options ▸ Authentication ▸ Import).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlencode

import numpy as np
from pyproj import CRS

from analytics.projection import EQUAL_AREA_CRS, EQUAL_AREA_PROJ

RGB = tuple[int, int, int]
Bounds = tuple[float, float, float, float]  # west, south, east, north (lon/lat)

#: Project CRS: CGCS2000, the national geodetic system every Chinese government map uses.
PROJECT_CRS = "EPSG:4490"
#: QGIS needs the project file version; 3.22 (Debian 12) and every later 3.x read it.
QGIS_VERSION = "3.22.16-Białowieża"
_TILE_ZOOMS = {"vectortile": (0, 14), "xyz": (0, 18)}
#: Id of the authentication configuration the project's sources name (QGIS ids are 7
#: characters, letters and digits); :func:`auth_config_xml` makes it.
AUTH_CONFIG_ID = "geosvc1"
#: Features per OGC API request QGIS asks for (``limit``): a few requests a view.
OAPIF_PAGE_SIZE = 1000
#: Point records are drawn from this scale down (1:250 000, a county or closer): over a
#: city or the region they are what the hexagons and hot spots summarise.
POINT_MIN_SCALE = 250_000
_PROJ4 = {
    "EPSG:4490": "+proj=longlat +ellps=GRS80 +no_defs",
    "EPSG:4326": "+proj=longlat +datum=WGS84 +no_defs",
    "EPSG:3857": "+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1"
    " +units=m +nadgrids=@null +wktext +no_defs",
    "EPSG:6933": "+proj=cea +lat_ts=30 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs",
}
_LAYER_CRS = {
    "oapif": "EPSG:4326",
    "vectortile": "EPSG:3857",
    "xyz": "EPSG:3857",
    "gtiff": "EPSG:6933",  # layers.rasters.DELIVERABLE_CRS, the downloaded kde.tif's
}


@dataclass(frozen=True)
class StyleClass:
    """One class of a categorised (``value``) or graduated (``lower`` … ``upper``) style."""

    label: str
    colour: RGB
    value: int | str | None = None
    lower: float | None = None
    upper: float | None = None
    width_mm: float | None = None  # outline width of this class, if not the layer's

    def expression(self, attribute: str) -> str:
        """The QGIS filter expression selecting this class's features."""
        if isinstance(self.value, str):
            return f"\"{attribute}\" = '{self.value}'"
        if self.value is not None:
            return f'"{attribute}" = {self.value}'
        if self.upper is None:  # open above: coarser tiles may hold larger counts
            return f'"{attribute}" >= {self.lower:g}'
        return f'"{attribute}" >= {self.lower:g} AND "{attribute}" <= {self.upper:g}'


@dataclass(frozen=True)
class Symbology:
    """How a vector layer is drawn: one symbol, or classes of an attribute."""

    geometry: Literal["point", "polygon", "raster"]
    colour: RGB = (227, 26, 28)
    attribute: str = ""
    classes: tuple[StyleClass, ...] = ()
    outline_only: bool = False
    outline_mm: float = 0.26
    size_mm: float = 2.0


@dataclass(frozen=True)
class ServiceLayer:
    """A layer of the service as QGIS reaches it.

    ``key`` is the collection id: the OAPIF typename and the layer name inside its tiles.
    ``path`` is the collection id for ``oapif``, else the tile URL template
    relative to the service root (``tiles/kde/{z}/{x}/{y}.png``), or the file to
    stream for ``gtiff`` (``downloads/kde.tif``, read by GDAL through ``/vsicurl_streaming/``).
    """

    key: str
    title: str
    kind: Literal["oapif", "vectortile", "xyz", "gtiff"]
    path: str
    group: str
    symbology: Symbology | None = None
    visible: bool = True
    opacity: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)
    min_scale: int | None = None  # drawn only at this scale denominator or closer
    abstract: str = ""  # the layer metadata's abstract (provenance of analytic layers)

    @property
    def layer_id(self) -> str:
        """A stable project id (QGIS ignores ids of 10 characters or fewer and makes new ones)."""
        return f"{self.key.replace('-', '_')}_{uuid.uuid5(uuid.NAMESPACE_URL, self.key).hex}"


#: ArcGIS hot spot colours and their Chinese/English legend, by Gi* bin (−3 … 3).
GI_BINS: tuple[tuple[int, RGB, str], ...] = (
    (3, (214, 47, 39), "热点 99% 置信度 Hot spot 99%"),
    (2, (237, 117, 81), "热点 95% 置信度 Hot spot 95%"),
    (1, (250, 185, 132), "热点 90% 置信度 Hot spot 90%"),
    (0, (255, 255, 191), "不显著 Not significant"),
    (-1, (192, 204, 190), "冷点 90% 置信度 Cold spot 90%"),
    (-2, (132, 158, 186), "冷点 95% 置信度 Cold spot 95%"),
    (-3, (69, 117, 181), "冷点 99% 置信度 Cold spot 99%"),
)
_REDS: tuple[RGB, ...] = (
    (254, 229, 217),
    (252, 174, 145),
    (251, 106, 74),
    (222, 45, 38),
    (165, 15, 21),
)


#: Risk tiers: high red, medium orange, low pale yellow.
RISK_TIERS: tuple[tuple[str, RGB, str], ...] = (
    ("high", (215, 25, 28), "高风险 High risk"),
    ("medium", (253, 141, 60), "中风险 Medium risk"),
    ("low", (255, 255, 178), "低风险 Low risk"),
)


def risk_tier_classes() -> tuple[StyleClass, ...]:
    """The three risk tiers, high first."""
    return tuple(StyleClass(label, colour, value=tier) for tier, colour, label in RISK_TIERS)


def gi_bin_classes() -> tuple[StyleClass, ...]:
    """The seven Gi* confidence classes, hot 99 % first."""
    return tuple(StyleClass(label, colour, value=b) for b, colour, label in GI_BINS)


def count_classes(values: Sequence[float], n_classes: int = 5) -> tuple[StyleClass, ...]:
    """Graduated classes of counts by quantiles of the positive values (whole-number breaks).

    The last class is open above (``upper`` None).

    Examples
    --------
    >>> [(c.lower, c.upper) for c in count_classes([1, 1, 2, 3, 5, 8, 13, 40], 3)]
    [(1.0, 3.0), (4.0, 8.0), (9.0, None)]
    """
    positive = np.asarray(values, dtype=float)
    positive = positive[positive > 0]
    if positive.size == 0:
        return (StyleClass("≥ 1", _REDS[-1], lower=1.0),)
    cuts = np.quantile(positive, np.linspace(0, 1, n_classes + 1)[1:-1], method="higher")
    lowers = np.unique(np.concatenate([[positive.min()], np.floor(cuts) + 1]))
    lowers = lowers[lowers <= positive.max()]
    uppers = np.append(lowers[1:] - 1, positive.max())
    ramp = np.linspace(0, len(_REDS) - 1, lowers.size).round().astype(int)
    classes = [
        StyleClass(
            f"{lo:g} – {hi:g}" if hi > lo else f"{lo:g}", _REDS[r], lower=float(lo), upper=float(hi)
        )
        for lo, hi, r in zip(lowers[:-1], uppers[:-1], ramp[:-1], strict=True)
    ]
    classes.append(StyleClass(f"≥ {lowers[-1]:g}", _REDS[ramp[-1]], lower=float(lowers[-1])))
    return tuple(classes)


_YLORRD: tuple[RGB, ...] = (
    (255, 255, 178),
    (254, 217, 118),
    (254, 178, 76),
    (253, 141, 60),
    (240, 59, 32),
    (189, 0, 38),
)
_DENSITY_SHARES = (0.0, 0.02, 0.1, 0.35, 0.7, 1.0)


def density_ramp(peak: float, units: str = "件/km²") -> tuple[StyleClass, ...]:
    """Colour stops of a density surface at shares of its ``peak`` (the first transparent).

    Examples
    --------
    >>> [c.lower for c in density_ramp(2.0)]
    [0.0, 0.04, 0.2, 0.7, 1.4, 2.0]
    """
    return tuple(
        StyleClass(f"{share * peak:.3g} {units}", colour, lower=round(share * peak, 12))
        for share, colour in zip(_DENSITY_SHARES, _YLORRD, strict=True)
    )


def enforcement_layers(
    hexagon_counts: Sequence[float], kde_peak: float | None = None, account: bool = True
) -> list[ServiceLayer]:
    """The service's layers for GIS staff: records, analyses and the division outlines.

    ``kde_peak`` (cases per km²) adds the KDE GeoTIFF itself, values and all, styled to it.
    Without an ``account`` the layers a visitor cannot read (point records, risk and
    priority areas) are left out. The project opens on what renders in seconds: the
    outlines, the hot spots and the priority areas (tiles or a few polygons); the point
    records, drawn at :data:`POINT_MIN_SCALE` or closer, and the other analyses are off.
    """
    records, analysis, borders = (
        "执法记录 Enforcement records",
        "分析图层 Analysis",
        "边界 Boundaries",
    )
    levels = tuple(
        StyleClass(label, (60, 60, 60), value=level, width_mm=width)
        for level, label, width in (
            ("province", "省界 Province", 0.8),
            ("city", "市界 City", 0.5),
            ("county", "县界 County", 0.2),
        )
    )
    point_records = [
        ServiceLayer(
            "cases",
            "行政处罚案件 Penalty cases",
            "oapif",
            "cases",
            records,
            Symbology("point", (227, 26, 28)),
            visible=False,
            min_scale=POINT_MIN_SCALE,
        ),
        ServiceLayer(
            "inspections",
            "现场检查 Inspection findings",
            "oapif",
            "inspections",
            records,
            Symbology("point", (49, 130, 189), size_mm=1.6),
            visible=False,
            min_scale=POINT_MIN_SCALE,
        ),
        ServiceLayer(
            "enterprises",
            "污染源 Pollution sources",
            "oapif",
            "enterprises",
            records,
            Symbology("point", (99, 99, 99), size_mm=1.4),
            visible=False,
            min_scale=POINT_MIN_SCALE,
        ),
    ]
    accounts_only = [
        ServiceLayer(
            "risk",
            "风险分级 Risk tiers",
            "vectortile",
            "tiles/risk/{z}/{x}/{y}.mvt",
            analysis,
            Symbology("polygon", attribute="tier", classes=risk_tier_classes(), outline_mm=0.1),
            visible=False,
            opacity=0.75,
        ),
        ServiceLayer(
            "priority-areas",
            "重点检查区域 Priority areas",
            "oapif",
            "priority-areas",
            analysis,
            Symbology("polygon", (122, 1, 119), outline_only=True, outline_mm=0.8),
        ),
    ]
    return [
        *(point_records if account else []),
        ServiceLayer(
            "jurisdictions",
            "行政区划 Jurisdictions",
            "oapif",
            "jurisdictions",
            borders,
            Symbology("polygon", attribute="level", classes=levels, outline_only=True),
        ),
        ServiceLayer(
            "hotspots",
            "热点 Gi* hot spots",
            "vectortile",
            "tiles/hotspots/{z}/{x}/{y}.mvt",
            analysis,
            Symbology("polygon", attribute="gi_bin", classes=gi_bin_classes(), outline_mm=0.1),
            opacity=0.8,
        ),
        ServiceLayer(
            "hexagons",
            "H3 六边形案件数 Cases per hexagon",
            "vectortile",
            "tiles/hexagons/{z}/{x}/{y}.mvt",
            analysis,
            Symbology(
                "polygon", attribute="cases", classes=count_classes(hexagon_counts), outline_mm=0.1
            ),
            visible=False,
            opacity=0.8,
        ),
        ServiceLayer(
            "kde",
            "案件核密度 Case density (KDE)",
            "xyz",
            "tiles/kde/{z}/{x}/{y}.png",
            analysis,
            visible=False,
            opacity=0.75,
        ),
        *(
            []
            if kde_peak is None
            else [
                ServiceLayer(
                    "kde-geotiff",
                    "案件核密度值 Case density GeoTIFF (件/km²)",
                    "gtiff",
                    "downloads/kde.tif",
                    analysis,
                    Symbology("raster", classes=density_ramp(kde_peak)),
                    visible=False,
                    opacity=0.75,
                )
            ]
        ),
        ServiceLayer(
            "clusters",
            "案件聚集区 Case clusters",
            "oapif",
            "clusters",
            analysis,
            Symbology("polygon", (230, 85, 13), outline_only=True, outline_mm=0.6),
            visible=False,
        ),
        *(accounts_only if account else []),
    ]


#: The analytic layer each project layer draws (the GeoTIFF is the kde layer's surface).
ANALYTIC_SOURCES = {
    "hotspots": "hotspots",
    "hexagons": "hexagons",
    "kde": "kde",
    "kde-geotiff": "kde",
    "clusters": "clusters",
    "risk": "risk",
    "priority-areas": "priority-areas",
}


@dataclass(frozen=True)
class Provenance:
    """How a built layer was made, as the service's answers say it."""

    data_version: int
    built_at: str  # ISO 8601
    parameters: dict[str, object]
    filters: dict[str, object]

    def abstract(self, title: str) -> str:
        """The layer's abstract: what it is and its provenance, in Chinese and English."""
        parameters = ", ".join(f"{k}={v}" for k, v in sorted(self.parameters.items())) or "—"
        filters = ", ".join(f"{k}={v}" for k, v in sorted(self.filters.items())) or "—"
        return (
            f"{title}\n"
            f"数据版本 Data version: {self.data_version}\n"
            f"生成时间 Built at: {self.built_at}\n"
            f"生成参数 Build parameters: {parameters}\n"
            f"筛选条件 Filters: {filters}"
        )


def layer_source(
    layer: ServiceLayer, base_url: str, query: dict[str, str], authcfg: str | None = None
) -> str:
    """The QGIS data source of ``layer`` on the service at ``base_url``, with ``query``;
    ``authcfg`` names the authentication configuration QGIS signs its requests with."""
    base = base_url.rstrip("/") + "/"
    if layer.kind == "oapif":
        url = base + (f"?{urlencode(query)}" if query else "")
        source = (
            f"url='{url}' typename='{layer.path}' restrictToRequestBBOX='1'"
            f" pageSize='{OAPIF_PAGE_SIZE}'"
        )
        return source + (f" authcfg='{authcfg}'" if authcfg else "")
    parameters = {**query, **layer.extra}
    url = base + layer.path + (f"?{urlencode(parameters)}" if parameters else "")
    if layer.kind == "gtiff":  # GDAL reads it by ranges; QGIS signs /vsicurl/ URLs alone
        return f"/vsicurl/{url}" + (f" authcfg='{authcfg}'" if authcfg else "")
    zmin, zmax = _TILE_ZOOMS[layer.kind]
    source = f"type=xyz&url={quote(url, safe=':/?=')}&zmin={zmin}&zmax={zmax}"
    return source + (f"&authcfg={authcfg}" if authcfg else "")


def project_xml(
    base_url: str,
    layers: Sequence[ServiceLayer],
    bounds: Bounds,
    query: dict[str, str] | None = None,
    title: str = "环境执法地图 Environmental enforcement",
    authcfg: str | None = None,
) -> str:
    """A QGIS 3 project over ``layers`` of the service at ``base_url``, framed on ``bounds``.

    ``query`` (the service filters) is added to every layer's URL, and ``authcfg`` (the
    id of an authentication configuration, :data:`AUTH_CONFIG_ID`) to every data source.
    """
    query = {k: str(v) for k, v in (query or {}).items()}
    if query:
        title += " · " + ", ".join(f"{k}={v}" for k, v in query.items())
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    ET.SubElement(ET.SubElement(root, "projectCrs"), "spatialrefsys").extend(_srs(PROJECT_CRS))
    sources = {layer.layer_id: layer_source(layer, base_url, query, authcfg) for layer in layers}
    root.append(_layer_tree(layers, sources))
    project_layers = ET.SubElement(root, "projectlayers")
    for layer in layers:
        project_layers.append(_map_layer(layer, sources[layer.layer_id]))
    order = ET.SubElement(root, "layerorder")
    for layer in layers:
        ET.SubElement(order, "layer", id=layer.layer_id)
    root.append(_properties())
    root.extend(_view(bounds))
    ET.indent(root)
    doctype = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
    return doctype + ET.tostring(root, encoding="unicode") + "\n"


def auth_config_xml(base_url: str, key: str, name: str = "geo-service") -> str:
    """The QGIS authentication configuration :data:`AUTH_CONFIG_ID` for ``key``: an
    unencrypted export of QGIS ≥ 3.20 (``QgsAuthManager.importAuthenticationConfigsFromXml``,
    or Settings ▸ Options ▸ Authentication ▸ Import with no password). QGIS's ``Basic``
    method: QGIS sends ``Authorization: Basic`` with the key as the password."""
    root = ET.Element("qgis_authentication")
    config = ET.SubElement(
        ET.SubElement(root, "configurations"),
        "AuthMethodConfig",
        method="Basic",
        id=AUTH_CONFIG_ID,
        name=name,
        uri=base_url.rstrip("/") + "/",
        version="2",
    )
    ET.SubElement(config, "Config", username="gis", password=key, realm="")
    ET.indent(root)
    return "<!DOCTYPE qgis_authentication>\n" + ET.tostring(root, encoding="unicode") + "\n"


def _srs(authid: str) -> list[ET.Element]:
    """A QGIS ``spatialrefsys``: an EPSG code, or ``EQUAL_AREA`` (the KDE rasters' own CRS)."""
    if authid == "EQUAL_AREA":
        crs, proj4, srid, authid = EQUAL_AREA_CRS, EQUAL_AREA_PROJ, "0", ""
    else:
        crs, proj4, srid = CRS.from_user_input(authid), _PROJ4[authid], authid.split(":")[1]
    values = {
        "wkt": crs.to_wkt(),
        "proj4": proj4,
        "srid": srid,
        "authid": authid,
        "description": crs.name if authid else "等积 Albers equal-area (km² true)",
        "geographicflag": "true" if crs.is_geographic else "false",
    }
    elements = []
    for tag, text in values.items():
        element = ET.Element(tag)
        element.text = text
        elements.append(element)
    return elements


def _layer_tree(layers: Sequence[ServiceLayer], sources: dict[str, str]) -> ET.Element:
    tree = ET.Element("layer-tree-group")
    groups: dict[str, ET.Element] = {}
    for layer in layers:
        if layer.group not in groups:
            groups[layer.group] = ET.SubElement(
                tree, "layer-tree-group", name=layer.group, checked="Qt::Checked", expanded="1"
            )
        ET.SubElement(
            groups[layer.group],
            "layer-tree-layer",
            id=layer.layer_id,
            name=layer.title,
            providerKey=_PROVIDER[layer.kind],
            source=sources[layer.layer_id],
            checked="Qt::Checked" if layer.visible else "Qt::Unchecked",
            expanded="1",
        )
    return tree


_PROVIDER = {"oapif": "OAPIF", "vectortile": "vectortile", "xyz": "wms", "gtiff": "gdal"}
_MAP_LAYER_TYPE = {
    "oapif": "vector",
    "vectortile": "vector-tile",
    "xyz": "raster",
    "gtiff": "raster",
}


def _map_layer(layer: ServiceLayer, source: str) -> ET.Element:
    element = ET.Element("maplayer", type=_MAP_LAYER_TYPE[layer.kind])
    if layer.min_scale is not None:  # minScale: the farthest out it is drawn (0: no limit)
        element.set("hasScaleBasedVisibilityFlag", "1")
        element.set("minScale", str(layer.min_scale))
        element.set("maxScale", "0")
    if layer.kind == "oapif" and layer.symbology is not None:
        wkb = "Point" if layer.symbology.geometry == "point" else "MultiPolygon"
        element.set("geometry", "Point" if wkb == "Point" else "Polygon")
        element.set("wkbType", wkb)
    for tag, text in (("id", layer.layer_id), ("datasource", source), ("layername", layer.title)):
        ET.SubElement(element, tag).text = text
    ET.SubElement(ET.SubElement(element, "srs"), "spatialrefsys").extend(
        _srs(_LAYER_CRS[layer.kind])
    )
    ET.SubElement(element, "provider", encoding="UTF-8").text = _PROVIDER[layer.kind]
    element.append(_metadata(layer))
    if layer.kind == "gtiff" and layer.symbology is not None:
        element.append(_pseudocolour(layer.symbology.classes, layer.opacity))
    elif layer.kind == "xyz":
        pipe = ET.SubElement(element, "pipe")
        ET.SubElement(
            pipe,
            "rasterrenderer",
            type="singlebandcolordata",
            band="1",
            alphaBand="-1",
            opacity=f"{layer.opacity:g}",
        )
    elif layer.symbology is not None and layer.kind == "vectortile":
        element.append(_tile_renderer(layer.symbology, layer.key))
    elif layer.symbology is not None:
        element.append(_feature_renderer(layer.symbology))
    ET.SubElement(element, "blendMode").text = "0"
    ET.SubElement(element, "featureBlendMode").text = "0"
    ET.SubElement(element, "layerOpacity").text = f"{layer.opacity:g}"
    return element


def _metadata(layer: ServiceLayer) -> ET.Element:
    """The layer's metadata (Layer Properties ▸ Metadata): its collection, title and
    abstract (an analytic layer's provenance)."""
    metadata = ET.Element("resourceMetadata")
    ET.SubElement(metadata, "identifier").text = layer.key
    ET.SubElement(metadata, "parentidentifier")
    ET.SubElement(metadata, "language").text = "zh"
    ET.SubElement(metadata, "type").text = "dataset"
    ET.SubElement(metadata, "title").text = layer.title
    ET.SubElement(metadata, "abstract").text = layer.abstract or layer.title
    return metadata


def _pseudocolour(stops: Sequence[StyleClass], opacity: float) -> ET.Element:
    """A single-band pseudocolour pipe interpolating between ``stops`` (first transparent)."""
    low, high = f"{stops[0].lower:g}", f"{stops[-1].lower:g}"
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "singlebandpseudocolor",
            "band": "1",
            "alphaBand": "-1",
            "opacity": f"{opacity:g}",
            "classificationMin": low,
            "classificationMax": high,
        },
    )
    shader = ET.SubElement(
        ET.SubElement(renderer, "rastershader"),
        "colorrampshader",
        {
            "colorRampType": "INTERPOLATED",
            "classificationMode": "1",
            "clip": "0",
            "minimumValue": low,
            "maximumValue": high,
        },
    )
    for i, stop in enumerate(stops):
        ET.SubElement(
            shader,
            "item",
            {
                "value": f"{stop.lower:g}",
                "label": stop.label,
                "alpha": "0" if i == 0 else "255",
                "color": "#{:02x}{:02x}{:02x}".format(*stop.colour),
            },
        )
    return pipe


def _feature_renderer(symbology: Symbology) -> ET.Element:
    """``renderer-v2``: single symbol, categorised or graduated (OGC API - Features layers)."""
    common = {"symbollevels": "0", "forceraster": "0", "enableorderby": "0"}
    symbols = ET.Element("symbols")
    if not symbology.classes:
        symbols.append(_symbol("0", symbology, symbology.colour))
        renderer = ET.Element("renderer-v2", {"type": "singleSymbol", **common})
        renderer.append(symbols)
        return renderer
    graduated = symbology.classes[0].value is None
    kind = "graduatedSymbol" if graduated else "categorizedSymbol"
    renderer = ET.Element("renderer-v2", {"type": kind, "attr": symbology.attribute, **common})
    items = ET.SubElement(renderer, "ranges" if graduated else "categories")
    for i, cls in enumerate(symbology.classes):
        symbols.append(_symbol(str(i), symbology, cls.colour, cls.width_mm))
        if graduated:
            upper = 1e12 if cls.upper is None else cls.upper
            ET.SubElement(
                items,
                "range",
                lower=f"{cls.lower:.6f}",
                upper=f"{upper:.6f}",
                label=cls.label,
                symbol=str(i),
                render="true",
            )
        else:
            ET.SubElement(
                items,
                "category",
                value=str(cls.value),
                label=cls.label,
                symbol=str(i),
                render="true",
            )
    renderer.append(symbols)
    return renderer


def _tile_renderer(symbology: Symbology, tile_layer: str) -> ET.Element:
    """The vector tile renderer: one style per class, selected by an expression.

    The styles name the tile's layer: QGIS gives features the attributes their
    expressions use only for the layer a style names.
    """
    renderer = ET.Element("renderer", type="basic")
    styles = ET.SubElement(renderer, "styles")
    for cls in symbology.classes:
        attributes = {
            "name": cls.label,
            "layer": tile_layer,
            "enabled": "1",
            "min-zoom": "-1",
            "max-zoom": "-1",
            "expression": cls.expression(symbology.attribute),
            "geometry": "2" if symbology.geometry == "polygon" else "0",
        }
        style = ET.SubElement(styles, "style", attributes)
        ET.SubElement(style, "symbols").append(_symbol("0", symbology, cls.colour, cls.width_mm))
    return renderer


def _symbol(
    name: str, symbology: Symbology, colour: RGB, width_mm: float | None = None
) -> ET.Element:
    rgba = ",".join(str(c) for c in (*colour, 255))
    if symbology.geometry == "point":
        kind, cls = "marker", "SimpleMarker"
        props = {
            "name": "circle",
            "color": rgba,
            "outline_color": "255,255,255,255",
            "outline_width": "0.2",
            "size": f"{symbology.size_mm:g}",
            "size_unit": "MM",
        }
    else:
        kind, cls = "fill", "SimpleFill"
        outline = rgba if symbology.outline_only else "120,120,120,180"
        props = {
            "color": rgba,
            "style": "no" if symbology.outline_only else "solid",
            "outline_color": outline,
            "outline_width": f"{width_mm or symbology.outline_mm:g}",
            "outline_width_unit": "MM",
            "outline_style": "solid",
        }
    symbol = ET.Element(
        "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0"
    )
    layer = ET.SubElement(
        symbol, "layer", {"class": cls, "pass": "0", "enabled": "1", "locked": "0"}
    )
    options = ET.SubElement(layer, "Option", type="Map")
    for key, value in props.items():  # 3.22+ read Option maps; older 3.x the prop pairs
        ET.SubElement(options, "Option", type="QString", name=key, value=value)
    for key, value in props.items():
        ET.SubElement(layer, "prop", k=key, v=value)
    return symbol


def _property(parent: ET.Element, tag: str, kind: str, text: str) -> None:
    ET.SubElement(parent, tag, type=kind).text = text


def _properties() -> ET.Element:
    properties = ET.Element("properties")
    _property(ET.SubElement(properties, "Measure"), "Ellipsoid", "QString", "EPSG:1024")
    measurement = ET.SubElement(properties, "Measurement")
    _property(measurement, "DistanceUnits", "QString", "meters")
    _property(measurement, "AreaUnits", "QString", "km2")
    _property(ET.SubElement(properties, "SpatialRefSys"), "ProjectionsEnabled", "int", "1")
    return properties


def _view(bounds: Bounds) -> list[ET.Element]:
    """The canvas (QGIS Desktop) and the default view (every reader) framed on ``bounds``."""
    west, south, east, north = bounds
    pad_x, pad_y = 0.03 * (east - west), 0.03 * (north - south)
    box = {"xmin": west - pad_x, "ymin": south - pad_y, "xmax": east + pad_x, "ymax": north + pad_y}
    canvas = ET.Element("mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "degrees"
    extent = ET.SubElement(canvas, "extent")
    for key, value in box.items():
        ET.SubElement(extent, key).text = f"{value:.6f}"
    ET.SubElement(canvas, "rotation").text = "0"
    ET.SubElement(ET.SubElement(canvas, "destinationsrs"), "spatialrefsys").extend(
        _srs(PROJECT_CRS)
    )
    settings = ET.Element("ProjectViewSettings", UseProjectScales="0", rotation="0")
    default = ET.SubElement(settings, "DefaultViewExtent", {k: f"{v:.6f}" for k, v in box.items()})
    ET.SubElement(default, "spatialrefsys").extend(_srs(PROJECT_CRS))
    return [canvas, settings]
