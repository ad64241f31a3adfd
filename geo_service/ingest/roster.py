"""The enforcement-officer roster: its divisions, on-duty flags and conflict exclusions."""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import Connection, Table, delete, insert

from geo_service.ingest.locate import Outcome
from geo_service.ingest.parsing import blank, parse_yes_no
from geo_service.store.boundaries import Divisions
from geo_service.store.models import InspectorExclusion

#: Separators between the credit codes of one officer's exclusions.
_SEPARATORS = re.compile(r"[;；,，、\s]+")
_CREDIT_CODE = re.compile(r"[0-9A-Z]{18}")
#: Cells that mean "no exclusions".
_NONE = {"", "无", "-", "—", "/", "none"}
_DUTY = {"在岗": True, "在职": True, "离岗": False, "调离": False, "退休": False, "停用": False}
_CHUNK = 500


def split_credit_codes(text: str) -> list[str]:
    """Credit codes in one cell, separated by ``;``, ``；``, ``,``, ``、`` or spaces.

    Upper-cased, in order, each once.

    Examples
    --------
    >>> split_credit_codes("91450100MA5K8XY394； 91450100ma5k8xy395、91450100MA5K8XY394")
    ['91450100MA5K8XY394', '91450100MA5K8XY395']
    >>> split_credit_codes("无")
    []
    """
    text = str(text).strip()
    if text.lower() in _NONE:
        return []
    return list(dict.fromkeys(t.upper() for t in _SEPARATORS.split(text) if t))


def parse_exclusions(values: pd.Series, outcome: Outcome) -> pd.Series:
    """Each row's excluded credit codes (a list); rejects ``bad_credit_code`` rows."""
    codes = values.fillna("").astype(str).map(split_credit_codes)
    bad = codes.map(lambda cs: [c for c in cs if not _CREDIT_CODE.fullmatch(c)])
    has_bad = bad.map(bool)
    detail = "excluded_credit_codes: not 18-character credit codes: " + bad.map(", ".join)
    outcome.reject(has_bad, "bad_credit_code", detail)
    return codes


def parse_active(values: pd.Series, outcome: Outcome) -> pd.Series:
    """On duty (是/否, 在岗/离岗 …); an empty cell is on duty; rejects ``bad_value`` rows."""
    text = values.fillna("").astype(str).str.strip()
    flags = parse_yes_no(text)
    duty = text.map(_DUTY)
    flags = flags.where(flags.notna(), duty)
    flags[blank(text)] = True
    outcome.reject(flags.isna(), "bad_value", "active is not 是/否 (在岗/离岗)")
    return flags.where(flags.notna(), None)


def roster_divisions(rows: pd.DataFrame, divisions: Divisions, outcome: Outcome) -> pd.DataFrame:
    """The division columns of each officer's unit; rejects ``unknown_adcode`` rows."""
    table = divisions.table
    code = rows["adcode"].fillna("").astype(str).str.strip()
    known = code.isin(table.index)
    outcome.reject(~known, "unknown_adcode", "adcode " + code + " is not a loaded division")
    return pd.DataFrame(
        {
            "adcode": code,
            "level": code.map(table["level"]),
            "city_adcode": code.map(table["city_adcode"]),
            "province_adcode": code.map(table["province_adcode"]),
        },
        index=rows.index,
    )


def exclusion_pairs(inspector_ids: pd.Series, codes: pd.Series) -> list[dict[str, str]]:
    """(inspector_id, credit_code) rows of the exclusions table."""
    return [
        {"inspector_id": str(i), "credit_code": c}
        for i, cs in zip(inspector_ids, codes, strict=True)
        for c in cs
    ]


def replace_exclusions(
    conn: Connection, inspector_ids: list[str], pairs: list[dict[str, str]]
) -> None:
    """Replace the stored exclusions of these officers by ``pairs`` (in the caller's
    transaction): a re-ingested roster states each officer's exclusions in full."""
    table: Table = InspectorExclusion.__table__  # type: ignore[assignment]
    for start in range(0, len(inspector_ids), _CHUNK):
        chunk = inspector_ids[start : start + _CHUNK]
        conn.execute(delete(table).where(table.c.inspector_id.in_(chunk)))
    if pairs:
        conn.execute(insert(table), pairs)
