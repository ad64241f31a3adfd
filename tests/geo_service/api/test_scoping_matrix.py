"""Every route × every role × inside/outside the account's jurisdiction: nothing leaks.

Accounts of each role are scoped to one county (兴宁区 450102). For every operation of
the served OpenAPI document there is a probe: a concrete request that names a
jurisdiction. Asked for their own county, accounts are answered; asked for the
neighbouring county (青秀区 450103) or a county of another city (柳州 城中区 450202),
they get 403. Asked for nothing in particular, they get their own county and nothing
else: the point records, tiles, downloads, ledgers and hexagon profiles they receive
are checked for other counties' records. Anonymous callers get 401 for anything below
province level, and admin-only routes answer 403 to every other role. An operation
added to the service without a probe here fails :func:`test_every_operation_is_probed`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h3
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MemorySource, all_tiles
from sqlalchemy import Engine

from geo_service.api.app import create_app
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import read_frame
from tests.conftest import account_headers
from tests.geo_service.draw_store import store_example_draws

COUNTY, NEIGHBOUR, OTHER_CITY_COUNTY = "450102", "450103", "450202"
COUNTY_NAMES = {"兴宁区": COUNTY, "青秀区": NEIGHBOUR}  # every county's, once the store is read
CITY, PROVINCE = "450100", "450000"
#: Outside a county account's scope: a sibling county, a county of another city, and the
#: divisions above it (its city and its province: their other counties' records).
OUTSIDE = (NEIGHBOUR, OTHER_CITY_COUNTY, CITY, PROVINCE)
#: Accounts above the county: level → (own jurisdiction, a sibling, its parent).
ABOVE = {"city": (CITY, "450200", PROVINCE), "province": (PROVINCE, None, None)}
ROLES = ("admin", "leader", "planner", "gis", "inspector")
QUALITY_ROLES = ("admin", "leader", "planner", "gis")  # the data-quality report's readers
FIELD_ROLES = ("admin", "leader", "planner", "inspector")  # who writes findings (/field)
TILE = "7/102/55"  # over Nanning: both counties' records fall in it
OGC_TILE = "7/55/102"  # the same tile as {tileMatrix}/{tileRow}/{tileCol}


@dataclass(frozen=True)
class Probe:
    """One request of an operation; ``{j}`` is replaced by the jurisdiction asked for."""

    operation: str
    path: str
    points: bool = False  # point records: an account is needed whatever the level
    admin_only: bool = False
    scoped: bool = True  # takes a jurisdiction
    public: bool = True  # answers anonymous callers at province level
    adcodes: Callable[[Any], set[str]] | None = None  # counties in an unscoped answer
    roles: tuple[str, ...] = ROLES  # the roles answered (the others: 403)

    def url(self, jurisdiction: str | None) -> str:
        if not self.scoped:
            return self.path
        if jurisdiction is None:
            base, _, query = self.path.partition("?")
            base = base.replace("{j}", COUNTY)  # a jurisdiction in the path: the own one
            kept = [p for p in query.split("&") if p and not p.startswith("jurisdiction=")]
            return base + ("?" + "&".join(kept) if kept else "")
        return self.path.replace("{j}", jurisdiction)


def _feature_adcodes(doc: Any) -> set[str]:
    return {str(f["properties"]["adcode"]) for f in doc.json()["features"]}


def _csv_adcodes(answer: Any) -> set[str]:
    rows = csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")))
    return {row["adcode"] for row in rows}


def _file_adcodes(answer: Any) -> set[str]:
    """The enterprise file's entry and the counties of the records it lists."""
    doc = answer.json()
    return {str(doc["enterprise"]["adcode"]), *(str(e["adcode"]) for e in doc["timeline"])}


def _quality_adcodes(answer: Any) -> set[str]:
    """The data-quality report's division and the counties of the records it lists."""
    doc = answer.json()
    listed = [
        *doc["credit_code_flags"]["items"],
        *doc["stale"]["items"],
        *doc["reviews"]["items"],
        *(e for g in doc["duplicates"]["register_names"]["items"] for e in g["entries"]),
    ]
    return {doc["scope"]["jurisdiction"], *(str(item["adcode"]) for item in listed)}


def _map_file_adcodes(answer: Any) -> set[str]:
    """The divisions whose outlines a map file holds (its last inline GeoJSON)."""
    html, decoder = answer.text, json.JSONDecoder()
    collections = []
    for match in re.finditer(r"GeoMaps\.geojson\(\{", html):
        collections.append(decoder.raw_decode(html, match.end() - 1)[0])
    return {str(f["properties"]["adcode"]) for f in collections[-1]["features"]}


def _package_adcodes(answer: Any) -> set[str]:
    """The counties of the features in a tile package (MBTiles or PMTiles) of records."""
    if answer.content.startswith(b"PMTiles"):
        bodies = [body for _, body in all_tiles(MemorySource(answer.content))]
    else:
        db = sqlite3.connect(":memory:")
        db.deserialize(answer.content)
        bodies = [row[0] for row in db.execute("SELECT tile_data FROM tiles")]
        db.close()
    return {
        str(feature["properties"].get("adcode", ""))  # aggregated points: none
        for body in bodies
        for layer in mapbox_vector_tile.decode(gzip.decompress(body)).values()
        for feature in layer["features"]
    }


def _ledger_adcodes(answer: Any) -> set[str]:
    """The ledger names its rows' counties."""
    return {COUNTY_NAMES.get(row["county"], row["county"]) for row in answer.json()["rows"]}


POINT_KINDS = ("cases", "inspections", "enterprises", "projects")
PROBES = [
    *(
        Probe(
            "items",
            f"/collections/{kind}/items?jurisdiction={{j}}&limit=10000",
            points=True,
            adcodes=_feature_adcodes,
        )
        for kind in POINT_KINDS
    ),
    *(
        Probe("items", f"/collections/{layer}/items?jurisdiction={{j}}&limit=10000")
        for layer in (
            "hexagons",
            "hotspots",
            "clusters",
            "problem-types",
            "emerging-hotspots",
            "local-moran",
        )
    ),
    # the cluster and outlier analysis over counties: the own county's outline only
    Probe(
        "items",
        "/collections/local-moran/items?jurisdiction={j}&unit=county&limit=10000",
        adcodes=_feature_adcodes,
    ),
    Probe("item", "/collections/cases/items/{case}?jurisdiction={j}", points=True),
    *(
        Probe(
            "vector_tile",
            f"/tiles/{kind}/{TILE}.geojson?jurisdiction={{j}}",
            points=True,
            adcodes=_feature_adcodes,
        )
        for kind in POINT_KINDS
    ),
    Probe("vector_tile", f"/tiles/hexagons/{TILE}.mvt?jurisdiction={{j}}"),
    Probe("vector_tile", f"/tiles/local-moran/{TILE}.mvt?jurisdiction={{j}}"),
    Probe("tilejson", "/tiles/cases/tilejson.json?jurisdiction={j}", points=True),
    Probe("tilejson", "/tiles/hexagons/tilejson.json?jurisdiction={j}"),
    Probe("kde_tile", f"/tiles/kde/{TILE}.png?jurisdiction={{j}}"),
    Probe("kde_tilejson", "/tiles/kde/tilejson.json?jurisdiction={j}"),
    Probe("kde_legend", "/tiles/kde/legend.json?jurisdiction={j}"),
    # OGC API - Tiles: the same tiles by {tileMatrix}/{tileRow}/{tileCol}, their metadata
    *(
        Probe(
            "collection_tile",
            f"/collections/{kind}/tiles/WebMercatorQuad/{OGC_TILE}?f=geojson&jurisdiction={{j}}",
            points=True,
            adcodes=_feature_adcodes,
        )
        for kind in POINT_KINDS
    ),
    Probe(
        "collection_tile",
        f"/collections/hexagons/tiles/WebMercatorQuad/{OGC_TILE}?jurisdiction={{j}}",
    ),
    Probe(
        "collection_tile", f"/collections/kde/tiles/WebMercatorQuad/{OGC_TILE}?jurisdiction={{j}}"
    ),
    Probe("collection_tilesets", "/collections/cases/tiles?jurisdiction={j}", points=True),
    Probe("collection_tilesets", "/collections/hexagons/tiles?jurisdiction={j}"),
    Probe(
        "collection_tileset",
        "/collections/cases/tiles/WebMercatorQuad?jurisdiction={j}",
        points=True,
    ),
    Probe("collection_tileset", "/collections/hexagons/tiles/WebMercatorQuad?jurisdiction={j}"),
    Probe("collection_tileset", "/collections/kde/tiles/WebMercatorQuad?jurisdiction={j}"),
    Probe("tile_style", "/styles/cases.json?jurisdiction={j}", points=True),
    Probe("tile_style", "/styles/hotspots.json?jurisdiction={j}"),
    *(
        Probe(
            "download",
            f"/downloads/{kind}.csv?jurisdiction={{j}}",
            points=True,
            adcodes=_csv_adcodes,
        )
        for kind in POINT_KINDS
    ),
    Probe("download", "/downloads/hexagons.geojson?jurisdiction={j}"),
    Probe("download", "/downloads/local-moran.geojson?jurisdiction={j}&unit=county"),
    # offline tile packages: the tiles the tile routes serve, over the jurisdiction's box
    *(
        Probe(
            f"download_{ext}",
            f"/downloads/cases.{ext}?jurisdiction={{j}}&maxzoom=8",
            points=True,
            adcodes=_package_adcodes,
        )
        for ext in ("mbtiles", "pmtiles")
    ),
    *(
        Probe(f"download_{ext}", f"/downloads/hexagons.{ext}?jurisdiction={{j}}&maxzoom=8")
        for ext in ("mbtiles", "pmtiles")
    ),
    Probe("map_page", "/maps/local-moran?jurisdiction={j}"),
    Probe("download_qgis_project", "/downloads/project.qgs?jurisdiction={j}"),
    # the QGIS auth configuration for the key asked with: every account's own, no data in it
    Probe("download_qgis_auth", "/downloads/qgis-auth.xml", scoped=False, public=False),
    Probe("map_page", "/maps/hexagons?jurisdiction={j}"),
    # the map as one file: its data inline, the outlines of the divisions within its scope
    Probe("map_file", "/maps/hexagons/file?jurisdiction={j}", adcodes=_map_file_adcodes),
    # a cell of resolution 8 needs an account; the public cells are of resolution 6
    Probe("map_cell", "/maps/cell/{cell}?jurisdiction={j}", public=False),
    Probe("map_cell", "/maps/cell/{cell6}?jurisdiction={j}"),
    Probe(
        "stats",
        "/stats/cases?group_by=county&jurisdiction={j}",
        public=False,
        adcodes=_ledger_adcodes,
    ),
    Probe(
        "stats",
        "/stats/inspections?group_by=county&jurisdiction={j}",
        public=False,
        adcodes=_ledger_adcodes,
    ),
    Probe("stats", "/stats/cases?group_by=year&jurisdiction={j}"),
    # the ledgers the leadership dashboard (/dashboard) draws, asked as its page asks
    *(
        Probe("stats", f"/stats/{kind}?group_by={group}&period=2024&jurisdiction={{j}}")
        for kind, group in (
            ("cases", "month"),
            ("inspections", "month"),
            ("cases", "industry"),
            ("cases", "problem_type"),
        )
    ),
    Probe("stats", "/stats/cases?group_by=city&period=2024&jurisdiction={j}", public=False),
    Probe("stats_xlsx", "/stats/cases.xlsx?group_by=county&jurisdiction={j}", public=False),
    Probe("stats_xlsx", "/stats/inspections.xlsx?group_by=year&jurisdiction={j}"),
    # the problem types' commonalities and differences (共性与差异): the layer's places, its
    # tiles, download and map (public at province level), and its ledger (accounts only)
    Probe(
        "items",
        "/collections/commonalities/items?jurisdiction={j}&limit=10000",
        adcodes=_feature_adcodes,
    ),
    Probe("vector_tile", f"/tiles/commonalities/{TILE}.mvt?jurisdiction={{j}}"),
    Probe("download", "/downloads/commonalities.csv?jurisdiction={j}", adcodes=_csv_adcodes),
    Probe("map_page", "/maps/commonalities?jurisdiction={j}"),
    Probe(
        "stats",
        "/stats/commonalities?group_by=county&jurisdiction={j}",
        public=False,
        adcodes=_ledger_adcodes,
    ),
    Probe(
        "stats_xlsx", "/stats/commonalities.xlsx?group_by=industry&jurisdiction={j}", public=False
    ),
    Probe("plan", "/plans?jurisdiction={j}&inspector_days=5", points=True),
    Probe(
        "items", "/collections/risk/items?jurisdiction={j}&unit=enterprise&limit=10000", points=True
    ),
    Probe("vector_tile", f"/tiles/risk/{TILE}.mvt?jurisdiction={{j}}", public=False),
    Probe("download", "/downloads/priority-areas.geojson?jurisdiction={j}", public=False),
    Probe("map_page", "/maps/planner?jurisdiction={j}", public=False),
    Probe("audit_log", "/audit?limit=5", admin_only=True, scoped=False),
    # {draw}: the example draw of the jurisdiction asked for (the own county's unscoped)
    Probe(
        "draw_list",
        "/draws?jurisdiction={j}",
        points=True,
        adcodes=lambda a: {d["jurisdiction"] for d in a.json()["draws"]},
    ),
    Probe("draw_read", "/draws/{draw}", points=True),
    Probe("draw_file", "/draws/{draw}.xlsx", points=True),
    Probe("draw_file", "/draws/{draw}.html", points=True),
    # {enterprise}: a register entry of the jurisdiction asked for (the own county's unscoped)
    Probe(
        "enterprise_file",
        "/enterprises/{enterprise}?jurisdiction={j}",
        points=True,
        adcodes=_file_adcodes,
    ),
    Probe("enterprise_file_format", "/enterprises/{enterprise}.xlsx?jurisdiction={j}", points=True),
    Probe(
        "enterprise_search",
        "/enterprises?q=9&jurisdiction={j}&limit=100",
        points=True,
        adcodes=lambda a: {str(hit["adcode"]) for hit in a.json()["enterprises"]},
    ),
    Probe("ingest_batch", "/ingest/batches/1", admin_only=True, scoped=False),
    Probe("ingest_rejects", "/ingest/batches/1/rejects.csv", admin_only=True, scoped=False),
    Probe(
        "quality_report",
        "/quality?jurisdiction={j}",
        points=True,
        roles=QUALITY_ROLES,
        adcodes=_quality_adcodes,
    ),
    Probe("quality_report", "/quality?jurisdiction={j}&f=xlsx", points=True, roles=QUALITY_ROLES),
    Probe("quality_batch", "/quality/batches/1", admin_only=True, scoped=False),
    # the briefing (执法态势简报): accounts only, the data-quality report's readers
    *(
        Probe("brief", f"/briefs/{{j}}/2024-Q2.{fmt}", public=False, roles=QUALITY_ROLES)
        for fmt in ("html", "pdf")
    ),
    Probe("quality_batch", "/quality/batches/1?f=html", admin_only=True, scoped=False),
    # the field page lists the quarter's drawn enterprises: the roles that write findings
    Probe("field_page", "/field?jurisdiction={j}", points=True, roles=FIELD_ROLES),
]

#: Operations with nothing scoped to test: public documents and the log-in itself
#: (the upload and making a draw have their own: tests/geo_service/api/test_uploads.py, and
#: test_scope_of_drawing_and_listing in tests/geo_service/planning/test_draws.py).
UNSCOPED = {
    "conformance",
    "collections",
    "collection",
    "queryables",
    "tile_matrix_sets",  # the WebMercatorQuad definition: no data in it
    "tile_matrix_set",
    "healthz",
    "landing",
    "login",
    "login_form",
    "logout",
    "logout_post",
    "ingest_upload",
    "draw_create",
    # the leadership dashboard: a page of places and no figures, which it reads from the
    # ledgers probed above (tests/geo_service/api/test_dashboard_*.py: the page and how
    # anonymous callers and accounts in and outside their scope are answered in it)
    "dashboard_page",
    # a finding from the field: every role × inside/outside × county/city/province in
    # tests/geo_service/api/test_field_findings.py
    "finding_create",
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def world(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The client, a header per role (all scoped to COUNTY), and records to ask for, over
    the built sample on SQLite and on PostGIS."""
    fixture = "built_sample_store" if request.param == "sqlite" else "built_postgis_sample_store"
    engine: Engine = request.getfixturevalue(fixture)
    url = engine.url.render_as_string(hide_password=False)
    client = TestClient(
        create_app(
            Settings(database_url=url, rate_limit_per_minute=0, tile_rate_limit_per_minute=0)
        )
    )
    neighbour = read_frame(
        engine, "cases", Filters(jurisdiction=NEIGHBOUR), ["case_id", "lon", "lat"]
    )
    own = read_frame(engine, "cases", Filters(jurisdiction=COUNTY), ["lon", "lat"])
    own_cells = {h3.latlng_to_cell(lat, lon, 8) for lon, lat in zip(own.lon, own.lat, strict=True)}
    cells = [
        h3.latlng_to_cell(lat, lon, 8)
        for lon, lat in zip(neighbour.lon, neighbour.lat, strict=True)
    ]
    neighbour_cell = next(c for c in cells if c not in own_cells)
    own_case = read_frame(engine, "cases", Filters(jurisdiction=COUNTY), ["case_id"])
    registers = {
        where: read_frame(engine, "enterprises", Filters(jurisdiction=where), ["credit_code"])
        for where in (COUNTY, NEIGHBOUR)
    }
    assert len(neighbour) > 0 and len(own_case) > 0
    divisions = read_divisions(engine).table
    counties = divisions[divisions["level"] == "county"]
    assert counties["name"].is_unique  # the ledgers name their counties
    COUNTY_NAMES.update(zip(counties["name"], counties.index.astype(str), strict=True))
    return {
        "client": client,
        "headers": {role: account_headers(engine, role, COUNTY) for role in ROLES},
        "above": {
            (level, role): account_headers(engine, role, own)
            for level, (own, _, _) in ABOVE.items()
            for role in ROLES
        },
        "neighbour_case": str(neighbour.case_id.iloc[0]),
        "own_case": str(own_case.case_id.iloc[0]),
        "enterprises": {k: str(v.credit_code.iloc[0]) for k, v in registers.items()},
        "neighbour_cell": neighbour_cell,
        "neighbour_cell6": h3.cell_to_parent(neighbour_cell, 6),
        "engine": engine,
        "draws": store_example_draws(engine, (COUNTY, *OUTSIDE, ABOVE["city"][1])),
    }


def _path(world: dict[str, Any], probe: Probe, jurisdiction: str | None) -> str:
    case = world["own_case"] if jurisdiction in (COUNTY, None) else world["neighbour_case"]
    enterprise = world["enterprises"][COUNTY if jurisdiction in (COUNTY, None) else NEIGHBOUR]
    draw = world["draws"].get(jurisdiction, world["draws"][COUNTY])
    return (
        probe.url(jurisdiction)
        .replace("{case}", case)
        .replace("{cell}", world["neighbour_cell"])
        .replace("{cell6}", world["neighbour_cell6"])
        .replace("{draw}", draw)
        .replace("{enterprise}", enterprise)
    )


def test_every_operation_is_probed(world: dict[str, Any]) -> None:
    doc = world["client"].get("/openapi.json").json()
    operations = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    probed = {p.operation for p in PROBES}
    assert operations - UNSCOPED == probed, "a route without a scoping probe, or a stale one"


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.path)
def test_anonymous(world: dict[str, Any], probe: Probe) -> None:
    client = world["client"]
    own = client.get(_path(world, probe, COUNTY))
    if probe.scoped or probe.points or probe.admin_only:
        assert own.status_code == 401, own.text[:200]
        assert set(own.json()) == {"code", "description"}
    if probe.points or not probe.public:  # not even the whole province's
        assert client.get(_path(world, probe, "450000")).status_code == 401
    elif probe.scoped:  # aggregates at province level are public
        assert client.get(_path(world, probe, "450000")).status_code in (200, 204)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.path)
def test_each_role_inside_and_outside(world: dict[str, Any], probe: Probe, role: str) -> None:
    client, headers = world["client"], world["headers"][role]
    inside = client.get(_path(world, probe, COUNTY), headers=headers)
    if probe.admin_only and role != "admin":
        assert inside.status_code == 403, inside.text[:200]
        return
    if probe.admin_only:
        assert inside.status_code in (200, 404)  # batch 1 may not exist: then a JSON 404
        return
    if role not in probe.roles:
        assert inside.status_code == 403, (role, inside.text[:200])
        return
    assert inside.status_code in (200, 204), (role, inside.text[:300])
    if not probe.scoped:  # the account's own, whatever its jurisdiction: nothing outside
        return
    for outside in OUTSIDE:
        answer = client.get(_path(world, probe, outside), headers=headers)
        assert answer.status_code == 403, (role, outside, answer.text[:200])
        assert set(answer.json()) == {"code", "description"}
    unscoped = client.get(_path(world, probe, None), headers=headers)
    assert unscoped.status_code in (200, 204)
    if probe.adcodes is not None and unscoped.status_code == 200:
        assert probe.adcodes(unscoped) <= {COUNTY}, "another county's records leaked"


@pytest.mark.parametrize("role", ROLES)
def test_unscoped_answers_hold_the_own_county_only(world: dict[str, Any], role: str) -> None:
    """Point records and profiles asked for without a jurisdiction: the county's own."""
    client, headers = world["client"], world["headers"][role]
    cases = client.get("/collections/cases/items?limit=10000", headers=headers).json()
    assert cases["numberMatched"] > 0
    assert _feature_adcodes_of(cases) == {COUNTY}
    # a neighbour's case by its id, and a hexagon holding only the neighbour's cases
    neighbour_case = client.get(
        f"/collections/cases/items/{world['neighbour_case']}", headers=headers
    )
    assert neighbour_case.status_code == 404
    cell = client.get(f"/maps/cell/{world['neighbour_cell']}", headers=headers).json()
    assert cell["cases"] == 0 and cell["top_enterprises"] == []
    ledger = client.get("/stats/cases?group_by=county", headers=headers).json()["rows"]
    assert {r["county"] for r in ledger} == {"兴宁区"}


def _feature_adcodes_of(doc: dict[str, Any]) -> set[str]:
    return {str(f["properties"]["adcode"]) for f in doc["features"]}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("level", list(ABOVE))
@pytest.mark.parametrize("probe", [p for p in PROBES if p.scoped], ids=lambda p: p.path)
def test_city_and_province_accounts(
    world: dict[str, Any], probe: Probe, level: str, role: str
) -> None:
    """Accounts above the county: their own division and a county in it are answered; a
    sibling division and the division above them are 403; asked for nothing in
    particular, a city account's answer holds its own city's counties only."""
    client, headers = world["client"], world["above"][(level, role)]
    own, sibling, parent = ABOVE[level]
    if (probe.admin_only and role != "admin") or role not in probe.roles:
        assert client.get(_path(world, probe, own), headers=headers).status_code == 403
        return
    for inside in (own, COUNTY):
        answer = client.get(_path(world, probe, inside), headers=headers)
        assert answer.status_code in (200, 204), (level, role, inside, answer.text[:300])
    for outside in (sibling, parent):
        if outside is not None:
            answer = client.get(_path(world, probe, outside), headers=headers)
            assert answer.status_code == 403, (level, role, outside, answer.text[:200])
    if probe.adcodes is not None and level == "city":
        unscoped = client.get(_path(world, probe, None), headers=headers)
        if unscoped.status_code == 200:
            found = probe.adcodes(unscoped) - {"", "None"}  # placed in the city, no county
            assert found and all(a.startswith(CITY[:4]) for a in found), ",".join(sorted(found))
