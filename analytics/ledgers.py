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
