"""Frames of query rows: the rows pandas is handed are plain tuples."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sqlalchemy import Column, Date, Float, Integer, MetaData, String, Table, create_engine, select

from geo_service.store.frames import rows_frame


class _Row(Sequence[object]):
    """A row that, like a SQLAlchemy Row, is a sequence but not a tuple, and raises for an
    attribute it lacks; it counts the attributes asked for."""

    asked: ClassVar[list[str]] = []

    def __init__(self, values: tuple[object, ...]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, at: Any) -> Any:
        return self._values[at]

    def __getattr__(self, name: str) -> object:
        _Row.asked.append(name)
        raise AttributeError(name)


def test_rows_are_not_asked_for_attributes() -> None:
    _Row.asked.clear()
    rows = [_Row(("a", 1, 2.5)), _Row(("b", None, float("nan")))]
    frame = rows_frame(rows, ["code", "n", "x"])
    assert _Row.asked == []  # pandas saw tuples, not the rows
    assert frame["code"].tolist() == ["a", "b"]
    assert frame.shape == (2, 3)
    _Row.asked.clear()
    pd.DataFrame(rows, columns=["code", "n", "x"])  # what the helper spares
    assert "dtype" in _Row.asked


def test_query_rows_keep_their_values_and_types() -> None:
    engine = create_engine("sqlite://")
    meta = MetaData()
    table = Table(
        "t",
        meta,
        Column("id", Integer),
        Column("day", Date),
        Column("x", Float),
        Column("s", String),
    )
    meta.create_all(engine)
    day = dt.date(2024, 3, 1)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": 1, "day": day, "x": 1.5, "s": "甲"},
                {"id": 2, "day": None, "x": None, "s": None},
            ],
        )
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    frame = rows_frame(rows, ["id", "day", "x", "s"])
    expected = pd.DataFrame([tuple(r) for r in rows], columns=["id", "day", "x", "s"])
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.loc[0, "day"] == day and frame.loc[0, "s"] == "甲"
    assert frame["x"].isna().tolist() == [False, True]
    as_objects = rows_frame(rows, ["id", "day", "x", "s"], dtype=object)
    assert all(dtype == np.dtype(object) for dtype in as_objects.dtypes)


def test_no_rows_give_the_columns() -> None:
    frame = rows_frame([], ("a", "b"))
    assert frame.empty and list(frame.columns) == ["a", "b"]
