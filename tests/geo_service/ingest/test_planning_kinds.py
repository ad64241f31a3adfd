"""Exceedances, complaints and the inspector roster: ingest, re-ingest, filters, migration."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, insert, inspect, select, text

from analytics.coords import from_wgs84
from geo_service.core.filters import Filters
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.roster import split_credit_codes
from geo_service.store import make_engine, migrate
from geo_service.store.models import (
    Account,
    Complaint,
    Draw,
    Exceedance,
    IngestBatch,
    Inspector,
    InspectorExclusion,
)
from geo_service.store.queries import read_frame
from tests.conftest import scratch_postgres
from tests.geo_service.messy import CODES, county_points, write_enterprises

TODAY = dt.date(2026, 11, 28)
EXCEEDANCE_HEADERS = [
    "超标记录编号",
    "超标日期",
    "统一社会信用代码",
    "单位名称",
    "地址",
    "经度",
    "纬度",
    "坐标系",
    "污染因子",
    "监测值",
    "标准限值",
    "单位",
    "行政区划代码",
    "备注",
]
COMPLAINT_HEADERS = [
    "投诉编号",
    "投诉日期",
    "被投诉单位",
    "地址",
    "经度",
    "纬度",
    "坐标系",
    "投诉类别",
    "投诉内容",
    "行政区划代码",
]
ROSTER_HEADERS = ["执法证号", "姓名", "所属单位", "所属单位行政区划代码", "在岗", "回避单位"]


def _clear_planning(engine: Engine) -> None:
    with engine.begin() as conn:
        for model in (InspectorExclusion, Inspector, Exceedance, Complaint, Draw):
            conn.execute(delete(model))


@pytest.fixture
def planning(store: Engine, tmp_path: Path, divisions_gdf) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A store with the three-enterprise register; the new tables emptied afterwards
    (the shared fixtures clear only the served record tables and the batches)."""
    _clear_planning(store)
    path = tmp_path / "enterprises.csv"
    write_enterprises(path, divisions_gdf)
    _ingest(store, path, "enterprises")
    yield store
    _clear_planning(store)


def _ingest(engine: Engine, path: Path, kind: str, **kw: object) -> dict:  # type: ignore[type-arg]
    options = IngestOptions(kind=kind, progress=False, today=TODAY, **kw)  # type: ignore[arg-type]
    return ingest_file(engine, path, options)


def _write(path: Path, headers: list[str], rows: list[list[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def _rejects(path: Path) -> dict[int, tuple[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {int(r["row_number"]): (r["reason"], r["detail"]) for r in csv.DictReader(fh)}


def _table(engine: Engine, model: type) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(select(model.__table__), conn)  # type: ignore[attr-defined]


def _exceedance_rows(divisions_gdf) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pts = county_points(divisions_gdf)
    lon, lat, _ = pts["450103"]
    x, y = f"{lon:.7f}", f"{lat:.7f}"
    return [
        [
            "CB001",
            "2024-05-04 13:00",
            CODES[0],
            "",
            "",
            x,
            y,
            "WGS84",
            "化学需氧量",
            "150.5",
            "100",
            "mg/L",
            "",
            "复核",
        ],  # 2: coordinates
        [
            "CB002",
            "2024/6/1",
            CODES[1],
            "",
            "",
            "",
            "",
            "",
            "二氧化硫",
            "310",
            "200",
            "mg/m³",
            "",
            "",
        ],  # 3: register by credit code
        [
            "CB003",
            "2023年7月2日",
            "",
            "桂林象山制糖厂",
            "",
            "",
            "",
            "",
            "氨氮",
            "21",
            "10",
            "mg/L",
            "",
            "",
        ],  # 4: register by name
        [
            "CB004",
            "20230301",
            "",
            "",
            "广西壮族自治区南宁市青秀区滨湖路",
            "",
            "",
            "",
            "颗粒物",
            "45",
            "30",
            "mg/m³",
            "",
            "",
        ],  # 5: address → county
        [
            "CB005",
            "2024-02-02",
            "",
            "",
            "",
            "",
            "",
            "",
            "总磷",
            "",
            "",
            "",
            "450200",
            "",
        ],  # 6: stated adcode → city; no numbers
        [
            "CB006",
            "2024-02-02",
            CODES[0],
            "",
            "",
            x,
            y,
            "WGS84",
            "氨氮",
            "abc",
            "10",
            "mg/L",
            "",
            "",
        ],  # 7: bad value
        [
            "CB007",
            "2024-02-02",
            CODES[0],
            "",
            "",
            x,
            y,
            "WGS84",
            "氨氮",
            "12",
            "10mg",
            "mg/L",
            "",
            "",
        ],  # 8: bad limit
        ["", "2024-02-02", CODES[0], "", "", x, y, "WGS84", "", "", "", "", "", ""],  # 9
        ["CB009", "2024-13-01", CODES[0], "", "", x, y, "WGS84", "", "", "", "", "", ""],  # 10
        ["CB001", "2024-05-05", CODES[0], "", "", x, y, "WGS84", "", "", "", "", "", ""],  # 11
        [
            "CB011",
            "2024-05-05",
            "",
            "某某贸易有限公司",
            "火星某地",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],  # 12: unlocatable
        [
            "CB012",
            "2023-12-31",
            CODES[0],
            "",
            "",
            x,
            y,
            "WGS84",
            "pH值",
            "11.2",
            "9",
            "无量纲",
            "",
            "",
        ],  # 13: coordinates
    ]


def test_exceedances_ingest_with_chinese_headers(
    planning: Engine, tmp_path: Path, divisions_gdf
) -> None:  # type: ignore[no-untyped-def]
    path = _write(
        tmp_path / "exceedances.csv", EXCEEDANCE_HEADERS, _exceedance_rows(divisions_gdf), "utf-8"
    )
    rejects = tmp_path / "rejects.csv"
    summary = _ingest(planning, path, "exceedances", rejects_path=rejects)
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (12, 6, 6)
    assert summary["by_method"] == {"address": 1, "adcode": 1, "coordinates": 2, "register": 2}
    assert summary["by_reason"] == {
        "bad_date": 1,
        "bad_number": 2,
        "duplicate_id": 1,
        "missing_required": 1,
        "unlocatable": 1,
    }
    got = _rejects(rejects)
    assert {n: r for n, (r, _) in got.items()} == {
        7: "bad_number",
        8: "bad_number",
        9: "missing_required",
        10: "bad_date",
        11: "duplicate_id",
        12: "unlocatable",
    }
    assert got[7][1] == "value is not a number" and got[8][1] == "limit is not a number"
    stored = _table(planning, Exceedance).set_index("exceedance_id")
    assert sorted(stored.index) == ["CB001", "CB002", "CB003", "CB004", "CB005", "CB012"]
    assert stored.loc["CB001", ["value", "limit", "unit"]].tolist() == [150.5, 100.0, "mg/L"]
    assert pd.isna(stored.loc["CB005", "value"]) and pd.isna(stored.loc["CB005", "limit"])
    assert str(stored.loc["CB001", "monitor_date"]) == "2024-05-04"
    assert str(stored.loc["CB003", "monitor_date"]) == "2023-07-02"
    # linked to the register by name; the industry comes from the register, and says so
    assert pd.isna(stored.loc["CB003", "credit_code"])
    assert stored.loc["CB003", ["enterprise_credit_code", "link_method"]].tolist() == [
        CODES[2],
        "name",
    ]
    assert stored.loc["CB003", "industry_code"] == "C2614"
    assert stored.loc["CB003", "inherited"] == "industry_code,supervision_category"
    assert stored.loc["CB003", "supervision_category"] == "key"
    assert stored.loc["CB001", ["enterprise_credit_code", "link_method"]].tolist() == [
        CODES[0],
        "credit_code",
    ]
    assert stored["adcode"].fillna("-").to_dict() == {
        "CB001": "450103",
        "CB002": "450202",
        "CB003": "450304",
        "CB004": "450103",
        "CB005": "-",
        "CB012": "450103",
    }
    assert stored.loc["CB005", ["city_adcode", "geocode_precision"]].tolist() == ["450200", "city"]
    assert stored.loc["CB001", "attributes"] in ({"备注": "复核"}, '{"备注": "复核"}')
    assert (stored["h3_15"] > 0).all()


def test_exceedances_reingest_updates_in_place(
    planning: Engine, tmp_path: Path, divisions_gdf
) -> None:  # type: ignore[no-untyped-def]
    rows = _exceedance_rows(divisions_gdf)[:5]
    path = _write(tmp_path / "e.csv", EXCEEDANCE_HEADERS, rows, "utf-8")
    first = _ingest(planning, path, "exceedances")
    assert (first["inserted"], first["updated"]) == (5, 0)
    rows[0][9] = "175"
    _write(path, EXCEEDANCE_HEADERS, rows, "utf-8")
    second = _ingest(planning, path, "exceedances")
    assert (second["inserted"], second["updated"]) == (0, 5)
    stored = _table(planning, Exceedance).set_index("exceedance_id")
    assert len(stored) == 5 and stored.loc["CB001", "value"] == 175.0
    assert stored["batch_id"].nunique() == 1 and stored["batch_id"].iloc[0] == second["batch_id"]


def _complaint_rows(divisions_gdf) -> list[list[str]]:  # type: ignore[no-untyped-def]
    pts = county_points(divisions_gdf)
    lon, lat, _ = pts["450202"]
    gx, gy = from_wgs84([lon], [lat], "GCJ02")
    return [
        [
            "TS2024001",
            "2024-03-08",
            "",
            "",
            f"{gx[0]:.6f}",
            f"{gy[0]:.6f}",
            "GCJ-02",
            "噪声",
            "夜间施工噪声扰民",
            "",
        ],  # 2: coordinates in GCJ-02
        [
            "TS2024002",
            "2024-04-01",
            "南宁青秀化工有限责任公司",
            "",
            "",
            "",
            "",
            "废气",
            "厂区散发刺鼻气味",
            "",
        ],  # 3: register by name
        [
            "TS2023003",
            "2023-11-30",
            "",
            "广西壮族自治区桂林市象山区某村",
            "",
            "",
            "",
            "废水",
            "河道出现异色",
            "",
        ],  # 4: address → county
        ["TS2024004", "2024-04-02", "", "", f"{lon:.6f}", "120.5", "", "固废", "", ""],  # 5
        ["TS2024005", "", "", "", f"{lon:.6f}", f"{lat:.6f}", "", "噪声", "", ""],  # 6
    ]


def test_complaints_ingest_from_gb18030(planning: Engine, tmp_path: Path, divisions_gdf) -> None:  # type: ignore[no-untyped-def]
    path = _write(
        tmp_path / "complaints.csv", COMPLAINT_HEADERS, _complaint_rows(divisions_gdf), "gb18030"
    )
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    rejects = tmp_path / "rejects.csv"
    summary = _ingest(planning, path, "complaints", rejects_path=rejects)
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (5, 3, 2)
    assert summary["by_method"] == {"address": 1, "coordinates": 1, "register": 1}
    assert {n: r for n, (r, _) in _rejects(rejects).items()} == {
        5: "bad_coordinates",
        6: "missing_required",
    }
    stored = _table(planning, Complaint).set_index("complaint_id")
    assert stored["adcode"].to_dict() == {
        "TS2024001": "450202",
        "TS2024002": "450103",
        "TS2023003": "450304",
    }
    assert stored["category"].to_dict() == {
        "TS2024001": "噪声",
        "TS2024002": "废气",
        "TS2023003": "废水",
    }
    assert stored.loc["TS2024001", "source_crs"] == "GCJ02"
    lon, lat, _ = county_points(divisions_gdf)["450202"]
    assert abs(stored.loc["TS2024001", "lon"] - lon) < 1e-5
    assert abs(stored.loc["TS2024001", "lat"] - lat) < 1e-5
    assert stored.loc["TS2024002", "enterprise_credit_code"] == CODES[0]
    assert stored.loc["TS2024001", "description"] == "夜间施工噪声扰民"


def _roster_rows() -> list[list[str]]:
    a, b, c = CODES
    return [
        ["HJ001", "李明", "南宁市青秀区生态环境局", "450103", "是", f"{a};{b}"],  # 2
        ["HJ002", "王芳", "南宁市生态环境局", "450100", "否", f"{a}；{b}"],  # 3
        ["HJ003", "张伟", "广西壮族自治区生态环境厅", "450000", "", f"{a},{b}"],  # 4
        ["HJ004", "刘洋", "南宁市青秀区生态环境局", "450103", "在岗", f"{a}、{b}"],  # 5
        ["HJ005", "陈静", "柳州市城中区生态环境局", "450202", "是", f"{a} {b}  {c.lower()}"],  # 6
        ["HJ006", "杨帆", "柳州市城中区生态环境局", "450202", "是", "无"],  # 7
        ["HJ007", "黄磊", "某局", "459999", "是", ""],  # 8: unknown adcode
        ["HJ008", "赵敏", "南宁市青秀区生态环境局", "450103", "也许", ""],  # 9: bad flag
        ["HJ009", "吴刚", "南宁市青秀区生态环境局", "450103", "是", f"{a};12345"],  # 10
        ["HJ010", "", "南宁市青秀区生态环境局", "450103", "是", ""],  # 11: no name
        ["HJ001", "李明", "南宁市青秀区生态环境局", "450103", "是", ""],  # 12: repeated id
    ]


def _exclusions(engine: Engine) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for officer, code in conn.execute(select(InspectorExclusion.__table__)).all():
            out.setdefault(officer, set()).add(code)
    return out


def test_roster_ingest_with_exclusions_in_every_separator_style(
    planning: Engine, tmp_path: Path
) -> None:
    path = _write(tmp_path / "inspectors.csv", ROSTER_HEADERS, _roster_rows(), "utf-8-sig")
    rejects = tmp_path / "rejects.csv"
    summary = _ingest(planning, path, "inspectors", rejects_path=rejects)
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (11, 6, 5)
    assert summary["by_method"] == {}
    got = _rejects(rejects)
    assert {n: r for n, (r, _) in got.items()} == {
        8: "unknown_adcode",
        9: "bad_value",
        10: "bad_credit_code",
        11: "missing_required",
        12: "duplicate_id",
    }
    assert got[8][1] == "adcode 459999 is not a loaded division"
    assert got[10][1].endswith("12345")
    stored = _table(planning, Inspector).set_index("inspector_id")
    assert stored["level"].to_dict() == {
        "HJ001": "county",
        "HJ002": "city",
        "HJ003": "province",
        "HJ004": "county",
        "HJ005": "county",
        "HJ006": "county",
    }
    assert stored["active"].astype(bool).to_dict() == {
        "HJ001": True,
        "HJ002": False,
        "HJ003": True,
        "HJ004": True,
        "HJ005": True,
        "HJ006": True,
    }
    assert stored.loc["HJ002", ["city_adcode", "province_adcode"]].tolist() == ["450100", "450000"]
    assert pd.isna(stored.loc["HJ003", "city_adcode"])
    assert stored.loc["HJ001", "attributes"] in (
        {"所属单位": "南宁市青秀区生态环境局"},
        '{"所属单位": "南宁市青秀区生态环境局"}',
    )
    two = set(CODES[:2])
    assert _exclusions(planning) == {
        "HJ001": two,
        "HJ002": two,
        "HJ003": two,
        "HJ004": two,
        "HJ005": set(CODES),
    }


def test_roster_reingest_replaces_flags_and_exclusions(planning: Engine, tmp_path: Path) -> None:
    rows = _roster_rows()[:6]
    path = _write(tmp_path / "inspectors.csv", ROSTER_HEADERS, rows, "utf-8")
    _ingest(planning, path, "inspectors")
    rows[0][5] = CODES[2]  # HJ001 now excluded from the third enterprise only
    rows[1][4] = "是"  # HJ002 back on duty
    rows[4][5] = ""  # HJ005 no longer excluded from anything
    _write(path, ROSTER_HEADERS, rows, "utf-8")
    second = _ingest(planning, path, "inspectors")
    assert (second["inserted"], second["updated"]) == (0, 6)
    stored = _table(planning, Inspector).set_index("inspector_id")
    assert len(stored) == 6 and bool(stored.loc["HJ002", "active"]) is True
    two = set(CODES[:2])
    assert _exclusions(planning) == {"HJ001": {CODES[2]}, "HJ002": two, "HJ003": two, "HJ004": two}


def test_split_credit_codes_every_separator() -> None:
    a, b, c = CODES
    for cell in (
        f"{a};{b}",
        f"{a}；{b}",
        f"{a},{b}",
        f"{a}，{b}",
        f"{a}、{b}",
        f"{a} {b}",
        f" {a} ; {b}; ",
        f"{a}\t{b}",
        f"{a};{b};{a}",
    ):
        assert split_credit_codes(cell) == [a, b], cell
    assert split_credit_codes(f"{c.lower()}") == [c]
    assert split_credit_codes("") == split_credit_codes("无") == split_credit_codes(" - ") == []


def test_read_frame_filters_the_new_kinds(planning: Engine, tmp_path: Path, divisions_gdf) -> None:  # type: ignore[no-untyped-def]
    _ingest(
        planning,
        _write(tmp_path / "e.csv", EXCEEDANCE_HEADERS, _exceedance_rows(divisions_gdf), "utf-8"),
        "exceedances",
    )
    _ingest(
        planning,
        _write(tmp_path / "c.csv", COMPLAINT_HEADERS, _complaint_rows(divisions_gdf), "gb18030"),
        "complaints",
    )
    _ingest(
        planning, _write(tmp_path / "r.csv", ROSTER_HEADERS, _roster_rows(), "utf-8"), "inspectors"
    )

    def ids(kind: str, column: str, **filters: str) -> list[str]:
        frame = read_frame(planning, kind, Filters(**filters), [column])  # type: ignore[arg-type]
        return sorted(frame[column])

    all_e = ["CB001", "CB002", "CB003", "CB004", "CB005", "CB012"]
    assert ids("exceedances", "exceedance_id") == all_e
    assert ids("exceedances", "exceedance_id", jurisdiction="450100") == ["CB001", "CB004", "CB012"]
    assert ids("exceedances", "exceedance_id", jurisdiction="450200") == ["CB002", "CB005"]
    assert ids("exceedances", "exceedance_id", jurisdiction="450202") == ["CB002"]
    assert ids("exceedances", "exceedance_id", jurisdiction="450000") == all_e
    assert ids("exceedances", "exceedance_id", period="2024") == ["CB001", "CB002", "CB005"]
    assert ids("exceedances", "exceedance_id", period="2023-Q4") == ["CB012"]
    assert ids("exceedances", "exceedance_id", jurisdiction="450100", period="2023") == [
        "CB004",
        "CB012",
    ]
    # every exceedance linked to the (C2614) register inherits its industry
    assert ids("exceedances", "exceedance_id", industry="C26") == [
        "CB001",
        "CB002",
        "CB003",
        "CB012",
    ]
    assert ids("complaints", "complaint_id", period="2024") == ["TS2024001", "TS2024002"]
    assert ids("complaints", "complaint_id", jurisdiction="450300") == ["TS2023003"]
    assert ids("complaints", "complaint_id", jurisdiction="450103", period="2023") == []
    # the roster: officers of units within the division; period and industry do not apply
    assert ids("inspectors", "inspector_id", jurisdiction="450100") == ["HJ001", "HJ002", "HJ004"]
    assert ids("inspectors", "inspector_id", jurisdiction="450103") == ["HJ001", "HJ004"]
    assert ids(
        "inspectors", "inspector_id", jurisdiction="450000", period="2024", industry="C26"
    ) == ["HJ001", "HJ002", "HJ003", "HJ004", "HJ005", "HJ006"]


# -- migration 0003 → 0004 -----------------------------------------------------------

NEW_TABLES = {"exceedances", "complaints", "inspectors", "inspector_exclusions", "draws"}


def _upgrade_from_0003(engine: Engine) -> None:
    from alembic import command

    from geo_service.store.db import alembic_config

    migrate(engine, "0003")
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            {
                "name": "kept",
                "role": "admin",
                "jurisdiction": "450000",
                "key_hash": "0" * 64,
                "key_prefix": "k",
                "active": True,
                "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            },
        )
    migrate(engine)
    assert set(inspect(engine).get_table_names()) >= NEW_TABLES
    command.check(alembic_config(engine))  # the upgraded schema is the models'
    indexes = {
        ix["name"]
        for ix in inspect(engine).get_indexes("exceedances")
        if str(ix["name"]).startswith("ix_")
    }
    assert indexes == {
        "ix_exceedances_adcode",
        "ix_exceedances_city_adcode",
        "ix_exceedances_credit_code",
        "ix_exceedances_enterprise_credit_code",
        "ix_exceedances_monitor_date",
    }
    with engine.connect() as conn:
        assert conn.execute(select(Account.name)).scalars().all() == ["kept"]
        assert conn.execute(text("SELECT count(*) FROM ingest_batches")).scalar() == 0
    command.downgrade(alembic_config(engine), "0003")
    assert not NEW_TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert set(inspect(engine).get_table_names()) >= NEW_TABLES


def test_migration_from_0003_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _upgrade_from_0003(engine)
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_migration_from_0003_on_postgis(worker_id: str) -> None:
    with scratch_postgres(worker_id, "_0004") as engine:
        _upgrade_from_0003(engine)


def test_batches_of_new_kinds_are_recorded(planning: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path / "inspectors.csv", ROSTER_HEADERS, _roster_rows(), "gb18030")
    summary = _ingest(planning, path, "inspectors")
    with planning.connect() as conn:
        kind, rows, accepted = conn.execute(
            select(IngestBatch.kind, IngestBatch.rows, IngestBatch.accepted).where(
                IngestBatch.id == summary["batch_id"]
            )
        ).one()
    assert (kind, rows, accepted) == ("inspectors", 11, 6)


def test_bundled_planning_files_ingest_whole(sqlite_only_store: Engine, tmp_path: Path) -> None:
    from geo_service.core.paths import SAMPLE_SLICE

    _clear_planning(sqlite_only_store)
    try:
        sizes = {}
        for kind in ("enterprises", "exceedances", "complaints", "inspectors"):
            summary = _ingest(
                sqlite_only_store,
                SAMPLE_SLICE / f"{kind}.csv",
                kind,
                rejects_path=tmp_path / f"{kind}.csv",
            )
            # the register plants three codes failing the GB 32100 check
            bad = {"bad_credit_code": 3} if kind == "enterprises" else {}
            assert summary["by_reason"] == bad, kind
            assert summary["accepted"] + summary["rejected"] == summary["rows"], kind
            sizes[kind] = summary["accepted"]
        assert sizes == {
            "enterprises": 3000,
            "exceedances": 1050,
            "complaints": 1400,
            "inspectors": 666,
        }
        assert sum(len(v) for v in _exclusions(sqlite_only_store).values()) == 40
    finally:
        _clear_planning(sqlite_only_store)
