"""Construction projects (建设项目): ingested like the other kinds, linked, dates optional."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.models import Project
from tests.geo_service.messy import CODES, write_enterprises

HEADERS = [
    "项目编号",
    "项目名称",
    "建设单位",
    "统一社会信用代码",
    "地址",
    "经度",
    "纬度",
    "环评批复文号",
    "环评批复日期",
    "竣工环保验收日期",
    "项目状态",
]


def _ingest(engine: Engine, path: Path, kind: str) -> dict[str, Any]:
    options = IngestOptions(kind=kind, progress=False, today=dt.date(2026, 11, 28))
    return ingest_file(engine, path, options)


def test_projects_are_ingested_linked_and_dated(
    store: Engine, tmp_path: Path, divisions_gdf: Any
) -> None:
    write_enterprises(tmp_path / "ent.csv", divisions_gdf)
    _ingest(store, tmp_path / "ent.csv", "enterprises")
    rows = [
        # by code; approved and accepted
        [
            "P1",
            "扩建项目",
            "",
            CODES[0],
            "南宁市青秀区",
            "",
            "",
            "邕环审〔2023〕1号",
            "2023/3/1",
            "2024年5月6日",
            "已验收",
        ],
        # by name (a variant); not yet approved
        [
            "P2",
            "新建项目",
            "柳州城中钢铁有限责任公司",
            "",
            "柳州市城中区",
            "",
            "",
            "",
            "",
            "",
            "在建",
        ],
        ["P3", "坏日期项目", "", CODES[1], "", "", "", "", "2023-13-45", "", "在建"],
        ["P4", "", "", CODES[1], "", "", "", "", "", "", ""],  # no project name
    ]
    path = tmp_path / "projects.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    summary = _ingest(store, path, "projects")
    assert summary["by_reason"] == {"bad_date": 1, "missing_required": 1}
    assert summary["by_link"] == {"credit_code": 1, "name": 1}
    with store.connect() as conn:
        stored = pd.DataFrame(conn.execute(select(Project.__table__)).mappings().all())
    stored = stored.set_index("project_id")
    assert sorted(stored.index) == ["P1", "P2"]
    assert stored.loc["P1", "eia_approval_date"] == dt.date(2023, 3, 1)
    assert stored.loc["P1", "acceptance_date"] == dt.date(2024, 5, 6)
    assert stored.loc["P1", "eia_approval_no"] == "邕环审〔2023〕1号"
    assert pd.isna(stored.loc["P2", "eia_approval_date"])
    assert stored.loc["P2", "enterprise_credit_code"] == CODES[1]
    assert stored.loc["P2", "geocode_method"] == "register"  # placed at its builder
    assert stored.loc["P1", "industry_code"] == "C2614"  # from the register, and said so
    assert stored.loc["P1", "inherited"] == "industry_code,supervision_category"
