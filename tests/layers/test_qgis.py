"""The QGIS project writer: XML that QGIS 3 reads, sources, styles, CRS and extent."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np
import pytest
from pyproj import CRS

from layers.qgis import (
    ANALYTIC_SOURCES,
    AUTH_CONFIG_ID,
    GI_BINS,
    OAPIF_PAGE_SIZE,
    POINT_MIN_SCALE,
    PROJECT_CRS,
    Provenance,
    ServiceLayer,
    auth_config_xml,
    count_classes,
    density_ramp,
    enforcement_layers,
    layer_source,
    project_xml,
)
from layers.rasters import DELIVERABLE_CRS

BASE = "http://gis.example.cn:8080/geo/"
BOUNDS = (104.45, 20.9, 112.06, 26.39)  # Guangxi
QUERY = {"jurisdiction": "450100", "violation_type": "噪声超标"}


def _project(query: dict[str, str] | None = None) -> ET.Element:
    layers = enforcement_layers([1, 1, 2, 3, 5, 8, 13, 40, 0])
    return ET.fromstring(project_xml(BASE, layers, BOUNDS, query))


def tile_url(source: str) -> str:
    """The tile URL template of a ``type=xyz&url=…`` source, decoded as QGIS decodes it."""
    params = dict(part.split("=", 1) for part in source.split("&"))
    assert params["type"] == "xyz" and int(params["zmin"]) < int(params["zmax"])
    return unquote(params["url"])


def oapif_url(source: str) -> tuple[str, str]:
    """The landing page URL and collection of an OAPIF source."""
    values = dict(re.findall(r"(\w+)='([^']*)'", source))
    assert values["restrictToRequestBBOX"] == "1"
    return values["url"], values["typename"]


def test_every_layer_is_declared_once_with_its_provider_and_source() -> None:
    root = _project()
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    maplayers = {m.findtext("id"): m for m in root.iter("maplayer")}
    tree = {t.get("id"): t for t in root.iter("layer-tree-layer")}
    order = [e.get("id") for e in root.find("layerorder") or []]
    assert set(maplayers) == set(tree) == set(order) and len(order) == len(set(order)) == 10
    assert all(len(i or "") > 10 for i in maplayers)  # QGIS replaces shorter ids
    kinds = {
        m.findtext("layername"): (m.get("type"), m.findtext("provider")) for m in maplayers.values()
    }
    assert kinds["行政处罚案件 Penalty cases"] == ("vector", "OAPIF")
    assert kinds["热点 Gi* hot spots"] == ("vector-tile", "vectortile")
    assert kinds["案件核密度 Case density (KDE)"] == ("raster", "wms")
    for layer_id, element in tree.items():
        assert element.get("source") == maplayers[layer_id].findtext("datasource")
        assert element.get("providerKey") == maplayers[layer_id].findtext("provider")


def test_groups_have_chinese_names() -> None:
    groups = [g.get("name") for g in _project().find("layer-tree-group") or []]
    assert groups == ["执法记录 Enforcement records", "边界 Boundaries", "分析图层 Analysis"]


def test_sources_point_at_the_service_with_the_filters() -> None:
    root = _project(QUERY)
    sources: dict[str | None, list[str]] = {
        m.findtext("provider"): [] for m in root.iter("maplayer")
    }
    for m in root.iter("maplayer"):
        sources[m.findtext("provider")].append(m.findtext("datasource") or "")
    for source in sources["OAPIF"]:
        url, typename = oapif_url(source)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BASE
        assert dict(parse_qsl(parts.query)) == QUERY
        assert typename in {
            "cases",
            "inspections",
            "enterprises",
            "clusters",
            "jurisdictions",
            "priority-areas",
        }
    templates = [tile_url(s) for s in sources["vectortile"] + sources["wms"]]
    assert {urlsplit(t).path for t in templates} == {
        "/geo/tiles/hotspots/{z}/{x}/{y}.mvt",
        "/geo/tiles/hexagons/{z}/{x}/{y}.mvt",
        "/geo/tiles/risk/{z}/{x}/{y}.mvt",
        "/geo/tiles/kde/{z}/{x}/{y}.png",
    }
    assert all(dict(parse_qsl(urlsplit(t).query)) == QUERY for t in templates)


def test_without_filters_urls_carry_no_query() -> None:
    layer = ServiceLayer("kde", "kde", "xyz", "tiles/kde/{z}/{x}/{y}.png", "g")
    assert tile_url(layer_source(layer, BASE, {})) == BASE + "tiles/kde/{z}/{x}/{y}.png"


def test_project_crs_is_cgcs2000_and_the_view_frames_the_data() -> None:
    root = _project()
    assert root.findtext("projectCrs/spatialrefsys/authid") == PROJECT_CRS == "EPSG:4490"
    assert root.findtext("projectCrs/spatialrefsys/geographicflag") == "true"
    view = root.find("ProjectViewSettings/DefaultViewExtent")
    assert view is not None and view.findtext("spatialrefsys/authid") == "EPSG:4490"
    box = [float(view.get(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax")]
    west, south, east, north = BOUNDS
    assert box[0] < west < east < box[2] and box[1] < south < north < box[3]
    assert box[2] - box[0] < 1.1 * (east - west)  # framed on the data, not the world
    canvas = root.find("mapcanvas/extent")
    assert canvas is not None and float(canvas.findtext("xmin") or 0) == box[0]
    assert root.findtext("properties/Measure/Ellipsoid") == "EPSG:1024"  # CGCS2000 ellipsoid


def _layer(root: ET.Element, name: str) -> ET.Element:
    return next(m for m in root.iter("maplayer") if m.findtext("layername") == name)


def test_hotspots_are_categorised_by_gi_bin_with_arcgis_colours() -> None:
    styles = _layer(_project(), "热点 Gi* hot spots").findall("renderer/styles/style")
    assert len(styles) == 7
    expected = {f'"gi_bin" = {b}': (colour, label) for b, colour, label in GI_BINS}
    for style in styles:
        colour, label = expected[style.get("expression", "")]
        fill = style.find("symbols/symbol/layer/prop[@k='color']")
        assert fill is not None and fill.get("v") == ",".join(map(str, (*colour, 255)))
        assert style.get("name") == label and style.get("geometry") == "2"
        assert style.get("layer") == "hotspots"  # QGIS gives attributes only to named layers
    labels = [s.get("name", "") for s in styles]
    assert labels[0].startswith("热点 99%") and labels[-1].startswith("冷点 99%")
    assert all("置信度" in label for label in labels if "不显著" not in label)


def test_risk_is_categorised_by_tier_high_red_medium_orange_low_yellow() -> None:
    layer = _layer(_project(), "风险分级 Risk tiers")
    styles = layer.findall("renderer/styles/style")
    colours = {}
    for style in styles:
        fill = style.find("symbols/symbol/layer/prop[@k='color']")
        assert fill is not None and style.get("layer") == "risk"
        colours[style.get("expression")] = tuple(int(v) for v in fill.get("v", "").split(","))
    assert colours == {
        "\"tier\" = 'high'": (215, 25, 28, 255),
        "\"tier\" = 'medium'": (253, 141, 60, 255),
        "\"tier\" = 'low'": (255, 255, 178, 255),
    }
    assert [s.get("name") for s in styles] == [
        "高风险 High risk",
        "中风险 Medium risk",
        "低风险 Low risk",
    ]


def test_hexagons_are_graduated_by_cases() -> None:
    styles = _layer(_project(), "H3 六边形案件数 Cases per hexagon").findall(
        "renderer/styles/style"
    )
    assert len(styles) >= 3
    assert all(s.get("expression", "").startswith('"cases" >= ') for s in styles)
    colours = [s.find("symbols/symbol/layer/prop[@k='color']").get("v") for s in styles]  # type: ignore[union-attr]
    assert len(set(colours)) == len(colours)


@pytest.mark.parametrize("n_classes", [1, 3, 5])
def test_count_classes_cover_every_positive_count_once(n_classes: int) -> None:
    values = np.random.default_rng(3).poisson(4, 500) * np.random.default_rng(4).integers(1, 9, 500)
    classes = count_classes(values.tolist(), n_classes)
    assert 1 <= len(classes) <= n_classes
    for value in np.unique(values[values > 0]):
        inside = [c for c in classes if c.lower <= value <= (c.upper or np.inf)]
        assert len(inside) == 1
    assert classes[0].lower == values[values > 0].min() and classes[-1].upper is None
    assert all(c.upper is not None for c in classes[:-1])


def test_count_classes_of_no_counts_still_make_a_style() -> None:
    assert len(count_classes([0, 0])) == 1


def test_records_are_points_and_jurisdictions_outlines() -> None:
    root = _project()
    cases = _layer(root, "行政处罚案件 Penalty cases")
    assert cases.get("geometry") == "Point"
    assert cases.find("renderer-v2[@type='singleSymbol']/symbols/symbol/layer").get("class") == (  # type: ignore[union-attr]
        "SimpleMarker"
    )
    divisions = _layer(root, "行政区划 Jurisdictions").find("renderer-v2")
    assert divisions is not None and divisions.get("type") == "categorizedSymbol"
    assert divisions.get("attr") == "level"
    assert {c.get("value") for c in divisions.iter("category")} == {"province", "city", "county"}
    assert {p.get("v") for p in divisions.iter("prop") if p.get("k") == "style"} == {"no"}
    widths = [float(p.get("v", 0)) for p in divisions.iter("prop") if p.get("k") == "outline_width"]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]  # province boldest


def test_doctype_and_title_name_the_filters() -> None:
    text = project_xml(BASE, enforcement_layers([]), BOUNDS, {"period": "2024"})
    assert text.startswith("<!DOCTYPE qgis")
    assert ET.fromstring(text).findtext("title", "").endswith("period=2024")


def test_the_kde_geotiff_layer_streams_the_download_in_its_own_crs() -> None:
    layers = enforcement_layers([1, 2, 3], kde_peak=0.5)
    root = ET.fromstring(project_xml(BASE, layers, BOUNDS, QUERY))
    tif = _layer(root, "案件核密度值 Case density GeoTIFF (件/km²)")
    assert (tif.get("type"), tif.findtext("provider")) == ("raster", "gdal")
    source = tif.findtext("datasource", "")
    assert source.startswith("/vsicurl/" + BASE + "downloads/kde.tif?")  # read by ranges
    assert dict(parse_qsl(urlsplit(source).query)) == QUERY
    wkt = tif.findtext("srs/spatialrefsys/wkt", "")
    assert tif.findtext("srs/spatialrefsys/authid") == DELIVERABLE_CRS == "EPSG:6933"
    assert CRS.from_wkt(wkt).equals(CRS.from_user_input(DELIVERABLE_CRS))
    items = tif.findall("pipe/rasterrenderer[@type='singlebandpseudocolor']//item")
    values = [float(i.get("value", "nan")) for i in items]
    assert values[0] == 0 and values[-1] == 0.5 and values == sorted(values)
    assert items[0].get("alpha") == "0" and {i.get("alpha") for i in items[1:]} == {"255"}


def test_density_ramp_spans_zero_to_the_peak() -> None:
    stops = density_ramp(3.0)
    assert [s.lower for s in stops][::5] == [0.0, 3.0] and all("件/km²" in s.label for s in stops)


# --- authentication, what is on, metadata ----------------------------------------------

KEY = "gs_test-key_0123456789"


def _sources(root: ET.Element) -> dict[str, str]:
    return {
        m.findtext("layername", ""): m.findtext("datasource", "") for m in root.iter("maplayer")
    }


def test_an_accounts_sources_name_the_auth_configuration_and_never_a_key() -> None:
    layers = enforcement_layers([1, 2, 3], kde_peak=0.5)
    text = project_xml(BASE, layers, BOUNDS, QUERY, authcfg=AUTH_CONFIG_ID)
    root = ET.fromstring(text)
    sources = _sources(root)
    assert len(sources) == 11 and re.fullmatch(r"[A-Za-z0-9]{7}", AUTH_CONFIG_ID)
    for name, source in sources.items():
        if source.startswith("type=xyz"):  # vector and raster tiles: an encoded URI item
            assert dict(p.split("=", 1) for p in source.split("&"))["authcfg"] == AUTH_CONFIG_ID
            assert tile_url(source).startswith(BASE)  # the template is left whole
        else:  # OAPIF and GDAL: authcfg='…'
            assert re.search(rf" authcfg='{AUTH_CONFIG_ID}'$", source), name
    assert "password" not in text and "username" not in text and "Bearer" not in text
    for element in root.iter("layer-tree-layer"):
        assert element.get("source") == sources[element.get("name", "")]


def test_without_an_auth_configuration_sources_name_none() -> None:
    text = project_xml(BASE, enforcement_layers([1], kde_peak=0.5), BOUNDS, QUERY)
    assert "authcfg" not in text


def test_oapif_layers_ask_pages_of_a_thousand() -> None:
    for name, source in _sources(_project()).items():
        if "typename=" in source:
            assert f"pageSize='{OAPIF_PAGE_SIZE}'" in source, name
            oapif_url(source)  # still read as before


def _checked(root: ET.Element) -> dict[str, bool]:
    return {
        t.get("name", ""): t.get("checked") == "Qt::Checked" for t in root.iter("layer-tree-layer")
    }


def test_the_project_opens_on_outlines_hot_spots_and_priority_areas() -> None:
    root = ET.fromstring(project_xml(BASE, enforcement_layers([1], kde_peak=0.5), BOUNDS))
    on = {name for name, checked in _checked(root).items() if checked}
    assert on == {"行政区划 Jurisdictions", "热点 Gi* hot spots", "重点检查区域 Priority areas"}
    for name in (
        "行政处罚案件 Penalty cases",
        "现场检查 Inspection findings",
        "污染源 Pollution sources",
    ):
        points = _layer(root, name)
        assert points.get("hasScaleBasedVisibilityFlag") == "1"
        assert float(points.get("minScale", "0")) == POINT_MIN_SCALE
        assert points.get("maxScale") == "0"
    assert _layer(root, "行政区划 Jurisdictions").get("hasScaleBasedVisibilityFlag") is None


def test_a_visitors_project_leaves_out_what_needs_an_account() -> None:
    layers = enforcement_layers([1], kde_peak=0.5, account=False)
    assert {layer.key for layer in layers} == {
        "jurisdictions",
        "hotspots",
        "hexagons",
        "kde",
        "kde-geotiff",
        "clusters",
    }
    root = ET.fromstring(project_xml(BASE, layers, BOUNDS))
    on = {name for name, checked in _checked(root).items() if checked}
    assert on == {"行政区划 Jurisdictions", "热点 Gi* hot spots"}


def test_layer_metadata_carries_the_abstract() -> None:
    built = Provenance(7, "2026-11-28T08:00:00+00:00", {"resolution": 8, "alpha": 0.05}, {})
    abstract = built.abstract("热点 Gi* hot spots")
    assert "数据版本 Data version: 7" in abstract
    assert "生成时间 Built at: 2026-11-28T08:00:00+00:00" in abstract
    assert "alpha=0.05, resolution=8" in abstract and "筛选条件 Filters: —" in abstract
    layers = [
        replace(layer, abstract=abstract) if layer.key == "hotspots" else layer
        for layer in enforcement_layers([1])
    ]
    root = ET.fromstring(project_xml(BASE, layers, BOUNDS))
    hotspots = _layer(root, "热点 Gi* hot spots")
    assert hotspots.findtext("resourceMetadata/abstract") == abstract
    assert hotspots.findtext("resourceMetadata/identifier") == "hotspots"
    cases = _layer(root, "行政处罚案件 Penalty cases")
    assert cases.findtext("resourceMetadata/abstract") == "行政处罚案件 Penalty cases"
    keys = {layer.key for layer in enforcement_layers([1], kde_peak=1.0)}
    assert set(ANALYTIC_SOURCES) <= keys  # every analytic layer of the project is named


def test_the_auth_configuration_is_a_qgis_basic_export_of_the_key() -> None:
    root = ET.fromstring(auth_config_xml(BASE, KEY))
    assert auth_config_xml(BASE, KEY).startswith("<!DOCTYPE qgis_authentication>")
    (config,) = root.findall("configurations/AuthMethodConfig")
    assert config.get("method") == "Basic" and config.get("id") == AUTH_CONFIG_ID
    assert config.get("uri") == BASE
    settings = config.find("Config")
    assert settings is not None and settings.get("password") == KEY
    assert settings.get("username")  # QGIS sends no Basic header without a user name
