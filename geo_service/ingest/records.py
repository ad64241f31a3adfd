"""Turning validated, located rows into the store's record columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.geocoding.names import normalize_company_names
from geo_service.ingest.columns import KindSpec
from geo_service.ingest.locate import LOCATION_COLUMNS
from geo_service.ingest.parsing import parse_yes_no
from geo_service.linkage.inherit import inherit
from geo_service.linkage.matching import LINK_COLUMNS, Links
from geo_service.linkage.register import RegisterIndex

_TEXT: dict[str, tuple[str, ...]] = {
    "enterprises": (
        "credit_code",
        "name",
        "industry_code",
        "industry_name",
        "address",
        "permit_no",
    ),
    "cases": (
        "case_id",
        "enterprise_name",
        "credit_code",
        "industry_code",
        "address",
        "violation_type",
        "law_article",
        "description",
        "status",
    ),
    "inspections": (
        "inspection_id",
        "enterprise_name",
        "credit_code",
        "industry_code",
        "inspectors",
        "problem_category",
        "description",
    ),
    "exceedances": (
        "exceedance_id",
        "enterprise_name",
        "credit_code",
        "industry_code",
        "address",
        "pollutant",
        "unit",
    ),
    "complaints": (
        "complaint_id",
        "enterprise_name",
        "credit_code",
        "industry_code",
        "address",
        "category",
        "description",
    ),
    "projects": (
        "project_id",
        "project_name",
        "enterprise_name",
        "credit_code",
        "industry_code",
        "address",
        "eia_approval_no",
        "status",
    ),
    "inspectors": ("inspector_id", "name"),
}
_CATEGORIES = (
    ("重点", "key"),
    ("key", "key"),
    ("特殊", "special"),
    ("special", "special"),
    ("一般", "general"),
    ("general", "general"),
)
_FLOAT_COLUMNS = ("lon", "lat", "source_lon", "source_lat")


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text, empty cells as missing (pyarrow compute: fast on millions of rows)."""
    array = pa.array(values, from_pandas=True)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pa.array(values.astype(str), from_pandas=True)
    text = pc.utf8_trim_whitespace(array)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return pd.Series(pd.arrays.ArrowExtensionArray(text), index=values.index)


def _category(values: pd.Series) -> pd.Series:
    text = values.fillna("").astype(str).str.strip().str.lower()
    out = pd.Series(None, index=values.index, dtype=object)
    for needle, category in _CATEGORIES:
        out[out.isna() & text.str.contains(needle, regex=False)] = category
    return out


def attributes_json(rows: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    """Per row, a JSON object of its non-empty extra cells (``None`` when it has none).

    ``names`` maps input columns to attribute names. Built column-wise: each
    distinct value is JSON-encoded once, so a million rows cost little.

    Examples
    --------
    >>> frame = pd.DataFrame({"备注": ["复查", "", "a,b"], "adcode": ["450103", "", ""]})
    >>> attributes_json(frame, {"备注": "备注", "adcode": "stated_adcode"}).tolist()
    ['{"备注": "复查", "stated_adcode": "450103"}', None, '{"备注": "a,b"}']
    """
    parts: list[pd.Series] = []
    for column, name in names.items():
        values = rows[column].fillna("").astype(str).str.strip()
        key = json.dumps(name, ensure_ascii=False)
        lookup = {v: f"{key}: {json.dumps(v, ensure_ascii=False)}" for v in pd.unique(values) if v}
        parts.append(values.map(lookup).astype(object))  # None where the cell is empty
    body = np.full(len(rows), "", dtype=object)  # each row's pairs, joined column by column
    started = np.zeros(len(rows), dtype=bool)
    for pair in parts:
        texts = pair.to_numpy(dtype=object)
        given = pair.notna().to_numpy(dtype=bool)
        more, first = given & started, given & ~started
        body[more] = body[more] + ", " + texts[more]
        body[first] = texts[first]
        started |= given
    out = np.full(len(rows), None, dtype=object)
    out[started] = "{" + body[started] + "}"
    return pd.Series(out, index=rows.index, dtype=object)


def _kind_columns(spec: KindSpec, rows: pd.DataFrame, out: pd.DataFrame) -> None:
    """The columns only some kinds have: names, categories, dates, numbers, yes/no."""
    if spec.kind == "enterprises":
        out["credit_code"] = out["credit_code"].str.upper()
        out["name_norm"] = normalize_company_names(rows["name"])
        out["category"] = _category(rows["category"]) if "category" in rows else None
    for column in (spec.date_column, *spec.optional_dates):
        if column is None:
            continue
        if column not in rows:
            out[column] = None
            continue
        dates = pd.to_datetime(rows[column])
        out[column] = dates.dt.date.astype(object).where(dates.notna(), None)
    if spec.kind == "cases":
        out["penalty_amount"] = rows.get("penalty_amount", np.nan)
    for column in spec.numbers:
        out[column] = rows.get(column, np.nan)
    if spec.kind == "inspections":
        found = (
            rows["problem_found"] if "problem_found" in rows else pd.Series("", index=rows.index)
        )
        out["problem_found"] = parse_yes_no(found)


def build(
    spec: KindSpec,
    rows: pd.DataFrame,
    located: pd.DataFrame,
    extra: list[str],
    links: Links | None = None,
    register: RegisterIndex | None = None,
) -> pd.DataFrame:
    """Columns of the record table for accepted rows.

    ``extra`` lists the file's columns after header mapping; those the kind does
    not know are kept per row in ``attributes`` (with the stated ``adcode``).
    ``links`` (of these rows) link them to the ``register``: the link columns, and
    the fields inherited from the entry.
    """
    out = pd.DataFrame(index=rows.index)
    for column in _TEXT[spec.kind]:
        out[column] = _text(rows[column]) if column in rows else None
    if "credit_code" in out and spec.kind != "enterprises":
        out["credit_code"] = out["credit_code"].str.upper()
    if links is not None and register is not None:
        for column in LINK_COLUMNS:
            out[column] = links.frame.loc[rows.index, column]
        taken = inherit(out, out["enterprise_credit_code"], register)
        for column in taken.columns:
            out[column] = taken[column]
    _kind_columns(spec, rows, out)
    for column in LOCATION_COLUMNS:
        out[column] = located[column]
    for column in _FLOAT_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(np.float64)
    names = {c: c for c in dict.fromkeys(extra) if c not in spec.columns}
    if "adcode" in rows:
        names["adcode"] = "stated_adcode"  # the division the file states; ours is by point
    out["attributes"] = attributes_json(rows, names)
    return out


def build_roster(
    spec: KindSpec, rows: pd.DataFrame, placed: pd.DataFrame, extra: list[str]
) -> pd.DataFrame:
    """Columns of the ``inspectors`` table for accepted roster rows (``placed``: the
    division columns of each officer's unit; ``rows["active"]``: parsed flags)."""
    out = pd.DataFrame(index=rows.index)
    for column in _TEXT[spec.kind]:
        out[column] = _text(rows[column])
    for column in ("adcode", "level", "city_adcode", "province_adcode"):
        out[column] = placed[column].astype(object)
    out["active"] = rows["active"].astype(bool) if "active" in rows else True
    names = {c: c for c in dict.fromkeys(extra) if c not in spec.columns}
    out["attributes"] = attributes_json(rows, names)
    return out
