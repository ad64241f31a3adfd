"""What an analytic build reads from the store, loaded lazily and once per build."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine

from analytics.hexagons import Records
from geo_service.core.clock import china_today
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters
from geo_service.store.boundaries import read_divisions
from geo_service.store.queries import read_chunks, read_frame

if TYPE_CHECKING:
    from geo_service.builds.streaming import StorePasses

STEPS = ("month", "quarter")
#: The ``geocode_precision`` of a record placed at its own point (coordinates, or the
#: register entry's point); ``county`` and ``city`` records sit at a division's
#: representative point.
POINT = "point"
#: How the point layers' provenance names the records they leave out for being placed
#: no finer than a county or city.
NOT_PLACED_PRECISELY = "not_placed_precisely"
NOT_PLACED_PRECISELY_LABEL = "未精确定位"


def placed_at_point(precision: pd.Series) -> np.ndarray:
    """Whether each record is placed at its own point (``geocode_precision`` = point).

    KDE, clusters and cell hot spots read only these: a county-precision record at the
    county's representative point is not a location, and ten of them make a "cluster".
    """
    return precision.eq(POINT).to_numpy(bool)


def imprecise_provenance(count: int) -> dict[str, object]:
    """The provenance of a point layer: how many records it left out as not placed at a
    point, and the Chinese name of that number."""
    return {
        NOT_PLACED_PRECISELY: int(count),
        f"{NOT_PLACED_PRECISELY}_label": NOT_PLACED_PRECISELY_LABEL,
    }


#: Most time steps a space-time layer may have (twenty years of months): the trend test
#: of every cell grows with their square.
MAX_STEPS = 240
#: Rows of a table the additive layers read at a time (:mod:`geo_service.builds.streaming`):
#: what a one-process build holds of the records whatever the size of the store.
CHUNK_ROWS = int(os.environ.get("GEO_BUILD_CHUNK_ROWS", "200000"))


@dataclass
class Inputs:
    """The records and area a build works on for one set of filters."""

    engine: Engine
    filters: Filters
    _frames: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = field(default_factory=dict)
    #: Rows read at a time by the passes of the additive layers over the store.
    chunk_rows: int = field(default_factory=lambda: CHUNK_ROWS)
    #: The layer variants the build will make: the first pass over the store makes the
    #: partials of all of them at once (:func:`geo_service.builds.streaming.plan_of`).
    planned: tuple[tuple[str, Any], ...] = ()
    #: Those passes and their sums, kept for the build (made by the streaming module).
    passes: StorePasses | None = field(default=None, repr=False, compare=False)

    def frame(self, kind: str, columns: list[str]) -> pd.DataFrame:
        """Columns of the records of ``kind`` matching the filters (the whole table: the
        layers that are not additive read it so)."""
        key = (kind, tuple(columns))
        if key not in self._frames:
            self._frames[key] = read_frame(self.engine, kind, self.filters, columns)
        return self._frames[key]

    def chunks(self, kind: str, columns: list[str]) -> Iterator[pd.DataFrame]:
        """The frame of :meth:`frame`, read afresh in pieces of at most :attr:`chunk_rows`
        rows and kept by no one here."""
        return read_chunks(self.engine, kind, self.filters, columns, self.chunk_rows)

    @cached_property
    def cases(self) -> Records:
        """Located penalty cases (amount = penalty, entity = the linked register entry)."""
        f = self.frame("cases", ["lon", "lat", "enterprise_credit_code", "penalty_amount"])
        return Records.of(
            f["lon"],
            f["lat"],
            entity=f["enterprise_credit_code"].to_numpy(object),
            amount=f["penalty_amount"].astype(float).to_numpy(),
        )

    @cached_property
    def case_at_point(self) -> np.ndarray:
        """Per case (in the order every case frame is read): placed at its own point."""
        return placed_at_point(self.frame("cases", ["geocode_precision"])["geocode_precision"])

    @cached_property
    def point_cases(self) -> Records:
        """The located cases placed at their own point: what KDE, clusters and cell hot
        spots read (:func:`placed_at_point`)."""
        return _subset(self.cases, self.case_at_point)

    @property
    def imprecise_cases(self) -> int:
        """Cases placed no finer than a county or city (left out of the point layers)."""
        return int((~self.case_at_point).sum())

    @cached_property
    def inspections(self) -> Records:
        """Located inspections (flag = a problem was found)."""
        f = self.frame("inspections", ["lon", "lat", "enterprise_credit_code", "problem_found"])
        found = f["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        entity = f["enterprise_credit_code"].to_numpy(object)
        return Records.of(f["lon"], f["lat"], entity=entity, flag=found)

    @cached_property
    def register(self) -> Records:
        """Located register enterprises."""
        f = self.frame("enterprises", ["lon", "lat", "credit_code"])
        return Records.of(f["lon"], f["lat"], entity=f["credit_code"].to_numpy(object))

    @cached_property
    def register_at_point(self) -> np.ndarray:
        """Per register entry: placed at its own point."""
        frame = self.frame("enterprises", ["geocode_precision"])
        return placed_at_point(frame["geocode_precision"])

    @cached_property
    def point_register(self) -> Records:
        """The register entries placed at their own point (the KDE's sources)."""
        return _subset(self.register, self.register_at_point)

    @cached_property
    def area(self) -> BaseGeometry:
        """The polygon analysed: the filtered jurisdiction, else every loaded province."""
        table = read_divisions(self.engine).table
        if self.filters.jurisdiction:
            if self.filters.jurisdiction not in table.index:
                raise BadFilterError(f"jurisdiction {self.filters.jurisdiction} is not loaded")
            return table.loc[self.filters.jurisdiction, "geometry"]
        provinces = table[table["level"] == "province"]
        return shapely.union_all(provinces.geometry.to_numpy())

    def case_steps(self, step: str) -> tuple[np.ndarray, list[str]]:
        """Each case's time-step index and the step labels (``2024-03`` or ``2024-Q1``).

        The steps span the filtered period, else the cases' first to last date.
        """
        if step not in STEPS:
            raise BadFilterError(f"time step {step!r}; expected one of {', '.join(STEPS)}")
        dates = pd.to_datetime(self.frame("cases", ["decision_date"])["decision_date"])
        start, end = self.filters.date_range()
        first = (
            pd.Timestamp(start)
            if start
            else (dates.min() if len(dates) else pd.Timestamp(china_today()))
        )
        last = pd.Timestamp(end) if end else (dates.max() if len(dates) else first)
        periods = check_time_steps(first, last, step)
        freq = "M" if step == "month" else "Q"
        index = (dates.dt.to_period(freq) - periods[0]).map(lambda d: d.n).to_numpy(np.int64)
        labels = [str(p) if step == "month" else f"{p.year}-Q{p.quarter}" for p in periods]
        return index, labels


def check_time_steps(first: pd.Timestamp, last: pd.Timestamp, step: str) -> pd.PeriodIndex:
    """The time steps (``month`` or ``quarter``) from ``first`` to ``last``; an error the
    clerk can act on when they are none or more than :data:`MAX_STEPS`."""
    freq = "M" if step == "month" else "Q"
    periods = pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq)
    if len(periods) > MAX_STEPS:
        raise BadFilterError(
            f"时段 {first.date()}…{last.date()} 含 {len(periods)} 个时间步，最多 {MAX_STEPS} "
            f"(the period holds {len(periods)} {step}s; at most {MAX_STEPS}: ask for a "
            "shorter period)"
        )
    if periods.empty:
        raise BadFilterError(
            f"时段 {first.date()}…{last.date()} 内没有时间步 (the filtered period ends before "
            "it begins: no time steps to compare)"
        )
    return periods


def _subset(records: Records, keep: np.ndarray) -> Records:
    """The records where ``keep`` holds."""
    return Records(
        records.lon[keep],
        records.lat[keep],
        records.entity[keep],
        records.amount[keep],
        records.flag[keep],
    )
