"""The located records of the store as Parquet partitioned by province and month.

``export_partitions`` writes the cases, inspections and register enterprises
(only the columns the analytic builds read) under ``root/<kind>/`` in hive-style
directories ``province_adcode=450000/month=2024-03/`` (the register, undated,
by province only), reading the store in chunks so that no table is ever held
whole. A :class:`Partition` is one such leaf directory; :func:`partitions_for`
picks the ones a set of filters can touch (partition filters: the
jurisdiction's province, the period's months) and :func:`read_partition` reads
one, applying the rest of the filters to its rows (county or city, industry
prefix, exact dates, violation type) as :func:`geo_service.store.queries.read_frame`
does in SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, Table, select

from geo_service.core.filters import Filters
from geo_service.store.frames import rows_frame
from geo_service.store.models import RECORD_TABLES, Jurisdiction

KINDS = ("cases", "inspections", "enterprises")
_ADCODES = [("adcode", pa.string()), ("city_adcode", pa.string()), ("province_adcode", pa.string())]
#: How finely a record is placed: the point layers read only records placed at a point.
_PRECISION = ("geocode_precision", pa.string())
#: The stored columns each kind's partitions keep (besides the partition keys).
SCHEMAS: dict[str, pa.Schema] = {
    "cases": pa.schema(
        [
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("enterprise_credit_code", pa.string()),
            ("penalty_amount", pa.float64()),
            ("decision_date", pa.date32()),
            ("industry_code", pa.string()),
            ("violation_type", pa.string()),
            _PRECISION,
            *_ADCODES,
        ]
    ),
    "inspections": pa.schema(
        [
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("enterprise_credit_code", pa.string()),
            ("problem_found", pa.bool_()),
            ("inspection_date", pa.date32()),
            ("industry_code", pa.string()),
            ("problem_category", pa.string()),
            *_ADCODES,
        ]
    ),
    "enterprises": pa.schema(
        [
            ("lon", pa.float64()),
            ("lat", pa.float64()),
            ("credit_code", pa.string()),
            ("industry_code", pa.string()),
            _PRECISION,
            *_ADCODES,
        ]
    ),
}
DATE_COLUMNS = {"cases": "decision_date", "inspections": "inspection_date"}
#: The column naming the register entry a record counts for (an enterprise: itself).
ENTITY_COLUMNS = {
    "cases": "enterprise_credit_code",
    "inspections": "enterprise_credit_code",
    "enterprises": "credit_code",
}
_TYPE_COLUMNS = {"cases": "violation_type", "inspections": "problem_category"}
NO_VALUE = "none"  # the partition value of a missing province or date


@dataclass(frozen=True)
class Partition:
    """One leaf directory of the export: a kind's records of one province (and month)."""

    kind: str
    path: str
    province: str
    month: str | None  # "2024-03"; None for the undated register


def _chunk_table(kind: str, rows: Sequence[Any]) -> pa.Table:
    schema = SCHEMAS[kind]
    frame = rows_frame(rows, schema.names)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    province = frame["province_adcode"].fillna(NO_VALUE).astype(str)
    table = table.append_column("province", pa.array(province.to_numpy(), pa.string()))
    if kind in DATE_COLUMNS:
        dates = pd.to_datetime(frame[DATE_COLUMNS[kind]])
        month = dates.dt.strftime("%Y-%m").fillna(NO_VALUE)
        table = table.append_column("month", pa.array(month.to_numpy(), pa.string()))
    return table


def export_partitions(engine: Engine, root: Path, *, chunk_rows: int = 100_000) -> Path:
    """Write the located records of the store under ``root`` (see the module); ``root``.

    The province directory is ``province_adcode=…`` (``none`` when a record has no
    province); the column itself stays in the files, so rows keep their adcodes.
    """
    for kind in KINDS:
        table: Table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
        query = select(*(table.c[c] for c in SCHEMAS[kind].names)).order_by(table.c.id)
        keys = ["province", "month"] if kind in DATE_COLUMNS else ["province"]
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk_rows).execute(query)
            for number, rows in enumerate(result.partitions(chunk_rows)):
                pq.write_to_dataset(
                    _chunk_table(kind, rows),
                    root / kind,
                    partition_cols=keys,
                    basename_template=f"chunk-{number:06d}-{{i}}.parquet",
                    existing_data_behavior="overwrite_or_ignore",
                )
    return root


def _leaves(root: Path, kind: str) -> list[Partition]:
    out = []
    for province_dir in sorted((root / kind).glob("province=*")):
        province = province_dir.name.split("=", 1)[1]
        if kind not in DATE_COLUMNS:
            out.append(Partition(kind, str(province_dir), province, None))
            continue
        for month_dir in sorted(province_dir.glob("month=*")):
            month = month_dir.name.split("=", 1)[1]
            out.append(Partition(kind, str(month_dir), province, month))
    return out


def jurisdiction_province(engine: Engine, adcode: str) -> tuple[str, str]:
    """The province of a loaded division and its level (``province``, ``city``, ``county``)."""
    from geo_service.core.errors import BadFilterError

    with engine.connect() as conn:
        row = conn.execute(
            select(Jurisdiction.province_adcode, Jurisdiction.level).where(
                Jurisdiction.adcode == adcode
            )
        ).one_or_none()
    if row is None:
        raise BadFilterError(f"jurisdiction {adcode} is not a loaded division")
    return str(row[0] or adcode), str(row[1])


def partitions_for(
    root: Path, kind: str, filters: Filters, province: str | None = None
) -> list[Partition]:
    """The partitions of ``kind`` that records matching ``filters`` can be in.

    ``province``: the province of the jurisdiction filter (see
    :func:`jurisdiction_province`).
    """
    start, end = filters.date_range()
    first = start.strftime("%Y-%m") if start else None
    last = end.strftime("%Y-%m") if end else None
    out = []
    for part in _leaves(root, kind):
        if province is not None and part.province != province:
            continue
        if part.month is not None and (first or last):
            if part.month == NO_VALUE:
                continue
            if (first and part.month < first) or (last and part.month > last):
                continue
        out.append(part)
    return out


@dataclass(frozen=True)
class RowFilters:
    """The filters a partition's rows are checked against (jurisdiction by its column)."""

    jurisdiction_column: str | None = None
    jurisdiction: str | None = None
    industry: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    violation_type: str | None = None

    @classmethod
    def of(cls, filters: Filters, level: str | None) -> RowFilters:
        """From the filters and the level of their jurisdiction."""
        column = {"province": "province_adcode", "city": "city_adcode", "county": "adcode"}
        start, end = filters.date_range()
        return cls(
            column[level] if level else None,
            filters.jurisdiction,
            filters.industry.upper() if filters.industry else None,
            start,
            end,
            filters.violation_type,
        )


def read_partition(part: Partition, rows: RowFilters) -> pd.DataFrame:
    """The rows of one partition that match ``rows`` (in store order within each chunk)."""
    frame = pq.read_table(part.path, schema=SCHEMAS[part.kind]).to_pandas()
    keep = pd.Series(True, index=frame.index)
    if rows.jurisdiction_column:
        keep &= frame[rows.jurisdiction_column] == rows.jurisdiction
    if rows.industry:
        keep &= frame["industry_code"].str.startswith(rows.industry, na=False)
    if part.kind in DATE_COLUMNS:
        dates = pd.to_datetime(frame[DATE_COLUMNS[part.kind]]).dt.date
        if rows.start:
            keep &= dates >= rows.start
        if rows.end:
            keep &= dates <= rows.end
        if rows.violation_type:
            keep &= frame[_TYPE_COLUMNS[part.kind]] == rows.violation_type
    return frame[keep.to_numpy()].reset_index(drop=True)
