"""CQL2 filters (OGC API - Features Part 3), parsed and checked once per request.

The text or JSON a client sends is parsed by ``cql2`` into the standard's JSON form;
then every property is checked against the collection's queryables and every operator
against those the store and the frames translate. What comes out is a
:class:`CqlFilter`: the checked JSON tree and the properties it names. A bad
expression is a :class:`BadFilterError` naming the problem, in Chinese and English.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cql2
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geo_service.core.errors import BadFilterError

#: Filter languages by their ``filter-lang`` names (``cql-text``: what GDAL sends).
LANGUAGES = ("cql2-text", "cql2-json", "cql-text")
#: The properties that stand for a feature's geometry.
GEOMETRY_NAMES = ("geometry", "geom")

LOGICAL = frozenset({"and", "or", "not"})
COMPARISON = frozenset({"=", "<>", "<", "<=", ">", ">=", "like", "between", "in", "isNull"})
SPATIAL = frozenset({"s_intersects", "s_disjoint", "s_within", "s_contains", "s_equals"})
TEMPORAL = frozenset({"t_after", "t_before", "t_equals", "t_intersects", "t_disjoint", "t_during"})
FUNCTIONS = frozenset({"casei"})
OPERATORS = LOGICAL | COMPARISON | SPATIAL | TEMPORAL | FUNCTIONS


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name: its JSON Schema type (and format), and its title."""

    name: str
    type: str  # string | number | integer | boolean | geometry
    title: str
    format: str | None = None  # "date" for dates

    @property
    def is_date(self) -> bool:
        return self.format == "date"

    def schema(self) -> dict[str, Any]:
        """Its entry in ``/queryables`` (Part 3: geometry by a GeoJSON schema reference)."""
        if self.type == "geometry":
            return {
                "title": self.title,
                "format": "geometry-point",
                "$ref": "https://geojson.org/schema/Point.json",
                "x-ogc-role": "primary-geometry",
            }
        entry: dict[str, Any] = {"title": self.title, "type": self.type}
        if self.format:
            entry["format"] = self.format
        return entry


@dataclass(frozen=True)
class CqlFilter:
    """A checked CQL2 expression (the standard's JSON form) and the properties it names."""

    expression: dict[str, Any]
    properties: frozenset[str]


def filter_error(zh: str, en: str) -> BadFilterError:
    """A BadFilterError about a ``filter`` parameter, in Chinese and English."""
    return BadFilterError(f"filter：{zh} (filter: {en})")


def parse_filter(text: str, lang: str | None, queryables: Mapping[str, Queryable]) -> CqlFilter:
    """``text`` in ``lang`` (CQL2 text by default) checked against ``queryables``."""
    language = (lang or "cql2-text").lower()
    if language not in LANGUAGES:
        raise filter_error(
            f"不支持的 filter-lang {lang!r}，可用 {', '.join(LANGUAGES[:2])}",
            f"filter-lang {lang!r} is not one of {', '.join(LANGUAGES[:2])}",
        )
    try:
        parsed = cql2.parse_json(text) if language == "cql2-json" else cql2.parse_text(text)
        expression = parsed.to_json()
    except (ValueError, cql2.ParseError, cql2.ValidationError) as err:
        first = " ".join(str(err).split())[:300]
        raise filter_error(
            f"表达式无法解析：{first}", f"the expression does not parse: {first}"
        ) from None
    if not isinstance(expression, dict):
        raise filter_error("表达式必须是条件", "the expression must be a condition")
    names = frozenset(_check(expression, queryables))
    return CqlFilter(expression, names)


def _check(node: Any, queryables: Mapping[str, Queryable]) -> Iterator[str]:
    """The properties ``node`` names; a BadFilterError at an unknown one or operator."""
    if isinstance(node, list):
        for item in node:
            yield from _check(item, queryables)
        return
    if not isinstance(node, dict):
        return
    if "property" in node:
        name = str(node["property"])
        if name not in queryables and name not in GEOMETRY_NAMES:
            known = ", ".join(sorted(queryables))
            raise filter_error(
                f"{name!r} 不是本图层可查询的属性（可查询：{known}）",
                f"{name!r} is not a queryable of this collection (queryables: {known})",
            )
        yield name
        return
    if "op" in node:
        op = str(node["op"])
        if op not in OPERATORS:
            raise filter_error(f"不支持运算符 {op!r}", f"the operator {op!r} is not supported")
        yield from _check(node.get("args", []), queryables)
        return
    for value in node.values():  # bbox, interval, date, timestamp, GeoJSON
        yield from _check(value, queryables)


def instant(value: Any) -> dt.date | None:
    """A date from a CQL2 literal: ``{"date": …}``, ``{"timestamp": …}`` (its UTC day)
    or an ISO date text; None for ``".."`` (an open end)."""
    if isinstance(value, dict):
        value = value.get("date", value.get("timestamp"))
    if value == "..":
        return None
    if not isinstance(value, str):
        raise filter_error(f"{json.dumps(value)} 不是日期", f"{json.dumps(value)} is not a date")
    text = value.strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise filter_error(f"{text!r} 不是日期", f"{text!r} is not a date") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


def interval(value: Any) -> tuple[dt.date | None, dt.date | None]:
    """The two ends of a CQL2 interval (or an instant as both ends)."""
    if isinstance(value, dict) and "interval" in value:
        start, end = value["interval"]
        return instant(start), instant(end)
    day = instant(value)
    return day, day


def translate_like(pattern: str, many: str, one: str, literal: Callable[[str], str]) -> str:
    """A CQL2 LIKE pattern (``%`` any text, ``_`` one character, ``\\`` escapes) in
    another pattern language: ``many`` and ``one`` for the wildcards, ``literal`` for
    every other character."""
    out, escaped = [], False
    for char in pattern:
        if escaped or char not in "\\%_":
            out.append(literal(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(many if char == "%" else one)
    return "".join(out)


def like_regex(pattern: str) -> str:
    """A CQL2 LIKE pattern as a regular expression matching the whole text."""
    return "^" + translate_like(pattern, ".*", ".", re.escape) + "$"


def literal_geometry(node: Any) -> BaseGeometry:
    """A CQL2 geometry literal (GeoJSON or ``{"bbox": […]}``, CRS84) as shapely."""
    try:
        if isinstance(node, dict) and "bbox" in node:
            values = [float(v) for v in node["bbox"]]
            if len(values) == 6:  # 3D: west, south, bottom, east, north, top
                values = [values[0], values[1], values[3], values[4]]
            return box(*values)
        geometry = shape(node)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        raise filter_error(f"{node} 不是几何", f"{node} is not a geometry") from None
    if geometry.is_empty or not geometry.is_valid:
        raise filter_error("几何为空或无效", "the geometry is empty or invalid")
    return geometry


#: Conformance classes of Part 3 the items routes implement.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sortables",
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/property-selection",
]


@dataclass(frozen=True)
class SortKey:
    """One ``sortby`` key: a queryable and its direction."""

    name: str
    descending: bool = False


def parse_sortby(text: str | None, queryables: Mapping[str, Queryable]) -> tuple[SortKey, ...]:
    """``sortby=-penalty_amount,decision_date`` (``+``/``-`` or nothing before a name)."""
    if not text:
        return ()
    keys = []
    for raw in text.split(","):
        word = raw.strip()
        descending = word.startswith("-")
        name = word.lstrip("+-").strip()
        if name not in queryables or queryables[name].type == "geometry":
            raise BadFilterError(
                f"sortby：{name!r} 不是可排序的属性 (sortby: {name!r} is not a sortable property)"
            )
        keys.append(SortKey(name, descending))
    return tuple(keys)


def parse_properties(text: str | None, queryables: Mapping[str, Queryable]) -> tuple[str, ...]:
    """``properties=case_id,penalty_amount``: the properties a response keeps (Part 6)."""
    if text is None:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in queryables]
    if unknown:
        raise BadFilterError(
            f"properties：{', '.join(unknown)} 不是本图层的属性 (properties: "
            f"{', '.join(unknown)} not properties of this collection)"
        )
    return names
