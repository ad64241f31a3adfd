"""Interactive maps for leadership: Folium pages that work on an intranet with no internet.

Pure: the builder takes URLs, options and small data (picker choices, place-name
points) and returns HTML. Layers come as tiles from the service at run time, never
inlined, so a page stays small whatever the data. Every script and style is one of
the service's own ``/static`` files; :func:`build_map` raises :class:`OfflineError` if
any other ``http(s)://`` reference remains (the configured basemap excepted).

The behaviour (filter picker, month slider, legends, popups, sign-in prompt, metric
scale) is the service's ``/static/maps/geo-maps.js``; a page hands it one JSON
configuration. :func:`render_map` puts a page together from its parts, so that
:mod:`layers.map_files` can make the same map as one self-contained file.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any, Final
from urllib.parse import quote

import folium
import numpy as np
from branca.element import Element, Figure, MacroElement
from folium.plugins import VectorGridProtobuf
from folium.template import Template

from analytics.emerging import CATEGORY_LABELS
from analytics.segmenter import violation_categories
from layers.errors import LayerError
from layers.offline import check_offline

#: Filters a page passes to its layers, in the order the URLs carry them.
#: ColorBrewer YlOrRd, 8 classes (hexagon case counts).
YL_OR_RD: Final = (
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#b10026",
)
HEXAGON_BREAKS: Final = (1, 2, 5, 10, 20, 50, 100, 200)
#: Gi* confidence classes as ArcGIS draws them: −3 … 3 (cold 99 % … hot 99 %).
GI_CLASSES: Final = (
    (3, "#d62f27", "热点 99% 置信度 Hot 99%"),
    (2, "#ed7551", "热点 95% 置信度 Hot 95%"),
    (1, "#fab984", "热点 90% 置信度 Hot 90%"),
    (0, "#f7f7f2", "不显著 Not significant"),
    (-1, "#c0ccbe", "冷点 90% 置信度 Cold 90%"),
    (-2, "#849eba", "冷点 95% 置信度 Cold 95%"),
    (-3, "#4575b5", "冷点 99% 置信度 Cold 99%"),
)
#: Cluster and outlier types (ArcGIS's COType) as the map draws them: value, colour, label.
MORAN_CLASSES: Final = (
    ("HH", "#d7191c", "高高 High-High cluster"),
    ("HL", "#fdae61", "高低 High-Low outlier"),
    ("LH", "#abd9e9", "低高 Low-High outlier"),
    ("LL", "#2c7bb6", "低低 Low-Low cluster"),
    ("not_significant", "#f7f7f2", "不显著 Not significant"),
)
_PATTERN_EN: Final = (
    "New",
    "Consecutive",
    "Intensifying",
    "Persistent",
    "Diminishing",
    "Sporadic",
    "Oscillating",
    "Historical",
)
_HOT_RAMP: Final = (
    "#67000d",
    "#a50f15",
    "#cb181d",
    "#ef3b2c",
    "#fb6a4a",
    "#fc9272",
    "#fcbba1",
    "#fee0d2",
)
_COLD_RAMP: Final = (
    "#08306b",
    "#08519c",
    "#2171b5",
    "#4292c6",
    "#6baed6",
    "#9ecae1",
    "#c6dbef",
    "#deebf7",
)
CLUSTER_BREAKS: Final = (0, 2, 5, 10, 20)
_PURPLES: Final = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")


class UnknownMapError(LayerError, LookupError):
    """A map name that does not exist."""


@dataclass(frozen=True)
class MapSpec:
    """What a map is called and what it shows (Chinese first, English after)."""

    title: str
    subtitle: str
    description: str


MAPS: Final[dict[str, MapSpec]] = {
    "heatmap": MapSpec(
        "案件密度热力图",
        "Case density (kernel density)",
        "处罚案件的核密度热力图 · Where penalty cases concentrate",
    ),
    "hexagons": MapSpec(
        "六边形案件分布",
        "H3 hexagons",
        "每个 H3 六边形内的案件、检查与罚款 · Cases, inspections, penalties",
    ),
    "hotspots": MapSpec(
        "热点分析",
        "Hot spots (Getis-Ord Gi*)",
        "统计显著的热点与冷点（FDR 校正）· Significant hot and cold spots",
    ),
    "emerging": MapSpec(
        "时空热点趋势",
        "Emerging hot spots",
        "新增、持续、加强、减弱的热点 · How hot spots change over time",
    ),
    "local-moran": MapSpec(
        "聚类和异常值分析",
        "Cluster and outlier analysis (Anselin Local Moran's I)",
        "高高、低低聚集与高低、低高异常（FDR 校正）· Clusters of high and low counts "
        "and the cells that stand out from their neighbours",
    ),
    "clusters": MapSpec(
        "案件聚集区",
        "Case clusters (DBSCAN)",
        "案件密集的区域及其主要问题 · Dense areas of cases and their problems",
    ),
    "commonalities": MapSpec(
        "问题类型共性与差异",
        "Problem types: commonalities and differences",
        "各地共有的问题类型，与某地显著偏多的问题类型（Fisher 精确检验，FDR 校正）"
        "· What every county shares, and what stands out where",
    ),
    "planner": MapSpec(
        "检查计划图",
        "Inspection planner",
        "风险分级、重点检查区域与最近一次双随机抽查 · Risk tiers, priority areas "
        "and the latest draw",
    ),
}
#: Risk tiers on the planner map: value, colour, legend label (high first).
RISK_TIER_CLASSES: Final = (
    ("high", "#d7191c", "高风险 High risk"),
    ("medium", "#fd8d3c", "中风险 Medium risk"),
    ("low", "#ffffb2", "低风险 Low risk"),
)
_PRIORITY_STROKE: Final = "#7a0177"


@dataclass(frozen=True)
class MapAssets:
    """URLs of the scripts and styles a page loads (all served by the service)."""

    leaflet_js: str = "/static/vendor/leaflet/leaflet.js"
    leaflet_css: str = "/static/vendor/leaflet/leaflet.css"
    vectorgrid_js: str = "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"
    maps_js: str = "/static/maps/geo-maps.js"
    maps_css: str = "/static/maps/geo-maps.css"
    favicon: str = "/static/maps/favicon.svg"


@dataclass(frozen=True)
class Division:
    """A jurisdiction for the picker and the place names (no geometry)."""

    adcode: str
    name: str
    level: str  # province | city | county
    parent: str | None
    bbox: tuple[float, float, float, float]  # west, south, east, north
    point: tuple[float, float]  # lon, lat of the label


@dataclass(frozen=True)
class DrawMarker:
    """An enterprise of a stored draw on the planner map: where, who, and who inspects it."""

    lon: float
    lat: float
    name: str
    credit_code: str
    inspectors: tuple[str, ...] = ()
    reasons: str = ""  # Chinese labels


@dataclass(frozen=True)
class MapContext:
    """What a page needs besides its kind: choices, the starting view and where things are.

    ``industries`` are (GB/T 4754 class code, name) pairs; ``months`` run ``YYYY-MM``
    from the first to the last case; ``bounds`` is the service area (west, south,
    east, north); ``filters`` are the page's starting filters; ``filter_names`` are the
    service's filters in the order its URLs carry them (the pages take them from here).
    """

    divisions: Sequence[Division]
    industries: Sequence[tuple[str, str]]
    months: Sequence[str]
    bounds: tuple[float, float, float, float]
    filter_names: Sequence[str]
    filters: Mapping[str, str] = field(default_factory=dict)
    basemap_url: str | None = None
    markers: Sequence[DrawMarker] = ()  # the planner's latest draw (accounts only)
    draw_title: str = ""
    records: bool = False  # point-record layers (the clusters map's cases): accounts only
    #: The public view's one hexagon resolution (anonymous visitors, who get whole periods
    #: only); None: the reader picks the resolution and the month.
    public_resolution: int | None = None
    tiles: str = "/tiles"
    cell_path: str = "/maps/cell/"
    home: str = "/"
    enterprise_path: str = "/enterprises/"  # + credit code: the enterprise file (一源一档)
    #: The reader has an account (a log-in session or a key). Without one the page asks
    #: for no city or county: it shows its sign-in prompt, linking to ``login``.
    account: bool = False
    login: str = "/login"
    #: Where the page's map file is downloaded (``/maps/{name}/file``); None: no link.
    file_path: str | None = None
    #: The hexagon resolution of a map with a resolution picker (one of
    #: :func:`resolution_choices`); None: the map's own start.
    resolution: int | None = None


def tile_url(path: str, params: Mapping[str, Any], filters: Mapping[str, str]) -> str:
    """``path?params&filters`` in the order ``geo-maps.js`` builds them (empty values dropped;
    ``filters`` in the order of the service's filter names).

    Examples
    --------
    >>> tile_url("/tiles/hexagons/{z}/{x}/{y}.mvt", {"resolution": 7}, {"period": "2024-05"})
    '/tiles/hexagons/{z}/{x}/{y}.mvt?resolution=7&period=2024-05'
    """
    from urllib.parse import urlencode

    pairs = [(k, str(v)) for k, v in params.items()]
    pairs += [(k, v) for k, v in filters.items() if v]
    return path + (f"?{urlencode(pairs)}" if pairs else "")


def periods_of(months: Sequence[str]) -> list[str]:
    """Years, quarters and months the period picker offers for a run of ``YYYY-MM`` months.

    Examples
    --------
    >>> periods_of(["2024-11", "2024-12", "2025-01"])
    ['2024', '2025', '2024-Q4', '2025-Q1', '2024-11', '2024-12', '2025-01']
    """
    years = sorted({m[:4] for m in months})
    quarters = sorted({f"{m[:4]}-Q{(int(m[5:7]) - 1) // 3 + 1}" for m in months})
    return [*years, *quarters, *months]


def month_end(month: str) -> str:
    """Last day of a ``YYYY-MM`` month as ``YYYY-MM-DD``.

    >>> month_end("2024-02")
    '2024-02-29'
    """
    year, number = int(month[:4]), int(month[5:7])
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"


@dataclass(frozen=True)
class MapLayer:
    """One layer of a page: how it is fetched, drawn, and what a click on it shows."""

    id: str
    title: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    style: dict[str, Any] | None = None  # vector style for geo-maps.js; None: a raster
    popup: str | None = None  # "cell" (profile from the service) or "properties"
    fields: list[list[str]] = field(default_factory=list)  # [property, label, kind]: kind is
    # int, num, p (p-value), text or class (a legend class)
    lists: list[list[str]] = field(default_factory=list)  # [property, label]: JSON top lists
    legend: bool = False  # a raster whose tiles wait for its legend (the heat surface)
    opacity: float = 1.0
    aggregate: dict[str, Any] | None = None  # point records: the popup of aggregated points
    # [property, label, path]: the popup links to path + the property's value (一源一档)
    link: list[str] | None = None

    @property
    def collection(self) -> str:
        """The layer (collection) its tiles come from: ``/tiles/{collection}/…``."""
        return self.path.split("/")[-4]

    def properties(self) -> list[str]:
        """The properties the page reads: what styles it, its pop-up's fields and lists,
        the cell id a cell pop-up asks about (a map file keeps these only)."""
        names = [f[0] for f in self.fields] + [f[0] for f in self.lists]
        if self.style and "field" in self.style:
            names.append(str(self.style["field"]))
        if self.popup == "cell":
            names.append("h3")
        if self.aggregate:
            names += ["aggregated", *(f[0] for f in self.aggregate["fields"])]
        return list(dict.fromkeys(names))

    def config(self) -> dict[str, Any]:
        """What geo-maps.js needs of the layer."""
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "params": self.params,
            "filtered": True,
            "popup": self.popup,
            "fields": self.fields,
            "lists": self.lists,
            "legend": self.legend,
            "aggregate": self.aggregate,
            "link": self.link,
        }


def _classes(
    breaks: Sequence[float], colours: Sequence[str], unit: str, discrete: bool = True
) -> list[dict[str, Any]]:
    """Legend rows, highest class first: ``2–4 件`` for counts, ``2 – 5`` for measures."""
    rows = []
    for low, high, colour in zip(breaks, [*breaks[1:], None], colours, strict=True):
        if high is None:
            label = f"≥ {low:g}"
        elif discrete:
            label = f"{low:g}" if high - low == 1 else f"{low:g}–{high - 1:g}"
        else:
            label = f"{low:g} – {high:g}"
        rows.append({"colour": colour, "label": f"{label} {unit}"})
    return rows[::-1]


def _vector(tiles: str, layer: str) -> str:
    return f"{tiles}/{layer}/{{z}}/{{x}}/{{y}}.mvt"


def _cell_fields() -> list[list[str]]:
    return [["resolution", "H3 分辨率 Resolution", "int"]]


def _heatmap(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    kde = MapLayer(
        "kde",
        "案件密度 Case density",
        f"{ctx.tiles}/kde/{{z}}/{{x}}/{{y}}.png",
        legend=True,
        opacity=0.8,
    )
    legend = {
        "kind": "surface",
        "layer": "kde",
        "path": f"{ctx.tiles}/kde/legend.json",
        "title": "案件密度 Density",
        "note": "四次核 · 带宽 Silverman · 件/平方公里",
    }
    return [kde], legend


def _hexagons(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    style = {
        "style": "classes",
        "field": "cases",
        "breaks": list(HEXAGON_BREAKS),
        "colours": list(YL_OR_RD),
        "zero": "#d9d9d9",
        "className": "geo-hexagon",
    }
    fields = [*_cell_fields(), ["enterprises", "登记污染源 Register sources", "int"]]
    start = {"resolution": ctx.public_resolution or _auto_resolution(_start_bounds(ctx))}
    layer = MapLayer(
        "hexagons", "六边形 Hexagon", _vector(ctx.tiles, "hexagons"), start, style, "cell", fields
    )
    classes = _classes(HEXAGON_BREAKS, YL_OR_RD, "件")
    classes.append({"colour": "#d9d9d9", "opacity": 0.5, "label": "0 件（仅有检查或污染源）"})
    legend = {
        "kind": "classes",
        "title": "每个六边形的案件数 Cases per cell",
        "classes": classes,
        "note": "点击六边形查看明细 Click a cell for details",
    }
    return [layer], legend


def _hotspots(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    colours = {str(value): colour for value, colour, _ in GI_CLASSES}
    style = {
        "style": "categories",
        "field": "gi_bin",
        "colours": colours,
        "zero": "#f7f7f2",
        "className": "geo-hotspot",
        "opacity": 0.8,
    }
    fields = [
        *_cell_fields(),
        ["gi_bin", "类别 Class", "class"],
        ["gi_z", "Gi* z 值", "num"],
        ["gi_p", "p 值（FDR 校正）", "p"],
    ]
    layer = MapLayer(
        "hotspots",
        "热点 Hot spot",
        _vector(ctx.tiles, "hotspots"),
        {"resolution": 6},
        style,
        "cell",
        fields,
    )
    classes = [{"value": v, "colour": c, "label": label} for v, c, label in GI_CLASSES]
    legend = {
        "kind": "classes",
        "title": "热点分析 Gi* 热点/冷点",
        "classes": classes,
        "note": "H3 六边形 · 邻域 k=1 · FDR 校正",
    }
    return [layer], legend


def _local_moran(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    colours = {value: colour for value, colour, _ in MORAN_CLASSES}
    style = {
        "style": "categories",
        "field": "co_type",
        "colours": colours,
        "zero": "#f7f7f2",
        "className": "geo-local-moran",
        "opacity": 0.8,
    }
    fields = [
        *_cell_fields(),
        ["co_type", "类型 Type", "class"],
        ["count", "案件数 Cases", "int"],
        ["moran_i", "局部莫兰指数 Local Moran's I", "num"],
        ["moran_p_sim", "置换 p 值 Pseudo p", "p"],
    ]
    layer = MapLayer(
        "local-moran",
        "聚类和异常值 Cluster or outlier",
        _vector(ctx.tiles, "local-moran"),
        {"resolution": 6},
        style,
        "cell",
        fields,
    )
    classes = [{"value": v, "colour": c, "label": label} for v, c, label in MORAN_CLASSES]
    legend = {
        "kind": "classes",
        "title": "聚类和异常值 Local Moran's I",
        "classes": classes,
        "note": "H3 六边形 · 邻域 k=1 · 9999 次置换 · FDR 校正 · 未精确定位的案件不计入",
    }
    return [layer], legend


def emerging_classes() -> list[dict[str, Any]]:
    """Legend rows of the emerging hot-spot categories (hot first), colours and labels."""
    rows = []
    for side, ramp in (("hot", _HOT_RAMP), ("cold", _COLD_RAMP)):
        keys = [k for k in CATEGORY_LABELS if k.endswith(f"_{side}")]
        for key, colour, english in zip(keys, ramp, _PATTERN_EN, strict=True):
            label = f"{CATEGORY_LABELS[key]} {english} {side} spot"
            rows.append({"value": key, "colour": colour, "label": label})
    return rows


def _emerging(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    classes = emerging_classes()
    colours = {row["value"]: row["colour"] for row in classes}
    style = {
        "style": "categories",
        "field": "category",
        "colours": colours,
        "zero": "#cccccc",
        "className": "geo-emerging",
    }
    fields = [
        *_cell_fields(),
        ["category", "时空模式 Pattern", "class"],
        ["trend_z", "趋势 z（Mann-Kendall）", "num"],
        ["trend_p", "趋势 p 值", "p"],
        ["hot_steps", "显著热点期数 Hot steps", "int"],
        ["cold_steps", "显著冷点期数 Cold steps", "int"],
        ["first_step", "起 From", "text"],
        ["last_step", "止 To", "text"],
    ]
    layer = MapLayer(
        "emerging-hotspots",
        "时空热点 Emerging hot spot",
        _vector(ctx.tiles, "emerging-hotspots"),
        {},
        style,
        "cell",
        fields,
    )
    legend = {
        "kind": "classes",
        "title": "时空模式 Patterns",
        "classes": classes,
        "note": "按季度 · Gi* 与 Mann-Kendall 趋势 · 仅显示有模式的单元",
    }
    return [layer], legend


#: The pop-ups' link to an enterprise's file.
FILE_LINK_LABEL: Final = "一源一档"
#: How the clusters map draws cases: a dot each, aggregated points as circles sized by count.
CASE_COLOUR: Final = "#b2182b"
AGGREGATE_COLOUR: Final = "#2166ac"


def _case_points(ctx: MapContext) -> MapLayer:
    """The penalty cases as points over the clusters (accounts only). A tile holding more
    cases than the service's cap (``GEO_TILE_MAX_POINTS``) brings aggregated points instead:
    circles sized by their count, whose popup gives the count and the penalties."""
    style = {
        "style": "points",
        "colour": CASE_COLOUR,
        "aggregateColour": AGGREGATE_COLOUR,
        "className": "geo-case",
        "aggregateClass": "geo-case-aggregate",
        "zIndex": 4,
    }
    fields = [
        ["case_id", "案件编号 Case", "text"],
        ["enterprise_name", "当事人 Party", "text"],
        ["decision_date", "处罚决定日期 Decided", "text"],
        ["violation_type", "违法类型 Violation", "text"],
        ["penalty_amount", "罚款金额（元）Penalty (yuan)", "num"],
        ["problem_type_label", "问题类型 Problem type", "text"],
    ]
    aggregate = {
        "title": "案件聚合点 Aggregated cases",
        "fields": [
            ["count", "案件数 Cases", "int"],
            ["penalty_sum", "罚款合计（元）Penalties (yuan)", "num"],
        ],
        "note": "此处案件较多，已按网格聚合；放大地图可查看单个案件 "
        "Many cases here: counted on a grid; zoom in for each case",
    }
    return MapLayer(
        "cases",
        "处罚案件 Penalty case",
        _vector(ctx.tiles, "cases"),
        {},
        style,
        "properties",
        fields,
        aggregate=aggregate,
        link=["enterprise_credit_code", FILE_LINK_LABEL, ctx.enterprise_path],
    )


def _clusters(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    style = {
        "style": "areas",
        "field": "density_per_km2",
        "breaks": list(CLUSTER_BREAKS),
        "colours": list(_PURPLES),
        "className": "geo-cluster",
    }
    fields = [
        ["size", "案件数 Cases", "int"],
        ["area_km2", "面积（平方公里）Area km²", "num"],
        ["density_per_km2", "密度（件/平方公里）", "num"],
        ["first_date", "最早 First case", "text"],
        ["last_date", "最近 Last case", "text"],
    ]
    lists = [
        ["top_violation_type", "主要违法类型 Violation types"],
        ["top_problem_type_label", "主要问题类型 Problem types"],
        ["top_industry_code", "主要行业 Industries"],
    ]
    layer = MapLayer(
        "clusters",
        "聚集区 Cluster",
        _vector(ctx.tiles, "clusters"),
        {},
        style,
        "properties",
        fields,
        lists,
    )
    classes = _classes(CLUSTER_BREAKS, _PURPLES, "件/km²", discrete=False)
    if ctx.records:
        counted = "案件聚合点（圆越大案件越多）Aggregated cases, sized by count"
        classes += [
            {"colour": CASE_COLOUR, "label": "处罚案件 Penalty case"},
            {"colour": AGGREGATE_COLOUR, "opacity": 0.7, "label": counted},
        ]
    legend = {
        "kind": "classes",
        "title": "聚集区密度 Cluster density",
        "classes": classes,
        "note": "DBSCAN · 1 公里内 ≥ 10 件",
    }
    return [layer, _case_points(ctx)] if ctx.records else [layer], legend


#: Colours of the violation categories (vocabulary/violation_categories.tsv): a place is
#: drawn in the colour of its most significant over-represented type's category.
CATEGORY_COLOURS: Final = {
    "water": "#2c7fb8",
    "air": "#7f7f7f",
    "dust": "#d95f0e",
    "monitoring": "#756bb1",
    "hazardous_waste": "#e31a1c",
    "solid_waste": "#8c6d31",
    "construction_project": "#31a354",
    "permit": "#dd3497",
    "noise": "#fec44f",
}
#: Places where nothing stands out, with too few records to test, or whose leading type
#: fits no category: value, colour, legend label.
COMMONALITY_OTHERS: Final = (
    ("other", "#66c2a5", "其他类型偏多 Another type stands out"),
    ("none", "#f0f0f0", "无显著偏多的类型 Nothing stands out"),
    ("too_few", "#d9d9d9", "记录太少，未检验 Too few records to test"),
)


def commonality_classes() -> list[dict[str, Any]]:
    """Legend rows of the commonalities map: each category, then the other states."""
    rows = [
        {"value": code, "colour": CATEGORY_COLOURS.get(code, "#66c2a5"), "label": f"{c.name}偏多"}
        for code, c in violation_categories().items()
    ]
    rows += [{"value": v, "colour": c, "label": label} for v, c, label in COMMONALITY_OTHERS]
    return rows


def _commonalities(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    classes = commonality_classes()
    style = {
        "style": "categories",
        "field": "lead_category",
        "colours": {row["value"]: row["colour"] for row in classes},
        "zero": "#d9d9d9",
        "className": "geo-commonality",
        "opacity": 0.75,
    }
    fields = [
        ["name", "地区 Place", "text"],
        ["records", "有问题类型的记录 Typed records", "int"],
        ["status_zh", "检验 Test", "text"],
        ["lead_category", "图中颜色 Colour", "class"],
        ["distinctive_zh", "显著偏多的问题类型 Over-represented here", "text"],
        ["common_zh", "各地共有的问题类型（本地占比）Common to all (share here)", "text"],
        ["dominant_label", "最多的问题类型 Most frequent", "text"],
    ]
    layer = MapLayer(
        "commonalities",
        "共性与差异 Commonalities and differences",
        _vector(ctx.tiles, "commonalities"),
        {},
        style,
        "properties",
        fields,
    )
    legend = {
        "kind": "classes",
        "title": "显著偏多的问题类型 What stands out",
        "classes": classes,
        "note": "县区 · 单侧 Fisher 精确检验 · Benjamini–Hochberg FDR 5% · 不足 30 条记录不检验",
    }
    return [layer], legend


def _planner(ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    colours = {value: colour for value, colour, _ in RISK_TIER_CLASSES}
    style = {
        "style": "categories",
        "field": "tier",
        "colours": colours,
        "zero": "#ffffb2",
        "className": "geo-risk",
        "opacity": 0.7,
    }
    fields = [
        ["tier", "风险等级 Tier", "class"],
        ["score", "风险得分 Score", "num"],
        ["reasons_zh", "主要风险因素 Reasons", "text"],
        ["expected_findings", "预计每年发现问题 Expected findings a year", "num"],
        ["enterprises", "污染源 Enterprises", "int"],
    ]
    risk = MapLayer(
        "risk", "风险分级 Risk tier", _vector(ctx.tiles, "risk"), {}, style, "properties", fields
    )
    outline = {"style": "outline", "stroke": _PRIORITY_STROKE, "className": "geo-priority"}
    area_fields = [
        ["rank", "排序 Rank", "int"],
        ["reasons_zh", "主要风险因素 Reasons", "text"],
        ["expected_findings", "预计每年发现问题 Expected findings a year", "num"],
        ["cells", "六边形 Cells", "int"],
        ["enterprises", "污染源 Enterprises", "int"],
        ["score", "平均风险得分 Mean score", "num"],
    ]
    areas = MapLayer(
        "priority-areas",
        "重点检查区域 Priority area",
        _vector(ctx.tiles, "priority-areas"),
        {},
        outline,
        "properties",
        area_fields,
    )
    classes = [{"value": v, "colour": c, "label": label} for v, c, label in RISK_TIER_CLASSES]
    classes.append(
        {
            "colour": "#ffffff",
            "stroke": _PRIORITY_STROKE,
            "label": "重点检查区域（按预计发现问题排序）Priority area",
        }
    )
    if ctx.markers:
        classes.append(
            {"colour": "#08519c", "label": f"抽查企业 Drawn enterprise {ctx.draw_title}"}
        )
    legend = {
        "kind": "classes",
        "title": "风险分级 Risk tiers",
        "classes": classes,
        "note": "H3 六边形 · 截至所选月末 · 点击查看风险因素",
    }
    return [risk, areas], legend


def _draw_markers(
    markers: Sequence[DrawMarker], enterprise_path: str = "/enterprises/"
) -> folium.FeatureGroup:
    """The latest draw's enterprises as circle markers, their inspectors in the popup and a
    link to each one's file (一源一档; none without an ``enterprise_path``: a map file)."""
    group = folium.FeatureGroup(name="双随机抽查企业 Drawn enterprises")
    for m in markers:
        team = "、".join(m.inspectors) or "—"
        href = escape(enterprise_path + quote(m.credit_code, safe="") + ".html")
        link = f'<a class="geo-file" href="{href}" target="_blank">{FILE_LINK_LABEL}</a>'
        html = (
            f'<div class="geo-popup"><h3>{escape(m.name)}</h3><table>'
            f"<tr><th>统一社会信用代码</th><td>{escape(m.credit_code)}</td></tr>"
            f"<tr><th>检查人员 Inspectors</th><td>{escape(team)}</td></tr>"
            f"<tr><th>风险因素 Reasons</th><td>{escape(m.reasons or '—')}</td></tr>"
            f"</table>{link if enterprise_path else ''}</div>"
        )
        folium.CircleMarker(
            [m.lat, m.lon],
            radius=6,
            color="#ffffff",
            weight=1.5,
            fill=True,
            fill_color="#08519c",
            fill_opacity=0.95,
            class_name="geo-draw",
            popup=folium.Popup(html, max_width=320),
            tooltip=escape(m.name),
        ).add_to(group)
    return group


_BUILDERS = {
    "heatmap": _heatmap,
    "hexagons": _hexagons,
    "hotspots": _hotspots,
    "local-moran": _local_moran,
    "emerging": _emerging,
    "clusters": _clusters,
    "commonalities": _commonalities,
    "planner": _planner,
}
#: Maps whose month slider sets the day the analysis runs up to (``end``), not the period.
_UP_TO_MONTH = ("emerging", "planner")
_RESOLUTION: dict[str, dict[str, Any]] = {
    "hexagons": {
        "layer": "hexagons",
        "choices": ["auto", 5, 6, 7, 8, 9, 10],
        "value": "auto",
        "auto": {"offset": -2, "min": 5, "max": 10},
    },
    "hotspots": {"layer": "hotspots", "choices": [6, 7, 8], "value": 6, "auto": None},
    "local-moran": {"layer": "local-moran", "choices": [6, 7, 8], "value": 6, "auto": None},
}


def _resolution(name: str, public: int | None) -> dict[str, Any] | None:
    """The resolution picker of a map: the reader's choices, or the public view's one."""
    picker = _RESOLUTION.get(name)
    if picker is None or public is None:
        return picker
    return {**picker, "choices": [public], "value": public, "auto": None}


def _picker(name: str, ctx: MapContext) -> dict[str, Any] | None:
    picker = _resolution(name, ctx.public_resolution)
    if picker is None or ctx.resolution is None:
        return picker
    return {**picker, "value": ctx.resolution}


def _time(name: str, months: Sequence[str]) -> dict[str, Any] | None:
    """The month slider: ``period=YYYY-MM``; for emerging hot spots the analysis runs up to
    the month's end (``end=``), from the second quarter on (a trend needs two steps)."""
    if name in _UP_TO_MONTH:
        steps = [[m, month_end(m)] for m in (months[3:] if name == "emerging" else months)]
        title = "分析截至月份 Analysis up to month"
    else:
        steps = [[m, m] for m in months]
        title = "按月播放 Month by month"
    return (
        {
            "param": "end" if name in _UP_TO_MONTH else "period",
            "steps": steps,
            "title": title,
            "interval_ms": 1500,
        }
        if steps
        else None
    )


def _industry_groups(industries: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    groups: dict[str, list[list[str]]] = {}
    for code, name in sorted(industries):
        groups.setdefault(code[:3], []).append([code, f"{code} {name}".strip()])
    return [{"code": c, "label": f"{c} 大类", "classes": v} for c, v in groups.items()]


def _boundaries(ctx: MapContext, bounds: list[list[float]]) -> VectorGridProtobuf:
    spec = {"layer": "jurisdictions", "style": "boundaries", "bounds": bounds, "zIndex": 5}
    layer = VectorGridProtobuf(
        _vector(ctx.tiles, "jurisdictions"),
        "行政区划 Boundaries",
        f"GeoMaps.vectorOptions({json.dumps(spec)})",
    )
    layer.default_js = []  # the map loads Leaflet.VectorGrid from /static
    return layer


def _folium_layer(layer: MapLayer, filters: Mapping[str, str], bounds: list[list[float]]) -> Any:
    url = tile_url(layer.path, layer.params, filters)
    if layer.style is None:
        return folium.TileLayer(
            url,
            attr="geo-service",
            name=layer.title,
            overlay=True,
            opacity=layer.opacity,
            bounds=bounds,
            max_zoom=14,
        )
    spec = {
        "zIndex": 3,
        **layer.style,
        "layer": layer.id,
        "bounds": bounds,
        "interactive": bool(layer.popup),
    }
    grid = VectorGridProtobuf(url, layer.title, f"GeoMaps.vectorOptions({json.dumps(spec)})")
    grid.default_js = []
    return grid


class _Controller(MacroElement):
    """Hands the page's configuration and layers to ``GeoMaps.init`` (geo-maps.js)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "GeoMaps.init({{ this._parent.get_name() }}, {{ this.config_json }}, { "
        "{% for key, layer in this.refs %}{{ key|tojson }}: {{ layer.get_name() }}, {% endfor %}"
        '"_control": {{ this.control.get_name() }}});'
        "{% endmacro %}"
    )

    def __init__(self, config: dict[str, Any], refs: list[tuple[str, Any]], control: Any):
        super().__init__()
        self._name = "GeoMapsController"
        self.config_json = script_json(config)
        self.refs, self.control = refs, control


def script_json(value: Any) -> str:
    """JSON for an inline ``<script>``: Chinese kept readable, ``<``, ``>``, ``&`` escaped.

    >>> print(script_json({"a": "</script>热点"}))
    {"a": "\\u003c/script\\u003e热点"}
    """
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _start_bounds(ctx: MapContext) -> tuple[float, float, float, float]:
    chosen = ctx.filters.get("jurisdiction")
    for division in ctx.divisions:
        if division.adcode == chosen:
            return division.bbox
    return ctx.bounds


def _config(
    name: str, ctx: MapContext, layers: list[MapLayer], legend: dict[str, Any]
) -> dict[str, Any]:
    spec = MAPS[name]
    public = ctx.public_resolution is not None
    divisions = [
        {
            "adcode": d.adcode,
            "name": d.name,
            "level": d.level,
            "parent": d.parent,
            "bbox": [round(v, 4) for v in d.bbox],
            "point": [round(v, 4) for v in d.point],
        }
        for d in ctx.divisions
    ]
    return {
        "map": name,
        "title": spec.title,
        "subtitle": spec.subtitle,
        "home": ctx.home,
        "filters": {k: ctx.filters[k] for k in ctx.filter_names if ctx.filters.get(k)},
        "filter_names": list(ctx.filter_names),
        "periods": [] if name in _UP_TO_MONTH and not public else periods_of(ctx.months),
        "time": None if public and name in _UP_TO_MONTH else _time(name, ctx.months),
        "resolution": _picker(name, ctx),
        "jurisdictions": divisions,
        "industries": _industry_groups(ctx.industries),
        "layers": [layer.config() for layer in layers],
        "legend": legend,
        "bounds": list(ctx.bounds),
        "cell_path": ctx.cell_path,
        "account": ctx.account,
        "login": ctx.login,
        "file_path": ctx.file_path,
        "file": None,
    }


def map_layers(name: str, ctx: MapContext) -> tuple[list[MapLayer], dict[str, Any]]:
    """The layers of map ``name`` (as :func:`build_map` draws them) and its legend; the
    picker's layer at ``ctx.resolution`` when set."""
    if name not in _BUILDERS:
        raise UnknownMapError(f"no map {name!r}; choose from {', '.join(MAPS)}")
    layers, legend = _BUILDERS[name](ctx)
    picker = _RESOLUTION.get(name)
    if ctx.resolution is not None and picker is not None:
        at = {"resolution": ctx.resolution}
        layers = [
            replace(la, params={**la.params, **at}) if la.id == picker["layer"] else la
            for la in layers
        ]
    return layers, legend


def resolution_choices(name: str, public_resolution: int | None = None) -> list[int]:
    """The hexagon resolutions map ``name`` offers (none: it has no picker).

    >>> resolution_choices("hotspots"), resolution_choices("hexagons", 6)
    ([6, 7, 8], [6])
    """
    picker = _resolution(name, public_resolution)
    return [] if picker is None else [c for c in picker["choices"] if isinstance(c, int)]


@dataclass(frozen=True)
class MapParts:
    """How :func:`render_map` puts a page together: ``head`` adds its scripts and styles to
    the map, ``layer`` makes the Leaflet layer of a :class:`MapLayer` and ``boundaries``
    the divisions' outlines (each given the service area as ``[[south, west], [north,
    east]]``); ``legend`` and ``config`` may change the legend and the configuration."""

    head: Callable[[folium.Map], None]
    layer: Callable[[MapLayer, list[list[float]]], Any]
    boundaries: Callable[[list[list[float]]], Any]
    legend: Callable[[dict[str, Any]], dict[str, Any]] = lambda legend: legend
    config: Callable[[dict[str, Any]], dict[str, Any]] = lambda config: config


def build_map(name: str, ctx: MapContext, assets: MapAssets | None = None) -> str:
    """The HTML page of map ``name`` (one of :data:`MAPS`); OfflineError if it would reach
    anything but the service and the configured basemap."""
    assets = assets or MapAssets()
    filters = {k: ctx.filters[k] for k in ctx.filter_names if ctx.filters.get(k)}

    def head(fmap: folium.Map) -> None:
        fmap.default_js = [
            ("leaflet", assets.leaflet_js),
            ("vectorGrid", assets.vectorgrid_js),
            ("geo_maps", assets.maps_js),
        ]
        fmap.default_css = [("leaflet_css", assets.leaflet_css), ("geo_maps_css", assets.maps_css)]
        favicon = Element(f'<link rel="icon" href="{assets.favicon}">')
        fmap.get_root().header.add_child(favicon, name="favicon")  # type: ignore[attr-defined]

    parts = MapParts(
        head=head,
        layer=lambda layer, bounds: _folium_layer(layer, filters, bounds),
        boundaries=lambda bounds: _boundaries(ctx, bounds),
    )
    html = render_map(name, ctx, parts)
    check_offline(html, ctx.basemap_url)
    return html


def render_map(name: str, ctx: MapContext, parts: MapParts) -> str:
    """The HTML of map ``name`` put together from ``parts``: the map, its layers with the
    boundaries on top, the planner's draw, the layer control and ``GeoMaps.init``."""
    layers, legend = map_layers(name, ctx)
    west, south, east, north = ctx.bounds
    bounds = [[south, west], [north, east]]
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=7,
        tiles=None,
        min_zoom=4,
        max_zoom=14,
        control_scale=False,  # geo-maps.js adds a metric one
    )
    parts.head(fmap)
    root = fmap.get_root()
    assert isinstance(root, Figure)
    root.title = f"{MAPS[name].title} {MAPS[name].subtitle}"
    if ctx.basemap_url:
        folium.TileLayer(ctx.basemap_url, attr="底图 Basemap", name="底图 Basemap").add_to(fmap)
    refs = [(la.id, parts.layer(la, bounds).add_to(fmap)) for la in layers]
    refs.append(("jurisdictions", parts.boundaries(bounds).add_to(fmap)))  # lines on top
    if name == "planner" and ctx.markers:
        refs.append(("draw", _draw_markers(ctx.markers, ctx.enterprise_path).add_to(fmap)))
    control = folium.LayerControl(collapsed=False).add_to(fmap)
    config = parts.config(_config(name, ctx, layers, parts.legend(legend)))
    _Controller(config, refs, control).add_to(fmap)
    west, south, east, north = _start_bounds(ctx)
    fmap.fit_bounds([[south, west], [north, east]])
    html: str = root.render()
    return html


def _auto_resolution(bbox: tuple[float, float, float, float]) -> int:
    """The hexagon resolution "auto" picks at the zoom that fits ``bbox`` in ~1000 px."""
    span = max(bbox[2] - bbox[0], 1e-6)
    zoom = int(np.clip(np.floor(np.log2(360 * 1000 / 256 / span)), 0, 14))
    return int(np.clip(zoom - 2, 5, 10))
