"""Input files beyond the limits (cell length, workbook size, compression ratio, cells) are
refused with a clear bad_input_file reason, in bounded memory, over HTTP and in the CLI."""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from geo_service.api.app import create_app
from geo_service.cli import app
from geo_service.core.errors import InputFileError
from geo_service.core.settings import Settings, get_settings
from geo_service.ingest.readers import InputLimits, open_table, read_table
from geo_service.store import make_engine, migrate
from geo_service.store.boundaries import load_divisions
from tests.conftest import account_headers

HEADER = "case_id,decision_date,lon,lat\n"
MIB = 1 << 20


def _workbook(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _rewrite(src: Path, dst: Path, parts: dict[str, Callable[[], Iterable[bytes]]]) -> Path:
    """``src`` with the named parts' bytes replaced or added (streamed: nothing large is
    held)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename not in parts:
                new.writestr(info, old.read(info))
        for name, pieces in parts.items():
            with new.open(name, "w", force_zip64=True) as out:
                for piece in pieces():
                    out.write(piece)
    return dst


_MAIN = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _text(size: int, piece: bytes) -> Iterator[bytes]:
    for _ in range(size // len(piece)):
        yield piece


def _huge_shared_string(size: int, piece: bytes) -> Callable[[], Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="UTF-8"?><sst ' + _MAIN + b"><si><t>short</t></si>"
        if piece.startswith(b"<"):  # rich text: many short runs, one string
            yield b"<si>"
            yield from _text(size, piece)
            yield b"</si></sst>"
        else:
            yield b"<si><t>"
            yield from _text(size, piece)
            yield b"</t></si></sst>"

    return pieces


def _huge_inline_cell(size: int, piece: bytes) -> Callable[[], Iterator[bytes]]:
    def pieces() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + _MAIN + b"><sheetData>"
        yield b'<row r="1"><c r="A1" t="inlineStr"><is><t>case_id</t></is></c></row>'
        yield b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
        yield from _text(size, piece)
        yield b"</t></is></c></row></sheetData></worksheet>"

    return pieces


#: Where the huge cell goes: (part, its bytes) — the sheet itself or the shared strings,
#: as one text, or as rich text of many short runs.
HUGE_CELLS = {
    "inline": ("xl/worksheets/sheet1.xml", _huge_inline_cell, b"x" * MIB),
    "shared": ("xl/sharedStrings.xml", _huge_shared_string, b"x" * MIB),
    "rich": ("xl/sharedStrings.xml", _huge_shared_string, b"<r><t>xxxxxxxx</t></r>" * 4096),
}


def _one_huge_cell(tmp_path: Path, size: int, where: str = "inline") -> Path:
    """A workbook with one text cell of about ``size`` characters (a few KB compressed)."""
    plain = _workbook(tmp_path / "plain.xlsx", [["case_id", "description"], ["A-1", "short"]])
    part, make, piece = HUGE_CELLS[where]
    return _rewrite(plain, tmp_path / "huge-cell.xlsx", {part: make(size, piece)})


def _refusal(path: Path, limits: InputLimits | None = None) -> str:
    with pytest.raises(InputFileError) as caught:
        read_table(path, limits)
    assert caught.value.code == "bad_input_file"
    return str(caught.value)


@pytest.mark.parametrize("where", list(HUGE_CELLS))
def test_a_huge_cell_is_refused_before_parsing_in_bounded_memory(
    tmp_path: Path, where: str
) -> None:
    path = _one_huge_cell(tmp_path, 64 * MIB, where)
    assert path.stat().st_size < MIB
    tracemalloc.start()
    try:
        reason = _refusal(path, InputLimits(max_xlsx_compression_ratio=1e9))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MIB  # the 64 MiB cell was never held
    assert "GEO_MAX_CELL_CHARS" in reason and "超过 32,767 个字符" in reason
    assert "more than 32,767 characters" in reason
    assert reason.index("超过") < reason.index("more than")  # Chinese first


def test_a_zip_bomb_is_refused_by_its_compression_ratio(tmp_path: Path) -> None:
    reason = _refusal(_one_huge_cell(tmp_path, 64 * MIB))
    assert "GEO_MAX_XLSX_COMPRESSION_RATIO" in reason and "xl/worksheets/sheet1.xml" in reason
    assert "压缩比" in reason


def test_a_workbook_unpacking_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    path = _one_huge_cell(tmp_path, 8 * MIB)
    limits = InputLimits(max_xlsx_uncompressed_bytes=4 * MIB, max_xlsx_compression_ratio=1e9)
    reason = _refusal(path, limits)
    assert "GEO_MAX_XLSX_UNCOMPRESSED_BYTES" in reason and "4,194,304" in reason


def _declare_size(path: Path, member: str, size: int) -> None:
    """Overwrite the uncompressed size ``member`` declares, in its local header and in the
    central directory (what a forged zip does to pass a size check)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.find(b"PK\x03\x04")
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if bytes(data[local + 30 : local + 30 + name_len]) == name:
            struct.pack_into("<I", data, local + 22, size)
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + name_len]) == name:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_a_part_unpacking_beyond_its_declared_size_is_refused(tmp_path: Path) -> None:
    plain = _workbook(tmp_path / "plain.xlsx", [["case_id"], *([f"A-{i}"] for i in range(5000))])
    path = tmp_path / "forged.xlsx"
    with zipfile.ZipFile(plain) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():  # no data descriptors: sizes only in the headers
            new.writestr(info.filename, old.read(info))
    _declare_size(path, "xl/worksheets/sheet1.xml", 100)
    with zipfile.ZipFile(path) as forged:
        assert forged.getinfo("xl/worksheets/sheet1.xml").file_size == 100
    reason = _refusal(path, InputLimits(max_xlsx_uncompressed_bytes=50_000))
    assert "not a readable XLSX workbook" in reason


def test_a_workbook_with_too_many_cells_is_refused_before_parsing(tmp_path: Path) -> None:
    rows = [[f"c{j}" for j in range(10)], *([i] * 10 for i in range(50))]
    path = _workbook(tmp_path / "tall.xlsx", rows)
    reason = _refusal(path, InputLimits(max_xlsx_cells=400))
    assert "GEO_MAX_XLSX_CELLS" in reason and "400" in reason and "单元格" in reason
    assert len(read_table(path, InputLimits(max_xlsx_cells=510)).data) == 50  # 510 cells fit


def _sheet_with_far_cells(rows: int, dimension: str) -> Callable[[], Iterator[bytes]]:
    """A sheet whose rows each hold a cell in column A and one in column XFD (16,384)."""

    def pieces() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="UTF-8"?>'
        yield b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        yield f'<dimension ref="{dimension}"/><sheetData>'.encode()
        yield b'<row r="1"><c r="A1" t="inlineStr"><is><t>case_id</t></is></c></row>'
        for r in range(2, rows + 2):
            yield (
                f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="XFD{r}"><v>1</v></c></row>'
            ).encode()
        yield b"</sheetData></worksheet>"

    return pieces


def test_cells_made_while_reading_are_counted(tmp_path: Path) -> None:
    """Few cells stored, but openpyxl fills each row to its last cell: the count while
    reading refuses what the stored cells alone would let through."""
    plain = _workbook(tmp_path / "plain.xlsx", [["case_id"]])
    path = _rewrite(
        plain,
        tmp_path / "far.xlsx",
        {"xl/worksheets/sheet1.xml": _sheet_with_far_cells(200, "A1:XFD201")},
    )
    limits = InputLimits(max_xlsx_cells=1_000_000)
    source = open_table(path, limits)  # 401 cells stored: the zip passes
    with pytest.raises(InputFileError, match="GEO_MAX_XLSX_CELLS"):
        list(source.chunks(1000))


def test_a_declared_dimension_is_not_filled_in(tmp_path: Path) -> None:
    """A sheet declaring a million rows of 16,384 columns is read as the rows it has."""
    plain = _workbook(tmp_path / "plain.xlsx", [["case_id"]])
    sheet = _sheet_with_far_cells(0, "A1:XFD1048576")
    path = _rewrite(plain, tmp_path / "declared.xlsx", {"xl/worksheets/sheet1.xml": sheet})
    table = read_table(path, InputLimits(max_xlsx_cells=10_000))
    assert table.headers == ["case_id"] and len(table.data) == 0


def _csv_with_field(path: Path, chars: int, quoted: bool = False) -> Path:
    cell = "x" * chars
    rows = [
        "A-1,2024-01-02,108.3,22.8",
        f'A-2,2024-01-03,108.3,"{cell}"' if quoted else f"A-2,2024-01-03,108.3,{cell}",
        "A-3,2024-01-04,108.3,22.8",
    ]
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("chars", [40_000, 200_000, 10 * MIB])
@pytest.mark.parametrize("quoted", [False, True])
def test_a_csv_field_beyond_the_limit_is_refused_with_its_row(
    tmp_path: Path, chars: int, quoted: bool
) -> None:
    reason = _refusal(_csv_with_field(tmp_path / "cases.csv", chars, quoted))
    assert "GEO_MAX_CELL_CHARS" in reason
    assert "第 3 行" in reason and "3" in reason.split(" / ")[1]  # the row, in both languages


def test_a_cell_at_the_limit_is_read(tmp_path: Path) -> None:
    table = read_table(_csv_with_field(tmp_path / "cases.csv", 32_767))
    assert table.data["lat"].str.len().max() == 32_767
    limits = InputLimits(max_cell_chars=100)
    reason = _refusal(_csv_with_field(tmp_path / "small.csv", 101), limits)
    assert "第 3 行有单元格超过 100 个字符" in reason and "row 3 has a cell of" in reason


def test_an_xlsx_cell_beyond_the_limit_is_refused_with_its_row(tmp_path: Path) -> None:
    rows = [["case_id", "description"], ["A-1", "ok"], ["A-2", "y" * 101]]
    path = _workbook(tmp_path / "long.xlsx", rows)
    reason = _refusal(path, InputLimits(max_cell_chars=100))
    assert "第 3 行有单元格超过 100 个字符" in reason


@pytest.fixture(scope="module")
def own_store(
    tmp_path_factory: pytest.TempPathFactory, divisions_gdf: gpd.GeoDataFrame
) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'geo.db'}")
    migrate(engine)
    load_divisions(engine, divisions_gdf)
    yield engine
    engine.dispose()


def test_over_http_a_huge_field_is_a_400_not_a_500(own_store: Engine, tmp_path: Path) -> None:
    url = own_store.url.render_as_string(hide_password=False)
    client = TestClient(create_app(Settings(database_url=url, rate_limit_per_minute=0)))
    admin = account_headers(own_store, "admin", "450000")
    body = _csv_with_field(tmp_path / "cases.csv", 10 * MIB).read_bytes()
    response = client.post("/ingest/cases?filename=cases.csv", content=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_input_file"
    assert "GEO_MAX_CELL_CHARS" in response.json()["description"]
    workbook = _one_huge_cell(tmp_path, 64 * MIB).read_bytes()
    response = client.post("/ingest/cases?filename=cases.xlsx", content=workbook, headers=admin)
    assert response.status_code == 400 and response.json()["code"] == "bad_input_file"


def test_the_cli_refuses_with_a_message_and_no_traceback(
    own_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_DATABASE_URL", own_store.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GEO_MAX_CELL_CHARS", "1000")
    get_settings.cache_clear()
    try:
        path = _csv_with_field(tmp_path / "cases.csv", 10 * MIB)
        result = CliRunner().invoke(app, ["ingest", str(path), "--kind", "cases"])
        small = _csv_with_field(tmp_path / "small.csv", 1001)
        setting = CliRunner().invoke(app, ["ingest", str(small), "--kind", "cases"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert '"error": "bad_input_file"' in result.stderr and "Traceback" not in result.output
    assert "GEO_MAX_CELL_CHARS" in result.stderr
    assert setting.exit_code == 2 and "超过 1,000 个字符" in setting.stderr


def test_a_workbook_whose_table_of_texts_is_too_large_is_refused(tmp_path: Path) -> None:
    """openpyxl reads the shared strings whole: their size is what bounds the memory an
    XLSX ingest needs, whatever the chunk size."""

    def many_short_strings() -> Iterator[bytes]:
        yield b'<?xml version="1.0" encoding="UTF-8"?><sst ' + _MAIN + b">"
        for i in range(2000):
            yield f"<si><t>现场检查发现问题 {i:06d}</t></si>".encode()
        yield b"</sst>"

    plain = _workbook(tmp_path / "plain.xlsx", [["case_id", "description"], ["A-1", "short"]])
    path = _rewrite(plain, tmp_path / "texts.xlsx", {"xl/sharedStrings.xml": many_short_strings})
    size = sum(len(piece) for piece in many_short_strings())
    reason = _refusal(path, InputLimits(max_xlsx_shared_strings_bytes=size - 1))
    assert "GEO_MAX_XLSX_SHARED_STRINGS_BYTES" in reason and "CSV" in reason
    assert len(read_table(path, InputLimits(max_xlsx_shared_strings_bytes=size)).data) == 1
