"""Rejects explained in Chinese under the file's own headers (原因说明), beside the
reason code and the English detail that programs read."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.columns import SPECS
from geo_service.ingest.reject_text import EXPLANATION_COLUMN, explain

CJK = re.compile(r"[\u4e00-\u9fff]")
FALLBACK = explain("no_such_reason", None, {})


@pytest.mark.parametrize("kind", ["enterprises", "cases", "inspections"])
def test_every_sample_reject_is_explained_in_chinese_under_the_files_headers(
    sqlite_only_store: Engine, tmp_path: Path, kind: str
) -> None:
    engine = sqlite_only_store
    if kind != "enterprises":  # cases and inspections link to the register
        options = IngestOptions(kind="enterprises", rejects_path=tmp_path / "e.csv", progress=False)
        ingest_file(engine, SAMPLE_SLICE / "enterprises.csv", options)
    rejects = tmp_path / f"{kind}.rejects.csv"
    options = IngestOptions(
        kind=kind, rejects_path=rejects, progress=False, today=dt.date(2026, 11, 28)
    )
    ingest_file(engine, SAMPLE_SLICE / f"{kind}.csv", options)
    frame = pd.read_csv(rejects, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns[:4]) == ["row_number", "reason", "detail", EXPLANATION_COLUMN]
    assert len(frame) > 0
    file_headers = set(frame.columns[4:])
    english_names = set(SPECS[kind].columns) - file_headers  # names the file does not use
    for reason, said in zip(frame["reason"], frame[EXPLANATION_COLUMN], strict=True):
        assert said != FALLBACK and CJK.search(said), (reason, said)
        named = set(re.findall(r"「([^」]+)」", said))
        assert named <= file_headers | {"WGS84", "GCJ02", "BD09", "CGCS2000"}, (reason, said)
        assert not any(re.search(rf"\b{n}\b", said) for n in english_names), (reason, said)


def test_a_bad_date_names_the_clerks_header() -> None:
    said = explain(
        "bad_date", "decision_date is not a date in 1990–today", {"decision_date": "处罚决定日期"}
    )
    assert said.startswith("「处罚决定日期」不是") and "decision_date" not in said
    # a header the mapping does not know is named as the detail names it
    assert explain("bad_number", "limit is not a number", {}).startswith("「limit」")


@pytest.mark.parametrize(
    ("reason", "detail", "expected"),
    [
        ("malformed_row", "7 fields, expected 6: a,b", "本行有 7 列，表头有 6 列"),
        ("duplicate_id", "also in row 12", "第 12 行"),
        ("bad_coordinates", "lon/lat outside China", "不在中国境内"),
        ("bad_coordinates", "unknown coordinate system 'MARS'", "坐标系「MARS」无法识别"),
        ("unknown_adcode", "adcode 999999 is not a loaded division", "999999"),
        ("not_a_point", "LineString geometry: only points are placed", "LineString"),
    ],
)
def test_each_kind_of_detail_is_said_in_chinese(reason: str, detail: str, expected: str) -> None:
    said = explain(reason, detail, {})
    assert expected in said and said != FALLBACK
