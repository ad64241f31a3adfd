"""Cells safe to open in a spreadsheet: text that Excel, WPS or LibreOffice would run as a
formula is written as text.

Every CSV and XLSX file the service writes passes its cells (and headers) through
:func:`safe_cell` or :func:`safe_frame`, following the OWASP guidance on CSV injection:
a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets
a single quote ``'`` in front, so that it opens as the text it was (still readable: the
quote is the only change). Numbers, dates and empty cells are left as they are: a
negative amount stays a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
#: Put before a text cell that starts like a formula.
QUOTE = "'"


def safe_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is text starting like a formula.

    Examples
    --------
    >>> safe_cell("=HYPERLINK(\\"http://x\\")"), safe_cell("-5"), safe_cell(-5.0)
    ('\\'=HYPERLINK("http://x")', "'-5", -5.0)
    >>> safe_cell("南宁市"), safe_cell(None), safe_cell("\\tx")
    ('南宁市', None, "'\\tx")
    """
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return QUOTE + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """A row of cells through :func:`safe_cell` (for :mod:`csv` and openpyxl writers)."""
    return [safe_cell(v) for v in values]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with its text cells and column names through :func:`safe_cell`.

    Only columns that can hold text (object and string dtypes) are looked at; numeric,
    boolean and date columns keep their dtype and values.

    Examples
    --------
    >>> out = safe_frame(pd.DataFrame({"name": ["=1+1", "ok"], "amount": [-5.0, 3.0]}))
    >>> out["name"].tolist(), out["amount"].tolist(), str(out["amount"].dtype)
    (["'=1+1", 'ok'], [-5.0, 3.0], 'float64')
    """
    out = frame.copy()
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        leads = values.map(_starts_like_formula, na_action="ignore").fillna(False).astype(bool)
        if leads.any():
            fixed = values.astype(object).copy()
            fixed[leads] = QUOTE + values[leads].astype(str)
            out.isetitem(position, fixed.to_numpy())
    out.columns = pd.Index([safe_cell(c) for c in frame.columns])
    return out


def _starts_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_LEADS)


def ledger_workbook(
    title: str,
    cover: Sequence[tuple[str, Any]],
    table: pd.DataFrame,
    headers: Mapping[str, str],
    sheet: str,
) -> bytes:
    """A ledger (台账) as XLSX bytes, as a bureau files one.

    The first sheet, 说明, gives the ``title``, then the ``cover`` rows (筛选条件, 数据版本,
    生成时间 …) and the columns: each Chinese head beside the column's English name. The
    second, ``sheet``, is the ``table`` under one row of Chinese heads (``headers``; a
    column without one keeps its name), its last row (合计) in bold. Every cell passes
    :func:`safe_cell`.
    """
    book = Workbook()
    about = book.active
    assert about is not None  # a new workbook has its sheet
    about.title = "说明"
    about.append([safe_cell(title)])
    about["A1"].font = Font(bold=True, size=14)
    about.append([])
    for key, value in cover:
        about.append(safe_row([key, value]))
    about.append([])
    about.append(["列名", "字段 column"])
    about.cell(about.max_row, 1).font = about.cell(about.max_row, 2).font = Font(bold=True)
    for column in table.columns:
        about.append(safe_row([headers.get(str(column), str(column)), str(column)]))
    about.column_dimensions["A"].width, about.column_dimensions["B"].width = 22, 60
    data = book.create_sheet(sheet[:31])
    data.append(safe_row(headers.get(str(c), str(c)) for c in table.columns))
    for cell in data[1]:
        cell.font = Font(bold=True)
    plain = table.astype(object).where(table.notna(), None)
    for row in plain.itertuples(index=False):
        data.append(safe_row(row))
    if len(table):
        for cell in data[data.max_row]:
            cell.font = Font(bold=True)
    for index, column in enumerate(table.columns, start=1):
        width = max(len(str(headers.get(str(column), column))) * 2, 10)
        data.column_dimensions[get_column_letter(index)].width = min(width, 40)
    data.freeze_panes = "A2"
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
