"""Dates, amounts, yes/no and extra cells as bureau files write them."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service.ingest import parsing, records
from geo_service.ingest.parsing import _SPACES, parse_amounts, parse_dates, parse_yes_no

TODAY = dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-04", "2023-05-04"),
        ("2023/5/4", "2023-05-04"),
        ("2023年5月4日", "2023-05-04"),
        ("20230504", "2023-05-04"),
        ("2023.05.04", "2023-05-04"),
        ("2023-05-04 10:30:00", "2023-05-04"),
        ("2023-05-04T10:30", "2023-05-04"),
        ("2024-02-29", "2024-02-29"),
        ("2023-02-29", None),
        ("2023-13-45", None),
        ("1989-12-31", None),
        ("2027-01-01", None),
        ("无", None),
        ("", None),
        ("2026-11-28", "2026-11-28"),
    ],
)
def test_dates(text: str, expected: str | None) -> None:
    got = parse_dates(pd.Series([text]), today=TODAY).iloc[0]
    assert (None if pd.isna(got) else got.strftime("%Y-%m-%d")) == expected


@pytest.mark.parametrize(
    ("text", "amount", "bad"),
    [
        ("50000", 50_000.0, False),
        ("5万元", 50_000.0, False),
        ("5.5万", 55_000.0, False),
        ("50,000元", 50_000.0, False),
        ("￥1,200.50", 1200.5, False),
        ("人民币3万元整", 30_000.0, False),
        ("", None, False),
        ("abc元", None, True),
        ("-500", None, True),
        ("伍万元", None, True),
    ],
)
def test_amounts(text: str, amount: float | None, bad: bool) -> None:
    got, is_bad = parse_amounts(pd.Series([text]))
    assert bool(is_bad.iloc[0]) is bad
    if amount is None:
        assert np.isnan(got.iloc[0])
    else:
        assert got.iloc[0] == pytest.approx(amount)


def test_amounts_drop_every_space_python_knows() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c))]
    assert "".join(spaces) == _SPACES  # the spelled-out class is Python's \s, no more
    cells = [f"1{space}200{space}元" for space in spaces] + ["1\u3000200元整", "1\xa0200"]
    amount, bad = parse_amounts(pd.Series(cells, dtype="str"))
    assert not bad.any()
    assert amount.tolist() == [1200.0] * len(cells)
    amount, bad = parse_amounts(pd.Series(["1\u200b200元"], dtype="str"))  # not a space
    assert bad.tolist() == [True] and np.isnan(amount.iloc[0])


def test_yes_no() -> None:
    got = parse_yes_no(pd.Series(["是", "否", "YES", "no", "1", "0", "未发现问题", "", "不详"]))
    assert got.tolist() == [True, False, True, False, True, False, False, None, None]


def _each_format_on_every_rest(values: pd.Series, today: dt.date) -> pd.Series:
    """Dates as :func:`parse_dates` read them before it skipped the formats a text
    cannot match: every format tried on every text still unparsed."""
    parsed = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    for fmt, _ in parsing._DATE_FORMATS:
        rest = parsed.isna()
        if not rest.any():
            break
        parsed[rest] = pd.to_datetime(values[rest], format=fmt, errors="coerce")
    rest = parsed.isna()
    if rest.any():
        parsed[rest] = parsing._parse_loose_dates(values[rest])
    return parsed.where((parsed >= parsing.EARLIEST_DATE) & (parsed <= pd.Timestamp(today)))


@st.composite
def _date_texts(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["1989", "1990", "2023", "2024", "2026", "2027", "0000", "9999"]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    pad = draw(st.booleans())
    m, d = (f"{month:02d}", f"{day:02d}") if pad else (str(month), str(day))
    shape = draw(st.sampled_from(["{y}-{m}-{d}", "{y}/{m}/{d}", "{y}年{m}月{d}日", "{y}{m}{d}",
                                  "{y}.{m}.{d}", "{y}年{m}月{d}号", "{y}-{m}/{d}"]))  # fmt: skip
    text = shape.format(y=year, m=m, d=d)
    text += draw(st.sampled_from(["", " 10:30", "T10:30:00", " ", "x"]))
    return draw(st.sampled_from(["", " "])) + text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            _date_texts(),
            st.text(alphabet="0123456789-/.年月日号T :x２０", max_size=14),
            st.none(),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["str", "object"]),
)
def test_dates_skip_only_formats_a_text_cannot_match(texts: list[str | None], dtype: str) -> None:
    """Skipping a format for texts without its character gives the same dates, missing
    values and dtype as trying every format on every text still unparsed."""
    values = pd.Series(texts, dtype=dtype)
    pd.testing.assert_series_equal(
        parse_dates(values, today=TODAY), _each_format_on_every_rest(values, TODAY)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.text(alphabet='ab 1"\\,：备注\u3000', max_size=6)),
            st.one_of(st.none(), st.text(alphabet="45 0x", max_size=6)),
        ),
        max_size=12,
    ),
    st.integers(1, 2),
)
def test_extra_cells_become_one_json_object_per_row(
    cells: list[tuple[str | None, str | None]], width: int
) -> None:
    """Each row's non-empty extra cells (stripped) as a JSON object, None when it has
    none; with one extra column (the common case) as with several."""
    names = {"备注": "备注", "adcode": "stated_adcode"}
    frame = pd.DataFrame(cells, columns=list(names), dtype=object).iloc[:, :width]
    names = dict(list(names.items())[:width])
    got = records.attributes_json(frame, names)
    expected = []
    for row in frame.itertuples(index=False):
        kept = {
            n: v.strip() if isinstance(v, str) else v
            for n, v in zip(names.values(), row, strict=True)
        }
        kept = {k: v for k, v in kept.items() if isinstance(v, str) and v}
        expected.append(json.dumps(kept, ensure_ascii=False) if kept else None)
    assert got.tolist() == expected
    assert got.index.equals(frame.index) and got.dtype == object
