"""Write the project's notebooks from the cell sources below (run after editing them).

The notebooks are committed without outputs; `make test` executes each one.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

SETUP = """\
import json, tempfile, warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from geo_service.store.boundaries import load_divisions, read_divisions, read_divisions_file
from geo_service.builds.run import analytic_layer, build_layers
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.store import make_engine, migrate

warnings.filterwarnings("ignore", message="Geometry is in a geographic CRS")
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
workdir = Path(tempfile.mkdtemp(prefix="geo-notebook-"))
engine = make_engine(f"sqlite:///{workdir / 'geo.db'}")
migrate(engine)
load_divisions(engine, read_divisions_file())
for kind in ("enterprises", "cases", "inspections"):
    summary = ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv",
                          IngestOptions(kind=kind, rejects_path=workdir / f"{kind}.rejects.csv", progress=False))
    print(kind, {k: summary[k] for k in ("rows", "accepted", "rejected", "by_method")})
divisions = read_divisions(engine).table
counties = divisions[divisions["level"] == "county"]
cities = divisions[divisions["level"] == "city"]
"""


def leadership() -> nbformat.NotebookNode:
    """01: where violations concentrate, and whether it is getting worse."""
    cells = [
        new_markdown_cell(
            "# Where are violations concentrated, and is it getting worse?\n\n"
            "A walk through a leader's questions on the bundled Guangxi sample: the committed "
            "slice of the synthetic dataset (`sample_geodata/sample/`), ingested into a fresh "
            "embedded store. Every figure below comes from the service's own functions — the "
            "same ones behind `geo-service build`, the exports and the HTTP layers."
        ),
        new_code_cell(SETUP),
        new_markdown_cell(
            "## 1. Cases per city and county\n\nThe ledger view bureaus compile by hand: "
            "cases, penalties and the share of inspections that found a problem."
        ),
        new_code_cell(
            'cases = pd.read_sql("SELECT case_id, decision_date, city_adcode, adcode, '
            'penalty_amount, violation_type FROM cases", engine)\n'
            'by_city = (cases.groupby("city_adcode").agg(cases=("case_id", "size"),\n'
            '           penalty_wan=("penalty_amount", lambda s: round(s.sum() / 1e4, 1)))\n'
            '           .join(cities["name"]).sort_values("cases", ascending=False))\n'
            "by_city.head(14)"
        ),
        new_markdown_cell(
            "## 2. Hexagons: counts corrected for effort\n\nMore inspections find more "
            "problems; the rate `cases_per_inspected_enterprise` corrects for that."
        ),
        new_code_cell(
            'hexagons = analytic_layer(engine, "hexagons", Filters(), {"resolution": 6}).frame()\n'
            "fig, axes = plt.subplots(1, 2, figsize=(14, 6))\n"
            'for ax, column in zip(axes, ["cases", "cases_per_inspected_enterprise"]):\n'
            '    counties.boundary.plot(ax=ax, color="#bbbbbb", linewidth=0.3)\n'
            '    hexagons.plot(ax=ax, column=column, cmap="OrRd", legend=True)\n'
            "    ax.set_title(column); ax.set_axis_off()\n"
            'hexagons[["cases", "inspections", "problems_found", "penalty_sum"]].sum()'
        ),
        new_markdown_cell(
            "## 3. Case density (kernel density, cases per km²)\n\nA quartic kernel with the "
            "bandwidth from the spatial Silverman rule, computed in an equal-area projection; "
            "the same surface `geo-service export kde --format gtiff` writes."
        ),
        new_code_cell(
            "from analytics.projection import EQUAL_AREA_CRS\n"
            "from layers.rasters import read_geotiff\n"
            'kde = analytic_layer(engine, "kde", Filters(), {})\n'
            "values, tags, _ = read_geotiff(kde.payload)\n"
            't = json.loads(tags["bandwidth_m"])\n'
            "import rasterio\n"
            "from io import BytesIO\n"
            "with rasterio.open(BytesIO(kde.payload)) as ds:\n"
            "    left, bottom, right, top = ds.bounds\n"
            'ax = counties.to_crs(EQUAL_AREA_CRS).boundary.plot(figsize=(9, 8), color="#999999", linewidth=0.3)\n'
            'ax.imshow(values, extent=(left, right, bottom, top), cmap="magma_r", alpha=0.8)\n'
            'ax.set_axis_off(); ax.set_title(f"cases per km², quartic, bandwidth {t / 1000:.1f} km")\n'
            'print("integral (cases):", round(float(values.sum()) * (float(tags["cell_m"]) / 1000) ** 2))'
        ),
        new_markdown_cell(
            "## 4. Hot spots (Getis-Ord Gi*)\n\nEvery H3 cell of the province is tested, "
            "zero counts included, with a false-discovery-rate correction. `gi_bin` 3/2/1 = "
            "hot spot at 99/95/90 % confidence."
        ),
        new_code_cell(
            'hot = analytic_layer(engine, "hotspots", Filters(), {}).frame()\n'
            'colors = {3: "#d7191c", 2: "#fdae61", 1: "#fee08b", 0: "#f0f0f0", -1: "#abd9e9", '
            '-2: "#74add1", -3: "#4575b4"}\n'
            'ax = counties.boundary.plot(figsize=(9, 8), color="#999999", linewidth=0.3)\n'
            "hot[hot.gi_bin != 0].plot(ax=ax, color=hot[hot.gi_bin != 0].gi_bin.map(colors))\n"
            'ax.set_axis_off(); ax.set_title("Gi* hot spots of penalty cases")\n'
            'truth = json.loads((SAMPLE_SLICE / "truth.json").read_text(encoding="utf-8"))\n'
            'for spot in truth["hot_spots"]:\n'
            '    ax.annotate(spot["name"], (spot["lon"], spot["lat"]), fontsize=8)\n'
            "hot.gi_bin.value_counts().sort_index()"
        ),
        new_code_cell(
            "centres = hot.geometry.representative_point()\n"
            "joined = hot[hot.gi_bin == 3].assign(geometry=centres[hot.gi_bin == 3]).sjoin(\n"
            '    counties[["name", "geometry"]].reset_index(drop=True), predicate="within")\n'
            'joined.groupby("name").size().sort_values(ascending=False).head(10).rename("hot cells")'
        ),
        new_markdown_cell(
            "## 5. Is it getting worse? Emerging hot spots\n\nGi* per quarter and a "
            "Mann-Kendall trend per cell, in ArcGIS's categories (new, consecutive, "
            "intensifying, persistent, …)."
        ),
        new_code_cell(
            'emerging = analytic_layer(engine, "emerging-hotspots", Filters(), {}).frame()\n'
            'emerging["category_label"].value_counts()'
        ),
        new_code_cell(
            'worse = emerging[emerging.category.isin(["new_hot", "consecutive_hot", "intensifying_hot"])]\n'
            "named = worse.assign(geometry=worse.geometry.representative_point()).sjoin(\n"
            '    counties[["name", "geometry"]].reset_index(drop=True), predicate="within")\n'
            'print("counties with emerging hot spots:", sorted(set(named["name"])))\n'
            'print("planted worsening counties:", [c["name"] for c in truth["worsening_counties"]["counties"]])\n'
            "yearly = cases.assign(year=pd.to_datetime(cases.decision_date).dt.year)\n"
            'yearly[yearly.adcode.isin([c["adcode"] for c in truth["worsening_counties"]["counties"]])]'
            '.groupby(["adcode", "year"]).size().unstack()'
        ),
    ]
    cells += [
        new_markdown_cell(
            "## 6. Recurring problem types (问题类型)\n\njieba cuts the Chinese text of every "
            "case and problem finding into whole words, with a bundled dictionary of "
            "enforcement terms (未批先建, 危险废物转移联单, 扬尘污染 …); k-means clusters the words "
            "and phrases, the number of clusters chosen by stability (the fewest whose "
            "clusterings of subsamples agree about as well as the best's); clusters of one violation "
            "category (`analytics/vocabulary/violation_categories.tsv`, sourced) make one type, "
            "named by the category and its three most characteristic phrases."
        ),
        new_code_cell(
            "from geo_service.builds.problem_types import label_records\n"
            "label_records(engine)  # the labelling step: every case and finding gets its type\n"
            'types = analytic_layer(engine, "problem-types", Filters(), {})\n'
            "p = types.parameters\n"
            'print(p["n_clusters"], "clusters, chosen by", p["k_criterion"])\n'
            'print(p["n_types"], "types")\n'
            'catalogue = pd.DataFrame(p["types"]).set_index("id")\n'
            'catalogue[["label", "category_name", "size"]]'
        ),
        new_code_cell(
            "# how well the types recover the problem families the sample generator planted\n"
            "from sklearn.metrics import adjusted_rand_score\n"
            'planted = pd.read_csv(SAMPLE_SLICE / "truth_points.csv", dtype=str)\n'
            "typed = pd.concat([\n"
            '    pd.read_sql("SELECT case_id AS record_id, problem_type FROM cases", engine)'
            '.assign(kind="cases"),\n'
            '    pd.read_sql("SELECT inspection_id AS record_id, problem_type FROM inspections '
            'WHERE problem_found = 1", engine).assign(kind="inspections"),\n'
            "])\n"
            'merged = planted.merge(typed, on=["kind", "record_id"])\n'
            'print("adjusted Rand index:", round(adjusted_rand_score(merged["family"], '
            'merged["problem_type"]), 3))\n'
            'pd.crosstab(merged["family"], merged["problem_type"].map(catalogue["category_name"]))'
        ),
        new_markdown_cell(
            "## 7. Commonalities and differences (共性与差异)\n\nWhat every county shares — "
            "the types found in every county with enough records, with their shares — and what "
            "stands out where: a type's share in a county against its share elsewhere, by "
            "Fisher's exact test with a Benjamini–Hochberg false-discovery rate of 5 %. "
            "Counties with fewer than 30 typed records are listed as too few, never tested."
        ),
        new_code_cell(
            'common = analytic_layer(engine, "commonalities", Filters(), {})\n'
            'print(common.parameters["test"])\n'
            'pd.DataFrame(common.parameters["common"])[["label", "share", "share_min", '
            '"share_max", "groups_present", "groups_tested"]]'
        ),
        new_code_cell(
            "from matplotlib.patches import Patch\n"
            "from layers.maps import commonality_classes\n"
            "classes = commonality_classes()\n"
            'colour = {row["value"]: row["colour"] for row in classes}\n'
            "places = common.frame()\n"
            'ax = places.plot(color=places["lead_category"].map(colour), figsize=(10, 8),\n'
            '                 edgecolor="white", linewidth=0.3)\n'
            'shown = set(places["lead_category"])\n'
            'ax.legend(handles=[Patch(color=r["colour"], label=r["label"]) for r in classes '
            'if r["value"] in shown],\n'
            '          loc="lower left", fontsize=7)\n'
            'ax.set_axis_off(); ax.set_title("what stands out per county (Fisher, FDR 5 %)")\n'
            'print(places["status_zh"].value_counts().to_dict())\n'
            'places[places["n_distinctive"] > 0].sort_values("records", ascending=False)'
            '[["name", "records", "distinctive_zh"]].head(12)'
        ),
        new_code_cell(
            "# the same per industry (GB/T 4754 class): planted mixes show up, e.g. housing "
            "construction (E4710) and dust\n"
            'industries = common.parameters["by_industry"]["industries"]\n'
            'rows = [(code, entry["records"], d[0], d[2], d[3], d[5])\n'
            '        for code, entry in industries.items() for d in entry["distinctive"][:2]]\n'
            'pd.DataFrame(rows, columns=["industry", "records", "type", "share", '
            '"share elsewhere", "q"]).head(20)'
        ),
    ]
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


GIS_SETUP = """\
import io, json, math, os, urllib.request
import warnings

import geopandas as gpd
import matplotlib.pyplot as plt
import pandas as pd
import pyogrio
import rasterio

warnings.filterwarnings("ignore", message="Geometry is in a geographic CRS")
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False
# The running service: `make run` serves on :8000; the test suite points this at its test server.
SERVICE = os.environ.get("GEO_SERVICE_URL", "http://127.0.0.1:8000").rstrip("/")
OAPIF = f"OAPIF:{SERVICE}"
# An account's key (`geo-service users add NAME --role gis --jurisdiction ADCODE`): point
# records need one. GDAL sends it as a bearer token; so do the requests below.
API_KEY = os.environ.get("GEO_API_KEY", "")
if API_KEY:
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": API_KEY})
HEADERS = {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}

def get_json(path):
    request = urllib.request.Request(SERVICE + path, headers=HEADERS)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())

def get_bytes(path):
    request = urllib.request.Request(SERVICE + path, headers=HEADERS)
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()

print(get_json("/healthz"))
"""


def gis_layers() -> nbformat.NotebookNode:
    """02: the service's layers in geopandas, read as GIS staff read them."""
    cells = [
        new_markdown_cell(
            "# The service's layers in GIS tools\n\nGIS staff read the service with the tools "
            "they already have. QGIS and ArcGIS speak OGC API - Features and vector tiles; "
            "here the same standards are read from Python with geopandas and pyogrio (GDAL's "
            "`OAPIF` and `MVT` drivers), from a running service (`make run`, or the test "
            "server when `make test` executes this notebook)."
        ),
        new_code_cell(GIS_SETUP),
        new_markdown_cell(
            "## 1. Collections through OGC API - Features\n\nGDAL lists every collection and "
            "pages through `next` links until each is complete."
        ),
        new_code_cell("pyogrio.list_layers(OAPIF)"),
        new_code_cell(
            'counties = pyogrio.read_dataframe(OAPIF, layer="jurisdictions", where="level = \'county\'")\n'
            'cases = pyogrio.read_dataframe(OAPIF, layer="cases")\n'
            'matched = get_json("/collections/cases/items?limit=1")["numberMatched"]\n'
            'print(len(counties), "counties;", len(cases), "cases read; the service holds", matched)\n'
            "assert len(cases) == matched\n"
            'cases[["case_id", "decision_date", "enterprise_name", "violation_type", "penalty_amount", "geocode_method"]].head()'
        ),
        new_markdown_cell(
            "## 2. Hexagons and hot spots\n\nThe H3 aggregates (resolution 6 here) and the Gi* "
            "hot spots, the latter asked for in Web Mercator (OGC API - Features Part 2) as a "
            "web map would."
        ),
        new_code_cell(
            '_, page = get_bytes("/collections/hexagons/items?resolution=6&limit=10000")\n'
            "hexagons = gpd.read_file(io.BytesIO(page))\n"
            'ax = counties.boundary.plot(color="grey", linewidth=0.3, figsize=(9, 8))\n'
            'hexagons.plot(ax=ax, column="cases", cmap="OrRd", legend=True, legend_kwds={"label": "cases per cell"})\n'
            'ax.set_axis_off(); ax.set_title("案件数 cases per H3 cell (res 6)")'
        ),
        new_code_cell(
            'hotspots = pyogrio.read_dataframe(OAPIF, layer="hotspots", CRS="EPSG:3857")\n'
            "print(hotspots.crs)\n"
            'hot = hotspots[hotspots["gi_bin"] != 0]\n'
            'ax = hot.plot(column="gi_bin", cmap="RdBu_r", vmin=-3, vmax=3, legend=True, figsize=(9, 8))\n'
            'ax.set_axis_off(); ax.set_title("Gi* 热点/冷点 (bins −3…3, FDR)")\n'
            'hotspots["gi_bin"].value_counts().sort_index()'
        ),
        new_markdown_cell(
            "## 3. Vector tiles\n\nThe TileJSON document says where the tiles are and what "
            "they hold; GDAL's MVT driver reads one tile as a layer."
        ),
        new_code_cell(
            'tilejson = get_json("/tiles/hexagons/tilejson.json?resolution=8")\n'
            '{k: tilejson[k] for k in ("tilejson", "tiles", "bounds", "minzoom", "maxzoom")}'
        ),
        new_code_cell(
            "def tile_of(lon, lat, z):\n"
            "    n = 2 ** z\n"
            "    x = int((lon + 180) / 360 * n)\n"
            "    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)\n"
            "    return x, y\n\n"
            "z = 9\n"
            "tiles = pd.Series([tile_of(p.x, p.y, z) for p in cases.geometry])\n"
            "x, y = tiles.value_counts().index[0]  # the tile with the most cases\n"
            'tile = pyogrio.read_dataframe(f"/vsicurl/{SERVICE}/tiles/hexagons/{z}/{x}/{y}.mvt?resolution=8", X=x, Y=y, Z=z)\n'
            'print(f"tile {z}/{x}/{y}:", len(tile), "hexagons;", tile.crs)\n'
            'ax = tile.plot(column="cases", cmap="OrRd", legend=True, figsize=(7, 7))\n'
            'ax.set_axis_off(); ax.set_title(f"MVT tile {z}/{x}/{y}, hexagons res 8")'
        ),
        new_markdown_cell(
            "## 4. Downloads\n\nThe same layers as files: a GeoPackage for the desktop, the "
            "kernel density as a GeoTIFF in an equal-area projection, and a QGIS project that "
            "opens the live layers, styled."
        ),
        new_code_cell(
            'status, gpkg = get_bytes("/downloads/hexagons.gpkg?resolution=7")\n'
            "hex7 = gpd.read_file(io.BytesIO(gpkg))\n"
            'print(status, len(gpkg), "bytes;", len(hex7), "hexagons at res 7;", hex7.crs)\n'
            'hex7[["h3", "cases", "inspections", "problems_found", "penalty_sum"]].describe()'
        ),
        new_code_cell(
            'status, tif = get_bytes("/downloads/kde.tif")\n'
            "with rasterio.MemoryFile(tif) as memory, memory.open() as raster:\n"
            "    density = raster.read(1)\n"
            '    print(raster.crs.to_wkt()[:60], "…", raster.res, raster.tags())\n'
            "    extent = (raster.bounds.left, raster.bounds.right, raster.bounds.bottom, raster.bounds.top)\n"
            "fig, ax = plt.subplots(figsize=(9, 7))\n"
            'shown = ax.imshow(density, extent=extent, cmap="magma")\n'
            'fig.colorbar(shown, label="cases per km²"); ax.set_axis_off(); ax.set_title("案件核密度 KDE")'
        ),
        new_code_cell(
            'status, project = get_bytes("/downloads/project.qgs")\n'
            'print(status, len(project), "bytes of QGIS project")\n'
            'print(project.decode("utf-8")[:400])'
        ),
    ]
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


PLANNING_SETUP = """\
import datetime as dt, json, tempfile, warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analytics.draw import seed_commitment, new_seed, verify_seed
from analytics.priority import inspection_plan, priority_areas
from geo_service.store.boundaries import load_divisions, read_divisions, read_divisions_file
from geo_service.builds.run import build_layers
from geo_service.planning.draws import make_draw, run_backtest
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.builds.risk_inputs import cell_scores, enterprise_scores, read_risk_records
from layers.labels import REASON_LABELS_ZH
from geo_service.core.settings import Settings
from geo_service.store import make_engine, migrate

warnings.filterwarnings("ignore", message="Geometry is in a geographic CRS")
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False
workdir = Path(tempfile.mkdtemp(prefix="geo-notebook-"))
url = f"sqlite:///{workdir / 'geo.db'}"
engine = make_engine(url)
migrate(engine)
load_divisions(engine, read_divisions_file())
for kind in ("enterprises", "cases", "inspections", "exceedances", "complaints", "inspectors"):
    summary = ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv",
                          IngestOptions(kind=kind, rejects_path=workdir / f"{kind}.rejects.csv", progress=False))
    print(f"{kind:12}", {k: summary[k] for k in ("rows", "accepted", "rejected")})
build_layers(engine, Filters(), layers=["problem-types"])  # problem types feed the problem-mix component
settings = Settings(database_url=url)
divisions = read_divisions(engine).table
counties = divisions[divisions["level"] == "county"]
CITY = "450100"  # 南宁市
"""


def planning() -> nbformat.NotebookNode:
    """03: where inspectors should go next, and an auditable draw."""
    cells = [
        new_markdown_cell(
            "# Where should inspectors go next?\n\nA planner's walk through the risk layer, the "
            "priority areas, a capacity-limited inspection plan and the auditable risk-weighted "
            "double-random draw (双随机) — on the bundled Guangxi sample slice with all six kinds "
            "of records (register, cases, inspections, online-monitoring exceedances, complaints, "
            "the officers' roster), ingested into a fresh store. Every step calls the functions "
            "behind `geo-service build`, `geo-service plan`, `geo-service draw` and "
            "`geo-service backtest`."
        ),
        new_code_cell(PLANNING_SETUP),
        new_markdown_cell(
            "## 1. Risk of every enterprise, and why\n\nRisk is scored from the records up to a "
            "day (here the end of 2024): each component — repeat offending, penalties, time since "
            "the last inspection, case density, hot spots, trend, exceedances, complaints, problem "
            "types — is ranked among the enterprises; the score is their weighted sum, and each "
            "component's contribution is kept, so every score can be explained."
        ),
        new_code_cell(
            "records = read_risk_records(engine, CITY, dt.date(2024, 12, 31))\n"
            "scores = enterprise_scores(engine, records, jurisdiction=CITY)\n"
            'print("components:", scores.attrs["parameters"]["components"])\n'
            'print(scores["tier"].value_counts().to_dict())\n'
            'top = scores.sort_values("score", ascending=False).head(10)\n'
            'top.assign(原因=top["reasons"].map(lambda r: "、".join(REASON_LABELS_ZH[n] for n in r)))[\n'
            '    ["name", "category", "score", "tier", "原因", "expected_findings"]]'
        ),
        new_code_cell(
            'contributions = top.set_index("name").filter(like="c_")\n'
            "contributions.columns = [REASON_LABELS_ZH[c[2:]] for c in contributions.columns]\n"
            'ax = contributions.plot.barh(stacked=True, figsize=(10, 5), colormap="tab10")\n'
            'ax.invert_yaxis(); ax.set_xlabel("risk score (sum of contributions)")\n'
            'ax.legend(fontsize=8, loc="lower right"); ax.set_title("the ten riskiest enterprises of 南宁市")\n'
            'assert np.allclose(scores.filter(like="c_").sum(axis=1), scores["score"])'
        ),
        new_markdown_cell(
            "## 2. Risk cells and priority areas\n\nThe same components per H3 cell; contiguous "
            "high-risk cells merge into priority areas, ranked by the violations expected there "
            "per year, each with its dominant reasons and its riskiest enterprises."
        ),
        new_code_cell(
            "cells = cell_scores(engine, records, jurisdiction=CITY)\n"
            "areas = priority_areas(cells, scores)\n"
            "from analytics.cells import cells_to_polygons\n"
            "import geopandas as gpd\n"
            'hexes = gpd.GeoDataFrame(cells, geometry=cells_to_polygons(cells["h3"].to_numpy()), crs="EPSG:4326")\n'
            'tier_colors = {"high": "#d7191c", "medium": "#fdae61", "low": "#ffffbf"}\n'
            'city_counties = counties[counties["city_adcode"] == CITY]\n'
            'ax = city_counties.boundary.plot(figsize=(10, 9), color="#888888", linewidth=0.4)\n'
            'hexes.plot(ax=ax, color=hexes["tier"].map(tier_colors), alpha=0.8)\n'
            'areas.boundary.plot(ax=ax, color="black", linewidth=1.2)\n'
            "for _, area in areas.head(5).iterrows():\n"
            "    p = area.geometry.representative_point(); ax.annotate(f\"#{area['rank']}\", (p.x, p.y), fontsize=10)\n"
            'ax.set_axis_off(); ax.set_title("risk tiers and priority areas (ranked), 南宁市")\n'
            'areas.assign(原因=areas["reasons"].map(lambda r: "、".join(REASON_LABELS_ZH[n] for n in r)))[\n'
            '    ["rank", "cells", "enterprises", "expected_findings", "原因"]].head(10)'
        ),
        new_markdown_cell(
            "## 3. A plan for the inspector-days there are\n\nWith 60 inspector-days this "
            "quarter (a key unit takes a day and a half, others a day or half a day), which "
            "enterprises cover the most expected violations? An exact knapsack over half-days."
        ),
        new_code_cell(
            "plan = inspection_plan(scores, inspector_days=60,\n"
            '                       days_per_enterprise={"key": 1.5, "special": 1.0, "general": 0.5})\n'
            'summary = plan.attrs["summary"]\n'
            'print({k: summary[k] for k in ("method", "days_used", "enterprises", "expected_findings", "share_of_expected_findings")})\n'
            'assert summary["days_used"] <= 60\n'
            'plan[["name", "category", "days", "expected_findings", "findings_per_day"]].head(10)'
        ),
        new_markdown_cell(
            "## 4. The double-random draw (双随机), auditable\n\nBefore the draw the bureau "
            "publishes the SHA-256 commitment of a fresh random seed; the draw uses the seed, "
            "and anyone can check it afterwards against the commitment and redo the draw: the "
            "same inputs and seed give the same record, byte for byte. Enterprises are drawn per "
            "category with the quarter's quotas (key 25 %, special 15 %, general 5 %), weighted "
            "by risk, leaving out those inspected in the past year; officers are drawn in pairs "
            "from the county's roster, never one excluded from the enterprise (回避), workloads "
            "balanced."
        ),
        new_code_cell(
            'COUNTY = "450102"  # 兴宁区\n'
            "seed = new_seed()\n"
            "commitment = seed_commitment(seed)\n"
            'print("published before the draw:", commitment)\n'
            'stored = make_draw(engine, jurisdiction=COUNTY, quarter="2025-Q1", seed=seed,\n'
            '                   settings=settings, created_by="notebook", commitment=commitment)\n'
            "record = json.loads(stored.record_json)\n"
            'print("draw", stored.draw_id, "digest", stored.record_digest, "seed verifies:", verify_seed(seed, commitment))\n'
            'pd.DataFrame(record["strata"]).T'
        ),
        new_code_cell(
            'drawn = pd.DataFrame(record["selected"])\n'
            'drawn.assign(原因=drawn["reasons"].map(lambda r: "、".join(REASON_LABELS_ZH.get(n, n) for n in r)))[\n'
            '    ["draw_order", "name", "stratum", "weight", "原因", "inspector_names"]].head(12)'
        ),
        new_code_cell(
            "# the same seed again: the same record; another seed: another draw\n"
            'again = make_draw(engine, jurisdiction=COUNTY, quarter="2025-Q1", seed=seed, settings=settings, created_by="notebook")\n'
            'other = make_draw(engine, jurisdiction=COUNTY, quarter="2025-Q1", seed=new_seed(), settings=settings, created_by="notebook")\n'
            "assert again.record_json == stored.record_json\n"
            "assert other.record_json != stored.record_json\n"
            'print("identical:", again.record_digest == stored.record_digest, "| other seed differs:", other.record_digest != stored.record_digest)'
        ),
        new_markdown_cell(
            "## 5. Does weighting by risk find more? A backtest\n\nRisk scored on the data up to "
            "the end of 2024; for 2025, many stratified draws of the same sizes, weighted by risk "
            "and uniform: which share of 2025's penalty cases fell on the drawn enterprises?"
        ),
        new_code_cell(
            "result = run_backtest(engine, train_until=dt.date(2024, 12, 31), test_year=2025,\n"
            "                      settings=settings, n_draws=200, seed=1)\n"
            'weighted, uniform, lift = result["risk_weighted_hit_rate"], result["uniform_hit_rate"], result["lift"]\n'
            "print(f\"risk-weighted hit rate {weighted['mean']:.3f} (p05–p95 {weighted['p05']:.3f}–{weighted['p95']:.3f})\")\n"
            "print(f\"uniform hit rate       {uniform['mean']:.3f} (p05–p95 {uniform['p05']:.3f}–{uniform['p95']:.3f})\")\n"
            "print(f\"lift {lift['ratio_of_means']:.2f} (per draw p05–p95 {lift['p05']:.2f}–{lift['p95']:.2f})\")\n"
            "fig, ax = plt.subplots(figsize=(8, 4))\n"
            'ax.bar(["uniform", "risk-weighted"], [uniform["mean"], weighted["mean"]],\n'
            '       yerr=[[uniform["mean"] - uniform["p05"], weighted["mean"] - weighted["p05"]],\n'
            '             [uniform["p95"] - uniform["mean"], weighted["p95"] - weighted["mean"]]],\n'
            '       color=["#999999", "#d7191c"], capsize=6)\n'
            'ax.set_ylabel("share of 2025 cases found"); ax.set_title("backtest: 200 draws each, p05–p95")'
        ),
    ]
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


NATIONAL_SETUP = """\
import json, tempfile, warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from geo_service.store.boundaries import load_divisions, read_divisions, read_divisions_file
from geo_service.builds.run import analytic_layer
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.core.paths import NATIONAL_DIVISIONS
from geo_service.sample import write_sample
from geo_service.store import make_engine, migrate

warnings.filterwarnings("ignore", message="Geometry is in a geographic CRS")
plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
plt.rcParams["axes.unicode_minus"] = False
PROVINCES = ["450000", "440000", "530000"]  # 广西, 广东, 云南
workdir = Path(tempfile.mkdtemp(prefix="geo-notebook-"))
national = read_divisions_file(NATIONAL_DIVISIONS)
engine = make_engine(f"sqlite:///{workdir / 'geo.db'}")
migrate(engine)
print("jurisdictions loaded:", load_divisions(engine, national))
write_sample(workdir / "sample", seed=2024, n_enterprises=1500, n_cases=1500, n_inspections=1500,
             divisions=national, provinces=PROVINCES)
for kind in ("enterprises", "cases", "inspections"):
    summary = ingest_file(engine, workdir / "sample" / f"{kind}.csv",
                          IngestOptions(kind=kind, rejects_path=workdir / f"{kind}.rejects.csv", progress=False))
    print(f"{kind:12}", {k: summary[k] for k in ("rows", "accepted", "rejected", "by_method")})
divisions = read_divisions(engine).table
provinces = divisions[divisions["level"] == "province"]
counties = divisions[divisions["level"] == "county"]
"""


def national() -> nbformat.NotebookNode:
    """04: the national boundaries and a sample over three provinces."""
    cells = [
        new_markdown_cell(
            "# A national view\n\nThe bundled national boundaries (every mainland province, "
            "prefecture city and county: `sample_geodata/china_divisions.geojson.gz`) loaded "
            "into a fresh embedded store, and a small synthetic sample over three provinces — "
            "广西, 广东 and 云南 — ingested through the same geocoding chain as any bureau's files."
        ),
        new_code_cell(NATIONAL_SETUP),
        new_markdown_cell("## 1. The divisions\n\nProvinces, cities and counties by level."),
        new_code_cell(
            'print(divisions["level"].value_counts().to_dict())\n'
            'ax = provinces.plot(figsize=(11, 8), color="#f2efe9", edgecolor="#777777", linewidth=0.4)\n'
            'provinces[provinces.adcode.isin(PROVINCES)].plot(ax=ax, color="#fdd49e", edgecolor="#444444", linewidth=0.6)\n'
            'ax.set_axis_off(); ax.set_title("provinces; the sampled three shaded")'
        ),
        new_markdown_cell(
            "## 2. Cases per province and county\n\nEvery accepted case carries its county, "
            "city and province, whichever way it was located."
        ),
        new_code_cell(
            'cases = pd.read_sql("SELECT case_id, adcode, city_adcode, province_adcode, '
            'geocode_method, penalty_amount FROM cases", engine)\n'
            'per_province = (cases.groupby("province_adcode").agg(cases=("case_id", "size"),\n'
            '                penalty_wan=("penalty_amount", lambda s: round(s.sum() / 1e4, 1)))\n'
            '                .join(provinces["name"]))\n'
            "per_province"
        ),
        new_code_cell(
            'per_county = counties.join(cases.groupby("adcode").size().rename("cases"))\n'
            'sampled = per_county[per_county.province_adcode.isin(PROVINCES)].fillna({"cases": 0})\n'
            'ax = sampled.plot(column="cases", cmap="OrRd", figsize=(12, 7), legend=True,\n'
            '                  edgecolor="#dddddd", linewidth=0.2)\n'
            'provinces[provinces.adcode.isin(PROVINCES)].boundary.plot(ax=ax, color="#333333", linewidth=0.6)\n'
            'ax.set_axis_off(); ax.set_title("penalty cases per county")\n'
            "pd.crosstab(cases.province_adcode, cases.geocode_method)"
        ),
        new_markdown_cell(
            "## 3. Hot spots of one province\n\nGi* over every H3 cell of 广东 (zero counts "
            "included; the whole country's cells would mostly be empty here). The planted "
            "chemical-park hot spot should light up."
        ),
        new_code_cell(
            'hot = analytic_layer(engine, "hotspots", Filters(jurisdiction="440000"), {}).frame()\n'
            'colors = {3: "#d7191c", 2: "#fdae61", 1: "#fee08b", -1: "#abd9e9", -2: "#74add1", -3: "#4575b4"}\n'
            'ax = counties[counties.province_adcode == "440000"].boundary.plot(figsize=(11, 7), color="#999999", linewidth=0.3)\n'
            "shown = hot[hot.gi_bin != 0]\n"
            "shown.plot(ax=ax, color=shown.gi_bin.map(colors))\n"
            'truth = json.loads((workdir / "sample" / "truth.json").read_text(encoding="utf-8"))\n'
            'spot = next(s for s in truth["hot_spots"] if s["key"] == "hot:440000")\n'
            'ax.annotate(spot["name"], (spot["lon"], spot["lat"]), fontsize=8)\n'
            'ax.set_axis_off(); ax.set_title("Gi* hot spots of penalty cases in 广东")\n'
            "hot.gi_bin.value_counts().sort_index()"
        ),
    ]
    return new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )


def _stable_ids(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Cell ids by position, so that regenerating an unchanged notebook changes no byte."""
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number:02d}"
    return notebook


def main() -> None:
    NOTEBOOKS.mkdir(exist_ok=True)
    for notebook, name in [
        (leadership(), "01_where_violations_concentrate.ipynb"),
        (gis_layers(), "02_gis_layers.ipynb"),
        (planning(), "03_planning_inspections.ipynb"),
        (national(), "04_national_view.ipynb"),
    ]:
        nbformat.write(_stable_ids(notebook), NOTEBOOKS / name)


if __name__ == "__main__":
    main()
