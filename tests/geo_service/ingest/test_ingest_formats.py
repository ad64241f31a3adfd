"""The same records read from CSV (UTF-8/GBK), XLSX, GeoJSON and GeoPackage land identically."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from unittest.mock import patch

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from geo_service.core.errors import InputFileError
from geo_service.ingest import IngestOptions, ingest_file, readers
from geo_service.store.models import Enterprise, Inspection
from tests.geo_service.messy import county_points

TODAY = dt.date(2026, 11, 28)


def _ingest(engine: Engine, path: Path, kind: str, crs: str | None = None) -> dict:  # type: ignore[type-arg]
    options = IngestOptions(kind=kind, crs=crs, progress=False, today=TODAY)
    return ingest_file(engine, path, options)


def _inspections_frame(divisions_gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    pts = county_points(divisions_gdf)
    places = ["450103", "450202", "450304", "451002"]
    return pd.DataFrame(
        {
            "检查编号": [f"JC-2025-{i:04d}" for i in range(4)],
            "检查日期": ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"],
            "企业名称": ["甲公司", "乙公司", "丙公司", "丁公司"],
            "经度": [pts[p][0] for p in places],
            "纬度": [pts[p][1] for p in places],
            "执法人员": ["李明,王芳"] * 4,
            "是否发现问题": ["是", "否", "是", "否"],
            "问题类别": ["废水超标", "", "危废贮存不规范", ""],
            "检查情况": ["现场检查发现废水超标排放"] * 4,
            "天气": ["晴", "雨", "", "阴"],  # unknown column → attributes
        }
    ), places


def _stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(select(Inspection.__table__).order_by(Inspection.inspection_id), conn)


@pytest.mark.parametrize("fmt", ["csv-utf8-bom", "csv-gbk", "xlsx", "geojson", "gpkg"])
def test_formats_give_the_same_records(
    fmt: str, sqlite_only_store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> None:
    frame, places = _inspections_frame(divisions_gdf)
    if fmt == "csv-utf8-bom":
        path = tmp_path / "in.csv"
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    elif fmt == "csv-gbk":
        path = tmp_path / "in.csv"
        frame.to_csv(path, index=False, encoding="gbk")
    elif fmt == "xlsx":
        path = tmp_path / "in.xlsx"
        frame.to_excel(path, index=False)
    else:
        path = tmp_path / f"in.{fmt}"
        geometry = shapely.points(frame.pop("经度"), frame.pop("纬度"))
        gpd.GeoDataFrame(frame, geometry=geometry, crs=4326).to_file(path)
    summary = _ingest(sqlite_only_store, path, "inspections")
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (4, 4, 0)
    stored = _stored(sqlite_only_store)
    assert stored["adcode"].tolist() == places
    assert stored["problem_found"].astype(bool).tolist() == [True, False, True, False]
    assert stored["inspectors"].tolist() == ["李明,王芳"] * 4
    assert stored["geocode_method"].eq("coordinates").all()
    with sqlite_only_store.connect() as conn:
        query = select(Inspection.attributes).order_by(Inspection.inspection_id)
        attrs = conn.execute(query).scalars().all()
    assert attrs == [{"天气": "晴"}, {"天气": "雨"}, None, {"天气": "阴"}]


def test_cgcs2000_geopackage_is_read_in_its_crs(
    sqlite_only_store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> None:
    frame, places = _inspections_frame(divisions_gdf)
    geometry = shapely.points(frame.pop("经度"), frame.pop("纬度"))
    path = tmp_path / "in.gpkg"
    gpd.GeoDataFrame(frame, geometry=geometry, crs=4490).to_file(path)
    _ingest(sqlite_only_store, path, "inspections")
    stored = _stored(sqlite_only_store)
    assert stored["source_crs"].eq("CGCS2000").all()
    assert stored["adcode"].tolist() == places


def test_default_crs_applies_to_rows_without_one(
    sqlite_only_store: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame
) -> None:
    from analytics.coords import wgs84_to_gcj02

    frame, places = _inspections_frame(divisions_gdf)
    frame["经度"], frame["纬度"] = wgs84_to_gcj02(
        frame["经度"].to_numpy(), frame["纬度"].to_numpy()
    )
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    _ingest(sqlite_only_store, path, "inspections", crs="GCJ02")
    stored = _stored(sqlite_only_store)
    assert stored["source_crs"].eq("GCJ02").all()
    assert stored["adcode"].tolist() == places


def test_enterprise_register_is_upserted_on_credit_code(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "ent.csv"
    path.write_text(
        "统一社会信用代码,单位名称,地址,监管类别\n"
        "91450100MA5K8XY394,南宁青秀化工有限责任公司,广西壮族自治区南宁市青秀区某路1号,重点排污单位\n"
        "91450200ma5l0abc06,柳州钢铁有限公司,柳州市某园区,一般\n"
        ",无代码公司,南宁市,一般\n",
        encoding="utf-8",
    )
    summary = _ingest(sqlite_only_store, path, "enterprises")
    assert summary["by_reason"] == {"missing_required": 1}
    assert summary["by_method"] == {"address": 2}
    with sqlite_only_store.connect() as conn:
        rows = conn.execute(
            select(
                Enterprise.credit_code,
                Enterprise.category,
                Enterprise.geocode_precision,
                Enterprise.adcode,
                Enterprise.city_adcode,
            ).order_by(Enterprise.credit_code)
        ).all()
    assert rows == [
        ("91450100MA5K8XY394", "key", "county", "450103", "450100"),
        ("91450200MA5L0ABC06", "general", "city", None, "450200"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.txt", b"", "no header row"),
        ("x.csv", b"\xff\xfe\x00\x00garbage\x81", "neither UTF-8 nor GB18030"),
        ("x.docx", b"PK", "unsupported file type"),
        ("x.xlsx", b"not a zip", "not a readable XLSX"),
        ("x.geojson", b"{", "not a readable GeoJSON"),
    ],
)
def test_unreadable_files_fail_clearly(
    sqlite_only_store: Engine, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        _ingest(sqlite_only_store, path, "cases")


def test_row_numbers_survive_blank_lines_and_line_breaks_in_cells(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    from geo_service.ingest.readers import read_csv

    path = tmp_path / "odd.csv"
    path.write_text(
        "检查编号,检查日期,经度,纬度\n"
        "A1,2025-01-02,108.3,22.8\n"
        "\n"  # row 3: blank
        'A2,2025-01-03,108.3,"22.8"\n'
        "A3,2025-01-04,108.3,22.8,extra\n"  # row 5: malformed
        '"A4\n(续)",2025-01-05,108.3,22.8\n'  # row 6: a line break inside a cell
        "A5,bad-date,108.3,22.8\n",  # row 7
        encoding="utf-8",
    )
    raw = read_csv(path)
    # good records in file order, then the malformed ones
    assert raw.row_numbers.tolist() == [2, 4, 6, 7, 5]
    assert raw.malformed.tolist() == [False, False, False, False, True]
    rejects = tmp_path / "rej.csv"
    options = IngestOptions(kind="inspections", rejects_path=rejects, progress=False, today=TODAY)
    summary = ingest_file(sqlite_only_store, path, options)
    assert (summary["rows"], summary["accepted"]) == (5, 3)
    got = pd.read_csv(rejects, encoding="utf-8-sig", dtype=str)
    assert got[["row_number", "reason"]].values.tolist() == [
        ["5", "malformed_row"],
        ["7", "bad_date"],
    ]


def test_fast_path_numbers_malformed_rows_like_the_careful_path(tmp_path: Path) -> None:
    from geo_service.ingest.readers import read_csv

    lines = ["a,b,c"] + [f"{i},x,y" for i in range(50)]
    lines[10] += ",extra"  # line 11
    lines[30] = "only,two"  # line 31
    fast_file = tmp_path / "fast.csv"
    fast_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    careful_file = tmp_path / "careful.csv"  # a blank line at the end forces the careful path
    careful_file.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    fast, careful = read_csv(fast_file), read_csv(careful_file)
    expected = [n for n in range(2, 52) if n not in (11, 31)] + [11, 31]
    assert fast.row_numbers.tolist() == careful.row_numbers.tolist() == expected
    assert np.flatnonzero(fast.malformed).tolist() == [48, 49]
    assert fast.malformed.tolist() == careful.malformed.tolist()
    assert fast.raw_lines == careful.raw_lines == [["9", "x", "y", "extra"], ["only", "two"]]
    pd.testing.assert_frame_equal(fast.data.astype(object), careful.data.astype(object))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", "案".encode("gb18030")]), max_size=40))
def test_the_scan_reads_line_structure_across_blocks(pieces: list[bytes]) -> None:
    """Lines, blank lines and lone carriage returns as a plain reading of the whole text
    finds them, whatever the block boundaries (blocks of 3 bytes cut every pattern)."""
    data = b"".join(pieces)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_bytes(data)
        with patch.object(readers, "_BLOCK", 3):
            scan = readers._scan(path, "gb18030")
    assert scan.lines == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert scan.blank_line == (b"\n\n" in data or b"\n\r\n" in data)
    assert scan.lone_cr == (data.count(b"\r") > data.count(b"\r\n"))


@pytest.mark.parametrize(
    ("careful", "share"),
    [(False, 0.75), (True, 0.75), (False, 0.02)],
    ids=["fast", "careful", "header"],
)
def test_bytes_past_the_scanned_head_that_do_not_decode_refuse_the_file(
    sqlite_only_store: Engine,
    tmp_path: Path,
    divisions_gdf: gpd.GeoDataFrame,
    careful: bool,
    share: float,
) -> None:
    """The scan decodes a GB18030 file's head only; a byte further on that does not
    decode is found by the read (the fast one, record by record, or that of the header)
    and refuses the file as a full scan would, naming the same byte; nothing is stored."""
    frame, _ = _inspections_frame(divisions_gdf)
    frame = pd.concat([frame] * 1000, ignore_index=True)  # past the header's read
    frame["检查编号"] = [f"JC-2025-{i:04d}" for i in range(len(frame))]
    text = frame.to_csv(index=False, lineterminator="\n") + ("\n" if careful else "")
    data = text.encode("gb18030")
    at = data.index(b"\n", int(len(data) * share)) + 1  # the start of a line
    path = tmp_path / "inspections.csv"
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    with pytest.raises(InputFileError) as whole:
        readers._scan(path, "gb18030")  # what decoding every byte at once says
    assert f"第 {at} 字节" in str(whole.value)
    with patch.object(readers, "_BLOCK", 4096):
        scan = readers._scan_csv(path)
        assert scan.encoding == "gb18030" and not scan.decoded and scan.blank_line == careful
        with pytest.raises(InputFileError) as read:
            _ingest(sqlite_only_store, path, "inspections")
    assert str(read.value) == str(whole.value)
    assert _stored(sqlite_only_store).empty
