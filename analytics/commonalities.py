"""Commonalities and differences of problem types across places or industries (共性与差异).

- **Common to all**: the types present in every group with enough records, with their
  share overall and their least and largest share among those groups.
- **Over-represented where**: for each group with at least ``min_records`` records and
  each type, the one-sided Fisher exact test of the type's share in the group against its
  share among all other records (the hypergeometric tail); the p-values of every tested
  pair are adjusted together by Benjamini–Hochberg, and a type is distinctive of a group
  when its q-value is at most ``alpha``. Groups with fewer records are listed as too few
  to test, never tested: five records of one rare type say nothing about a county.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import false_discovery_control, hypergeom

from analytics.errors import AnalyticsError

#: The least support a caller may ask for: below it no test is meaningful.
MIN_SUPPORT_FLOOR: Final = 10
TEST: Final = "one-sided Fisher exact (hypergeometric), Benjamini–Hochberg FDR"
TESTED: Final = "tested"
TOO_FEW: Final = "too_few_records"
#: The row of a table of counts that holds the records without a group.
NO_GROUP: Final = "\0"


class CommonalityError(AnalyticsError):
    """A minimum support or significance level out of bounds."""


@dataclass(frozen=True)
class Differences:
    """What is common to all groups and what is over-represented where.

    ``groups``: one row per group (``group``, ``records``, ``status``: :data:`TESTED` or
    :data:`TOO_FEW`), most records first. ``tests``: one row per tested group and type
    (``group``, ``type``, ``count``, ``records``, ``share``, ``share_elsewhere``,
    ``ratio``, ``p``, ``q``, ``distinctive``). ``common``: one row per type (``type``,
    ``count``, ``share``, ``groups_present``, ``groups_tested``, ``share_min``,
    ``share_max``, ``common``).
    """

    groups: pd.DataFrame
    tests: pd.DataFrame
    common: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    def distinctive(self) -> pd.DataFrame:
        """The over-represented (group, type) pairs, most significant first in each group."""
        rows = self.tests[self.tests["distinctive"]]
        return rows.sort_values(["group", "q", "type"]).reset_index(drop=True)

    def common_types(self) -> list[Any]:
        """The types present in every tested group, the most frequent first."""
        rows = self.common[self.common["common"]].sort_values(
            ["share", "type"], ascending=[False, True]
        )
        return rows["type"].tolist()


def _check(min_records: int, alpha: float) -> None:
    if min_records < MIN_SUPPORT_FLOOR:
        raise CommonalityError(f"min_records must be at least {MIN_SUPPORT_FLOOR}")
    if not 0 < alpha < 1:
        raise CommonalityError("alpha must lie between 0 and 1")


def _tests(counts: pd.DataFrame, tested: pd.Index, alpha: float) -> pd.DataFrame:
    """Fisher's one-sided test of each tested group's count of each type (rows: groups,
    columns: types, over every group), with Benjamini–Hochberg q-values."""
    total = int(counts.to_numpy().sum())
    per_type = counts.sum(axis=0)
    table = counts.loc[tested]
    x = table.to_numpy(np.int64)
    n = table.sum(axis=1).to_numpy(np.int64)[:, None]
    k = per_type.to_numpy(np.int64)[None, :]
    p = hypergeom.sf(x - 1, total, k, n)  # P(X ≥ x): the one-sided Fisher exact p
    elsewhere = np.divide(k - x, total - n, out=np.zeros(x.shape), where=total - n > 0)
    share = x / n
    flat_p = np.clip(p.ravel(), 0.0, 1.0)
    q = false_discovery_control(flat_p, method="bh") if flat_p.size else flat_p
    out = pd.DataFrame(
        {
            "group": np.repeat(table.index.to_numpy(), x.shape[1]),
            "type": np.tile(table.columns.to_numpy(), x.shape[0]),
            "count": x.ravel(),
            "records": np.repeat(n.ravel(), x.shape[1]),
            "share": share.ravel(),
            "share_elsewhere": elsewhere.ravel(),
            "p": flat_p,
            "q": q,
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ratio"] = out["share"] / out["share_elsewhere"]
    out["distinctive"] = (out["q"] <= alpha) & (out["count"] > 0)
    return out


def _common(counts: pd.DataFrame, tested: pd.Index) -> pd.DataFrame:
    """Each type's share overall and its presence and share across the tested groups."""
    total = counts.to_numpy().sum()
    shares = counts.loc[tested].div(counts.loc[tested].sum(axis=1), axis=0)
    present = (counts.loc[tested] > 0).sum(axis=0)
    out = pd.DataFrame(
        {
            "type": counts.columns.to_numpy(),
            "count": counts.sum(axis=0).to_numpy(np.int64),
            "share": counts.sum(axis=0).to_numpy() / max(total, 1),
            "groups_present": present.to_numpy(np.int64),
            "groups_tested": len(tested),
            "share_min": shares.min(axis=0).to_numpy() if len(tested) else np.nan,
            "share_max": shares.max(axis=0).to_numpy() if len(tested) else np.nan,
        }
    )
    out["common"] = (out["groups_tested"] > 0) & (out["groups_present"] == out["groups_tested"])
    return out.sort_values(["share", "type"], ascending=[False, True]).reset_index(drop=True)


def commonalities(
    types: ArrayLike, groups: ArrayLike, *, min_records: int = 30, alpha: float = 0.05
) -> Differences:
    """Types common to every group and types over-represented in a group.

    ``types`` and ``groups`` hold one value per record (a group may be a county, a city
    or an industry). Records without a group are counted in the shares elsewhere only.

    Examples
    --------
    >>> types = ["扬尘"] * 30 + ["废水"] * 10 + ["扬尘"] * 10 + ["废水"] * 30 + ["废水"] * 5
    >>> groups = ["甲"] * 40 + ["乙"] * 40 + ["丙"] * 5
    >>> found = commonalities(types, groups, min_records=20)
    >>> found.groups.set_index("group")["status"].to_dict()
    {'乙': 'tested', '甲': 'tested', '丙': 'too_few_records'}
    >>> found.distinctive()[["group", "type"]].values.tolist()
    [['乙', '废水'], ['甲', '扬尘']]
    >>> found.common_types()
    ['废水', '扬尘']
    """
    frame = pd.DataFrame({"type": np.asarray(types), "group": np.asarray(groups, dtype=object)})
    placed = frame["group"].notna() & (frame["group"] != "")
    counts = pd.crosstab(frame["group"].where(placed, NO_GROUP), frame["type"])
    return counts_commonalities(counts, min_records=min_records, alpha=alpha)


def counts_commonalities(
    counts: pd.DataFrame, *, min_records: int = 30, alpha: float = 0.05
) -> Differences:
    """:func:`commonalities` from a table of counts: rows are groups (a row
    :data:`NO_GROUP` holds the records without one), columns are types."""
    _check(min_records, alpha)
    counts = counts.astype(np.int64)
    sizes = counts.drop(index=NO_GROUP, errors="ignore").sum(axis=1)
    status = np.where(sizes >= min_records, TESTED, TOO_FEW)
    listed = pd.DataFrame(
        {"group": sizes.index, "records": sizes.to_numpy(np.int64), "status": status}
    )
    listed = listed.sort_values(["records", "group"], ascending=[False, True])
    listed = listed.reset_index(drop=True)
    tested = pd.Index(listed.loc[listed["status"] == TESTED, "group"])
    return Differences(
        groups=listed,
        tests=_tests(counts, tested, alpha),
        common=_common(counts, tested),
        parameters={
            "test": TEST,
            "alpha": alpha,
            "min_records": min_records,
            "tested": len(tested),
            "too_few_records": int((listed["status"] == TOO_FEW).sum()),
        },
    )
