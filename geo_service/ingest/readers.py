"""Reading input files (CSV, XLSX, GeoJSON, GeoPackage) into rows of text, in chunks.

:func:`open_table` opens a file and reads its header; :meth:`TableSource.chunks` then
hands out its records as :class:`RawTable` chunks of at most ``chunk_rows`` records, in
file order, each with the original headers, one string per cell (``""`` for empty), each
row's number as a spreadsheet shows it (the header is row 1, so the first record is row
2) and which rows are malformed. Within a chunk the good records come first, then the
malformed ones; chunk after chunk, the row numbers only grow.

Every format is read as the chunks are consumed, so memory depends on the chunk size
and not on the file's: CSV by pyarrow or :mod:`csv`, XLSX by openpyxl's read-only
sheets, GeoJSON and GeoPackage as a stream of Arrow batches from OGR (pyogrio).
:func:`read_table` and :func:`read_csv` give a whole file as one table.

What a file may hold is bounded (:class:`InputLimits`, from the ``GEO_MAX_*`` settings):
no cell longer than ``max_cell_chars``; an XLSX workbook's zip parts are checked before
openpyxl parses any of them (declared and read sizes, compression ratio, cells, the
bytes of any one cell's text) and its cells are counted again as they are read. A file
beyond a limit is refused with :class:`~geo_service.core.errors.InputFileError`, its message
in Chinese, then English.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
import sys
import zipfile
import zlib
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo_service.core.errors import InputFileError

if TYPE_CHECKING:
    from geo_service.core.settings import Settings

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_GEO_SUFFIXES = {".geojson", ".json", ".gpkg"}
_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 20  # bytes read at a time by the scan of a CSV file
#: Blocks of a GB18030 file the scan decodes: enough to refuse a file that is not text
#: at once. The read decodes the rest anyway, so the scan does not decode it twice; a
#: byte that fails there is handed back to a full scan, which names it.
_GB18030_BLOCKS = 1
#: An empty line after another ("\n\n" or "\n\r\n"), found by one search of a block.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_GEO_BATCH = 65_536  # features OGR hands over at a time (at most a chunk's)
_RATIO_FLOOR = 1 << 20  # zip parts smaller than this unpack as they like
_TAG_MAX = 64  # bytes after a "<" that may still be the start of a tag being looked for
#: A cell's start tag in a worksheet part (any namespace prefix).
_CELL_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
#: Start and end tags of a shared string (si) or an inline string (is).
_STRING_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(?:si|is)[\s/>]")


@dataclass(frozen=True)
class InputLimits:
    """What one input file may hold; a file beyond any of these is refused.

    The defaults are the settings' (``GEO_MAX_CELL_CHARS``, ``GEO_MAX_XLSX_*``).
    """

    max_cell_chars: int = 32_767  # Excel's own limit
    max_xlsx_uncompressed_bytes: int = 1 << 30
    max_xlsx_cells: int = 50_000_000
    max_xlsx_compression_ratio: float = 100.0
    max_xlsx_shared_strings_bytes: int = 256 << 20

    @classmethod
    def from_settings(cls, settings: Settings) -> InputLimits:
        """The limits the settings give."""
        return cls(
            settings.max_cell_chars,
            settings.max_xlsx_uncompressed_bytes,
            settings.max_xlsx_cells,
            settings.max_xlsx_compression_ratio,
            settings.max_xlsx_shared_strings_bytes,
        )

    @property
    def cell_bytes(self) -> int:
        """Most bytes of XML one cell's text may take in a workbook part: generous (an
        entity is up to 10 bytes for one character, rich text adds its formatting), so
        that only the exact count of characters refuses a cell that a sheet can hold."""
        return 64 * self.max_cell_chars + 65_536

    def line_chars(self, width: int) -> int:
        """Most characters one line of a CSV file with ``width`` columns may hold."""
        return max(1 << 20, (width + 1) * (self.max_cell_chars + 3))


def _refused(name: str, chinese: str, english: str) -> InputFileError:
    """A file beyond a limit: the message in Chinese, then English."""
    return InputFileError(f"{name}: {chinese} / {english}")


def _cell_too_long(name: str, limit: int, row: int | None = None) -> InputFileError:
    where_zh = f"第 {row} 行有单元格" if row is not None else "有单元格"
    where_en = f"row {row} has a cell of" if row is not None else "a cell holds"
    return _refused(
        name,
        f"{where_zh}超过 {limit:,} 个字符（GEO_MAX_CELL_CHARS）",
        f"{where_en} more than {limit:,} characters (GEO_MAX_CELL_CHARS)",
    )


def _too_many_cells(name: str, limit: int) -> InputFileError:
    return _refused(
        name,
        f"工作簿超过 {limit:,} 个单元格（GEO_MAX_XLSX_CELLS）",
        f"the workbook holds more than {limit:,} cells (GEO_MAX_XLSX_CELLS)",
    )


def _too_large(name: str, limit: int) -> InputFileError:
    return _refused(
        name,
        f"工作簿解压后超过 {limit:,} 字节（GEO_MAX_XLSX_UNCOMPRESSED_BYTES）",
        f"the workbook unpacks to more than {limit:,} bytes (GEO_MAX_XLSX_UNCOMPRESSED_BYTES)",
    )


def _too_much_text(name: str, limit: int) -> InputFileError:
    return _refused(
        name,
        f"工作簿的文字表超过 {limit:,} 字节，请另存为 CSV 后导入"
        "（GEO_MAX_XLSX_SHARED_STRINGS_BYTES）",
        f"the workbook's table of texts is larger than {limit:,} bytes, which is read whole: "
        "save it as CSV and load that (GEO_MAX_XLSX_SHARED_STRINGS_BYTES)",
    )


@dataclass
class RawTable:
    """The cells of an input file (or of a chunk of it) as text, before any interpretation."""

    headers: list[str]
    data: pd.DataFrame  # columns = headers, every cell a str
    row_numbers: np.ndarray  # int64, header = 1
    malformed: np.ndarray  # bool: the record did not have one field per header
    raw_lines: list[list[str]] = field(default_factory=list)  # original fields of malformed rows
    encoding: str | None = None
    file_crs: str | None = None  # CRS of a GIS file's geometry, as a canonical name
    #: GIS file whose lon/lat come from the geometry: each feature's geometry type
    #: ("" when it has none) and whether its lon/lat is a point on the surface of a line
    #: or polygon (asked for); other non-point features have no lon/lat
    geometry_types: np.ndarray | None = None
    surface_points: np.ndarray | None = None


class CarefulReadNeeded(Exception):  # noqa: N818 (a signal to read again, not a failure)
    """The fast read of a CSV file found that its records are not one per line (blank
    lines, line breaks inside cells): the row numbers of the chunks it handed out are
    wrong. The source is now set to read record by record; iterate its chunks again."""


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
    if raw.startswith(_BOM):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return raw.decode("utf-8", errors="strict"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030", errors="strict"), "gb18030"
    except UnicodeDecodeError as exc:
        raise _not_text(exc.start) from exc


def _not_text(position: int) -> InputFileError:
    return InputFileError(
        f"文件不是 UTF-8 或 GB18030/GBK 编码的文本（第 {position} 字节），请确认选对了文件 "
        f"(the file is neither UTF-8 nor GB18030/GBK text (byte {position}))"
    )


@dataclass(frozen=True)
class _CsvScan:
    """What one pass over a CSV file's bytes tells before its records are read."""

    encoding: str  # utf-8-sig, utf-8 or gb18030 (see decoded)
    sha256: str
    lines: int  # lines of the text (a last line without a line break counts)
    blank_line: bool  # an empty line after the first ("\n\n" or "\n\r\n")
    lone_cr: bool  # a carriage return not followed by a line feed
    decoded: bool = True  # every byte decoded (else the first _GB18030_BLOCKS only)


class _NotUtf8(Exception):  # noqa: N818 (a finding of the scan, handled by _scan_csv)
    """A line of a file scanned as UTF-8 is not UTF-8."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


#: Characters UTF-8 Chinese text is made of: CJK ideographs and punctuation, full-width
#: forms. (GBK bytes that happen to be valid UTF-8, as 联通's are, decode to others.)
_CJK = re.compile("[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def _mixed_encodings(name: str, utf8_line: int, gbk_line: int) -> InputFileError:
    return _refused(
        name,
        f"文件混用了 UTF-8 和 GBK/GB18030 编码（第 {utf8_line} 行是 UTF-8，第 {gbk_line} 行"
        "不是），请另存为同一种编码后再导入",
        f"the file mixes UTF-8 and GBK/GB18030 lines (line {utf8_line} is UTF-8, line "
        f"{gbk_line} is not); save it in one encoding and load it again",
    )


def _scan_csv(path: Path) -> _CsvScan:
    """Encoding, digest and line structure of a CSV file, in one bounded-memory pass per
    encoding tried (UTF-8, else GB18030), as :func:`decode_text` decides on the whole.

    A file of both (some lines UTF-8 Chinese, others GBK) is refused: read either way,
    some of its text would be stored garbled.
    """
    with path.open("rb") as fh:
        bom = fh.read(3) == _BOM
    try:
        return _scan(path, "utf-8-sig" if bom else "utf-8")
    except _NotUtf8 as exc:
        if bom:
            raise _mixed_encodings(path.name, 1, exc.line) from None
        gbk_line = exc.line
    scan, utf8_line = _scan_gb18030(path)
    if utf8_line is not None:
        raise _mixed_encodings(path.name, utf8_line, gbk_line)
    return scan


def _scan_gb18030(path: Path) -> tuple[_CsvScan, int | None]:
    """The GB18030 scan (the file's head decoded), and the first line (if any) that is
    UTF-8 Chinese text instead."""
    found: list[int] = []
    scan = _scan(path, "gb18030", found, decode_blocks=_GB18030_BLOCKS)
    return scan, (found[0] if found else None)


def _utf8_chinese(line: bytes) -> bool:
    if line.isascii():
        return False
    try:
        return _CJK.search(line.decode("utf-8")) is not None
    except UnicodeDecodeError:
        return False


@dataclass
class _LineStructure:
    """Line feeds, carriage returns and blank lines of a text given a block at a time."""

    newlines: int = 0
    returns: int = 0
    crlf: int = 0
    blank: bool = False
    tail: bytes = b""  # the last two bytes given

    def feed(self, text: bytes) -> None:
        joined = self.tail + text
        self.newlines += text.count(b"\n")
        if b"\r" in joined:  # most files have none: their count is then not needed
            self.returns += text.count(b"\r")
            self.crlf += text.count(b"\r\n")
            self.crlf += self.tail.endswith(b"\r") and text.startswith(b"\n")
        self.blank = self.blank or _BLANK_LINE.search(joined) is not None
        self.tail = joined[-2:]

    @property
    def lines(self) -> int:
        """Lines of the text (a last line without a line break counts)."""
        return self.newlines + (0 if self.tail.endswith(b"\n") else 1)


def _first_utf8_line(partial: bytes, text: bytes, number: int) -> tuple[int | None, bytes]:
    """The first whole line of ``partial + text`` that is UTF-8 Chinese text (its line
    number, the first being ``number``), and the start of the line left unfinished."""
    pieces = (partial + text).split(b"\n")
    rest = pieces.pop()[:_BLOCK]  # enough of a long line to judge it
    for n, line in enumerate(pieces, start=number):
        if _utf8_chinese(line):
            return n, rest
    return None, rest


def _refuse_undecodable(path: Path, scan: _CsvScan | None) -> None:
    """A read met a byte past the head the scan decoded that does not decode: scan the
    whole file, which raises the refusal naming the first such byte."""
    if scan is not None and not scan.decoded:
        _scan(path, scan.encoding)


def _scan(
    path: Path,
    encoding: str,
    utf8_lines: list[int] | None = None,
    decode_blocks: int | None = None,
) -> _CsvScan:
    """One pass in ``encoding``; raises :class:`_NotUtf8` (UTF-8) or an InputFileError
    (GB18030) at the first byte that does not decode. With ``utf8_lines``, the GB18030
    pass also notes there the first line that is UTF-8 Chinese text. With
    ``decode_blocks``, only the file's first blocks are decoded."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    partial = b""  # the GB18030 pass: the line being read (its start), for utf8_lines
    decoder = codecs.getincrementaldecoder(codec)("strict")
    digest = hashlib.sha256()
    structure = _LineStructure()
    offset = 0  # bytes of text given to the decoder so far
    blocks = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
            text = block[3:] if blocks == 0 and encoding == "utf-8-sig" else block
            blocks += 1
            if decode_blocks is None or blocks <= decode_blocks:
                _decode(decoder, codec, text, offset, structure.newlines)
            if utf8_lines is not None and not utf8_lines:
                found, partial = _first_utf8_line(partial, text, structure.newlines + 1)
                if found is not None:
                    utf8_lines.append(found)
            structure.feed(text)
            offset += len(text)
    decoded = decode_blocks is None or blocks <= decode_blocks
    if decoded:
        _decode(decoder, codec, b"", offset, structure.newlines, final=True)
    if utf8_lines is not None and not utf8_lines and _utf8_chinese(partial):
        utf8_lines.append(structure.newlines + 1)
    lone_cr = structure.returns > structure.crlf
    return _CsvScan(
        encoding, digest.hexdigest(), structure.lines, structure.blank, lone_cr, decoded
    )


def _decode(
    decoder: codecs.IncrementalDecoder,
    codec: str,
    text: bytes,
    offset: int,
    newlines: int,
    final: bool = False,
) -> None:
    """Decode the next block of a scan (``offset`` bytes and ``newlines`` line feeds
    before it); raises :class:`_NotUtf8` with the line (UTF-8) or the refusal naming
    the byte (GB18030) where it does not decode."""
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(text, final=final)
    except UnicodeDecodeError as exc:
        if codec != "gb18030":
            start = max(exc.start - pending, 0)
            raise _NotUtf8(newlines + text[:start].count(b"\n") + 1) from None
        raise _not_text(offset - pending + exc.start) from exc


#: A table's parts: frame, row numbers, malformed mask, fields of the malformed records.
_Parts = tuple[pd.DataFrame, np.ndarray, np.ndarray, list[list[str]]]


def _frame(headers: list[str], rows: list[list[str]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({h: pd.Series([], dtype="str") for h in headers})
    return pd.DataFrame(rows, columns=headers, dtype="str")


def _assemble(
    headers: list[str],
    good: pd.DataFrame,
    good_numbers: Sequence[int] | np.ndarray,
    bad: list[list[str]],
    bad_numbers: Sequence[int],
) -> _Parts:
    """Good records, then malformed ones: frame, row numbers, malformed mask, raw fields."""
    width = len(headers)
    frame = good.reset_index(drop=True)
    if bad:
        padded = _frame(headers, [(f + [""] * width)[:width] for f in bad])
        frame = pd.concat([frame, padded], ignore_index=True)
    numbers = np.concatenate(
        [np.asarray(good_numbers, dtype=np.int64), np.asarray(bad_numbers, dtype=np.int64)]
    )
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


@dataclass
class TableSource:
    """An input file opened for reading: its headers, digest, and its records in chunks.

    CSV files are read by pyarrow when every record is one line (the fast read), else
    record by record with :mod:`csv` so that each keeps its exact row number (the
    careful read). Whether a file needs the careful read is known for certain only at
    its end: when the fast read finds out, it raises :class:`CarefulReadNeeded` and
    the chunks are to be read again.
    """

    path: Path
    format: str  # csv, xlsx or geo
    headers: list[str]
    sha256: str
    encoding: str | None = None
    file_crs: str | None = None
    careful: bool = False  # CSV: read record by record
    scan: _CsvScan | None = None
    lonlat_from_geometry: bool = False  # GIS file: lon/lat cells made from the geometry
    limits: InputLimits = field(default_factory=InputLimits)
    centroids: bool = False  # GIS file: lines and polygons placed at a point on their surface

    def chunks(self, chunk_rows: int) -> Generator[RawTable, None, None]:
        """The records in chunks of at most ``chunk_rows`` (at least one chunk, maybe empty).

        Raises
        ------
        CarefulReadNeeded
            From the fast read of a CSV file that turns out to need the careful one.
        """
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if self.format == "csv":
            parts = self._careful_csv(chunk_rows) if self.careful else self._fast_csv(chunk_rows)
            parts = self._decoded(parts)
        elif self.format == "xlsx":
            parts = self._xlsx(chunk_rows)
        else:
            parts = self._geo(chunk_rows)
        return self._at_least_one(parts)

    def _at_least_one(
        self, parts: Generator[RawTable, None, None]
    ) -> Generator[RawTable, None, None]:
        empty = True
        try:
            for part in parts:
                empty = False
                yield part
        finally:
            parts.close()
        if empty:
            yield self._chunk(*_assemble(self.headers, _frame(self.headers, []), [], [], []))

    def _decoded(self, parts: Generator[RawTable, None, None]) -> Generator[RawTable, None, None]:
        """A CSV file's records; bytes past the head of a GB18030 file that do not decode
        refuse the file as the scan would have, naming the first such byte."""
        try:
            yield from parts
        except UnicodeDecodeError:
            _refuse_undecodable(self.path, self.scan)
            raise
        finally:
            parts.close()

    def _chunk(
        self, frame: pd.DataFrame, numbers: np.ndarray, malformed: np.ndarray, raw: list[list[str]]
    ) -> RawTable:
        self._check_cells(frame, numbers, raw)
        return RawTable(self.headers, frame, numbers, malformed, raw, self.encoding, self.file_crs)

    def _check_cells(self, frame: pd.DataFrame, numbers: np.ndarray, raw: list[list[str]]) -> None:
        """Refuse the file at the first row (of this chunk) with a cell over the limit."""
        limit = self.limits.max_cell_chars
        over = np.zeros(len(frame), dtype=bool)
        for position in range(frame.shape[1]):
            column = frame.iloc[:, position]
            try:
                lengths = column.str.len()  # vectorised on string columns
            except AttributeError:  # no text at all in the column
                lengths = column.astype(object).map(len, na_action="ignore")
            over |= lengths.fillna(0).to_numpy(dtype=np.int64) > limit
        rows = [int(n) for n in numbers[over]]
        good = len(frame) - len(raw)  # malformed records come last, with their raw fields
        rows += [
            int(numbers[good + i]) for i, f in enumerate(raw) if any(len(c) > limit for c in f)
        ]
        if rows:
            raise _cell_too_long(self.path.name, limit, min(rows))

    # -- CSV ----------------------------------------------------------------------------
    @property
    def _dialect(self) -> type[csv.Dialect]:
        return csv.excel_tab if self.path.suffix.lower() == ".tsv" else csv.excel

    def _read_again(self) -> CarefulReadNeeded:
        self.careful = True
        return CarefulReadNeeded(str(self.path))

    def _fast_csv(self, chunk_rows: int) -> Generator[RawTable, None, None]:
        """Every record one line: pyarrow reads blocks, records numbered by line.

        Line breaks inside cells or blank lines make the numbers drift; then the counts
        at the end disagree with the scan's and :class:`CarefulReadNeeded` is raised
        (sooner when a cell holds a line break and no lone carriage return could make
        up for it).
        """
        assert self.scan is not None
        check_cells = not self.scan.lone_cr  # a line break in a cell then surely means drift
        invalid: list[tuple[int | None, str]] = []  # filled by the parser as it reads
        lines = _LineChunks(self.headers, self._dialect, chunk_rows)
        with closing(self._arrow_batches(invalid)) as batches:
            for batch in batches:
                self._take_malformed(invalid, lines, check_cells)
                if check_cells and _has_line_break(batch):
                    raise self._read_again()
                lines.add_good(batch)
                for chunk in lines.ready():
                    yield self._chunk(*chunk)
        self._take_malformed(invalid, lines, check_cells)
        if lines.records + 1 != self.scan.lines:
            raise self._read_again()  # blank lines or line breaks in cells: numbers drifted
        for chunk in lines.rest():
            yield self._chunk(*chunk)

    def _arrow_batches(self, invalid: list[tuple[int | None, str]]) -> Generator[Any, None, None]:
        """pyarrow's record batches of the file (all cells text); malformed records go to
        ``invalid`` with their line numbers as they are met."""
        import pyarrow as pa
        from pyarrow import csv as pa_csv

        assert self.scan is not None

        def on_invalid(row: pa_csv.InvalidRow) -> str:
            invalid.append((row.number, row.text))
            return "skip"

        try:
            reader = pa_csv.open_csv(
                str(self.path),
                # single-threaded so that malformed rows report their line numbers
                read_options=pa_csv.ReadOptions(
                    column_names=self.headers,
                    skip_rows=1,
                    use_threads=False,
                    encoding="gb18030" if self.scan.encoding == "gb18030" else "utf8",
                ),
                parse_options=pa_csv.ParseOptions(
                    delimiter=self._dialect.delimiter,
                    invalid_row_handler=on_invalid,
                    newlines_in_values=True,
                ),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(self.headers, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid:
            raise self._read_again() from None
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid:
                    raise self._read_again() from None
                yield batch
        finally:
            reader.close()

    def _take_malformed(
        self, invalid: list[tuple[int | None, str]], lines: _LineChunks, check_cells: bool
    ) -> None:
        found = invalid.copy()
        invalid.clear()
        if any(n is None for n, _ in found):
            raise self._read_again()
        if check_cells and any("\n" in text for _, text in found):
            raise self._read_again()
        lines.add_malformed([(int(n), text) for n, text in found if n is not None])

    def _careful_csv(self, chunk_rows: int) -> Generator[RawTable, None, None]:
        """Record by record with :mod:`csv`, counting blank lines as rows as a sheet does."""
        assert self.scan is not None
        width = len(self.headers)
        with self.path.open(encoding=self.scan.encoding, newline="") as fh:
            lines = _bounded_lines(fh, self.limits.line_chars(width), self.path.name)
            reader = csv.reader(lines, self._dialect)
            next(_csv_records(reader, self.path.name), None)
            good: list[list[str]] = []
            good_numbers: list[int] = []
            bad: list[list[str]] = []
            bad_numbers: list[int] = []
            for number, fields in enumerate(_csv_records(reader, self.path.name), start=2):
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line is a row of the sheet, but not a record
                if len(fields) == width:
                    good.append(fields)
                    good_numbers.append(number)
                else:
                    bad.append(fields)
                    bad_numbers.append(number)
                if len(good) + len(bad) >= chunk_rows:
                    yield self._chunk(
                        *_assemble(
                            self.headers, _frame(self.headers, good), good_numbers, bad, bad_numbers
                        )
                    )
                    good, good_numbers, bad, bad_numbers = [], [], [], []
            if good or bad:
                yield self._chunk(
                    *_assemble(
                        self.headers, _frame(self.headers, good), good_numbers, bad, bad_numbers
                    )
                )

    # -- XLSX ---------------------------------------------------------------------------
    def _xlsx(self, chunk_rows: int) -> Generator[RawTable, None, None]:
        """The first sheet, row by row (openpyxl's read-only mode streams the sheet)."""
        workbook = _open_workbook(self.path)
        try:
            rows = _sheet_rows(workbook)
            cells_read = len(next(rows, ()))
            width = len(self.headers)
            good: list[list[str]] = []
            numbers: list[int] = []
            bad: list[list[str]] = []
            bad_numbers: list[int] = []
            for number, values in enumerate(rows, start=2):
                cells_read += len(values)  # the cells openpyxl makes, filling gaps included
                if cells_read > self.limits.max_xlsx_cells:
                    raise _too_many_cells(self.path.name, self.limits.max_xlsx_cells)
                cells = [_cell_text(v) for v in values]
                if not any(cells):
                    continue
                if any(cells[width:]):  # values beyond the last header
                    bad.append(cells)
                    bad_numbers.append(number)
                else:
                    good.append((cells + [""] * width)[:width])
                    numbers.append(number)
                if len(good) + len(bad) >= chunk_rows:
                    yield self._chunk(
                        *_assemble(
                            self.headers, _frame(self.headers, good), numbers, bad, bad_numbers
                        )
                    )
                    good, numbers, bad, bad_numbers = [], [], [], []
            if good or bad:
                yield self._chunk(
                    *_assemble(self.headers, _frame(self.headers, good), numbers, bad, bad_numbers)
                )
        finally:
            workbook.close()

    # -- GeoJSON / GeoPackage -----------------------------------------------------------
    def _geo(self, chunk_rows: int) -> Generator[RawTable, None, None]:
        """The features as OGR streams them, in chunks of ``chunk_rows``."""
        from pyogrio.raw import open_arrow

        pending: list[pd.DataFrame] = []
        held, first_row = 0, 2
        batch_size = min(chunk_rows, _GEO_BATCH)
        try:
            with open_arrow(self.path, use_pyarrow=True, batch_size=batch_size) as (meta, reader):
                geometry = meta["geometry_name"] or "wkb_geometry"
                for batch in reader:
                    pending.append(self._geo_cells(batch, geometry))
                    held += batch.num_rows
                    while held >= chunk_rows:
                        frame = pd.concat(pending, ignore_index=True)
                        chunk, rest = frame.iloc[:chunk_rows], frame.iloc[chunk_rows:]
                        pending, held = [rest.reset_index(drop=True)], len(rest)
                        yield self._geo_chunk(chunk.reset_index(drop=True), first_row)
                        first_row += chunk_rows
        except InputFileError:
            raise
        except Exception as exc:  # pyogrio raises DataSourceError and others
            raise _unreadable_geo(self.path, exc) from exc
        if held:
            yield self._geo_chunk(pd.concat(pending, ignore_index=True), first_row)

    def _geo_cells(self, batch: Any, geometry: str) -> pd.DataFrame:
        """One batch of features as text cells, with lon/lat cells from point geometries
        when the file has no such columns: of a line or polygon only when asked for
        (``centroids``), a point on its surface found in the equal-area projection."""
        import shapely

        names = [n for n in batch.schema.names if n != geometry]
        frame = batch.select(names).to_pandas() if names else pd.DataFrame(index=range(len(batch)))
        frame = frame.map(_cell_text).astype(object)
        frame.columns = [str(c) for c in frame.columns]
        if not self.lonlat_from_geometry:
            return frame[self.headers]
        lon = np.full(len(frame), "", dtype=object)
        lat, kinds = lon.copy(), lon.copy()
        surface = np.zeros(len(frame), dtype=bool)
        if geometry in batch.schema.names:
            geoms = shapely.from_wkb(batch.column(geometry).to_numpy(zero_copy_only=False))
            has = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
            type_ids = shapely.get_type_id(geoms)
            kinds[has] = np.asarray(_GEOMETRY_TYPES, dtype=object)[type_ids[has]]
            point = has & (type_ids == 0)
            lon[point] = shapely.get_x(geoms[point]).astype(str)
            lat[point] = shapely.get_y(geoms[point]).astype(str)
            surface = has & ~point & self.centroids
            if surface.any():
                x, y = _surface_points(geoms[surface])
                lon[surface], lat[surface] = x.astype(str), y.astype(str)
        frame["lon"], frame["lat"] = lon, lat
        frame = frame[self.headers]
        frame[_KIND], frame[_SURFACE] = kinds, surface
        return frame

    def _geo_chunk(self, frame: pd.DataFrame, first_row: int) -> RawTable:
        numbers = np.arange(first_row, first_row + len(frame), dtype=np.int64)
        kinds = frame.pop(_KIND).to_numpy() if _KIND in frame else None
        surface = frame.pop(_SURFACE).to_numpy(dtype=bool) if _SURFACE in frame else None
        table = self._chunk(frame, numbers, np.zeros(len(frame), dtype=bool), [])
        table.geometry_types, table.surface_points = kinds, surface
        return table


#: Shapely's geometry type ids, in order.
_GEOMETRY_TYPES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)
_KIND, _SURFACE = "\x00geometry_type", "\x00surface_point"  # columns no file can have


def _surface_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A point on the surface of each line or polygon (lon/lat in, lon/lat out), found in
    the equal-area projection of China, where the shapes are not stretched as in degrees.
    """
    import shapely

    from analytics.projection import equal_area_to_lonlat, lonlat_to_equal_area

    def to_metres(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(lonlat_to_equal_area(xy[:, 0], xy[:, 1]))

    points = shapely.point_on_surface(shapely.transform(geoms, to_metres))
    lon, lat = equal_area_to_lonlat(shapely.get_x(points), shapely.get_y(points))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _unreadable_geo(path: Path, exc: Exception) -> InputFileError:
    return InputFileError(f"{path.name}: not a readable GeoJSON/GeoPackage ({exc})")


def _has_line_break(batch: Any) -> bool:
    """Whether a cell of an Arrow record batch (all columns text) holds a line feed: one
    byte search over each column's text buffer, not a match per cell."""
    return any(_text_has_line_feed(column) for column in batch.columns)


def _text_has_line_feed(column: Any) -> bool:
    """Whether an Arrow string array's cells hold a line feed (searched in the bytes of
    its data buffer that its offsets span; a null cell spans none)."""
    import pyarrow as pa

    if len(column) == 0:
        return False
    _, offsets, data = column.buffers()
    if data is None:
        return False
    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)
    start, end = int(bounds[column.offset]), int(bounds[column.offset + len(column)])
    return b"\n" in memoryview(data)[start:end].tobytes()


class _LineChunks:
    """The fast read's records, one per line, cut into chunks of consecutive lines.

    Good records arrive in Arrow batches without their line numbers; malformed ones
    arrive (from the parser's handler) with theirs, before the batch that follows
    them. Good records take the next line numbers not taken by a malformed one.
    """

    def __init__(self, headers: list[str], dialect: type[csv.Dialect], chunk_rows: int) -> None:
        self.headers = headers
        self.dialect = dialect
        self.chunk_rows = chunk_rows
        self.start = 2  # first line of the next chunk
        self.line = 2  # the next line a good record can take
        self.records = 0
        self._skip: deque[int] = deque()  # lines of malformed records not yet passed
        self._good: list[tuple[Any, np.ndarray]] = []  # (record batch, its line numbers)
        self._bad: deque[tuple[int, str]] = deque()

    def add_malformed(self, rows: list[tuple[int, str]]) -> None:
        self._skip.extend(n for n, _ in rows)
        self._bad.extend(rows)
        self.records += len(rows)

    def add_good(self, batch: Any) -> None:
        count = batch.num_rows
        self.records += count
        parts: list[np.ndarray] = []
        while count > 0:
            while self._skip and self._skip[0] < self.line:
                self._skip.popleft()  # only when the numbers drift (the read starts again)
            if self._skip and self._skip[0] == self.line:
                self._skip.popleft()
                self.line += 1
                continue
            run = count if not self._skip else min(count, self._skip[0] - self.line)
            parts.append(np.arange(self.line, self.line + run, dtype=np.int64))
            self.line += run
            count -= run
        if batch.num_rows:
            self._good.append((batch, np.concatenate(parts)))

    def ready(self) -> Iterator[_Parts]:
        """The chunks whose every line has been read."""
        while self.line >= self.start + self.chunk_rows:
            yield self._take(self.start + self.chunk_rows)

    def rest(self) -> Iterator[_Parts]:
        """After the last batch: the remaining chunks."""
        while self._good or self._bad:
            yield self._take(self.start + self.chunk_rows)

    def _take(self, end: int) -> _Parts:
        """The records on lines before ``end``: good ones, then malformed ones."""
        import pyarrow as pa

        batches: list[Any] = []
        numbers: list[np.ndarray] = []
        while self._good:
            batch, lines = self._good[0]
            if lines[-1] < end:
                batches.append(batch)
                numbers.append(lines)
                self._good.pop(0)
                continue
            cut = int(np.searchsorted(lines, end))
            if cut:
                batches.append(batch.slice(0, cut))
                numbers.append(lines[:cut])
                self._good[0] = (batch.slice(cut), lines[cut:])
            break
        bad: list[tuple[int, str]] = []
        while self._bad and self._bad[0][0] < end:
            bad.append(self._bad.popleft())
        self.start = end
        good = pa.Table.from_batches(batches).to_pandas() if batches else _frame(self.headers, [])
        good_numbers = np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64)
        fields = [next(csv.reader([text], self.dialect), []) for _, text in bad]
        return _assemble(self.headers, good, good_numbers, fields, [n for n, _ in bad])


def _open_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/... on bad files
        raise _unreadable_xlsx(path, exc) from exc


def _unreadable_xlsx(path: Path, exc: Exception) -> InputFileError:
    return InputFileError(f"{path.name}: not a readable XLSX workbook ({exc})")


def _sheet_rows(workbook: Any) -> Iterator[tuple[Any, ...]]:
    """The first sheet's rows as stored: the dimension the sheet declares is not trusted
    (a tiny file may declare a million rows of 16,384 columns for openpyxl to fill)."""
    sheet = workbook.worksheets[0]
    sheet.reset_dimensions()
    return iter(sheet.iter_rows(values_only=True))


def check_workbook(path: Path, limits: InputLimits) -> None:
    """Check an XLSX file's zip before anything parses it, reading each XML part once in
    blocks (bounded memory): the sizes its parts declare and the bytes they unpack to
    (both at most ``max_xlsx_uncompressed_bytes`` in all), the compression ratio of each
    part, the cells of its sheets and the bytes of any one cell's text.

    Raises
    ------
    InputFileError
        When the file is no zip, or is beyond a limit.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check_declared(path.name, members, limits)
            _check_parts(path.name, archive, members, limits)
    except InputFileError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        raise _unreadable_xlsx(path, exc) from exc


def _check_declared(name: str, members: list[zipfile.ZipInfo], limits: InputLimits) -> None:
    """The sizes the zip's directory declares: in all, and against each part's compressed
    size."""
    if sum(m.file_size for m in members) > limits.max_xlsx_uncompressed_bytes:
        raise _too_large(name, limits.max_xlsx_uncompressed_bytes)
    ratio = limits.max_xlsx_compression_ratio
    for member in members:
        if member.file_size > max(_RATIO_FLOOR, ratio * max(member.compress_size, 1)):
            raise _refused(
                name,
                f"{member.filename} 的压缩比超过 {ratio:g} 倍，疑为压缩炸弹"
                "（GEO_MAX_XLSX_COMPRESSION_RATIO）",
                f"part {member.filename} unpacks to more than {ratio:g} times its "
                "compressed size, as a zip bomb does (GEO_MAX_XLSX_COMPRESSION_RATIO)",
            )


def _check_parts(
    name: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: InputLimits
) -> None:
    """The XML parts as they unpack (zipfile stops a part at its declared size), in
    blocks: bytes in all, the sheets' cells, the longest cell text."""
    unpacked = cells = 0
    for member in members:
        if not member.filename.lower().endswith((".xml", ".rels")):
            continue  # not parsed as XML (images, printer settings)
        scan = _XmlPartScan(name, limits, member.filename.startswith("xl/worksheets/"))
        # openpyxl holds the shared strings whole while it reads: their own bound
        shared = member.filename.lower() == "xl/sharedstrings.xml"
        part = 0
        with archive.open(member) as fh:
            while block := fh.read(_BLOCK):
                unpacked += len(block)
                part += len(block)
                if unpacked > limits.max_xlsx_uncompressed_bytes:
                    raise _too_large(name, limits.max_xlsx_uncompressed_bytes)
                if shared and part > limits.max_xlsx_shared_strings_bytes:
                    raise _too_much_text(name, limits.max_xlsx_shared_strings_bytes)
                scan.feed(block)
        scan.close()
        cells += scan.cells
        if cells > limits.max_xlsx_cells:
            raise _too_many_cells(name, limits.max_xlsx_cells)


class _XmlPartScan:
    """One XML part of a workbook, fed in blocks: counts the cells of a sheet and refuses
    any stretch of text (no ``<`` in it) or any shared or inline string (``si``, ``is``,
    rich text included) longer than :attr:`InputLimits.cell_bytes`, before a parser would
    hold it whole."""

    def __init__(self, name: str, limits: InputLimits, sheet: bool) -> None:
        self.name = name
        self.limits = limits
        self.sheet = sheet
        self.cells = 0
        self._cap = limits.cell_bytes
        self._carry = b""  # a "<" near the end of the last block and what follows it
        self._offset = 0  # bytes fed so far
        self._run = 0  # bytes since the last "<"
        self._string_at: int | None = None  # where the string element being read started

    def feed(self, block: bytes) -> None:
        """Scan the next block (a tag cut at its end is held back for the next one)."""
        buf = self._carry + block
        base = self._offset - len(self._carry)  # offset of buf[0] in the part
        self._offset += len(block)
        cut = buf.rfind(b"<")
        if cut != -1 and len(buf) - cut <= _TAG_MAX:
            self._carry = buf[cut:]
            self._scan(buf[:cut], base)
        else:
            self._carry = b""
            self._scan(buf, base)

    def close(self) -> None:
        """After the last block: scan what was held back."""
        tail, self._carry = self._carry, b""
        self._scan(tail, self._offset - len(tail))

    def _scan(self, head: bytes, base: int) -> None:
        pieces = head.split(b"<")
        if max(self._run + len(pieces[0]), *map(len, pieces)) > self._cap:
            raise self._too_long()
        self._run = len(pieces[-1]) if len(pieces) > 1 else self._run + len(pieces[0])
        if self.sheet:
            self.cells += len(_CELL_TAG.findall(head))
        for tag in _STRING_TAG.finditer(head):
            if tag.group(1):  # an end tag
                if self._string_at is not None and base + tag.start() - self._string_at > self._cap:
                    raise self._too_long()
                self._string_at = None
            else:
                self._string_at = base + tag.start()
        if self._string_at is not None and base + len(head) - self._string_at > self._cap:
            raise self._too_long()

    def _too_long(self) -> InputFileError:
        return _cell_too_long(self.name, self.limits.max_cell_chars)


def _bounded_lines(fh: IO[str], limit: int, name: str) -> Iterator[str]:
    """The lines of a text file, each read with at most ``limit`` characters held: a
    longer line refuses the file (instead of reading it whole, however long)."""
    for number in range(1, sys.maxsize):
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit:
            raise _refused(
                name,
                f"第 {number} 行超过 {limit:,} 个字符（GEO_MAX_CELL_CHARS）",
                f"line {number} holds more than {limit:,} characters (GEO_MAX_CELL_CHARS)",
            )
        yield line


def _csv_records(reader: Any, name: str) -> Iterator[list[str]]:
    """The records of a :mod:`csv` reader, its errors as the file's."""
    while True:
        try:
            fields: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _cell_too_long(name, csv.field_size_limit(), reader.line_num) from None
            raise InputFileError(
                f"{name}: not a readable CSV file (line {reader.line_num}: {exc})"
            ) from None
        yield fields


def _open_csv(path: Path, limits: InputLimits | None = None) -> TableSource:
    limits = limits or InputLimits()
    scan = _scan_csv(path)
    dialect: type[csv.Dialect] = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    try:
        with path.open(encoding=scan.encoding, newline="") as fh:
            text = fh.read(1 << 16)
    except UnicodeDecodeError:
        _refuse_undecodable(path, scan)
        raise
    first = next(_csv_records(csv.reader(io.StringIO(text, newline=""), dialect), path.name), None)
    headers = _headers(first, path)
    source = TableSource(path, "csv", headers, scan.sha256, scan.encoding, scan=scan, limits=limits)
    # known before any record is read: a blank line or a line break in the header makes
    # more lines than records (unless lone carriage returns make records of their own)
    if not scan.lone_cr and (scan.blank_line or any("\n" in h for h in first or [])):
        source.careful = True
    return source


def _open_xlsx(path: Path, limits: InputLimits | None = None) -> TableSource:
    limits = limits or InputLimits()
    check_workbook(path, limits)
    workbook = _open_workbook(path)
    try:
        header = [_cell_text(v) for v in next(_sheet_rows(workbook), ())]
        if any(len(h) > limits.max_cell_chars for h in header):
            raise _cell_too_long(path.name, limits.max_cell_chars, 1)
        headers = _headers(header, path)
    finally:
        workbook.close()
    return TableSource(path, "xlsx", headers, file_sha256(path), limits=limits)


def open_table(
    path: Path, limits: InputLimits | None = None, *, centroids: bool = False
) -> TableSource:
    """Open any supported input file by its suffix: checks it and reads its header.

    A CSV file's bytes are read once here (digest, encoding, line structure; bounded
    memory); an XLSX file's zip is checked (:func:`check_workbook`); of a GeoJSON or
    GeoPackage file, its fields and CRS are read. ``limits`` default to
    :class:`InputLimits`'s; ``centroids``: lines and polygons of a GIS file are placed at
    a point on their surface (else they have no lon/lat, and ``geometry_types`` says why).
    """
    if not path.is_file():
        raise InputFileError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return _open_csv(path, limits)
    if suffix in _XLSX_SUFFIXES:
        return _open_xlsx(path, limits)
    if suffix in _GEO_SUFFIXES:
        source = _open_geo(path, limits)
        source.centroids = centroids
        return source
    raise InputFileError(
        f"{path.name}: unsupported file type {suffix!r} (CSV, XLSX, GeoJSON or GeoPackage)"
    )


def _whole(source: TableSource) -> RawTable:
    """All of a source's records as one table."""
    while True:
        try:
            (table,) = list(source.chunks(sys.maxsize))
            return table
        except CarefulReadNeeded:
            continue


def read_csv(path: Path, limits: InputLimits | None = None) -> RawTable:
    """Read a whole CSV file; records with more or fewer fields than the header are malformed.

    Files with one record per line (no blank lines, no line breaks inside
    cells) take a fast path through pyarrow, malformed records included; any
    other file is read record by record with :mod:`csv` so that every record
    keeps its exact row number. Rows come in file order, malformed ones last.
    """
    return _whole(_open_csv(path, limits))


def read_xlsx(path: Path, limits: InputLimits | None = None) -> RawTable:
    """Read the first sheet of an XLSX workbook (header in its first row)."""
    return _whole(_open_xlsx(path, limits))


def _open_geo(path: Path, limits: InputLimits | None = None) -> TableSource:
    """A GeoJSON or GeoPackage file's fields (with lon/lat when it has no such columns:
    they come from the geometry) and the CRS of its geometry."""
    import pyogrio
    from pyproj import CRS

    try:
        info = pyogrio.read_info(path)
    except Exception as exc:  # pyogrio raises DataSourceError and others
        raise _unreadable_geo(path, exc) from exc
    headers = [str(f) for f in info["fields"]]
    from_geometry = "lon" not in headers and "lat" not in headers and "经度" not in headers
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    return TableSource(
        path,
        "geo",
        [*headers, "lon", "lat"] if from_geometry else headers,
        file_sha256(path),
        file_crs=_crs_name(crs),
        lonlat_from_geometry=from_geometry,
        limits=limits or InputLimits(),
    )


def read_geofile(path: Path, limits: InputLimits | None = None) -> RawTable:
    """Read GeoJSON or GeoPackage features whole; point geometries become ``lon``/``lat``."""
    return _whole(_open_geo(path, limits))


def _crs_name(crs: object) -> str | None:
    if crs is None:
        return None
    epsg = crs.to_epsg() if hasattr(crs, "to_epsg") else None
    if epsg == 4490:
        return "CGCS2000"
    if epsg == 4326 or "CRS84" in str(crs):
        return "WGS84"
    raise InputFileError(f"geometry CRS {crs} is not supported (use EPSG:4326 or EPSG:4490)")


def read_table(path: Path, limits: InputLimits | None = None) -> RawTable:
    """Read any supported input file whole, by its suffix."""
    return _whole(open_table(path, limits))
