"""A clerk's mistakes are refused with what was wrong and what is expected, in Chinese and
English, and a dry run says what a load would do while storing nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from geo_service.core.errors import InputFileError
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.store.models import IngestBatch, PenaltyCase, RejectedRow


def _ingest(engine: Engine, path: Path, **options: Any) -> dict[str, Any]:
    return ingest_file(engine, path, IngestOptions(progress=False, **options))


def test_a_file_without_the_required_headers_lists_found_and_expected(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("单位,日期,金额\n甲,2024-01-01,5\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        _ingest(sqlite_only_store, path, kind="cases")
    message = str(caught.value)
    assert "缺少必需的列" in message and "案件编号 (case_id)" in message
    assert "处罚决定日期 (decision_date)" in message and "单位、日期、金额" in message
    assert "lacks required columns case_id, decision_date" in message


def test_a_binary_file_is_refused_as_not_text(sqlite_only_store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputFileError, match="不是 UTF-8 或 GB18030") as caught:
        _ingest(sqlite_only_store, path, kind="cases")
    assert caught.value.code == "bad_input_file"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"kind": "penalties"}, "可选：enterprises、cases"),
        (
            {"kind": "cases", "crs": "MARS"},
            "不支持的坐标系 'MARS'，可选：WGS84, CGCS2000, GCJ02, BD09",
        ),
    ],
)
def test_a_bad_kind_or_crs_lists_the_valid_values(
    sqlite_only_store: Engine, options: dict[str, object], says: str
) -> None:
    with pytest.raises(InputFileError, match=says):
        _ingest(sqlite_only_store, SAMPLE_SLICE / "cases.csv", **options)


def test_rejects_files_are_named_after_the_whole_file_name(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    """my_cases.csv and my_cases.xlsx never write the same rejects file."""
    path = tmp_path / "my_cases.csv"
    shutil.copy(SAMPLE_SLICE / "cases.csv", path)
    summary = _ingest(sqlite_only_store, path, kind="cases")
    assert summary["rejects_path"] == str(tmp_path / "my_cases.csv.rejects.csv")
    assert (tmp_path / "my_cases.csv.rejects.csv").exists()


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (PenaltyCase, IngestBatch, RejectedRow)
        )


def test_a_dry_run_reports_the_load_and_stores_nothing(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "cases.csv"
    shutil.copy(SAMPLE_SLICE / "cases.csv", path)
    dry = _ingest(sqlite_only_store, path, kind="cases", dry_run=True)
    assert _counts(sqlite_only_store) == (0, 0, 0)
    assert not (tmp_path / "cases.csv.rejects.csv").exists() and dry["dry_run"] is True
    assert "batch_id" not in dry and "rejects_path" not in dry
    real = _ingest(sqlite_only_store, path, kind="cases")
    for key in ("rows", "accepted", "rejected", "inserted", "updated", "by_reason"):
        assert dry[key] == real[key], key
    assert _counts(sqlite_only_store)[0] == real["inserted"] > 0
    again = _ingest(sqlite_only_store, path, kind="cases", dry_run=True)
    assert again["updated"] == real["accepted"] and again["inserted"] == 0


def test_the_command_line_says_it_in_json_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    env = {**os.environ, "GEO_DATABASE_URL": f"sqlite:///{tmp_path / 'geo.db'}"}
    subprocess.run(
        [sys.executable, "-m", "geo_service", "init"], env=env, check=True, capture_output=True
    )
    ran = subprocess.run(
        [sys.executable, "-m", "geo_service", "ingest", str(path), "--kind", "cases"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 2, ran.stderr
    answer = json.loads(ran.stdout or ran.stderr)
    assert answer["error"] == "bad_input_file" and "文件中的列：a、b" in answer["description"]
    assert "Traceback" not in ran.stderr
