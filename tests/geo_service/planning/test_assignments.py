"""Which drawn enterprises the field page lists: the quarter's newest draw per
jurisdiction in scope, the account's own when it is one of the officers, else all."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import Engine

from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.planning.assignments import assignments, current_quarter
from geo_service.store.draws import save_draw
from geo_service.store.queries import read_frame

COUNTY, NEIGHBOUR, CITY = "450102", "450103", "450100"


def _draw(engine: Engine, where: str, quarter: str, picks: list[tuple[str, str]], at: int) -> None:
    record = {
        "selected": [
            {"credit_code": code, "name": code, "inspectors": [officer], "inspector_names": ["甲"]}
            for code, officer in picks
        ]
    }
    save_draw(
        engine,
        jurisdiction=where,
        quarter=quarter,
        record_json=json.dumps(record, sort_keys=True),
        data_version=0,
        created_by="test",
        created_at=dt.datetime(2026, 1, 1, at, tzinfo=dt.UTC),
    )


def test_own_enterprises_else_all_of_the_newest_draws(store: Engine, tmp_path: Path) -> None:
    options = IngestOptions(kind="enterprises", rejects_path=tmp_path / "r.csv", progress=False)
    ingest_file(store, SAMPLE_SLICE / "enterprises.csv", options)
    codes = {
        where: read_frame(store, "enterprises", Filters(jurisdiction=where), ["credit_code"])[
            "credit_code"
        ].tolist()[:3]
        for where in (COUNTY, NEIGHBOUR)
    }
    a, b, c = codes[COUNTY]
    _draw(store, COUNTY, "2026-Q1", [(a, "old")], at=1)  # replaced by the newer draw
    _draw(store, COUNTY, "2026-Q1", [(b, "zhang"), (c, "li")], at=2)
    _draw(store, COUNTY, "2025-Q4", [(a, "zhang")], at=3)  # another quarter
    _draw(store, NEIGHBOUR, "2026-Q1", [(codes[NEIGHBOUR][0], "zhang")], at=4)

    own = assignments(store, COUNTY, "2026-Q1", "zhang")
    assert [x.credit_code for x in own] == [b] and own[0].mine
    assert own[0].lon is not None and own[0].inspectors == ("甲",)
    everyone = assignments(store, COUNTY, "2026-Q1", "wang")  # no officer: every one
    assert sorted(x.credit_code for x in everyone) == sorted([b, c])
    assert not any(x.mine for x in everyone)
    city = assignments(store, CITY, "2026-Q1", "zhang")  # both counties' draws
    assert sorted(x.credit_code for x in city) == sorted([b, codes[NEIGHBOUR][0]])
    assert assignments(store, COUNTY, "2024-Q1", "zhang") == []


def test_the_current_quarter_is_beijing_time() -> None:
    new_year = dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 January in Beijing
    assert current_quarter(new_year) == "2026-Q1"
    assert current_quarter(new_year - dt.timedelta(hours=1)) == "2025-Q4"
