"""Item pages of point records, encoded from the store's rows, under concurrent requests.

The page is made from the rows without a GeoDataFrame on the way; its features must be
those the frame gives (:func:`layers.files.to_geojson_dict`). Concurrent audited reads
share their audit commits; every one of them has its entry in the store once answered.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select
from sqlalchemy import null as sql_null

from geo_service.api.app import create_app
from geo_service.api.features import _converters, _record_features
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.store.models import RECORD_TABLES, AuditEntry
from geo_service.store.queries import PageRequest, _records_frame, read_records_rows
from layers.files import to_geojson_dict
from tests.conftest import SampleStore, account_headers


def _integer_columns(kind: str) -> set[str]:
    from sqlalchemy import Integer

    table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    return {c.name for c in table.columns if isinstance(c.type, Integer)}


@pytest.mark.parametrize("kind", ["enterprises", "cases", "inspections"])
def test_features_from_rows_are_those_of_the_frame(sample_store: SampleStore, kind: str) -> None:
    """Every record of the sample, page by page: the same properties, the same text of
    every value (dates, JSON, H3 ids, numbers), the same point; an integer column stays
    integers where the frame of a page with a gap in it would make them floats."""
    names, rows, matched = read_records_rows(
        sample_store.engine, kind, None, PageRequest(limit=100_000)
    )
    assert matched == len(rows) > 0
    integers = _integer_columns(kind) - {"h3_15"}
    for start in range(0, len(rows), 100):
        page = rows[start : start + 100]
        ours = _record_features(names, page, _converters(kind, tuple(names)))
        frame = to_geojson_dict(_records_frame(page, names), {})["features"]
        assert json.loads(json.dumps(ours)) == json.loads(json.dumps(frame))  # 3 == 3.0
        for mine, theirs in zip(ours, frame, strict=True):
            assert list(mine["properties"]) == list(theirs["properties"])
            assert json.dumps(mine["geometry"]) == json.dumps(theirs["geometry"])
            for name, value in mine["properties"].items():
                if name in integers and value is not None:
                    assert isinstance(value, int) and value == theirs["properties"][name]
                else:
                    assert json.dumps(value, ensure_ascii=False) == json.dumps(
                        theirs["properties"][name], ensure_ascii=False
                    )


def test_values_the_store_gives_as_json_become_property_values() -> None:
    """Without converters every value is looked at: NaN is no value, a date ISO text,
    JSON its text (non-ASCII kept)."""
    import datetime as dt

    names = ["case_id", "decision_date", "penalty_amount", "attributes", "lon", "lat", "h3_15"]
    row = ("A-1", dt.date(2025, 3, 1), float("nan"), {"来源": "举报"}, 108.3, 22.8, 0x8F4152)
    (feature,) = _record_features(names, [row])
    assert feature["properties"]["decision_date"] == "2025-03-01"
    assert feature["properties"]["penalty_amount"] is None
    assert feature["properties"]["attributes"] == '{"来源": "举报"}'
    assert feature["geometry"] == {"type": "Point", "coordinates": (108.3, 22.8)}


def test_an_item_page_carries_ids_links_and_counts_as_before(sample_store: SampleStore) -> None:
    """The HTTP page: features in the order of their key, each with its id, the page's
    count and next link; the same features the frame of the same page gives."""
    engine = sample_store.engine
    client = TestClient(create_app(Settings(database_url=str(engine.url))))
    headers = account_headers(engine)
    response = client.get(
        "/collections/cases/items", params={"limit": 7, "jurisdiction": "450100"}, headers=headers
    )
    assert response.status_code == 200, response.text[:300]
    doc = response.json()
    names, rows, matched = read_records_rows(
        engine, "cases", Filters(jurisdiction="450100"), PageRequest(limit=7, count_limit=100_000)
    )
    frame = to_geojson_dict(_records_frame(rows, names), {})["features"]
    assert doc["numberMatched"] == matched and doc["numberReturned"] == len(rows) == 7
    assert [f["id"] for f in doc["features"]] == [str(r.case_id) for r in rows]
    assert [f["properties"] for f in doc["features"]] == [f["properties"] for f in frame]
    assert [f["geometry"]["coordinates"] for f in doc["features"]] == [
        list(f["geometry"]["coordinates"]) for f in frame
    ]
    assert {link["rel"] for link in doc["links"]} >= {"self", "next"}
    assert response.headers["content-type"].startswith("application/geo+json")


def _entries(engine: Engine, account: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.account == account)
        return int(conn.execute(query).scalar_one())


def test_concurrent_audited_reads_each_have_their_entry(sample_store: SampleStore) -> None:
    """16 clients read pages at once; every answered read has its own entry in the store as
    soon as it is answered, none twice."""
    engine = sample_store.engine
    app = create_app(Settings(database_url=str(engine.url)))
    client = TestClient(app)
    headers = account_headers(engine, "inspector", "450100")
    account = client.get("/collections/cases/items?limit=1", headers=headers)
    assert account.status_code == 200
    name = _account_of(engine, headers)
    before = _entries(engine, name)
    answered: list[int] = []
    errors: list[Any] = []

    def read(i: int) -> None:
        for j in range(5):
            response = client.get(
                "/collections/cases/items", params={"limit": 20, "offset": 20 * j}, headers=headers
            )
            if response.status_code != 200:
                errors.append(response.text[:200])
            answered.append(i)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(answered) == 80
    assert _entries(engine, name) - before == 80  # no flush needed: stored before answered
    assert app.state.audit_log.pending() == 0


def _account_of(engine: Engine, headers: dict[str, str]) -> str:
    from geo_service.access.policy import authenticate

    return authenticate(engine, headers["Authorization"].removeprefix("Bearer ")).name


def _case(case_id: str, attributes: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "decision_date": dt.date(2025, 3, 1),
        "lon": 108.3,
        "lat": 22.8,
        "geocode_method": "coordinates",
        "geocode_precision": "point",
        "h3_15": 0x8F4152156D845B0,
        "adcode": "450102",
        "city_adcode": "450100",
        "province_adcode": "450000",
        "attributes": attributes,
    }


def test_json_read_as_stored_text_makes_the_same_page(store: Engine) -> None:
    """The items route reads a JSON column as the text the store holds and makes each
    distinct text a property value once: the page's bytes are those of the values the
    driver parses (a dict or a list as JSON text with its Chinese kept, a JSON string as
    itself, JSON null and SQL NULL as null), on each backend."""
    attributes = [{"来源": "举报", "n": 3}, ["a", "举报"], "文本", None, sql_null()]
    table = RECORD_TABLES["cases"].__table__  # type: ignore[attr-defined]
    with store.begin() as conn:
        conn.execute(insert(table), [_case(f"J-{i}", a) for i, a in enumerate(attributes)])
    asked = PageRequest(limit=100)
    names, parsed, _ = read_records_rows(store, "cases", None, asked)
    names_text, texts, _ = read_records_rows(store, "cases", None, asked, json_text=True)
    assert names_text == names and len(texts) == len(parsed) == 5
    at = names.index("attributes")
    assert isinstance(texts[0][at], str) and isinstance(parsed[0][at], dict)  # not parsed
    expected = _record_features(names, parsed, _converters("cases", tuple(names)))
    for _ in range(2):  # the second time from the remembered values
        ours = _record_features(names, texts, _converters("cases", tuple(names), json_text=True))
        assert msgspec.json.encode(ours) == msgspec.json.encode(expected)
    values = [f["properties"]["attributes"] for f in ours]
    assert values == ['{"来源": "举报", "n": 3}', '["a", "举报"]', "文本", None, None]


def test_json_texts_are_parsed_once_and_kept_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A text seen before is not parsed again; at most JSON_VALUES_KEPT texts are kept."""
    from geo_service.api import features

    parsed: list[str] = []
    real_loads = json.loads

    def loads(text: str) -> Any:
        parsed.append(text)
        return real_loads(text)

    monkeypatch.setattr(features, "_JSON_VALUES", {})
    monkeypatch.setattr(features, "JSON_VALUES_KEPT", 3)
    monkeypatch.setattr(features.json, "loads", loads)
    texts = [f'{{"k": {i}}}' for i in range(5)]
    assert [features._json_value(t) for t in texts[:2] * 3] == ['{"k": 0}', '{"k": 1}'] * 3
    assert parsed == texts[:2]
    for text in texts:
        assert features._json_value(text) == text
    assert len(features._JSON_VALUES) <= 3


def _pages_at_once(
    store: Engine, monkeypatch: pytest.MonkeyPatch, inside: Any, asked: int
) -> list[int]:
    """``asked`` pages of cases asked at once through one event loop, ``inside()`` run
    while each is read from the store; their statuses."""
    from geo_service.api import features

    with store.begin() as conn:
        table = RECORD_TABLES["cases"].__table__  # type: ignore[attr-defined]
        conn.execute(insert(table), [_case(f"T-{i}", None) for i in range(3)])
    read = features.read_records_rows

    def reading(*args: Any, **kwargs: Any) -> Any:
        inside()
        return read(*args, **kwargs)

    monkeypatch.setattr(features, "read_records_rows", reading)
    headers = account_headers(store)
    statuses: list[int] = []
    with TestClient(create_app(Settings(database_url=str(store.url)))) as client:

        def ask() -> None:
            response = client.get("/collections/cases/items?limit=2", headers=headers)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=ask) for _ in range(asked)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return statuses


def test_sqlite_pages_of_point_records_are_made_one_at_a_time(
    sqlite_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads making SQLite pages at once cost each about twice the CPU: the pages are
    made one after the other, on a worker thread."""
    lock, now, most = threading.Lock(), [0], [0]
    loop_thread = threading.get_ident()

    def inside() -> None:
        assert threading.get_ident() != loop_thread
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        threading.Event().wait(0.02)  # long enough for the others to ask meanwhile
        with lock:
            now[0] -= 1

    assert _pages_at_once(sqlite_only_store, monkeypatch, inside, 6) == [200] * 6
    assert most[0] == 1


@pytest.mark.postgis
def test_postgres_pages_are_made_side_by_side(
    postgis_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the store works in its own processes: pages keep the framework's
    threads, two of them inside the store at once."""
    both = threading.Barrier(2, timeout=30)  # broken unless two pages meet inside
    assert _pages_at_once(postgis_only_store, monkeypatch, both.wait, 2) == [200] * 2


def test_the_service_answers_while_a_sqlite_page_is_made(
    sqlite_only_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page held inside the store holds the pages asked after it, not the event loop:
    the health check is answered meanwhile."""
    from geo_service.api import features

    entered, release = threading.Event(), threading.Event()
    read = features.read_records_rows

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return read(*args, **kwargs)

    monkeypatch.setattr(features, "read_records_rows", held)
    headers = account_headers(sqlite_only_store)
    settings = Settings(database_url=str(sqlite_only_store.url))
    with TestClient(create_app(settings)) as client:
        page: list[int] = []
        asking = threading.Thread(
            target=lambda: page.append(
                client.get("/collections/cases/items", headers=headers).status_code
            )
        )
        asking.start()
        assert entered.wait(30)
        try:
            assert client.get("/healthz").status_code == 200  # while the page is held
            assert not page
        finally:
            release.set()
            asking.join()
    assert page == [200]
