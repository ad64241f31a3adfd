"""Reading input files (CSV, XLSX, GeoJSON, GeoPackage) into rows of text.

Every reader returns a :class:`RawTable`: the original headers, one string per
cell (``""`` for empty), each row's number as a spreadsheet shows it (the header
is row 1, so the first record is row 2), and which rows are malformed.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo_service.errors import InputFileError

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg"}


@dataclass
class RawTable:
    """The cells of an input file as text, before any interpretation."""

    headers: list[str]
    data: pd.DataFrame  # columns = headers, every cell a str
    row_numbers: np.ndarray  # int64, header = 1
    malformed: np.ndarray  # bool: the record did not have one field per header
    raw_lines: list[list[str]] = field(default_factory=list)  # original fields of malformed rows
    encoding: str | None = None
    file_crs: str | None = None  # CRS of a GIS file's geometry, as a canonical name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes as UTF-8 (with or without BOM), else GB18030 (a superset of GBK).

    Examples
    --------
    >>> decode_text("案件编号".encode("gbk"))
    ('案件编号', 'gb18030')
    >>> decode_text("\\ufeff案件编号".encode("utf-8"))
    ('案件编号', 'utf-8-sig')
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return raw.decode("utf-8", errors="strict"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030", errors="strict"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"the file is neither UTF-8 nor GB18030/GBK text (byte {exc.start})"
        ) from exc


def _frame(headers: list[str], rows: list[list[str]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({h: pd.Series([], dtype="str") for h in headers})
    return pd.DataFrame(rows, columns=headers, dtype="str")


def read_csv(path: Path) -> RawTable:
    """Read a CSV file; records with more or fewer fields than the header are malformed.

    Files with one record per line (no blank lines, no line breaks inside
    cells) take a fast path through pyarrow, malformed records included; any
    other file is read record by record with :mod:`csv` so that every record
    keeps its exact row number. Rows come in file order, malformed ones last.
    """
    raw = path.read_bytes()
    text, encoding = decode_text(raw)
    if encoding == "utf-8-sig":
        utf8 = raw[3:]
    elif encoding == "utf-8":
        utf8 = raw
    else:
        utf8 = text.encode("utf-8")
    dialect: type[csv.Dialect] = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    first = next(csv.reader(io.StringIO(text[: 1 << 16], newline=""), dialect), None)
    headers = _headers(first, path)
    fast = _read_csv_arrow(utf8, headers, dialect)
    if fast is not None:
        return RawTable(headers, *fast, encoding=encoding)
    return RawTable(headers, *_read_csv_records(text, headers, dialect), encoding=encoding)


def _read_csv_records(
    text: str, headers: list[str], dialect: type[csv.Dialect]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]]:
    """The careful path: record by record, counting blank lines as rows as a sheet does."""
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    next(reader, None)
    good: list[list[str]] = []
    good_numbers: list[int] = []
    bad: list[list[str]] = []
    bad_numbers: list[int] = []
    width = len(headers)
    for number, fields in enumerate(reader, start=2):
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line is a row of the sheet, but not a record
        if len(fields) == width:
            good.append(fields)
            good_numbers.append(number)
        else:
            bad.append(fields)
            bad_numbers.append(number)
    return _assemble(headers, _frame(headers, good), good_numbers, bad, bad_numbers)


def _read_csv_arrow(
    utf8: bytes, headers: list[str], dialect: type[csv.Dialect]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]] | None:
    """All cells as text via pyarrow, or None when the file needs the careful path."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    lines = utf8.count(b"\n") + (0 if utf8.endswith(b"\n") else 1)
    invalid: list[tuple[int | None, str]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        invalid.append((row.number, row.text))
        return "skip"

    try:
        table = pa_csv.read_csv(
            pa.BufferReader(utf8),
            # single-threaded so that malformed rows report their line numbers
            read_options=pa_csv.ReadOptions(column_names=headers, skip_rows=1, use_threads=False),
            parse_options=pa_csv.ParseOptions(
                delimiter=dialect.delimiter, invalid_row_handler=on_invalid, newlines_in_values=True
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(headers, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if table.num_rows + len(invalid) + 1 != lines or any(n is None for n, _ in invalid):
        return None  # blank lines or line breaks inside cells: numbers would drift
    bad_numbers = [int(n) for n, _ in invalid if n is not None]
    bad = [next(csv.reader([line], dialect), []) for _, line in invalid]
    good_numbers = np.setdiff1d(np.arange(2, lines + 1), bad_numbers).tolist()
    return _assemble(headers, table.to_pandas(), good_numbers, bad, bad_numbers)


def _assemble(
    headers: list[str],
    good: pd.DataFrame,
    good_numbers: list[int],
    bad: list[list[str]],
    bad_numbers: list[int],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]]:
    """Good records, then malformed ones: frame, row numbers, malformed mask, raw fields."""
    width = len(headers)
    frame = good.reset_index(drop=True)
    if bad:
        padded = _frame(headers, [(f + [""] * width)[:width] for f in bad])
        frame = pd.concat([frame, padded], ignore_index=True)
    numbers = np.asarray(good_numbers + bad_numbers, dtype=np.int64)
    malformed = np.zeros(len(numbers), dtype=bool)
    malformed[len(good_numbers) :] = True
    return frame, numbers, malformed, bad


def _headers(first: list[str] | None, path: Path) -> list[str]:
    if not first or not any(h.strip() for h in first):
        raise InputFileError(f"{path.name}: no header row")
    headers = [h.strip().lstrip("\ufeff") for h in first]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise InputFileError(f"{path.name}: repeated headers {dupes}")
    return headers


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def read_xlsx(path: Path) -> RawTable:
    """Read the first sheet of an XLSX workbook (header in its first row)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/... on bad files
        raise InputFileError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        headers = _headers([_cell_text(v) for v in next(rows, ())], path)
        width = len(headers)
        good: list[list[str]] = []
        numbers: list[int] = []
        bad: list[list[str]] = []
        bad_numbers: list[int] = []
        for number, values in enumerate(rows, start=2):
            cells = [_cell_text(v) for v in values]
            if not any(cells):
                continue
            extra = cells[width:]
            if any(extra):  # values beyond the last header
                bad.append(cells)
                bad_numbers.append(number)
            else:
                good.append((cells + [""] * width)[:width])
                numbers.append(number)
    finally:
        workbook.close()
    frame, row_numbers, malformed, raw = _assemble(
        headers, _frame(headers, good), numbers, bad, bad_numbers
    )
    return RawTable(headers, frame, row_numbers, malformed, raw, None)


def read_geofile(path: Path) -> RawTable:
    """Read GeoJSON or GeoPackage features; point geometries become ``lon``/``lat`` cells."""
    import pyogrio

    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise InputFileError(f"{path.name}: not a readable GeoJSON/GeoPackage ({exc})") from exc
    file_crs = _crs_name(gdf.crs)
    geometry = gdf.geometry
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    headers = [str(c) for c in frame.columns]
    frame = frame.map(_cell_text).astype(object)
    frame.columns = headers
    if "lon" not in headers and "lat" not in headers and "经度" not in headers:
        points = geometry.where(
            geometry.is_empty | geometry.isna(), geometry.representative_point()
        )
        has = ~(points.isna() | points.is_empty)
        frame["lon"] = np.where(has, points.x.astype(str), "")
        frame["lat"] = np.where(has, points.y.astype(str), "")
        headers += ["lon", "lat"]
    numbers = np.arange(2, len(frame) + 2, dtype=np.int64)
    return RawTable(headers, frame.reset_index(drop=True), numbers,
                    np.zeros(len(frame), dtype=bool), [], None, file_crs)  # fmt: skip


def _crs_name(crs: object) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    if epsg == 4490:
        return "CGCS2000"
    if epsg == 4326 or "CRS84" in str(crs):
        return "WGS84"
    raise InputFileError(f"geometry CRS {crs} is not supported (use EPSG:4326 or EPSG:4490)")


def read_table(path: Path) -> RawTable:
    """Read any supported input file by its suffix."""
    if not path.is_file():
        raise InputFileError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return read_csv(path)
    if suffix in _XLSX_SUFFIXES:
        return read_xlsx(path)
    if suffix in _GEO_SUFFIXES:
        return read_geofile(path)
    raise InputFileError(
        f"{path.name}: unsupported file type {suffix!r} (CSV, XLSX, GeoJSON or GeoPackage)"
    )
