"""CQL2 filters as SQL conditions on a point-record table (SQLite and PostGIS).

A checked :class:`~geo_service.core.cql2.CqlFilter` becomes one SQLAlchemy condition,
ANDed by the caller with the caller's scope, so a filter can only narrow what the
caller may see. Literals are read as their column's type (a date column takes
``DATE('…')``, a timestamp's day or an ISO date text; the H3 cell its hexadecimal id).
Spatial operators compare the record's point with a CRS84 geometry: PostGIS by its
functions, SQLite by the box first and then :func:`point_relates`, registered as an
SQL function on every connection. LIKE is case-sensitive on both (SQLite by ``GLOB``);
``CASEI`` makes it not.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any

import shapely
from shapely.geometry import box
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    Integer,
    Table,
    and_,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    true,
)

from geo_service.core.cql2 import (
    GEOMETRY_NAMES,
    CqlFilter,
    instant,
    interval,
    literal_geometry,
    translate_like,
)
from geo_service.core.cql2 import filter_error as _bad

#: The SQLite function that relates a record's point to a geometry (WKT).
SQLITE_FUNCTION = "cql2_relates"
_RELATIONS = {
    "s_intersects": "intersects",
    "s_within": "within",
    "s_contains": "contains",
    "s_equals": "equals",
}


@lru_cache(maxsize=64)
def _geometry(wkt: str) -> Any:
    geometry = shapely.from_wkt(wkt)
    shapely.prepare(geometry)
    return geometry


def point_relates(relation: str, lon: float | None, lat: float | None, wkt: str) -> int:
    """1 when the point (lon, lat) has ``relation`` (intersects, within, contains, equals)
    to the geometry ``wkt``, else 0 (SQLite's side of the spatial operators)."""
    if lon is None or lat is None:
        return 0
    point = shapely.Point(lon, lat)
    geometry = _geometry(wkt)
    if relation == "intersects":
        return int(geometry.intersects(point))
    if relation == "within":
        return int(geometry.contains_properly(point))  # in its interior
    if relation == "contains":
        return int(point.contains(geometry))
    return int(point.equals(geometry))


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Make :func:`point_relates` callable from SQL on ``connection``."""
    connection.create_function(SQLITE_FUNCTION, 4, point_relates, deterministic=True)


def filter_condition(
    table: Table, cql: CqlFilter, dialect: str, geom_column: str | None = None
) -> ColumnElement[bool]:
    """``cql`` as a condition on ``table``; ``geom_column`` names PostGIS's point column."""
    return _Translator(table, dialect, geom_column).condition(cql.expression)


class _Translator:
    def __init__(self, table: Table, dialect: str, geom_column: str | None) -> None:
        self.table, self.dialect, self.geom_column = table, dialect, geom_column

    def condition(self, node: Any) -> ColumnElement[bool]:
        if not isinstance(node, dict) or "op" not in node:
            raise _bad("表达式必须是条件", "the expression must be a condition")
        op, args = str(node["op"]), list(node.get("args", []))
        if op == "and":
            return and_(*(self.condition(a) for a in args))
        if op == "or":
            return or_(*(self.condition(a) for a in args))
        if op == "not":
            return not_(self.condition(args[0]))
        if op in _RELATIONS or op == "s_disjoint":
            return self.spatial(op, args)
        if op.startswith("t_"):
            return self.temporal(op, args)
        return self.comparison(op, args)

    # -- values ---------------------------------------------------------------------
    def column(self, node: Any) -> tuple[Any, Column[Any]] | None:
        """A property (or ``CASEI`` of one) as (SQL expression, the table's column)."""
        if isinstance(node, dict) and node.get("op") == "casei":
            inner = self.column(node["args"][0])
            return None if inner is None else (func.lower(inner[0]), inner[1])
        if isinstance(node, dict) and "property" in node:
            name = node["property"]
            if name in GEOMETRY_NAMES:
                raise _bad("几何属性只能用于空间运算", "the geometry takes spatial operators only")
            return self.table.c[name], self.table.c[name]
        return None

    def value(self, node: Any, column: Column[Any] | None) -> Any:
        """A literal as ``column`` (the table's column, or None) holds it."""
        if isinstance(node, dict) and node.get("op") == "casei":
            inner = self.value(node["args"][0], column)
            return inner.lower() if isinstance(inner, str) else inner
        kind = None if column is None else column.type
        if isinstance(kind, Date):
            return instant(node)
        if isinstance(node, dict):
            raise _bad(f"{node} 不能与属性比较", f"{node} cannot be compared with a property")
        if column is not None and column.name == "h3_15" and isinstance(node, str):
            try:
                return int(node, 16)
            except ValueError:
                raise _bad(f"{node!r} 不是 H3 编号", f"{node!r} is not an H3 cell id") from None
        if isinstance(kind, Boolean) and not isinstance(node, bool):
            raise _bad(f"{node!r} 不是布尔值", f"{node!r} is not true or false")
        if isinstance(kind, Integer) and isinstance(node, float) and node.is_integer():
            return int(node)
        return node

    # -- operators --------------------------------------------------------------------
    def comparison(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        prop = self.column(args[0])
        if op in ("isNull", "between", "in", "like"):
            if prop is None:
                raise _bad(f"{op} 须作用于属性", f"{op} takes a property")
            expr, column = prop
            if op == "isNull":
                return expr.is_(None)
            if op == "between":
                low, high = self.value(args[1], column), self.value(args[2], column)
                return expr.between(low, high)
            if op == "in":
                if not isinstance(args[1], list):
                    raise _bad("IN 须跟一个列表", "IN takes a list")
                return expr.in_([self.value(v, column) for v in args[1]])
            return self.like(expr, args[1])
        other = self.column(args[1])
        if prop is None and other is None:
            raise _bad("比较须包含一个属性", "a comparison needs a property")
        if prop is None:  # a literal first: flip the comparison
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            return self.comparison(flipped, [args[1], args[0]])
        left = prop[0]
        right = other[0] if other is not None else literal(self.value(args[1], prop[1]))
        compare = {
            "=": left.__eq__,
            "<>": left.__ne__,
            "<": left.__lt__,
            "<=": left.__le__,
            ">": left.__gt__,
            ">=": left.__ge__,
        }
        if op not in compare:
            raise _bad(f"不支持运算符 {op!r}", f"the operator {op!r} is not supported")
        return compare[op](right)

    def like(self, expr: Any, node: Any) -> ColumnElement[bool]:
        pattern = self.value(node, None)
        if not isinstance(pattern, str):
            raise _bad("LIKE 须跟一个文本模式", "LIKE takes a text pattern")
        if self.dialect == "sqlite":  # GLOB: case-sensitive, as LIKE is elsewhere
            return expr.op("GLOB", is_comparison=True)(_glob(pattern))
        return expr.like(pattern, escape="\\")

    def spatial(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        if len(args) != 2 or sum(_is_geometry_property(a) for a in args) != 1:
            raise _bad(
                "空间运算须比较要素几何与一个几何",
                "a spatial operator compares the geometry with a geometry",
            )
        if op == "s_disjoint":
            return not_(self.spatial("s_intersects", args))
        literal_first = not _is_geometry_property(args[0])
        geometry = literal_geometry(args[0] if literal_first else args[1])
        relation = _RELATIONS[op]
        if literal_first:  # S_WITHIN(polygon, geometry): the point contains the polygon
            relation = {"within": "contains", "contains": "within"}.get(relation, relation)
        lon, lat = self.table.c.lon, self.table.c.lat
        west, south, east, north = geometry.bounds
        in_box = lon.between(west, east) & lat.between(south, north)
        if self.dialect == "postgresql" and self.geom_column:
            names = {"within": "ST_Within", "contains": "ST_Contains", "equals": "ST_Equals"}
            call = getattr(func, names.get(relation, "ST_Intersects"))
            shape_sql = func.ST_GeomFromText(geometry.wkt, 4326)
            return in_box & call(literal_column(self.geom_column), shape_sql)
        if relation == "intersects" and shapely.equals(geometry, box(*geometry.bounds)):
            return in_box  # a box: the bounds say it all
        relates = func.cql2_relates(relation, lon, lat, geometry.wkt)
        return in_box & (relates == 1)

    def temporal(self, op: str, args: list[Any]) -> ColumnElement[bool]:
        prop = self.column(args[0])
        if prop is None or not isinstance(prop[1].type, Date) or prop[0] is not prop[1]:
            raise _bad("时间运算须作用于日期属性", "temporal operators take a date property")
        column = prop[1]
        start, end = interval(args[1])
        if op == "t_after":
            return column > end if end else false()
        if op == "t_before":
            return column < start if start else false()
        if op == "t_equals":
            return column == start if start == end and start else false()
        if op == "t_during":
            return and_(column > start if start else true(), column < end if end else true())
        inside = and_(column >= start if start else true(), column <= end if end else true())
        return not_(inside) if op == "t_disjoint" else inside


def _is_geometry_property(node: Any) -> bool:
    return isinstance(node, dict) and node.get("property") in GEOMETRY_NAMES


def _glob(pattern: str) -> str:
    """A LIKE pattern as SQLite's GLOB (``%`` → ``*``, ``_`` → ``?``, GLOB's own
    characters in brackets)."""
    return translate_like(pattern, "*", "?", lambda c: f"[{c}]" if c in "*?[" else c)
