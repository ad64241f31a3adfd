"""Folium map pages built offline: local assets only, configuration for the picker and slider,
legends, and the cell profile behind a click on a hexagon."""

from __future__ import annotations

import json
import re

import h3
import pandas as pd
import pytest

from analytics.emerging import CATEGORY_LABELS
from analytics.segmenter import violation_categories
from layers.cell_profile import cell_profile
from layers.maps import (
    GI_CLASSES,
    MAPS,
    Division,
    MapAssets,
    MapContext,
    UnknownMapError,
    build_map,
    emerging_classes,
    month_end,
    periods_of,
)
from layers.offline import OfflineError, check_offline, external_references, local_references

BOUNDS = (104.4, 20.9, 112.1, 26.4)
DIVISIONS = (
    Division("450000", "广西壮族自治区", "province", None, BOUNDS, (109.0, 23.9)),
    Division("450100", "南宁市", "city", "450000", (107.3, 22.2, 109.6, 23.6), (108.3, 22.8)),
    Division("450102", "兴宁区", "county", "450100", (108.3, 22.8, 108.5, 23.0), (108.4, 22.9)),
)
#: The names a service hands its pages (geo_service.core.filters.FILTER_NAMES).
FILTER_NAMES = ("jurisdiction", "industry", "period", "start", "end", "violation_type")
MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05")


def _context(**changes: object) -> MapContext:
    values: dict[str, object] = {
        "divisions": DIVISIONS,
        "industries": (("C1340", "制糖业"), ("C2614", "有机化学原料制造")),
        "months": MONTHS,
        "bounds": BOUNDS,
        "filter_names": FILTER_NAMES,
    }
    return MapContext(**{**values, **changes})  # type: ignore[arg-type]


def page_config(html: str) -> dict:
    """The configuration a page hands to GeoMaps.init."""
    match = re.search(r"GeoMaps\.init\(\w+, (\{.*?\}), \{ ", html, re.S)
    assert match, "no GeoMaps.init call"
    return json.loads(match.group(1))


@pytest.mark.parametrize("name", list(MAPS))
def test_every_map_uses_local_assets_only(name: str) -> None:
    html = build_map(name, _context())
    assert external_references(html) == []
    for cdn in ("jsdelivr", "jquery", "bootstrap", "fontawesome", "cdnjs", "unpkg"):
        assert cdn not in html.lower()
    assert local_references(html) == sorted({*MapAssets().__dict__.values()}), (
        "the page loads exactly Leaflet, VectorGrid, geo-maps.js/css and the icon"
    )
    assert MAPS[name].title in html and len(html.encode()) < 2_000_000


@pytest.mark.parametrize("name", list(MAPS))
def test_pages_configure_picker_slider_and_tiled_layers(name: str) -> None:
    config = page_config(build_map(name, _context(filters={"jurisdiction": "450100"})))
    assert [j["adcode"] for j in config["jurisdictions"]] == [d.adcode for d in DIVISIONS]
    assert [g["code"] for g in config["industries"]] == ["C13", "C26"]
    assert config["filters"] == {"jurisdiction": "450100"}
    steps = config["time"]["steps"]
    if name == "emerging":  # the analysis runs up to a month's end, from two quarters on
        assert config["time"]["param"] == "end" and steps[0] == ["2024-04", "2024-04-30"]
        assert config["periods"] == []
    elif name == "planner":  # risk as of each month's end, every month
        assert config["time"]["param"] == "end" and steps[0][1] == f"{MONTHS[0]}-31"
        assert [s[0] for s in steps] == list(MONTHS) and config["periods"] == []
    else:
        assert config["time"]["param"] == "period" and [s[1] for s in steps] == list(MONTHS)
        assert "2024-Q2" in config["periods"]
    for layer in config["layers"]:
        assert layer["path"].startswith("/tiles/") and "{z}/{x}/{y}" in layer["path"]


def test_layer_urls_carry_the_starting_filters() -> None:
    html = build_map("hexagons", _context(filters={"period": "2024-02", "industry": "C26"}))
    urls = re.findall(r"L\.vectorGrid\.protobuf\(\s*'([^']+)'", html)
    assert "/tiles/jurisdictions/{z}/{x}/{y}.mvt" in urls  # boundaries: never filtered
    hexagons = next(u for u in urls if "/hexagons/" in u)
    assert re.fullmatch(
        r"/tiles/hexagons/\{z\}/\{x\}/\{y\}\.mvt\?resolution=\d+"
        r"&industry=C26&period=2024-02",
        hexagons,
    )
    heat = build_map("heatmap", _context(filters={"jurisdiction": "450100"}))
    assert '"/tiles/kde/{z}/{x}/{y}.png?jurisdiction=450100"' in heat


def test_chinese_labels_are_readable_in_the_page() -> None:
    html = build_map("hotspots", _context())
    assert "<title>热点分析" in html
    for label in (
        "热点 99% 置信度",
        "热点 95% 置信度",
        "热点 90% 置信度",
        "不显著",
        "冷点 90% 置信度",
        "冷点 95% 置信度",
        "冷点 99% 置信度",
        "南宁市",
    ):
        assert label in html
    legend = page_config(html)["legend"]
    assert [c["value"] for c in legend["classes"]] == [3, 2, 1, 0, -1, -2, -3]


def test_hotspot_classes_follow_arcgis() -> None:
    assert [value for value, _, _ in GI_CLASSES] == [3, 2, 1, 0, -1, -2, -3]
    labels = {value: label for value, _, label in GI_CLASSES}
    for value, confidence in ((3, "99%"), (2, "95%"), (1, "90%")):
        assert labels[value].startswith(f"热点 {confidence}")
        assert labels[-value].startswith(f"冷点 {confidence}")
    colours = {value: colour for value, colour, _ in GI_CLASSES}
    assert colours[3] == "#d62f27" and colours[-3] == "#4575b5"  # ArcGIS hot red, cold blue


def test_emerging_legend_covers_every_pattern() -> None:
    rows = emerging_classes()
    assert {r["value"] for r in rows} == set(CATEGORY_LABELS) - {"no_pattern"}
    assert len({r["colour"] for r in rows}) == len(rows)
    assert all(CATEGORY_LABELS[r["value"]] in r["label"] for r in rows)


def test_commonalities_map_colours_each_category_and_says_what_stands_out() -> None:
    """共性与差异: a place is coloured by the category of its most significant
    over-represented type; untested places and places where nothing stands out have their
    own colours; the pop-up gives what stands out and what every place shares."""
    config = page_config(build_map("commonalities", _context()))
    [layer] = config["layers"]
    assert layer["path"].startswith("/tiles/commonalities/") and layer["popup"] == "properties"
    classes = config["legend"]["classes"]
    values = [row["value"] for row in classes]
    assert set(values) == set(violation_categories()) | {"other", "none", "too_few"}
    assert len({row["colour"] for row in classes}) == len(classes)
    names = {code: c.name for code, c in violation_categories().items()}
    assert all(names[r["value"]] in r["label"] for r in classes if r["value"] in names)
    shown = [field[0] for field in layer["fields"]]
    assert {"records", "status_zh", "distinctive_zh", "common_zh"} <= set(shown)
    assert "Fisher" in config["legend"]["note"] and "30" in config["legend"]["note"]


def test_a_basemap_is_the_only_external_reference_allowed() -> None:
    basemap = "http://tiles.intranet.example/{z}/{x}/{y}.png?style=a&v=2"
    html = build_map("heatmap", _context(basemap_url=basemap))
    assert "tiles.intranet.example" in html
    check_offline(html, basemap)
    with pytest.raises(OfflineError):
        check_offline(html)


def test_a_cdn_asset_is_refused() -> None:
    assets = MapAssets(leaflet_js="https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js")
    with pytest.raises(OfflineError, match="jsdelivr"):
        build_map("hexagons", _context(), assets)
    assert external_references('<link href="//fonts.example.com/x.css">') == [
        "//fonts.example.com/x.css"
    ]


def test_unknown_map() -> None:
    with pytest.raises(UnknownMapError):
        build_map("pie-chart", _context())


def test_page_size_does_not_depend_on_the_data() -> None:
    """Choices grow with the country's divisions and the years, never with the records."""
    many = tuple(
        Division(f"{i:06d}", f"县{i}", "county", "450100", (108.0, 22.0, 108.1, 22.1), (108, 22))
        for i in range(3000)
    )
    industries = tuple((f"C{i:04d}", f"行业{i}") for i in range(1500))
    months = tuple(f"{y}-{m:02d}" for y in range(2010, 2026) for m in range(1, 13))
    html = build_map("hexagons", _context(divisions=many, industries=industries, months=months))
    assert len(html.encode()) < 2_000_000


def test_periods_and_month_ends() -> None:
    assert periods_of(["2023-12", "2024-01"]) == [
        "2023",
        "2024",
        "2023-Q4",
        "2024-Q1",
        "2023-12",
        "2024-01",
    ]
    assert month_end("2023-02") == "2023-02-28" and month_end("2024-12") == "2024-12-31"


def test_cell_profile_counts_only_the_cell() -> None:
    lon, lat = 108.3665, 22.8170
    cell = h3.latlng_to_cell(lat, lon, 8)
    far = (110.3, 25.2)
    cases = pd.DataFrame(
        {
            "lon": [lon, lon, lon, far[0]],
            "lat": [lat, lat, lat, far[1]],
            "penalty_amount": [10_000.0, None, 5_000.0, 99_999.0],
            "problem_type_label": ["扬尘", "扬尘", "废水", "扬尘"],
            "enterprise_name": ["甲公司", "乙公司", "甲公司", "丙公司"],
        }
    )
    inspections = pd.DataFrame(
        {
            "lon": [lon, lon, far[0]],
            "lat": [lat, lat, far[1]],
            "problem_found": [True, False, True],
            "problem_type_label": ["危废", "未发现问题", "危废"],
        }
    )
    profile = cell_profile(cell, cases, inspections)
    assert profile["cases"] == 3 and profile["inspections"] == 2
    assert profile["problems_found"] == 1 and profile["penalty_sum"] == 15_000.0
    assert profile["top_problem_types"] == [["扬尘", 2], ["危废", 1], ["废水", 1]]
    assert profile["top_enterprises"] == [["甲公司", 2], ["乙公司", 1]]
    assert profile["resolution"] == 8 and profile["h3"] == cell


def test_planner_shows_the_draw_markers_it_is_given() -> None:
    from layers.maps import DrawMarker, MapContext, build_map

    marker = DrawMarker(
        108.3,
        22.8,
        "南宁<某>化工有限公司",
        "91450100MA5XXXXXX1",
        ("张三", "李四"),
        "重复违法、处罚金额",
    )
    ctx = MapContext(
        divisions=(),
        industries=(),
        months=("2025-01",),
        bounds=(104.4, 20.9, 112.1, 26.4),
        filter_names=FILTER_NAMES,
    )
    plain = build_map("planner", ctx)
    assert "geo-draw" not in plain and "/tiles/risk/" in plain and "/tiles/priority-areas/" in plain
    html = build_map(
        "planner", MapContext(**{**ctx.__dict__, "markers": (marker,), "draw_title": "2025-Q1"})
    )
    assert "geo-draw" in html and "张三、李四" in html and "南宁&lt;某&gt;化工有限公司" in html
    assert "南宁<某>" not in html
