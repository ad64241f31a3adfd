"""Hostile input over the built sample store: oversized bboxes, limits and zooms, paths that
try to leave the static folder, SQL-injection-looking filter values, and a guard that no
SQL is built from strings in the packages."""

from __future__ import annotations

import ast
import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message

from geo_service.access.policy import add_account
from geo_service.api.app import create_app
from geo_service.api.dependencies import MAX_LIMIT
from geo_service.api.limits import bbox_area_km2
from geo_service.core.paths import PROJECT_ROOT
from geo_service.core.settings import Settings
from layers.tiles import MAX_ZOOM

WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
GUANGXI = "104.4,20.8,112.1,26.4"
NANNING = (108.37, 22.82)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _app(engine: Engine, **settings: Any) -> Any:
    return create_app(
        Settings(
            database_url=_url(engine),
            rate_limit_per_minute=0,
            tile_rate_limit_per_minute=0,
            **settings,
        )
    )


@pytest.fixture(scope="module")
def client(built_sample_store: Engine) -> Iterator[TestClient]:
    with TestClient(_app(built_sample_store)) as c:
        yield c


@pytest.fixture(scope="module")
def admin(built_sample_store: Engine) -> dict[str, str]:
    """Headers of an admin of the whole region (sees every point record)."""
    key = add_account(built_sample_store, f"hostile-{uuid4().hex[:8]}", "admin", "450000")
    return {"Authorization": f"Bearer {key}"}


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "description"} and body["code"] == code
    return str(body["description"])


# --- bbox, limit, zoom ---------------------------------------------------------------------


def test_a_bbox_larger_than_the_setting_is_a_400_with_its_area(client: TestClient) -> None:
    world = client.get("/collections/hexagons/items?bbox=-180,-90,180,90")
    reason = _error(world, 400, "bad_filter")
    assert f"{bbox_area_km2((-180, -90, 180, 90)):,.0f} km²" in reason
    assert "25,000,000 km²" in reason
    region = client.get(f"/collections/hexagons/items?bbox={GUANGXI}&limit=1")
    assert region.status_code == 200 and region.json()["numberMatched"] > 0


def test_the_bbox_limit_is_a_setting_and_applies_after_bbox_crs(
    built_sample_store: Engine,
) -> None:
    with TestClient(_app(built_sample_store, max_bbox_km2=5_000)) as small:
        one_degree = (108.0, 22.0, 109.0, 23.0)
        refused = small.get("/collections/jurisdictions/items?bbox=108,22,109,23")
        assert f"{bbox_area_km2(one_degree):,.0f} km²" in _error(refused, 400, "bad_filter")
        assert small.get("/collections/jurisdictions/items?bbox=108.3,22.8,108.4,22.9").is_success
        # 0.1° of Web Mercator metres is far more than 5,000 km² once in degrees
        huge = "-2e7,-2e7,2e7,2e7"
        refused = small.get(f"/collections/jurisdictions/items?bbox={huge}&bbox-crs={WEB_MERCATOR}")
        _error(refused, 400, "bad_filter")
        near = "12064000,2610000,12075000,2621000"  # about 11 km across at Nanning
        answer = small.get(f"/collections/jurisdictions/items?bbox={near}&bbox-crs={WEB_MERCATOR}")
        assert answer.status_code == 200 and answer.json()["numberMatched"] >= 1


@pytest.mark.parametrize(
    "bbox", ["nan,nan,nan,nan", "0,0,inf,inf", "-200,0,0,10", "0,-95,10,10", "1,2,3", "a,b,c,d"]
)
def test_impossible_bboxes_are_400(client: TestClient, bbox: str) -> None:
    _error(client.get(f"/collections/jurisdictions/items?bbox={bbox}"), 400, "bad_filter")


def test_limit_is_at_most_ten_thousand(client: TestClient) -> None:
    assert MAX_LIMIT == 10_000
    reason = _error(
        client.get("/collections/jurisdictions/items?limit=10001"), 400, "bad_parameter"
    )
    assert "limit" in reason and "10000" in reason
    _error(client.get("/collections/jurisdictions/items?limit=0"), 400, "bad_parameter")
    _error(client.get("/collections/jurisdictions/items?offset=-1"), 400, "bad_parameter")
    assert client.get("/collections/jurisdictions/items?limit=10000").status_code == 200
    _error(client.get("/collections/jurisdictions/items?offset=" + "9" * 40), 400, "bad_parameter")
    beyond = client.get("/collections/jurisdictions/items?offset=" + "9" * 12)
    assert beyond.status_code == 200 and beyond.json()["numberReturned"] == 0


def test_zoom_beyond_the_maximum_is_a_400(client: TestClient) -> None:
    reason = _error(client.get(f"/tiles/hexagons/{MAX_ZOOM + 1}/0/0.mvt"), 400, "bad_tile")
    assert f"maximum zoom {MAX_ZOOM}" in reason
    _error(client.get(f"/tiles/kde/{MAX_ZOOM + 1}/0/0.png"), 400, "bad_tile")
    _error(client.get("/tiles/hexagons/" + "9" * 30 + "/0/0.mvt"), 400, "bad_tile")
    _error(client.get("/tiles/hexagons/3/8/0.mvt"), 400, "bad_tile")  # x beyond 2^z − 1
    assert client.get(f"/tiles/hexagons/{MAX_ZOOM}/0/0.mvt").status_code == 204  # empty sea


# --- paths that try to reach the filesystem ---------------------------------------------------


def _raw_get(app: Any, path: str) -> tuple[int, bytes]:
    """A GET with ``path`` exactly as given (a client would normalise ``..`` away)."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [],
        "client": ("10.0.0.9", 5000),
        "server": ("testserver", 80),
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    sent: list[Message] = []

    async def run() -> None:
        done = asyncio.Event()
        asked: list[bool] = []

        async def receive() -> Message:  # the body once; the client leaves once answered
            if asked:
                await done.wait()
                return {"type": "http.disconnect"}
            asked.append(True)
            return {"type": "http.request", "body": b""}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(scope, receive, send)

    asyncio.run(run())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


TRAVERSALS = [
    "/static/../../etc/passwd",
    "/static/../../../../../../etc/passwd",
    "/static/vendor/../../../../../../etc/passwd",
    "/static//etc/passwd",
    "/static/..\\..\\..\\etc\\passwd",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fpasswd",
    "/static/../app.py",
    "/static/../settings.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_paths_never_leave_the_static_folder(sqlite_only_store: Engine, path: str) -> None:
    app = _app(sqlite_only_store)
    status, body = _raw_get(app, path)
    assert status == 404
    assert b"root:" not in body and b"def create_app" not in body and b"class Settings" not in body
    assert _raw_get(app, "/static/maps/favicon.svg")[0] == 200  # the folder itself is served


@pytest.mark.parametrize(
    "url",
    [
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/downloads/..%2f..%2fetc%2fpasswd.csv",
        "/downloads/..%5c..%5cetc%5cpasswd.csv",
        "/downloads/....%2f....%2fetc%2fpasswd.geojson",
        "/maps/..%2f..%2fetc%2fpasswd",
        "/maps/..%5c..%5cgeo_service%5capp.py",
        "/collections/..%2f..%2fetc%2fpasswd/items",
        "/collections/..%5c..%5cetc%5cpasswd/items",
        "/tiles/..%2f..%2fetc%2fpasswd/0/0/0.mvt",
        "/tiles/..%5cpasswd/0/0/0.mvt",
        "/stats/..%2f..%2fetc%2fpasswd",
    ],
)
def test_path_parameters_never_reach_the_filesystem(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert "root:" not in response.text and "def create_app" not in response.text
    assert set(response.json()) == {"code", "description"}  # the service's error, not a page


def test_no_route_and_wrong_method_are_json_errors(client: TestClient) -> None:
    _error(client.get("/no/such/route"), 404, "not_found")
    refused = client.post("/conformance")
    _error(refused, 405, "method_not_allowed")
    assert refused.headers["allow"] == "GET"


def test_layer_names_are_checked_against_the_fixed_lists(client: TestClient) -> None:
    _error(client.get("/downloads/passwd.csv"), 404, "unknown_layer")
    _error(client.get("/downloads/cases.passwd"), 404, "not_found")
    _error(client.get("/collections/passwd/items"), 404, "unknown_layer")
    _error(client.get("/tiles/passwd/0/0/0.mvt"), 404, "unknown_layer")
    _error(client.get("/maps/passwd"), 404, "not_found")


# --- SQL-injection-looking values ---------------------------------------------------------------

INJECTIONS = [
    ("jurisdiction", "450100' OR '1'='1"),
    ("jurisdiction", "450100; DROP TABLE cases; --"),
    ("industry", "%' --"),
    ("industry", "C' OR 'x'='x"),
    ("industry", "C%"),
    ("period", "2024' OR 1=1 --"),
    ("start", "2024-01-01' OR '1'='1"),
    ("violation_type", "' OR '1'='1"),
    ("violation_type", "x'); DELETE FROM cases; --"),
]
TARGETS = [
    "/collections/cases/items",
    "/collections/hexagons/items?limit=10000",
    "/stats/cases",
    "/tiles/cases/{z}/{x}/{y}.geojson",
    "/tiles/hexagons/{z}/{x}/{y}.mvt",
    "/downloads/cases.csv",
]


def _tile_row(lat: float, z: int) -> int:
    return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)


def _cases(target: str, response: Any) -> int:
    """How many penalty cases an answer covers (records, or the counts of aggregates)."""
    if response.status_code == 204:
        return 0
    if target.endswith(".mvt"):
        layer = mapbox_vector_tile.decode(response.content)[target.split("/")[2]]
        return sum(int(f["properties"]["cases"]) for f in layer["features"])
    if target.endswith(".csv"):
        return len(response.content.decode("utf-8-sig").splitlines()) - 1
    doc = response.json()
    if "rows" in doc:  # a ledger
        return sum(int(row["cases"]) for row in doc["rows"])
    if "cases" in target:
        return int(doc.get("numberMatched", len(doc["features"])))
    return sum(int(f["properties"]["cases"]) for f in doc["features"])


@pytest.mark.parametrize("target", TARGETS)
def test_injection_looking_filters_are_refused_or_match_nothing(
    client: TestClient, admin: dict[str, str], target: str
) -> None:
    url = target.format(z=8, x=int((NANNING[0] + 180) / 360 * 256), y=_tile_row(NANNING[1], 8))
    baseline = client.get(url, headers=admin)
    assert baseline.status_code == 200
    for name, value in INJECTIONS:
        response = client.get(url, params={name: value}, headers=admin)
        assert response.status_code in (200, 204, 400), (name, value, response.text)
        if response.status_code == 400:
            assert response.json()["code"] in ("bad_filter", "bad_parameter")
        else:  # free text matched as a value: nothing has that value
            assert name == "violation_type"
            assert _cases(target, response) == 0, (name, value)
    assert _cases(target, baseline) > 0
    assert _cases(target, client.get(url, headers=admin)) == _cases(target, baseline)


def test_injection_looking_ids_and_property_filters_match_nothing(
    client: TestClient, admin: dict[str, str]
) -> None:
    _error(client.get("/collections/cases/items/x' OR '1'='1", headers=admin), 404, "unknown_layer")
    by_property = client.get(
        "/collections/jurisdictions/items", params={"adcode": "450100' OR '1'='1"}
    )
    assert by_property.status_code == 200 and by_property.json()["numberMatched"] == 0
    exact = client.get("/collections/jurisdictions/items", params={"adcode": "450100"})
    assert exact.json()["numberMatched"] == 1
    refused = client.get(
        "/stats/cases", params={"group_by": "city;DROP TABLE cases"}, headers=admin
    )
    _error(refused, 400, "bad_filter")
    _error(
        client.get("/collections/cases/items", params={"case_id' OR '1": "1"}, headers=admin),
        400,
        "bad_filter",
    )


# --- no SQL built from strings -------------------------------------------------------------------

_SQL_CALLS = {"text", "execute", "exec_driver_sql", "executescript", "literal_column"}
#: (file, function) allowed to format SQL, and why: identifiers from a fixed tuple only.
_ALLOWED = {
    ("geo_service/store/migrations/versions/0001_initial_schema.py", "_add_postgis_columns"),
    ("geo_service/store/migrations/versions/0005_postgis_serving.py", "upgrade"),
    ("geo_service/store/migrations/versions/0005_postgis_serving.py", "downgrade"),
    ("geo_service/store/migrations/versions/0006_jurisdiction_pages.py", "upgrade"),
    ("geo_service/store/migrations/versions/0006_jurisdiction_pages.py", "downgrade"),
}


def _formatted(node: ast.expr) -> bool:
    """Whether an expression builds a string: an f-string, ``%`` or ``+`` on strings, or
    ``.format()``."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return not all(isinstance(s, ast.Constant) for s in (node.left, node.right))
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    )


def _sql_built_from_strings(path: Path) -> list[tuple[str, int]]:
    """(function, line) of the calls of :data:`_SQL_CALLS` whose SQL is built from strings."""
    found: list[tuple[str, int]] = []

    def walk(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and child.args:
                called = getattr(child.func, "attr", None) or getattr(child.func, "id", None)
                if called in _SQL_CALLS and _formatted(child.args[0]):
                    found.append((function, child.lineno))
            named = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            walk(child, child.name if named else function)

    walk(ast.parse(path.read_text("utf-8")), "<module>")
    return found


def test_no_sql_is_built_from_strings() -> None:
    offenders = []
    for package in ("geo_service", "layers", "analytics"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            offenders += [
                (relative, name, line)
                for name, line in _sql_built_from_strings(path)
                if (relative, name) not in _ALLOWED
            ]
    assert offenders == []


def test_the_guard_sees_formatted_sql(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text(
        "def f(conn, t, v):\n"
        "    conn.execute(text(f'SELECT * FROM {t}'))\n"
        "    conn.exec_driver_sql('DELETE FROM x WHERE a = %s' % v)\n"
        "    conn.execute(text('SELECT 1 WHERE a = ' + v))\n"
        "    conn.execute(text('SELECT {}'.format(v)))\n"
        "    conn.execute(text('SELECT 1'))\n"
    )
    assert _sql_built_from_strings(source) == [("f", 2), ("f", 3), ("f", 4), ("f", 5)]
