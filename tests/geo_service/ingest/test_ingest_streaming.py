"""Streaming ingest: a file is read, validated, located and written in chunks of
``chunk_rows`` records, and what is stored does not depend on the chunk size.

Each comparison ingests the same files twice into an emptied store, once with chunks
larger than any file (the whole file at once) and once with small chunks, and compares
every stored record (in insertion order), batch, rejected row and rejects file.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import Engine, Table, func, select

import geo_service.ingest.batch as batch
import geo_service.ingest.pipeline as pipeline
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.ingest import IngestOptions, ingest_file
from geo_service.ingest.locate import Locator
from geo_service.ingest.readers import CarefulReadNeeded, TableSource, open_table, read_csv
from geo_service.ingest.writer import MOST_ATTACHED, count_rows
from geo_service.store.models import (
    INGEST_TABLES,
    IngestBatch,
    InspectorExclusion,
    PenaltyCase,
    RejectedRow,
)
from tests.conftest import _clear_records
from tests.geo_service.messy import write_enterprises, write_messy_cases
from tests.geo_service.store.test_bulk_indexes import _secondary

TODAY = dt.date(2026, 11, 28)
WHOLE = 10_000_000  # a chunk larger than any file here: the whole file at once
#: The committed sample, register first (the others are placed through it).
SAMPLE = [
    ("enterprises", "enterprises.csv"),
    ("cases", "cases.csv"),
    ("inspections", "inspections.csv"),
    ("exceedances", "exceedances.csv"),
    ("complaints", "complaints.csv"),
    ("inspectors", "inspectors.csv"),
]
HEADERS = ["检查编号", "检查日期", "经度", "纬度", "坐标系", "备注"]


def _ingest(
    engine: Engine, path: Path, kind: str, chunk_rows: int, rejects: Path, **kw: Any
) -> dict[str, Any]:
    options = IngestOptions(
        kind=kind, chunk_rows=chunk_rows, rejects_path=rejects, progress=False, today=TODAY, **kw
    )
    return ingest_file(engine, path, options)


def _rows(engine: Engine, table: Table, drop: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every row of ``table`` in insertion (id) order, without the columns ``drop``."""
    with engine.connect() as conn:
        result = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        return [{k: v for k, v in row.items() if k not in drop} for row in result]


def _stored(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """All an ingest leaves in the store; ids and batch ids left out (PostgreSQL's
    sequences do not restart when the store is emptied), the order of ids kept."""
    tables: dict[str, Table] = {k: m.__table__ for k, m in INGEST_TABLES.items()}  # type: ignore[misc]
    tables["ingest_batches"] = IngestBatch.__table__  # type: ignore[assignment]
    tables["rejected_rows"] = RejectedRow.__table__  # type: ignore[assignment]
    tables["inspector_exclusions"] = InspectorExclusion.__table__  # type: ignore[assignment]
    drop = ("id", "batch_id", "started_at", "finished_at")
    return {name: _rows(engine, table, drop) for name, table in tables.items()}


def _run(
    engine: Engine, files: list[tuple[str, Path]], chunk_rows: int, out: Path, **kw: Any
) -> dict[str, Any]:
    """Empty the store, ingest ``files`` in order; summaries, rejects files and store."""
    _clear_records(engine)
    out.mkdir()
    summaries, rejects = [], []
    for i, (kind, path) in enumerate(files):
        target = out / f"{i}.rejects.csv"
        summary = _ingest(engine, path, kind, chunk_rows, target, **kw)
        assert list(summary.pop("seconds")) == (
            ["read", "validate", "locate", "prepare", "store"]
            if kind != "inspectors"
            else ["read", "validate", "prepare", "store"]
        )
        del summary["batch_id"], summary["rejects_path"]
        summaries.append(summary)
        rejects.append(target.read_bytes())
    return {"summaries": summaries, "rejects": rejects, "store": _stored(engine)}


def _assert_same(whole: dict[str, Any], chunked: dict[str, Any]) -> None:
    assert chunked["summaries"] == whole["summaries"]
    assert chunked["rejects"] == whole["rejects"]  # the rejects files, byte for byte
    for name, rows in whole["store"].items():
        assert chunked["store"][name] == rows, name


@pytest.fixture
def sample_files() -> list[tuple[str, Path]]:
    return [(kind, SAMPLE_SLICE / name) for kind, name in SAMPLE]


def test_the_sample_stores_the_same_in_chunks_of_997(
    store: Engine, tmp_path: Path, sample_files: list[tuple[str, Path]]
) -> None:
    whole = _run(store, sample_files, WHOLE, tmp_path / "whole")
    chunked = _run(store, sample_files, 997, tmp_path / "chunked")
    _assert_same(whole, chunked)
    # the sample has every kind of defect, some in later chunks than the first
    reasons = {r["reason"] for r in whole["store"]["rejected_rows"]}
    assert {"malformed_row", "duplicate_id", "bad_date", "unlocatable"} <= reasons
    assert max(r["row_number"] for r in whole["store"]["rejected_rows"]) > 2 * 997
    assert sum(s["accepted"] for s in whole["summaries"]) > 10_000


def test_a_jurisdiction_and_a_default_crs_apply_in_every_chunk(
    sqlite_only_store: Engine, tmp_path: Path, sample_files: list[tuple[str, Path]]
) -> None:
    files = sample_files[:3]
    kw = {"within": "450100", "crs": "GCJ02"}
    whole = _run(sqlite_only_store, files, WHOLE, tmp_path / "whole", **kw)
    chunked = _run(sqlite_only_store, files, 500, tmp_path / "chunked", **kw)
    _assert_same(whole, chunked)
    assert whole["summaries"][1]["by_reason"]["outside_jurisdiction"] > 1000


@pytest.fixture
def messy(tmp_path: Path, divisions_gdf: gpd.GeoDataFrame) -> list[tuple[str, Path]]:
    register, cases = tmp_path / "enterprises.csv", tmp_path / "cases.csv"
    write_enterprises(register, divisions_gdf)
    write_messy_cases(cases, divisions_gdf)
    return [("enterprises", register), ("cases", cases)]


def test_one_row_chunks_store_the_same(
    store: Engine, tmp_path: Path, messy: list[tuple[str, Path]]
) -> None:
    whole = _run(store, messy, WHOLE, tmp_path / "whole")
    chunked = _run(store, messy, 1, tmp_path / "chunked")
    _assert_same(whole, chunked)
    duplicates = [r for r in chunked["store"]["rejected_rows"] if r["reason"] == "duplicate_id"]
    assert [r["detail"] for r in duplicates] == ["also in row 5"]  # in a chunk of its own


def _inspections_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


def _inspection(i: int, date: str = "2025-03-01", id_: str | None = None) -> list[str]:
    lon, lat = 108.30 + (i % 50) * 0.002, 22.80 + (i % 40) * 0.002  # in Nanning
    return [id_ or f"JC-{i:05d}", date, f"{lon:.6f}", f"{lat:.6f}", "GCJ-02", f"第{i}行"]


def test_a_duplicate_id_is_found_across_chunks(sqlite_only_store: Engine, tmp_path: Path) -> None:
    rows = [_inspection(i) for i in range(2_000)]
    rows[1] = _inspection(1, id_="DUP-A")  # row 3, first chunk of 997 (rows 2–998)
    rows[1_498] = _inspection(1_498, id_="DUP-A")  # row 1500, second chunk
    rows[1_900] = _inspection(1_900, id_="DUP-A")  # row 1902, third chunk
    rows[10] = _inspection(10, date="2025-13-01", id_="DUP-B")  # row 12: bad date, first
    rows[1_200] = _inspection(1_200, id_="DUP-B")  # row 1202: still a repeat of row 12
    rows[20] = rows[20] + ["extra"]  # row 22: malformed, so not an occurrence of its id
    rows[20][0] = "DUP-C"
    rows[1_300] = _inspection(1_300, id_="DUP-C")  # row 1302: the first good DUP-C
    files = [("inspections", _inspections_csv(tmp_path / "dups.csv", rows))]
    whole = _run(sqlite_only_store, files, WHOLE, tmp_path / "whole")
    chunked = _run(sqlite_only_store, files, 997, tmp_path / "chunked")
    _assert_same(whole, chunked)
    got = {r["row_number"]: (r["reason"], r["detail"]) for r in chunked["store"]["rejected_rows"]}
    assert got == {
        12: ("bad_date", "inspection_date is not a date in 1990–today"),
        22: ("malformed_row", "7 fields, expected 6: " + ",".join(rows[20])),
        1500: ("duplicate_id", "also in row 3"),
        1202: ("duplicate_id", "also in row 12"),
        1902: ("duplicate_id", "also in row 3"),
    }
    stored = {r["inspection_id"] for r in chunked["store"]["inspections"]}
    assert {"DUP-A", "DUP-C"} <= stored and "DUP-B" not in stored


def test_blank_lines_and_line_breaks_in_cells_keep_their_row_numbers(
    store: Engine, tmp_path: Path
) -> None:
    good = [_inspection(i) for i in range(40)]
    lines = [",".join(HEADERS)] + [",".join(r) for r in good]
    lines[3] = ""  # row 4: a blank line
    lines[7] += ",extra"  # row 8: malformed
    lines[30] = lines[30].replace("第29行", '"两\n行"')  # row 31: a line break in a cell
    lines[35] = lines[35].replace("2025-03-01", "bad")  # row 36 (a sheet's row 36)
    odd = tmp_path / "odd.csv"
    odd.write_text("\n".join(lines) + "\n", encoding="gb18030")
    late = tmp_path / "late.csv"  # one record per line until a line break near the end
    late_lines = [",".join(HEADERS)] + [",".join(r) for r in good]
    late_lines[38] = late_lines[38].replace("第37行", '"末\n行"')
    late_lines[20] += ",extra"
    late.write_text("\n".join(late_lines) + "\n", encoding="utf-8-sig")
    for path in (odd, late):
        files = [("inspections", path)]
        whole = _run(store, files, WHOLE, tmp_path / f"{path.stem}-whole")
        for size in (1, 3):
            _assert_same(whole, _run(store, files, size, tmp_path / f"{path.stem}-{size}"))
    expected = pd.read_csv(
        tmp_path / "odd-whole" / "0.rejects.csv", encoding="utf-8-sig", dtype=str
    )
    assert expected[["row_number", "reason"]].values.tolist() == [
        ["8", "malformed_row"],
        ["36", "bad_date"],
    ]


def test_xlsx_and_geojson_store_the_same_in_chunks(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    rows = [_inspection(i) for i in range(300)]
    rows[5][1] = "bad"
    rows[200][0] = rows[100][0]  # a duplicate in a later chunk
    frame = pd.DataFrame(rows, columns=HEADERS)
    xlsx = tmp_path / "in.xlsx"
    frame.to_excel(xlsx, index=False)
    geojson = tmp_path / "in.geojson"
    points = gpd.points_from_xy(frame["经度"].astype(float), frame["纬度"].astype(float))
    gpd.GeoDataFrame(
        frame.drop(columns=["经度", "纬度", "坐标系"]), geometry=points, crs=4326
    ).to_file(geojson)
    for path in (xlsx, geojson):
        files = [("inspections", path)]
        whole = _run(sqlite_only_store, files, WHOLE, tmp_path / f"{path.suffix[1:]}-whole")
        chunked = _run(sqlite_only_store, files, 7, tmp_path / f"{path.suffix[1:]}-7")
        _assert_same(whole, chunked)
        assert whole["summaries"][0]["by_reason"] == {"bad_date": 1, "duplicate_id": 1}


# --- a failure in a later chunk stores nothing ------------------------------------------


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the ingest's temporary files go during the test (must be empty after)."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def _earlier_batches(engine: Engine, tmp_path: Path, divisions_gdf: gpd.GeoDataFrame) -> None:
    """A register and a cases file (other case ids than the sample's) in the store."""
    register, cases = tmp_path / "enterprises.csv", tmp_path / "messy.csv"
    write_enterprises(register, divisions_gdf)
    write_messy_cases(cases, divisions_gdf)
    _ingest(engine, register, "enterprises", WHOLE, tmp_path / "enterprises.rejects.csv")
    _ingest(engine, cases, "cases", WHOLE, tmp_path / "messy.rejects.csv")


def test_a_failure_locating_a_later_chunk_stores_nothing(
    store: Engine,
    tmp_path: Path,
    divisions_gdf: gpd.GeoDataFrame,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _earlier_batches(store, tmp_path, divisions_gdf)
    before = _stored(store)
    real = Locator.locate_and_link
    calls: list[int] = []

    def locate(self: Locator, rows: pd.DataFrame, *args: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("the third chunk cannot be located")
        return real(self, rows, *args)

    monkeypatch.setattr(Locator, "locate_and_link", locate)
    rejects = tmp_path / "again.rejects.csv"
    with pytest.raises(RuntimeError, match="third chunk"):
        _ingest(store, SAMPLE_SLICE / "cases.csv", "cases", 1_000, rejects)
    assert calls == [1_000, 1_000, 1_000]
    assert _stored(store) == before
    assert not rejects.exists()
    assert list(private_tmp.iterdir()) == []  # what was set aside is deleted


@pytest.mark.parametrize("group_chunks", [0, 1], ids=["after-reading", "while-reading"])
def test_a_failure_after_records_are_written_rolls_the_batch_back(
    store: Engine,
    tmp_path: Path,
    divisions_gdf: gpd.GeoDataFrame,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    group_chunks: int,
) -> None:
    """The third part written fails: after the file is read (its batch written chunk by
    chunk), or while it is read (a group a chunk, the failure found by the reader at its
    next hand-over)."""
    _earlier_batches(store, tmp_path, divisions_gdf)
    before = _stored(store)
    real = batch.write_staged
    written: list[int] = []

    def write_staged(
        conn: Any, table: Table, key: str, staging: Any, batch_id: int, *args: Any, **kw: Any
    ) -> Iterator[int]:
        for n in real(conn, table, key, staging, batch_id, *args, **kw):
            yield n
            written.append(count_rows(conn, table))
            if len(written) == 3:
                raise RuntimeError("the disk filled up after the third part")

    monkeypatch.setattr(batch, "write_staged", write_staged)
    rejects = tmp_path / "again.rejects.csv"
    with pytest.raises(RuntimeError, match="third part"):
        _ingest(
            store, SAMPLE_SLICE / "cases.csv", "cases", 1_000, rejects, group_chunks=group_chunks
        )
    assert written[0] > len(before["cases"])  # new cases written inside the transaction
    assert _stored(store) == before
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PenaltyCase)).scalar() == len(
            before["cases"]
        )
    assert not rejects.exists()
    assert list(private_tmp.iterdir()) == []


def test_the_folders_of_killed_ingests_are_removed(
    sqlite_only_store: Engine, tmp_path: Path, private_tmp: Path
) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = private_tmp / f"{pipeline.FOLDER_PREFIX}{int(ended.stdout)}-abc"  # its process ended
    alive = private_tmp / f"{pipeline.FOLDER_PREFIX}{os.getpid()}-abc"  # an ingest running
    other = private_tmp / f"{pipeline.FOLDER_PREFIX}abc"  # not an ingest's name
    for folder in (dead, alive, other):
        (folder / "read-1").mkdir(parents=True)
        (folder / "read-1" / "rows-0000000.arrow").write_bytes(b"left behind")
    _ingest(
        sqlite_only_store,
        SAMPLE_SLICE / "enterprises.csv",
        "enterprises",
        1_000,
        tmp_path / "rejects.csv",
    )
    assert sorted(private_tmp.iterdir()) == sorted([alive, other])


# --- the file is read as it is consumed -------------------------------------------------


def test_the_pipeline_locates_each_chunk_before_reading_the_next(
    sqlite_only_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest(
        sqlite_only_store,
        SAMPLE_SLICE / "enterprises.csv",
        "enterprises",
        WHOLE,
        tmp_path / "enterprises.rejects.csv",
    )
    events: list[tuple[str, int]] = []
    real_chunks, real_locate = TableSource.chunks, Locator.locate_and_link

    def chunks(self: TableSource, chunk_rows: int) -> Iterator[Any]:
        for chunk in real_chunks(self, chunk_rows):
            events.append(("read", len(chunk.row_numbers)))
            yield chunk

    def locate(self: Locator, rows: pd.DataFrame, *args: Any) -> Any:
        events.append(("locate", len(rows)))
        return real_locate(self, rows, *args)

    monkeypatch.setattr(TableSource, "chunks", chunks)
    monkeypatch.setattr(Locator, "locate_and_link", locate)
    summary = _ingest(
        sqlite_only_store, SAMPLE_SLICE / "cases.csv", "cases", 500, tmp_path / "rejects.csv"
    )
    sizes = [n for what, n in events if what == "read"]
    assert sizes == [500] * 7 and sum(sizes) == summary["rows"]
    # one chunk at a time: read, located, and only then the next one read
    assert events == [e for n in sizes for e in (("read", n), ("locate", n))]


def _big_csv(path: Path, n_rows: int, blank_line: bool) -> Path:
    remark = "x" * 480  # wide rows: about 0.5 KB each
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(HEADERS) + "\n")
        for i in range(n_rows):
            if blank_line and i == n_rows // 2:
                fh.write("\n")  # a blank line: read record by record (the careful read)
            fh.write(",".join([*_inspection(i, id_=f"R{i:07d}")[:5], remark]) + "\n")
    return path


@pytest.mark.parametrize("careful", [False, True], ids=["fast", "careful"])
def test_the_csv_reader_reads_the_file_as_its_chunks_are_consumed(
    tmp_path: Path, careful: bool
) -> None:
    # about 100 MB: pyarrow reads at most 32 blocks of 1 MB ahead of the parser, Python's
    # csv a few KB; a reader that read the whole file at the first chunk fails below
    n_rows, size = 200_000, 5_000
    path = _big_csv(tmp_path / "big.csv", n_rows, careful)
    try:
        source = open_table(path)
        assert source.careful == careful
        chunks = source.chunks(size)
        first = next(chunks)
        assert first.data["检查编号"].iloc[0] == "R0000000" and len(first.row_numbers) == size
        # rewrite the last record's id in place: a reader that had read the file to its
        # end would still hand out the old id
        at = path.stat().st_size - 2_000
        with path.open("r+b") as fh:
            fh.seek(at)
            tail = fh.read()
            fh.seek(at + tail.index(f"R{n_rows - 1:07d}".encode()))
            fh.write(b"X")
        rest = list(chunks)
        assert all(len(c.row_numbers) <= size for c in rest)
        assert sum(len(c.row_numbers) for c in rest) == n_rows - size
        assert rest[-1].data["检查编号"].iloc[-1] == f"X{n_rows - 1:07d}"
    finally:
        path.unlink()


@pytest.mark.parametrize("suffix", ["gpkg", "geojson"])
def test_gis_files_are_read_as_their_chunks_are_consumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    import numpy as np
    import pyogrio.raw
    import shapely

    n = 140_000  # more than two of OGR's batches of 65,536
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(105, 111, n), rng.uniform(21, 26, n)
    ids = [f"G{i:07d}" for i in range(n)]
    path = tmp_path / f"big.{suffix}"
    gpd.GeoDataFrame(
        {"检查编号": ids, "备注": ["x"] * n}, geometry=shapely.points(lon, lat), crs=4326
    ).to_file(path)
    pulled: list[int] = []  # features handed over by OGR
    real = pyogrio.raw.open_arrow

    @contextmanager
    def counting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with real(*args, **kwargs) as (meta, reader):

            def batches() -> Iterator[Any]:
                for batch in reader:
                    pulled.append(batch.num_rows)
                    yield batch

            yield meta, batches()

    monkeypatch.setattr(pyogrio.raw, "open_arrow", counting)
    source = open_table(path)
    assert source.headers == ["检查编号", "备注", "lon", "lat"] and source.file_crs == "WGS84"
    chunks = source.chunks(1_000)
    first = next(chunks)
    assert len(first.row_numbers) == 1_000 and sum(pulled) < n // 2  # not the whole file
    rest = list(chunks)
    assert [len(c.row_numbers) for c in rest] == [1_000] * (n // 1_000 - 1)
    whole = pd.concat([c.data for c in (first, *rest)], ignore_index=True)
    numbers = np.concatenate([c.row_numbers for c in (first, *rest)])
    assert whole["检查编号"].tolist() == ids and numbers.tolist() == list(range(2, n + 2))
    assert np.allclose(whole["lon"].astype(float), lon, rtol=0, atol=1e-9)
    assert np.allclose(whole["lat"].astype(float), lat, rtol=0, atol=1e-9)
    # chunks larger than OGR's batches gather several
    assert [len(c.row_numbers) for c in source.chunks(100_000)] == [100_000, 40_000]


def test_the_fast_read_hands_over_to_the_careful_one(tmp_path: Path) -> None:
    n_rows = 40_000  # a few MB: pyarrow reads it in several blocks
    lines = [",".join(HEADERS)] + [",".join(_inspection(i)) for i in range(n_rows)]
    lines[-10] = lines[-10].replace(f"第{n_rows - 10}行", '"两\n行"')  # near the end
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = open_table(path)
    assert not source.careful
    handed: list[Any] = []
    with pytest.raises(CarefulReadNeeded):
        handed.extend(source.chunks(1_000))
    assert source.careful and len(handed) > 0  # chunks were handed out before it was found
    again = list(source.chunks(1_000))
    numbers = [int(n) for c in again for n in c.row_numbers]
    assert numbers == list(range(2, n_rows + 2)) == read_csv(path).row_numbers.tolist()
    assert again[-1].data["备注"].tolist()[-10] == "两\n行"


def test_line_feed_search_spans_only_the_cells_of_a_slice() -> None:
    """The fast read's early check looks at the bytes a column's cells span: a line feed
    in a cell is found, one in a sliced-off cell or a null is not."""
    import pyarrow as pa

    from geo_service.ingest.readers import _has_line_break, _text_has_line_feed

    cells = pa.array(["甲\n乙", "丙", None, "丁"])
    assert _text_has_line_feed(cells)
    assert not _text_has_line_feed(cells.slice(1))
    assert _text_has_line_feed(pa.array(["a", "b\r\nc"], pa.large_string()))
    assert not _text_has_line_feed(pa.array([None, None], pa.string()))
    assert not _text_has_line_feed(pa.array([], pa.string()))
    batch = pa.RecordBatch.from_arrays([cells.slice(1), pa.array(["x", "y", "z\n"])], ["a", "b"])
    assert _has_line_break(batch)
    assert not _has_line_break(batch.slice(0, 2))


# --- a large file's stages overlap: worker processes, a batch written while reading ----


def test_worker_processes_and_an_early_batch_store_the_same(
    store: Engine, tmp_path: Path, sample_files: list[tuple[str, Path]]
) -> None:
    """Chunks located by a worker process, and the batch written group by group while
    the file is read, store what one process writing at the end stores."""
    files = sample_files[:2]  # the register, then the cases linked to it
    whole = _run(store, files, WHOLE, tmp_path / "whole", workers=0, group_chunks=0)
    overlapped = _run(store, files, 300, tmp_path / "overlapped", workers=1, group_chunks=1)
    _assert_same(whole, overlapped)
    assert whole["summaries"][1]["rows"] > MOST_ATTACHED * 300  # more chunks than groups


def _indexes_as_written(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """Filled as each group of a batch is written: its table and the secondary indexes
    the table has at that moment (in the batch's transaction)."""
    seen: list[tuple[str, dict[str, str]]] = []
    write_staged = batch.write_staged

    def spy(conn: Any, table: Table, *args: Any, **kw: Any) -> Iterator[int]:
        seen.append((table.name, _secondary(conn, table)))
        return write_staged(conn, table, *args, **kw)

    monkeypatch.setattr(batch, "write_staged", spy)
    return seen


def test_a_large_first_load_is_written_without_its_indexes_and_stores_the_same(
    store: Engine,
    tmp_path: Path,
    sample_files: list[tuple[str, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL a first load written while it is read goes into tables without
    their secondary indexes (here every batch counts as large), made again after its
    last group; SQLite keeps them up beside the reading. The same records on both, and
    the same indexes after."""
    from geo_service.ingest import writer

    files = sample_files[:2]  # the register, then the cases linked to it
    whole = _run(store, files, WHOLE, tmp_path / "whole", workers=0, group_chunks=0)
    tables = [INGEST_TABLES[kind].__table__ for kind, _ in files]  # type: ignore[attr-defined]
    with store.connect() as conn:
        indexes = {t.name: _secondary(conn, t) for t in tables}
    seen = _indexes_as_written(monkeypatch)
    monkeypatch.setattr(writer, "BULK_ROWS", 1)
    bulk = _run(store, files, 300, tmp_path / "bulk", workers=0, group_chunks=1)
    _assert_same(whole, bulk)
    assert {name for name, _ in seen} == set(indexes)
    dropped = store.dialect.name == "postgresql"
    assert len(seen) > 2
    for name, kept in seen:  # as each group was written
        assert kept == ({} if dropped else indexes[name])
    with store.connect() as conn:
        assert {t.name: _secondary(conn, t) for t in tables} == indexes


@pytest.mark.postgis
def test_a_scoped_first_load_keeps_its_indexes_and_finishes(
    postgis_only_store: Engine,
    tmp_path: Path,
    sample_files: list[tuple[str, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ingest scoped to a jurisdiction reads the table while its batch is written
    (which ids are stored elsewhere): a dropped index would lock that read out until
    the batch commits, and the batch waits for the read. Its first load goes through
    the indexes, and ends."""
    from geo_service.ingest import writer

    files = sample_files[:2]
    kw = {"within": "450100"}
    whole = _run(postgis_only_store, files, WHOLE, tmp_path / "whole", group_chunks=0, **kw)
    monkeypatch.setattr(writer, "BULK_ROWS", 1)
    tables = {kind: INGEST_TABLES[kind].__table__ for kind, _ in files}  # type: ignore[attr-defined]
    seen = _indexes_as_written(monkeypatch)
    done: list[dict[str, Any]] = []
    ingest = threading.Thread(
        target=lambda: done.append(
            _run(postgis_only_store, files, 300, tmp_path / "scoped", group_chunks=1, **kw)
        ),
        daemon=True,
    )
    ingest.start()
    ingest.join(600)  # a lock-out would hold it for ever
    assert done, "the scoped first load did not end"
    _assert_same(whole, done[0])
    assert len(seen) > 2 and all(kept for _, kept in seen)  # each group through the indexes
    with postgis_only_store.connect() as conn:
        assert all(_secondary(conn, t) for t in tables.values())


def test_worker_processes_apply_a_jurisdiction_and_a_default_crs(
    sqlite_only_store: Engine, tmp_path: Path, sample_files: list[tuple[str, Path]]
) -> None:
    files = sample_files[:3]
    kw = {"within": "450100", "crs": "GCJ02"}
    whole = _run(sqlite_only_store, files, WHOLE, tmp_path / "whole", workers=0, **kw)
    overlapped = _run(
        sqlite_only_store, files, 700, tmp_path / "overlapped", workers=2, group_chunks=2, **kw
    )
    _assert_same(whole, overlapped)


def test_a_file_read_again_rolls_back_what_its_early_batch_wrote(
    sqlite_only_store: Engine, tmp_path: Path
) -> None:
    """A blank line found only at the end sends the file to the careful read: the groups
    written meanwhile are rolled back and the file is stored once, as it is read."""
    files = [("inspections", _big_csv(tmp_path / "blank.csv", 3_000, blank_line=True))]
    whole = _run(sqlite_only_store, files, WHOLE, tmp_path / "whole", group_chunks=0)
    early = _run(sqlite_only_store, files, 400, tmp_path / "early", group_chunks=1)
    _assert_same(whole, early)
    assert len(early["store"]["inspections"]) == 3_000


def test_a_failure_in_a_worker_process_stores_nothing(
    store: Engine,
    tmp_path: Path,
    divisions_gdf: gpd.GeoDataFrame,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.geo_service.ingest.failing_locator import ThirdChunkFails

    _earlier_batches(store, tmp_path, divisions_gdf)
    before = _stored(store)
    monkeypatch.setattr(pipeline, "Locator", ThirdChunkFails)
    rejects = tmp_path / "again.rejects.csv"
    with pytest.raises(RuntimeError, match="third chunk"):
        _ingest(store, SAMPLE_SLICE / "cases.csv", "cases", 500, rejects, workers=1, group_chunks=1)
    assert _stored(store) == before
    assert not rejects.exists()
    assert list(private_tmp.iterdir()) == []


def test_large_files_get_workers_and_an_early_batch_by_their_size() -> None:
    from geo_service.ingest.chunk_workers import PARALLEL_ROWS, workers_for
    from geo_service.ingest.options import IngestOptions

    cores = len(os.sched_getaffinity(0))
    third = PARALLEL_ROWS // 3
    assert workers_for(None, PARALLEL_ROWS, third) == max(0, min(2, cores - 2))
    assert workers_for(None, PARALLEL_ROWS - 1, third) == 0  # small: sooner without
    assert workers_for(None, PARALLEL_ROWS, PARALLEL_ROWS // 2) == 0  # two chunks only
    assert workers_for(None, None, 100_000) == 0  # length unknown before reading
    assert workers_for(3, 10, 100_000) == 3 and workers_for(0, 10**7, 100_000) == 0
    options = IngestOptions(kind="cases")
    # 10 chunks over the 8 staging files, larger groups first: the last is one chunk
    assert pipeline._group_plan(options, 1_000_000) == (2, 2, 1, 1, 1, 1, 1, 1)
    assert pipeline._group_plan(options, 10_000_000) == (13, 13, 13, 13, 12, 12, 12, 12)
    assert pipeline._group_plan(options, 300_000) == (1, 1, 1)
    assert pipeline._group_plan(options, 100_000) is None
    assert pipeline._group_plan(IngestOptions(kind="cases", group_chunks=0), 10**7) is None
    assert pipeline._group_plan(IngestOptions(kind="cases", group_chunks=3), 10**7) == (3,)
