"""Statistics ledgers: the tables bureaus compile by hand, grouped and summed, and the
commonalities and differences of problem types per place or industry."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analytics.commonalities import TESTED, commonalities
from analytics.errors import AnalyticsError

#: Values of 执行情况 that count as executed.
EXECUTED = ("已执行", "执行完毕", "已缴纳", "已结案")


class LedgerError(AnalyticsError):
    """A grouping the ledger does not know."""


def case_ledger(cases: pd.DataFrame, group_by: Sequence[str]) -> pd.DataFrame:
    """Cases, penalty sum (yuan) and execution rate per group.

    ``cases`` has the grouping columns plus ``penalty_amount`` and ``status``.

    Examples
    --------
    >>> frame = pd.DataFrame({"city": ["南宁市", "南宁市", "柳州市"],
    ...                       "penalty_amount": [1e4, 3e4, 5e4],
    ...                       "status": ["已执行", "执行中", "已执行"]})
    >>> case_ledger(frame, ["city"]).to_dict("records")[0]
    {'city': '南宁市', 'cases': 2, 'penalty_sum': 40000.0, 'executed': 1, 'execution_rate': 0.5}
    """
    _check(cases, group_by)
    executed = cases["status"].fillna("").astype(str).isin(EXECUTED)
    table = cases.assign(
        _one=1, _executed=executed.astype(int), _amount=cases["penalty_amount"].fillna(0.0)
    )
    out = table.groupby(list(group_by), dropna=False, sort=True).agg(
        cases=("_one", "sum"), penalty_sum=("_amount", "sum"), executed=("_executed", "sum")
    )
    out["execution_rate"] = (out["executed"] / out["cases"]).round(4)
    return out.reset_index()


def inspection_ledger(inspections: pd.DataFrame, group_by: Sequence[str]) -> pd.DataFrame:
    """Inspections, problems found and the share that found one, per group.

    Examples
    --------
    >>> frame = pd.DataFrame({"month": ["2024-01", "2024-01"], "problem_found": [True, False]})
    >>> inspection_ledger(frame, ["month"]).to_dict("records")
    [{'month': '2024-01', 'inspections': 2, 'problems_found': 1, 'problem_rate': 0.5}]
    """
    _check(inspections, group_by)
    found = inspections["problem_found"].astype("boolean").fillna(False).astype(int)
    table = inspections.assign(_one=1, _found=found)
    out = table.groupby(list(group_by), dropna=False, sort=True).agg(
        inspections=("_one", "sum"), problems_found=("_found", "sum")
    )
    out["problem_rate"] = (out["problems_found"] / out["inspections"]).round(4)
    return out.reset_index()


#: The ledgers' columns as a clerk's table heads them (Chinese; the English name is the
#: column's own).
LEDGER_HEADERS = {
    "province": "省份",
    "city": "城市",
    "county": "区县",
    "industry": "行业代码",
    "industry_name": "行业名称",
    "type": "违法类型/问题类别",
    "problem_type": "问题类型",
    "year": "年度",
    "quarter": "季度",
    "month": "月份",
    "cases": "案件数（件）",
    "penalty_sum": "罚款金额合计（元）",
    "executed": "已执行案件数（件）",
    "execution_rate": "执行率",
    "inspections": "检查次数（次）",
    "problems_found": "发现问题次数（次）",
    "problem_rate": "发现问题比例",
}
#: Rates a total row recomputes from its sums: rate → (numerator, denominator).
RATES = {
    "execution_rate": ("executed", "cases"),
    "problem_rate": ("problems_found", "inspections"),
}
TOTAL = "合计"


def with_total(table: pd.DataFrame, group_by: Sequence[str]) -> pd.DataFrame:
    """``table`` with a 合计 row under it: the sums of its count and amount columns, its
    rates recomputed from those sums (a rate is not summed), 合计 in the first grouping
    column and the other grouping (and text) columns empty. Empty cells are left out of
    the sums (the public view leaves some counts out).

    Examples
    --------
    >>> frame = pd.DataFrame({"city": ["南宁市", "柳州市"], "cases": [2, 1],
    ...                       "penalty_sum": [4e4, 5e4], "executed": [1, 1],
    ...                       "execution_rate": [0.5, 1.0]})
    >>> with_total(frame, ["city"]).iloc[-1].astype(str).tolist()
    ['合计', '3', '90000.0', '2', '0.6667']
    """
    _check(table, group_by)
    total: dict[str, object] = {c: "" for c in table.columns}
    sums: dict[str, float | int | None] = {}
    for column in table.columns:
        values = table[column]
        numeric = pd.api.types.is_numeric_dtype(values.dtype)
        if column in RATES or not numeric or pd.api.types.is_bool_dtype(values.dtype):
            continue
        summed = values.sum(skipna=True, min_count=1)
        whole = pd.api.types.is_integer_dtype(values.dtype)
        sums[column] = None if pd.isna(summed) else int(summed) if whole else float(summed)
        total[column] = sums[column]
    for rate, (numerator, denominator) in RATES.items():
        if rate in table.columns:
            top, bottom = sums.get(numerator), sums.get(denominator)
            total[rate] = round(top / bottom, 4) if top is not None and bottom else None
    total[group_by[0]] = TOTAL
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def _check(frame: pd.DataFrame, group_by: Sequence[str]) -> None:
    if not group_by:
        raise LedgerError("group_by needs at least one column")
    missing = [g for g in group_by if g not in frame.columns]
    if missing:
        raise LedgerError(f"cannot group by {', '.join(missing)}")


def commonality_ledger(
    records: pd.DataFrame, group: str, *, min_records: int = 30, alpha: float = 0.05
) -> pd.DataFrame:
    """The commonalities and differences (共性与差异) of problem types per ``group``.

    ``records`` has one row per typed record: the ``group`` column and ``problem_type``
    (its label). Per group with enough records, one row per type it holds: ``count``,
    ``share``, ``share_elsewhere``, ``ratio``, the one-sided Fisher ``p`` and its
    Benjamini–Hochberg ``q``, whether it is ``distinctive`` (over-represented) and whether
    the type is ``common`` to every tested group; a group with fewer records is one row,
    ``status`` too_few_records, untested (:mod:`analytics.commonalities`).

    Examples
    --------
    >>> frame = pd.DataFrame({"county": ["甲"] * 40 + ["乙"] * 40 + ["丙"] * 5,
    ...                       "problem_type": ["扬尘"] * 30 + ["废水"] * 45 + ["扬尘"] * 10})
    >>> table = commonality_ledger(frame, "county", min_records=20)
    >>> table[["county", "problem_type", "count", "distinctive"]].values.tolist()
    [['乙', '废水', 35, True], ['乙', '扬尘', 5, False], ['甲', '扬尘', 30, True], \
['甲', '废水', 10, False], ['丙', None, None, None]]
    """
    _check(records, [group, "problem_type"])
    found = commonalities(
        records["problem_type"].to_numpy(),
        records[group].fillna("").astype(str).to_numpy(),
        min_records=min_records,
        alpha=alpha,
    )
    common = set(found.common_types())
    tests = found.tests[found.tests["count"] > 0].merge(found.groups[["group", "status"]])
    tests = tests.assign(common=tests["type"].isin(common))
    tests = tests.sort_values(
        ["records", "group", "q", "type"], ascending=[False, True, True, True]
    )
    few = found.groups[found.groups["status"] != TESTED]
    columns = ["records", "status", "count", "share", "share_elsewhere", "ratio", "p", "q"]
    table = pd.concat(
        [
            tests.rename(columns={"group": group, "type": "problem_type"}),
            few.rename(columns={"group": group}).assign(problem_type=None),
        ],
        ignore_index=True,
    )
    table = table[[group, "problem_type", *columns, "distinctive", "common"]]
    for column in ("share", "share_elsewhere", "ratio"):
        table[column] = table[column].astype(float).round(4)
    for column in ("records", "count"):
        table[column] = table[column].astype("Int64")
    return table.astype(object).where(table.notna(), None)
