"""Vectorised parsing of the values bureau files carry: dates, amounts, yes/no, numbers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo_service.core.clock import china_today

EARLIEST_DATE = pd.Timestamp("1990-01-01")

_DATE_SEPARATORS = {"年": "-", "月": "-", "日": "", "/": "-", ".": "-", "号": ""}
#: The formats tried after "%Y-%m-%d", in order, each with a character a text must hold
#: to match it (None: no such character). A format is not tried on texts without its
#: character: they cannot match it, and a failed match costs pandas several times a
#: successful one.
_DATE_FORMATS = (("%Y/%m/%d", "/"), ("%Y年%m月%d日", "年"), ("%Y%m%d", None), ("%Y.%m.%d", "."))
_YES = {"是", "有", "yes", "y", "true", "1", "发现问题", "存在问题"}
_NO = {"否", "无", "no", "n", "false", "0", "未发现问题", "未发现", "不存在问题"}
#: Python's ``\s``, spelled out (every character ``str.isspace`` takes, the last U+3000):
#: pandas hands a pattern with ``\s`` to Python's ``re`` a cell at a time, since pyarrow's
#: ``\s`` takes fewer; spelled out, pyarrow matches the same characters over the column.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: What an amount carries besides its number: spaces, separators, currency.
_AMOUNT_NOISE = f"[{_SPACES},，¥￥]|人民币|元整?$"


def parse_dates(values: pd.Series, *, today: dt.date | None = None) -> pd.Series:
    """Parse dates written as 2023-05-04, 2023/5/4, 2023年5月4日, 20230504 or 2023-05-04 10:00.

    Returns a ``datetime64`` column with ``NaT`` where the text is no real date,
    is before 1990 or after ``today`` (default: today in Beijing).

    Examples
    --------
    >>> s = pd.Series(["2023-05-04", "2023/5/4", "2023年5月4日", "20230504", "2023-02-30", "无"])
    >>> parse_dates(s, today=dt.date(2026, 1, 1)).dt.strftime("%Y-%m-%d").tolist()
    ['2023-05-04', '2023-05-04', '2023-05-04', '2023-05-04', nan, nan]
    """
    latest = pd.Timestamp(today or china_today())
    parsed = pd.to_datetime(_holding(values, "-"), format="%Y-%m-%d", errors="coerce")
    for fmt, literal in _DATE_FORMATS:  # each vectorised, tried only on what is unparsed
        rest = parsed.isna()
        if not rest.any():
            break
        parsed[rest] = pd.to_datetime(_holding(values[rest], literal), format=fmt, errors="coerce")
    rest = parsed.isna()
    if rest.any():  # dates with a time part, stray spaces, …
        parsed[rest] = _parse_loose_dates(values[rest])
    return parsed.where((parsed >= EARLIEST_DATE) & (parsed <= latest))


def _holding(values: pd.Series, literal: str | None) -> pd.Series:
    """``values`` with the texts that do not hold ``literal`` made missing (values that
    are not text are kept as they are)."""
    if literal is None:
        return values
    try:
        holds = values.str.contains(literal, regex=False)
    except AttributeError:  # no text at all
        return values
    return values.where(holds.astype(object).fillna(True).astype(bool))


def _parse_loose_dates(values: pd.Series) -> pd.Series:
    text = values.fillna("").astype(str).str.strip()
    text = text.str.replace(r"[T ].*$", "", regex=True)
    for old, new in _DATE_SEPARATORS.items():
        text = text.str.replace(old, new, regex=False)
    compact = text.str.fullmatch(r"\d{8}")
    text = text.where(~compact, text.str[:4] + "-" + text.str[4:6] + "-" + text.str[6:8])
    shaped = text.str.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}")
    parts = text.where(shaped, "").str.split("-", expand=True)
    if parts.shape[1] < 3:
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    frame = pd.DataFrame(
        {
            "year": pd.to_numeric(parts[0], errors="coerce"),
            "month": pd.to_numeric(parts[1], errors="coerce"),
            "day": pd.to_numeric(parts[2], errors="coerce"),
        }
    )
    return pd.to_datetime(frame, errors="coerce")


def parse_amounts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse penalty amounts in yuan: ``50000``, ``50,000元``, ``5万元``, ``¥5.5万``.

    Returns ``(amount, bad)``: the amount (NaN when empty) and a mask of cells
    that hold text but no valid non-negative amount.

    Examples
    --------
    >>> amount, bad = parse_amounts(pd.Series(["5万元", "50,000元", "", "abc元", "-1"]))
    >>> amount.tolist()[:2], bad.tolist()
    ([50000.0, 50000.0], [False, False, False, True, True])
    """
    text = values.fillna("").astype(str).str.strip()
    text = text.str.replace(_AMOUNT_NOISE, "", regex=True)
    wan = text.str.endswith("万")
    number = pd.to_numeric(text.str.removesuffix("万"), errors="coerce")
    amount = number * np.where(wan, 10_000.0, 1.0)
    empty = text == ""
    bad = ~empty & (amount.isna() | (amount < 0) | ~np.isfinite(amount.fillna(0.0)))
    return amount.where(~bad & ~empty), bad


def parse_yes_no(values: pd.Series) -> pd.Series:
    """是/否, yes/no, 1/0 → True/False; anything else → missing (``None``).

    Examples
    --------
    >>> parse_yes_no(pd.Series(["是", "否", "Yes", "", "?"])).tolist()
    [True, False, True, None, None]
    """
    text = values.fillna("").astype(str).str.strip().str.lower()
    out = pd.Series([None] * len(text), index=values.index, dtype=object)
    out[text.isin(_YES)] = True
    out[text.isin(_NO)] = False
    return out


def parse_numbers(values: pd.Series) -> pd.Series:
    """Text → float64, NaN where the cell is empty or not a number."""
    return pd.to_numeric(values.fillna("").astype(str).str.strip(), errors="coerce").astype(
        np.float64
    )


def blank(values: pd.Series) -> pd.Series:
    """Mask of cells that are empty or only whitespace."""
    return values.fillna("").astype(str).str.strip() == ""
