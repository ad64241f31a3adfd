"""What the enterprise file (一源一档) reads: a register entry, the records linked to it,
its county's outline, and the register searched by name or credit code.

Records are those whose ``enterprise_credit_code`` (the linkage's choice) names the
entry, within a jurisdiction when one is given (its province, city or county column,
as every other read of the store). Rows come back as plain dicts of stored values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, func, or_, select, true

from geo_service.geocoding.names import normalize_company_name
from geo_service.store.models import LINKED_TABLES, Enterprise, Jurisdiction
from geo_service.store.queries import jurisdiction_level

#: Register columns the file shows (no row, batch or cell ids).
REGISTER_COLUMNS = (
    "credit_code",
    "name",
    "industry_code",
    "industry_name",
    "address",
    "category",
    "permit_no",
    "lon",
    "lat",
    "geocode_method",
    "geocode_precision",
    "adcode",
    "city_adcode",
    "province_adcode",
)
#: Each linked kind's natural key and date column (projects: the EIA approval's date).
LINKED_KEYS: dict[str, tuple[str, str]] = {
    "cases": ("case_id", "decision_date"),
    "inspections": ("inspection_id", "inspection_date"),
    "exceedances": ("exceedance_id", "monitor_date"),
    "complaints": ("complaint_id", "complaint_date"),
    "projects": ("project_id", "eia_approval_date"),
}
_HIDDEN = ("id", "batch_id", "h3_15", "attributes", "source_lon", "source_lat")


@dataclass(frozen=True)
class Outline:
    """A division's name and its WGS84 (Multi)Polygon as WKB."""

    adcode: str
    name: str
    geom_wkb: bytes


def _within(table: Table, level_column: str | None, jurisdiction: str | None) -> Any:
    if jurisdiction is None or level_column is None:
        return true()
    return table.c[level_column] == jurisdiction


def _level_column(engine: Engine, jurisdiction: str | None) -> str | None:
    if jurisdiction is None:
        return None
    level = jurisdiction_level(engine, jurisdiction)
    return {"province": "province_adcode", "city": "city_adcode", "county": "adcode"}[level]


def read_register_entry(engine: Engine, credit_code: str) -> dict[str, Any] | None:
    """The register entry of ``credit_code`` (:data:`REGISTER_COLUMNS`), or None."""
    table: Table = Enterprise.__table__  # type: ignore[assignment]
    query = select(*(table.c[c] for c in REGISTER_COLUMNS)).where(
        table.c.credit_code == credit_code
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return dict(row) if row is not None else None


def read_linked_records(
    engine: Engine, credit_code: str, jurisdiction: str | None
) -> dict[str, list[dict[str, Any]]]:
    """The records of every linked kind whose ``enterprise_credit_code`` is ``credit_code``,
    within ``jurisdiction`` (any level; None: the whole store), by date then key.
    Dates are :class:`datetime.date`; undated projects come last."""
    column = _level_column(engine, jurisdiction)
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for kind, (key, date) in LINKED_KEYS.items():
            table: Table = LINKED_TABLES[kind].__table__  # type: ignore[attr-defined]
            shown = [c for c in table.c if c.name not in _HIDDEN]
            query = (
                select(*shown)
                .where(table.c.enterprise_credit_code == credit_code)
                .where(_within(table, column, jurisdiction))
                .order_by(table.c[date].is_(None), table.c[date], table.c[key])
            )
            out[kind] = [_plain(dict(r)) for r in conn.execute(query).mappings()]
    return out


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Dates as dates (SQLite may hand back text), everything else as stored."""
    for name, value in row.items():
        if name.endswith("_date") and isinstance(value, str):
            row[name] = dt.date.fromisoformat(value[:10])
    return row


def read_outline(engine: Engine, adcode: str | None) -> Outline | None:
    """The stored division ``adcode`` (name and polygon), or None."""
    if adcode is None:
        return None
    query = select(Jurisdiction.adcode, Jurisdiction.name, Jurisdiction.geom_wkb).where(
        Jurisdiction.adcode == adcode
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return Outline(str(row.adcode), str(row.name), bytes(row.geom_wkb)) if row else None


def search_condition(text: str) -> ColumnElement[bool]:
    """Register entries whose name or normalised name holds ``text``, or whose credit code
    starts with it (case-insensitive for the code; ``%`` and ``_`` are literal)."""
    table: Table = Enterprise.__table__  # type: ignore[assignment]
    terms = [
        table.c.name.contains(text, autoescape=True),
        table.c.credit_code.startswith(text.upper(), autoescape=True),
    ]
    normal = normalize_company_name(text)
    if normal:
        terms.append(table.c.name_norm.contains(normal, autoescape=True))
    return or_(*terms)


def search_register(
    engine: Engine, text: str, jurisdiction: str | None, *, offset: int = 0, limit: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """A page of register entries matching :func:`search_condition` within
    ``jurisdiction`` (None: the whole store), by credit code, and how many match."""
    table: Table = Enterprise.__table__  # type: ignore[assignment]
    cond = search_condition(text) & _within(
        table, _level_column(engine, jurisdiction), jurisdiction
    )
    columns = [table.c[c] for c in REGISTER_COLUMNS]
    query = select(*columns).where(cond).order_by(table.c.credit_code)
    with engine.connect() as conn:
        matched = conn.execute(select(func.count()).select_from(table).where(cond)).scalar_one()
        rows = conn.execute(query.offset(offset).limit(limit)).mappings().all()
    return [dict(r) for r in rows], int(matched)


def division_names(engine: Engine, adcodes: set[str]) -> dict[str, str]:
    """Names of the stored divisions among ``adcodes``."""
    if not adcodes:
        return {}
    query = select(Jurisdiction.adcode, Jurisdiction.name).where(Jurisdiction.adcode.in_(adcodes))
    with engine.connect() as conn:
        return {str(a): str(n) for a, n in conn.execute(query)}
