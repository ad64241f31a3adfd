"""CQL2 filters on a layer held as a GeoDataFrame (the analytic layers), as a row mask.

The same checked expression the store turns into SQL (:mod:`geo_service.store.cql2_sql`)
is evaluated here column by column with pandas and shapely, with the same meanings: a
comparison with a missing value is false, LIKE is case-sensitive unless ``CASEI``,
spatial operators relate each feature's geometry to a CRS84 geometry.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.core.cql2 import (
    GEOMETRY_NAMES,
    CqlFilter,
    filter_error,
    instant,
    interval,
    like_regex,
    literal_geometry,
)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def filter_frame(frame: gpd.GeoDataFrame, cql: CqlFilter) -> gpd.GeoDataFrame:
    """The rows of ``frame`` that ``cql`` keeps."""
    mask = _Evaluator(frame).condition(cql.expression)
    return frame[np.asarray(mask, dtype=bool)]


class _Evaluator:
    def __init__(self, frame: gpd.GeoDataFrame) -> None:
        self.frame = frame

    def condition(self, node: Any) -> pd.Series:
        if not isinstance(node, dict) or "op" not in node:
            raise filter_error("表达式必须是条件", "the expression must be a condition")
        op, args = str(node["op"]), list(node.get("args", []))
        if op in ("and", "or"):
            parts = [self.condition(a) for a in args]
            combine = operator.and_ if op == "and" else operator.or_
            out = parts[0]
            for part in parts[1:]:
                out = combine(out, part)
            return out
        if op == "not":
            return ~self.condition(args[0])
        if op.startswith("s_"):
            return self.spatial(op, args)
        if op.startswith("t_"):
            return self.temporal(op, args)
        return self.comparison(op, args)

    def column(self, node: Any) -> pd.Series | None:
        if isinstance(node, dict) and node.get("op") == "casei":
            inner = self.column(node["args"][0])
            return None if inner is None else inner.astype("string").str.lower()
        if isinstance(node, dict) and "property" in node:
            name = node["property"]
            if name in GEOMETRY_NAMES:
                raise filter_error(
                    "几何属性只能用于空间运算", "the geometry takes spatial operators only"
                )
            return self.frame[name]
        return None

    def literal(self, node: Any, column: pd.Series | None) -> Any:
        if isinstance(node, dict) and node.get("op") == "casei":
            value = self.literal(node["args"][0], column)
            return value.lower() if isinstance(value, str) else value
        if isinstance(node, dict) and ("date" in node or "timestamp" in node):
            day = instant(node)
            return None if day is None else pd.Timestamp(day)
        if isinstance(node, dict):
            raise filter_error(
                f"{node} 不能与属性比较", f"{node} cannot be compared with a property"
            )
        return node

    def _aligned(self, column: pd.Series, value: Any) -> tuple[pd.Series, Any]:
        if isinstance(value, pd.Timestamp):
            return pd.to_datetime(column, errors="coerce"), value
        if isinstance(value, str) and not pd.api.types.is_string_dtype(column):
            return column.astype("string"), value
        return column, value

    def comparison(self, op: str, args: list[Any]) -> pd.Series:
        column = self.column(args[0])
        if op in ("isNull", "between", "in", "like"):
            if column is None:
                raise filter_error(f"{op} 须作用于属性", f"{op} takes a property")
            return self.predicate(op, column, args)
        if column is None:
            if self.column(args[1]) is None:
                raise filter_error("比较须包含一个属性", "a comparison needs a property")
            return self.comparison(_FLIPPED.get(op, op), [args[1], args[0]])
        if op not in _COMPARE:
            raise filter_error(f"不支持运算符 {op!r}", f"the operator {op!r} is not supported")
        other = self.column(args[1])
        right = other if other is not None else self.literal(args[1], column)
        values, right = self._aligned(column, right)
        result = _COMPARE[op](values, right)
        return pd.Series(result, index=self.frame.index).fillna(False).astype(bool)

    def predicate(self, op: str, column: pd.Series, args: list[Any]) -> pd.Series:
        """IS NULL, BETWEEN, IN and LIKE on a property."""
        if op == "isNull":
            return column.isna()
        if op == "between":
            low, high = self.literal(args[1], column), self.literal(args[2], column)
            values, low = self._aligned(column, low)
            return ((values >= low) & (values <= high)).fillna(False).astype(bool)
        if op == "in":
            if not isinstance(args[1], list):
                raise filter_error("IN 须跟一个列表", "IN takes a list")
            return column.isin([self.literal(v, column) for v in args[1]])
        pattern = self.literal(args[1], None)
        if not isinstance(pattern, str):
            raise filter_error("LIKE 须跟一个文本模式", "LIKE takes a text pattern")
        found = column.astype("string").str.match(like_regex(pattern), flags=re.DOTALL)
        return found.fillna(False).astype(bool)

    def spatial(self, op: str, args: list[Any]) -> pd.Series:
        geometric = [isinstance(a, dict) and a.get("property") in GEOMETRY_NAMES for a in args]
        if len(args) != 2 or sum(geometric) != 1:
            raise filter_error(
                "空间运算须比较要素几何与一个几何",
                "a spatial operator compares the geometry with a geometry",
            )
        geometry = literal_geometry(args[1] if geometric[0] else args[0])
        own = self.frame.geometry
        relation = op.removeprefix("s_")
        if not geometric[0]:  # the literal first: its relation to the features
            relation = {"within": "contains", "contains": "within"}.get(relation, relation)
        tests = {
            "intersects": own.intersects,
            "disjoint": own.disjoint,
            "within": own.within,
            "contains": own.contains,
            "equals": own.geom_equals,
        }
        if relation not in tests:
            raise filter_error(f"不支持运算符 {op!r}", f"the operator {op!r} is not supported")
        return pd.Series(tests[relation](geometry), index=self.frame.index).astype(bool)

    def temporal(self, op: str, args: list[Any]) -> pd.Series:
        column = self.column(args[0])
        if column is None:
            raise filter_error(
                "时间运算须作用于日期属性", "temporal operators take a date property"
            )

        start, end = interval(args[1])
        days = pd.to_datetime(column, errors="coerce").dt.date
        known = days.notna()
        yes = pd.Series(True, index=self.frame.index)
        after = days > start if start else yes
        before = days < end if end else yes
        if op == "t_after":
            out = days > end if end else ~yes
        elif op == "t_before":
            out = days < start if start else ~yes
        elif op == "t_equals":
            out = days == start if start == end and start else ~yes
        elif op == "t_during":
            out = after & before
        else:
            inside = (days >= start if start else yes) & (days <= end if end else yes)
            out = ~inside if op == "t_disjoint" else inside
        return (out & known).astype(bool)
