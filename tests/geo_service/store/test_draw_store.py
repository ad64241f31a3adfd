"""Stored draws: byte-identical records, digests, ids, conflicts and jurisdiction listing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete

from geo_service.store.draws import (
    DrawConflictError,
    jurisdiction_prefix,
    list_draws,
    read_draw,
    save_draw,
)
from geo_service.store.models import Draw

# canonical JSON as a draw writes it: sorted keys, no spaces, Chinese as is, a trailing newline
RECORD = (
    '{"enterprises":[{"credit_code":"91450100MA5K8XY394","name":"南宁青秀化工有限责任公司",'
    '"reasons":["近三年处罚2次","在线监测超标"]}],"quarter":"2025-Q1","seed":"42"}\n'
)


@pytest.fixture
def draws_store(store: Engine) -> Iterator[Engine]:
    with store.begin() as conn:
        conn.execute(delete(Draw))
    yield store
    with store.begin() as conn:
        conn.execute(delete(Draw))


def _save(engine: Engine, record: str = RECORD, **kw: object) -> object:
    args: dict[str, object] = {
        "jurisdiction": "450103",
        "quarter": "2025-Q1",
        "record_json": record,
        "data_version": 7,
        "created_by": "cli",
        "seed": "42",
        "seed_commitment": "c" * 64,
    } | kw
    return save_draw(engine, **args)  # type: ignore[arg-type]


def test_save_and_read_round_trip_byte_identical(draws_store: Engine) -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    saved = _save(draws_store, created_at=at)
    digest = hashlib.sha256(RECORD.encode("utf-8")).hexdigest()
    assert saved.record_digest == digest  # type: ignore[attr-defined]
    assert saved.draw_id == digest[:16]  # type: ignore[attr-defined]
    back = read_draw(draws_store, digest[:16])
    assert back is not None
    assert back.record_json == RECORD
    assert back.record_json.encode("utf-8") == RECORD.encode("utf-8")
    assert hashlib.sha256(back.record_json.encode("utf-8")).hexdigest() == back.record_digest
    assert (back.jurisdiction, back.quarter, back.seed, back.seed_commitment) == (
        "450103",
        "2025-Q1",
        "42",
        "c" * 64,
    )
    assert (back.data_version, back.created_by, back.created_at) == (7, "cli", at)
    assert back == saved
    assert read_draw(draws_store, "no-such-draw") is None


def test_same_record_again_is_idempotent_another_is_a_conflict(draws_store: Engine) -> None:
    first = _save(draws_store, draw_id="D1")
    again = _save(draws_store, draw_id="D1", created_by="someone-else")
    assert again == first
    assert len(list_draws(draws_store)) == 1
    with pytest.raises(DrawConflictError, match="D1"):
        _save(draws_store, record=RECORD.replace("42", "43"), draw_id="D1")
    assert read_draw(draws_store, "D1").record_json == RECORD  # type: ignore[union-attr]


def test_list_draws_by_jurisdiction_prefixes(draws_store: Engine) -> None:
    places = ["450103", "450100", "450202", "450000", "450181"]
    for k, adcode in enumerate(places):
        _save(
            draws_store,
            record=RECORD.replace("42", str(k)),
            jurisdiction=adcode,
            draw_id=f"D{k}",
            created_at=dt.datetime(2025, 1, 1 + k, tzinfo=dt.UTC),
        )

    def listed(prefixes: list[str] | None) -> list[str]:
        return [d.jurisdiction for d in list_draws(draws_store, prefixes)]

    assert listed(None) == places  # oldest first
    assert listed(["45"]) == places
    assert listed([jurisdiction_prefix("450100")]) == ["450103", "450100", "450181"]
    assert listed(["450202", "450103"]) == ["450103", "450202"]
    assert listed([]) == []


def test_jurisdiction_prefix() -> None:
    assert [jurisdiction_prefix(a) for a in ("450000", "450100", "450103", "450181")] == [
        "45",
        "4501",
        "450103",
        "450181",
    ]
