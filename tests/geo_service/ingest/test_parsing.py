"""Dates, amounts and yes/no as bureau files write them."""

from __future__ import annotations

import datetime as dt
import re
import sys

import numpy as np
import pandas as pd
import pytest

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
