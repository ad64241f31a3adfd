"""Statistics ledgers: the tables bureaus compile by hand, grouped and summed."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

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
