"""PostGIS in production: COPY ingest, serving indexes (0005), items and tiles by SQL, pooling."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from pandas.testing import assert_frame_equal
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

import geo_service.ingest.writer as writer
from geo_service.api.app import create_app
from geo_service.api.postgis_tiles import record_tile_mvt
from geo_service.api.tile_cache import HEAVY_COLUMNS, TileService
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store import make_engine, migrate
from geo_service.store.models import PenaltyCase
from geo_service.store.queries import PageRequest, read_records_page
from layers.tiles import vector_tile
from tests.conftest import account_headers, scratch_postgres
from tests.geo_service.bulk_cases import Snapshot, snapshot, write_cases_csv

NANNING = (108.37, 22.82)
KINDS = ("enterprises", "cases", "inspections")
KEYS = {"enterprises": "credit_code", "cases": "case_id", "inspections": "inspection_id"}


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    import math

    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return z, int((lon + 180) / 360 * n), int(y)


def _restart(engine: Engine) -> None:
    """Empty the ingest's tables and restart their ids (two runs give comparable ids)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE rejected_rows, cases, enterprises, inspections, "
                "ingest_batches RESTART IDENTITY CASCADE"
            )
        )


def _content(engine: Engine) -> str:
    """A digest of every column of every stored case (geometry included), in id order."""
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM cases c")
            ).scalar_one()
        )


def _two_ingests(engine: Engine, tmp_path: Path) -> tuple[Snapshot, str, list[dict]]:
    """Ingest 12,000 cases, then a file updating 9,000 of them and adding 3,000."""
    tmp_path.mkdir()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_cases_csv(first, 12_000, seed=1, prefix="PG", bad_every=101)
    write_cases_csv(second, 12_000, seed=2, prefix="PG", bad_every=0)
    options = IngestOptions(
        kind="cases", progress=False, chunk_rows=5_000, rejects_path=tmp_path / "rejects.csv"
    )
    summaries = []
    for path in (first, second):
        summary = ingest_file(engine, path, options)
        summaries.append({k: summary[k] for k in ("rows", "accepted", "inserted", "updated")})
    return snapshot(engine), _content(engine), summaries


def _direct_copies(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Filled as the COPY ingest writes each part: whether it went straight into its table."""
    direct: list[bool] = []
    real = writer._copy_direct

    def spied(*args: Any) -> bool:
        direct.append(real(*args))
        return direct[-1]

    monkeypatch.setattr(writer, "_copy_direct", spied)
    return direct


@pytest.mark.postgis
def test_copy_into_an_empty_table_falls_back_where_a_key_is_there_already(
    postgis_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts COPY'd straight into a table empty at the batch's start, until one meets a
    key already stored (as when another batch commits meanwhile): that part's COPY is
    undone and it and the rest are upserted through the staging table, the later values
    winning and the first ids kept, as executemany leaves them (but for the ids the
    undone COPY took from the sequence, which PostgreSQL does not give back)."""
    engine = postgis_only_store
    table = PenaltyCase.__table__

    def part(ids: range, amount: int) -> pa.Table:
        n = len(ids)
        return pa.table(
            {
                "case_id": [f"FB-{i}" for i in ids],
                "decision_date": pa.array([dt.date(2024, 5, 1)] * n),
                "lon": [108.3 + i * 1e-4 for i in ids],
                "lat": [22.8] * n,
                "geocode_method": ["coordinates"] * n,
                "geocode_precision": ["point"] * n,
                "h3_15": [644733610451478528 + i for i in ids],
                "penalty_amount": [float(amount)] * n,
            }
        )

    parts = [part(range(0, 300), 1), part(range(300, 600), 2), part(range(500, 900), 3)]
    parts.append(part(range(900, 1000), 4))
    direct = _direct_copies(monkeypatch)
    stored = {}
    for copy in (False, True):
        _restart(engine)
        monkeypatch.setattr(writer, "COPY_ON_POSTGRES", copy)
        with engine.begin() as conn:
            written = list(writer.write_rows(conn, table, "case_id", parts, fresh=True))
        with engine.connect() as conn:
            stored[copy] = conn.execute(
                text("SELECT id, case_id, penalty_amount, ST_X(geom) FROM cases ORDER BY id")
            ).all()
        assert written == [300, 300, 400, 100]
    assert direct == [True, True, False]  # the third part met stored keys: the rest staged
    # the same rows in the same id order; the undone COPY's ids are not given again
    assert [row[1:] for row in stored[True]] == [row[1:] for row in stored[False]]
    amounts = {case_id: amount for _, case_id, amount, _ in stored[True]}
    assert len(amounts) == 1000
    assert (amounts["FB-499"], amounts["FB-500"], amounts["FB-999"]) == (2.0, 3.0, 4.0)


@pytest.mark.postgis
def test_copy_ingest_stores_what_executemany_stored(
    postgis_only_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = postgis_only_store
    _restart(engine)
    monkeypatch.setattr(writer, "COPY_ON_POSTGRES", False)
    old = _two_ingests(engine, tmp_path / "old")
    with engine.connect() as conn:
        kept = dict(conn.execute(text("SELECT case_id, id FROM cases")).all())
    _restart(engine)
    monkeypatch.setattr(writer, "COPY_ON_POSTGRES", True)
    direct = _direct_copies(monkeypatch)
    new = _two_ingests(engine, tmp_path / "new")
    assert direct == [True, True, True]  # the first file's parts straight in; none of the second's
    assert new == old  # same rows, ids, batches and rejects; the same content, column by column
    snap, _, summaries = new
    assert summaries == [
        {"rows": 12_000, "accepted": 11_881, "inserted": 11_881, "updated": 0},
        {"rows": 12_000, "accepted": 12_000, "inserted": 119, "updated": 11_881},
    ]
    assert snap.counts["cases"] == 12_000
    with engine.connect() as conn:  # re-ingest updated in place: ids kept, values of file 2
        ids = dict(conn.execute(text("SELECT case_id, id FROM cases")).all())
        moved = conn.execute(
            text(
                "SELECT count(*) FROM cases WHERE NOT ST_Equals(geom,"
                " ST_SetSRID(ST_MakePoint(lon, lat), 4326)) OR batch_id <> (SELECT max(id)"
                " FROM ingest_batches)"
            )
        ).scalar_one()
    assert ids == kept
    assert moved == 0


def test_copy_statements_stage_then_upsert_on_the_key() -> None:
    from psycopg import sql as psql

    from geo_service.store.models import PenaltyCase

    create, copy, upsert, truncate = writer._staging_statements(
        PenaltyCase.__table__,
        "case_id",
        ["case_id", "lon", "lat"],  # type: ignore[arg-type]
    )
    assert all(isinstance(s, psql.Composed) for s in (create, copy, upsert, truncate))
    create_sql, copy_sql, upsert_sql = (s.as_string(None) for s in (create, copy, upsert))
    assert copy_sql == 'COPY "_stage_cases" (_n, "case_id", "lon", "lat") FROM STDIN (FORMAT csv)'
    assert upsert_sql == (
        'INSERT INTO "cases" ("case_id", "lon", "lat") SELECT "case_id", "lon", "lat" FROM'
        ' "_stage_cases" ORDER BY _n ON CONFLICT ("case_id") DO UPDATE SET'
        ' "lon" = EXCLUDED."lon", "lat" = EXCLUDED."lat"'
    )
    assert "ON COMMIT DROP" in create_sql


# ---------------------------------------------------------------- the sample on both backends


@pytest.fixture(scope="module")
def both(
    sqlite_store: Engine, postgis_store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Engine]]:
    """The committed sample slice (three kinds) in the SQLite and the PostGIS store."""
    from geo_service.core.paths import SAMPLE_SLICE
    from tests.conftest import _clear_records

    out = tmp_path_factory.mktemp("both")
    engines = {"sqlite": sqlite_store, "postgis": postgis_store}
    for name, engine in engines.items():
        _clear_records(engine)
        for kind in KINDS:
            options = IngestOptions(
                kind=kind,
                rejects_path=out / f"{name}-{kind}.csv",
                progress=False,
                today=dt.date(2026, 11, 28),
            )
            ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    yield engines
    for engine in engines.values():
        _clear_records(engine)


@pytest.mark.postgis
@pytest.mark.parametrize("kind", KINDS)
def test_items_in_a_bbox_are_the_same_on_both_backends(both: dict[str, Engine], kind: str) -> None:
    lite = read_records_page(both["sqlite"], kind, None, PageRequest(offset=0, limit=10_000))[0]
    # a box whose west and north edges pass exactly through stored points
    west = float(lite["lon"].sort_values().iloc[len(lite) * 3 // 10])
    north = float(lite["lat"].sort_values().iloc[len(lite) * 8 // 10])
    boxes = [(west, 21.5, 110.0, north), (107.0, 21.0, 109.5, 23.5), (60.0, 0.0, 61.0, 1.0)]
    key = KEYS[kind]
    for bbox in boxes:
        found = {}
        for name, engine in both.items():
            every, matched = read_records_page(
                engine, kind, Filters(), PageRequest(bbox=bbox, offset=0, limit=10_000)
            )
            page, _ = read_records_page(
                engine, kind, Filters(), PageRequest(bbox=bbox, offset=5, limit=50)
            )
            assert matched == len(every)
            assert page[key].tolist() == every[key].iloc[5:55].tolist()  # pages of the whole
            # the order of text keys is the database's collation: compared as sets of rows
            found[name] = every.drop(columns="geometry").sort_values(key, ignore_index=True)
        assert_frame_equal(found["postgis"], found["sqlite"])
        assert bbox[0] != 60.0 or len(found["sqlite"]) == 0
    on_edge = (lite["lon"] == west).sum() + (lite["lat"] == north).sum()
    assert on_edge >= 2  # the edges were put through points: inclusive on both backends


def _features(tile: bytes, layer: str, key: str) -> dict[str, tuple[list[int], dict]]:
    decoded = mapbox_vector_tile.decode(tile, default_options={"y_coord_down": True})
    layers = decoded[layer]
    assert layers["extent"] == 4096
    return {
        f["properties"][key]: (f["geometry"]["coordinates"], f["properties"])
        for f in layers["features"]
    }


FILTERS = [
    Filters(),
    Filters(jurisdiction="450100"),
    Filters(period="2024"),
    Filters(industry="C26"),
    Filters(violation_type="超标排放"),
]


@pytest.mark.postgis
@pytest.mark.parametrize("kind", KINDS)
def test_st_asmvt_tiles_equal_our_encoders(both: dict[str, Engine], kind: str) -> None:
    engine = both["postgis"]
    service = TileService(engine, cache_mb=0)
    compared = 0
    for filters in FILTERS:
        source = service._load_vector(kind, filters, {}).source  # the whole layer, in memory
        for z in (5, 8, 11, 14):
            index = _tile_of(*NANNING, z)
            ours = vector_tile(source, kind, *index)
            theirs = record_tile_mvt(engine, kind, filters, *index, exclude=HEAVY_COLUMNS)
            if not ours:
                assert theirs == b""
                continue
            a, b = _features(ours, kind, KEYS[kind]), _features(theirs, kind, KEYS[kind])
            assert a.keys() == b.keys()
            for fid, (coords, props) in a.items():
                assert b[fid][1] == props
                assert max(abs(u - v) for u, v in zip(coords, b[fid][0], strict=True)) <= 1
            compared += len(a)
    assert compared > 200


@pytest.fixture(scope="module")
def pg_client(both: dict[str, Engine]) -> Iterator[TestClient]:
    engine = both["postgis"]
    app = create_app(Settings(database_url=engine.url.render_as_string(hide_password=False)))
    with TestClient(app, headers=account_headers(engine)) as client:
        yield client


@pytest.mark.postgis
def test_point_tiles_over_http_from_postgis(both: dict[str, Engine], pg_client: TestClient) -> None:
    z, x, y = _tile_of(*NANNING, 10)
    path = f"/tiles/cases/{z}/{x}/{y}"
    mvt = pg_client.get(f"{path}.mvt", params={"period": "2024"})
    assert mvt.status_code == 200
    again = pg_client.get(
        f"{path}.mvt", params={"period": "2024"}, headers={"If-None-Match": mvt.headers["ETag"]}
    )
    assert again.status_code == 304
    assert mvt.headers["Cache-Control"].startswith("private")
    features = _features(mvt.content, "cases", "case_id")
    assert features and all(p["decision_date"].startswith("2024") for _, p in features.values())
    # GeoJSON tiles: the features SQLite's store gives for the same tile, same properties
    app = create_app(Settings(database_url=both["sqlite"].url.render_as_string()))
    with TestClient(app, headers=account_headers(both["sqlite"])) as lite:
        expected = lite.get(f"{path}.geojson").json()
    got = pg_client.get(f"{path}.geojson").json()
    assert len(got["features"]) == len(expected["features"]) > 0
    assert got == expected
    assert pg_client.get("/tiles/cases/10/0/0.mvt").status_code == 204  # nothing there
    assert pg_client.get(f"{path}.mvt", headers={"Authorization": ""}).status_code == 401
    with both["postgis"].connect() as conn:
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'tile'"
                " AND resource LIKE '/tiles/cases/%'"
            )
        ).scalar_one()
    assert audited >= 2


# ---------------------------------------------------------------- pool and migration 0005


def test_postgres_engines_pool_as_the_settings_say() -> None:
    settings = Settings(db_pool_size=7, db_max_overflow=3, db_pool_recycle_s=120)
    engine = make_engine("postgresql+psycopg://geo@127.0.0.1:5432/geo", settings=settings)
    pool = engine.pool
    assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (7, 3, 120, True)  # type: ignore[attr-defined]
    default = make_engine("postgresql+psycopg://geo@127.0.0.1:5432/geo", settings=Settings())
    assert (default.pool.size(), default.pool._recycle) == (5, 1800)  # type: ignore[attr-defined]


def test_pool_settings_come_from_the_callers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's pool settings reach the engine through the settings the CLI and
    the app pass; the store reads no environment of its own."""
    from geo_service.core.settings import get_settings

    monkeypatch.setenv("GEO_DB_POOL_SIZE", "11")
    monkeypatch.setenv("GEO_DB_MAX_OVERFLOW", "0")
    get_settings.cache_clear()
    url = "postgresql+psycopg://geo@127.0.0.1:5432/geo"
    try:
        engine = make_engine(url, settings=get_settings())
        assert (engine.pool.size(), engine.pool._max_overflow) == (11, 0)  # type: ignore[attr-defined]
        bare = make_engine(url)  # no settings given: SQLAlchemy's pool, not the environment
        assert (bare.pool.size(), bare.pool._max_overflow) == (5, 10)  # type: ignore[attr-defined]
    finally:
        get_settings.cache_clear()


SERVING = {
    "pgix_cases_h3_15",
    "pgix_cases_province_adcode",
    "pgix_cases_industry_code_pattern",
    "pgix_cases_violation_type",
    "pgix_inspections_h3_15",
    "pgix_inspections_province_adcode",
    "pgix_inspections_industry_code_pattern",
    "pgix_inspections_problem_category",
    "pgix_enterprises_h3_15",
    "pgix_enterprises_province_adcode",
    "pgix_enterprises_industry_code_pattern",
    # 0006: a jurisdiction's records in key order
    *(f"pgix_{t}_{c}_by_key" for t in KINDS for c in ("adcode", "city_adcode", "province_adcode")),
}


def _indexes(engine: Engine) -> set[str]:
    names = inspect(engine)
    return {str(ix["name"]) for t in KINDS for ix in names.get_indexes(t)}


def _up_and_down(engine: Engine) -> tuple[set[str], set[str]]:
    """Indexes made by 0005 and 0006 (0006 over 0004), and those left after a downgrade to
    0004."""
    from alembic import command

    from geo_service.store.db import alembic_config

    migrate(engine, "0004")
    before = _indexes(engine)
    migrate(engine, "0006")
    added = _indexes(engine) - before
    command.downgrade(alembic_config(engine), "0004")
    left = _indexes(engine) - before
    migrate(engine)
    command.check(alembic_config(engine))  # the serving indexes are no model drift
    return added, left


def test_migration_0005_is_a_no_op_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'geo.db'}")
    try:
        assert _up_and_down(engine) == (set(), set())
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_migration_0005_up_and_down_on_postgis(worker_id: str) -> None:
    with scratch_postgres(worker_id, "_0005") as engine:
        added, left = _up_and_down(engine)
        with engine.connect() as conn:
            gist = set(
                conn.execute(
                    text(
                        "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist (geom)%'"
                    )
                ).scalars()
            )
            pattern = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname ="
                    " 'pgix_cases_industry_code_pattern'"
                )
            ).scalar_one()
    assert added == SERVING
    assert left == set()
    assert gist == {f"ix_{t}_geom" for t in (*KINDS, "jurisdictions", "projects")}
    assert "varchar_pattern_ops" in pattern


# ---------------------------------------------------------------- deployment files


def test_compose_file_runs_the_service_beside_postgis() -> None:
    import yaml

    root = Path(__file__).resolve().parents[3]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    db, service = compose["services"]["db"], compose["services"]["service"]
    assert db["image"] == "postgis/postgis:15-3.4"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert set(compose["volumes"]) >= {v.split(":")[0] for v in db["volumes"]}
    assert service["build"] == "."
    assert service["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
    command = " ".join(service["command"])
    assert command.index("geo-service init") < command.index("geo-service serve")
    url = make_url(
        service["environment"]["GEO_DATABASE_URL"].replace(
            "${GEO_DB_PASSWORD:?set GEO_DB_PASSWORD}", "secret"
        )
    )
    assert (url.drivername, url.host, url.database, url.username) == (
        "postgresql+psycopg",
        "db",
        db["environment"]["POSTGRES_DB"],
        db["environment"]["POSTGRES_USER"],
    )
    settings = Settings(
        **{k.removeprefix("GEO_").lower(): v for k, v in service["environment"].items()}
    )
    assert settings.db_pool_size == 5 and settings.port == 8000
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("# geo-service") and "FROM python:3.11-slim" in dockerfile
    assert "pip install -c requirements.lock ." in dockerfile


@pytest.mark.postgis
def test_point_tilejson_from_postgis_without_loading_the_layer(
    both: dict[str, Engine], pg_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_service.api.tile_cache as tile_cache

    app = create_app(Settings(database_url=both["sqlite"].url.render_as_string()))
    with TestClient(app, headers=account_headers(both["sqlite"])) as lite:
        expected = lite.get("/tiles/cases/tilejson.json?jurisdiction=450100").json()
    monkeypatch.setattr(tile_cache, "load_layer", lambda *a, **k: pytest.fail("layer loaded"))
    got = pg_client.get("/tiles/cases/tilejson.json?jurisdiction=450100").json()
    assert got["bounds"] == pytest.approx(expected["bounds"], abs=1e-12)
    fields, wanted = got["vector_layers"][0]["fields"], expected["vector_layers"][0]["fields"]
    assert list(fields) == list(wanted)
    # columns with no value at all are typed String from the data, by their type from SQL
    differ = {k for k in fields if fields[k] != wanted[k]}
    assert differ <= {"problem_type"}
    assert fields["h3_15"].startswith("String") and fields["lon"].startswith("Number")
    assert got["provenance"]["filters"] == {"jurisdiction": "450100"}


@pytest.mark.postgis
def test_a_page_of_a_locked_table_gives_up_with_503(
    postgis_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a first load holds the cases table (its dropped indexes' exclusive lock), a
    page of cases waits for it at most the service's lock timeout, then answers 503
    with a JSON reason, and frees its worker thread; other tables still answer."""
    import geo_service.api.app as app_module

    monkeypatch.setattr(app_module, "LOCK_TIMEOUT_MS", 300)
    headers = account_headers(postgis_only_store)
    client = TestClient(create_app(Settings(database_url=str(postgis_only_store.url))))
    with postgis_only_store.connect() as holder:
        holder.execute(text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
        try:
            response = client.get("/collections/cases/items?limit=5", headers=headers)
            assert response.status_code == 503, response.text[:300]
            assert response.json()["code"] == "store_unavailable"
            other = client.get("/collections/inspections/items?limit=5", headers=headers)
            assert other.status_code == 200
        finally:
            holder.rollback()
    assert client.get("/collections/cases/items?limit=5", headers=headers).status_code == 200


@pytest.mark.postgis
def test_only_the_service_gives_up_waiting_for_locks(postgis_only_store: Engine) -> None:
    """The service's engine sets a lock timeout on its connections; an ingest's engine
    (made without one) waits, as a batch behind another batch should."""
    service = create_app(Settings(database_url=str(postgis_only_store.url))).state.engine
    plain = make_engine(str(postgis_only_store.url))
    try:
        with service.connect() as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "30s"
        with plain.connect() as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "0"
    finally:
        service.dispose()
        plain.dispose()
