"""One inspection finding from the field through the ingest pipeline, stored as a batch.

A finding is a GeoJSON Feature (OGC API - Features Part 4, ``POST
/collections/inspections/items``). It becomes a one-row table of text cells, as a
GeoJSON file's feature would, and goes through the file ingest's own steps
(:mod:`geo_service.ingest.pipeline`): :func:`validate`, the locator's geocoding and
linkage, :func:`reject_outside` and the record builder. Nothing here validates a cell
a second way. The accepted finding is stored as an ingest batch of one row (its
``source_name`` says it came from the field), so that the data version grows and the
stored builds are stale, as after any ingest. A finding is only ever created: its id
stored already is a :class:`FindingExistsError`, never an update.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from geo_service.core.errors import ConflictError, ForbiddenError, InputFileError
from geo_service.ingest.columns import SPECS, map_headers
from geo_service.ingest.locate import Locator
from geo_service.ingest.pipeline import Stages, located_rows, validate
from geo_service.ingest.readers import InputLimits, RawTable
from geo_service.ingest.reject_text import explain
from geo_service.linkage.register import load_register_index
from geo_service.linkage.reviews import replace_reviews
from geo_service.store.boundaries import read_divisions
from geo_service.store.db import require_schema
from geo_service.store.models import Enterprise, IngestBatch, Inspection, Jurisdiction

KIND = "inspections"
SPEC = SPECS[KIND]
#: What a finding's batch records as its source (then the account's name).
SOURCE_PREFIX = "field:"
#: Chinese names of the fields a reason may name.
FIELD_NAMES = {
    "inspection_id": "检查编号",
    "inspection_date": "检查日期",
    "enterprise_name": "企业名称",
    "credit_code": "统一社会信用代码",
    "inspectors": "执法人员",
    "problem_found": "是否发现问题",
    "problem_category": "问题类别",
    "description": "检查情况",
    "geometry": "位置",
    "lon": "经度",
    "lat": "纬度",
    "crs": "坐标系",
    "adcode": "行政区划代码",
}
#: The fields each reason is about when its detail names none.
REASON_FIELDS = {
    "bad_coordinates": ("geometry",),
    "unlocatable": ("geometry", "enterprise_name", "credit_code"),
    "not_a_point": ("geometry",),
}


class FindingRejectedError(InputFileError):
    """The finding fails the ingest's checks: nothing is stored (400)."""

    code = "finding_rejected"

    def __init__(self, message: str, reasons: list[RejectReason]) -> None:
        super().__init__(message)
        self.reasons = reasons


class FindingOutsideError(ForbiddenError):
    """The finding is located outside the account's jurisdiction: nothing is stored (403)."""

    code = "outside_jurisdiction"


class FindingExistsError(ConflictError):
    """A record with the finding's id is stored already; it is left unchanged (409)."""

    code = "duplicate_id"


@dataclass(frozen=True)
class RejectReason:
    """One reason a finding was refused: the ingest's code, the fields and its detail."""

    reason: str
    fields: tuple[str, ...]
    detail: str

    def text(self) -> str:
        """The reason in Chinese (as a file's rejects explain it, :func:`explain`), then
        in English, naming its fields."""
        names = "、".join(f"{FIELD_NAMES.get(f, f)}（{f}）" for f in self.fields)
        if self.reason == "not_a_point":  # a file's advice (--centroids) is not a finding's
            return f"{names}：须为点 Point ({self.reason}: the geometry must be a Point)"
        chinese = explain(self.reason, self.detail, FIELD_NAMES)
        return f"{names}：{chinese} ({self.reason}: {self.detail})"


@dataclass(frozen=True)
class Finding:
    """A finding as sent: its id, its properties as text cells (lon/lat from a point
    geometry) and the geometry's type ("" without one)."""

    inspection_id: str
    cells: dict[str, str]
    geometry_type: str
    digest: str  # SHA-256 of the feature's canonical JSON: the batch's "file" digest


@dataclass(frozen=True)
class FindingOptions:
    """Who sends the finding and what it may hold."""

    account: str
    within: str  # the account's jurisdiction: the finding must be located in it
    today: dt.date | None = None  # latest acceptable date (default: today)
    limits: InputLimits = field(default_factory=InputLimits)


@dataclass(frozen=True)
class StoredFinding:
    """What was stored: the record's id, its batch, how it was placed and linked."""

    inspection_id: str
    batch_id: int
    geocode_method: str
    geocode_precision: str
    adcode: str | None
    link_method: str | None


def parse_feature(body: Any, limits: InputLimits | None = None) -> Finding:
    """A GeoJSON Feature as a :class:`Finding`; 400 for anything that is not one.

    The id is the Feature's ``id`` or its ``inspection_id`` (检查编号) property; both
    given, they must agree. The place is the geometry (CRS84 lon/lat, or the system a
    ``crs`` property names); properties may not carry ``lon``/``lat`` of their own.
    """
    limits = limits or InputLimits()
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise InputFileError("请求体须为 GeoJSON Feature (the body must be a GeoJSON Feature)")
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise InputFileError("properties 须为对象 (properties must be an object)")
    cells = {_cell("key", k, limits): _cell(k, v, limits) for k, v in properties.items()}
    mapping = map_headers(KIND, list(cells))
    if {"lon", "lat"} & set(mapping.values()):
        raise InputFileError(
            "位置请放在 geometry 中，不要放在属性里 (give the place as the geometry, not as "
            "lon/lat properties)"
        )
    geometry_type = _geometry_cells(body.get("geometry"), cells)
    stated = next((cells[h] for h, c in mapping.items() if c == SPEC.id_column), "")
    given = body.get("id")
    feature_id = "" if given is None else _cell("id", given, limits)
    if feature_id and stated and feature_id != stated:
        raise InputFileError(
            f"Feature 的 id（{feature_id}）与检查编号（{stated}）不一致 "
            f"(the feature's id and its inspection_id differ)"
        )
    if feature_id and not stated:
        cells[SPEC.id_column] = feature_id
    _check_id(feature_id or stated)
    _check_lengths(cells, map_headers(KIND, list(cells)))
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return Finding(feature_id or stated, cells, geometry_type, digest)


#: What a finding's id may hold: it names the item in a URL path.
_ID_BAD = ("/", "\\", "?", "#")


def _check_id(inspection_id: str) -> None:
    """An id of at most the column's length, with nothing that breaks the item's URL
    (an empty one is left to the ingest: ``missing_required``)."""
    limit = getattr(Inspection.__table__.c[SPEC.id_column].type, "length", None) or 100
    if (
        len(inspection_id) > limit
        or any(c in inspection_id for c in _ID_BAD)
        or any(ord(c) < 32 for c in inspection_id)
    ):
        raise InputFileError(
            f"检查编号（inspection_id）须为至多 {limit} 个字符，且不含 / \\ ? # 或控制字符 "
            f"(inspection_id must be at most {limit} characters without / \\ ? # or controls)"
        )


def _check_lengths(cells: dict[str, str], mapping: dict[str, str]) -> None:
    """Text no longer than its column holds (a file's longer text would fail the store)."""
    columns = Inspection.__table__.c
    for header, column in mapping.items():
        limit = getattr(columns[column].type, "length", None) if column in columns else None
        if limit and len(cells[header]) > limit:
            raise InputFileError(
                f"{FIELD_NAMES.get(column, column)}（{column}）超过 {limit} 个字符 "
                f"({column} is longer than {limit} characters)"
            )


def _cell(name: object, value: Any, limits: InputLimits) -> str:
    """A property value as the text cell a file would hold (numbers and yes/no too)."""
    if isinstance(value, dict | list):
        raise InputFileError(f"属性 {name} 须为文字或数字 (property {name} must be a plain value)")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and not math.isfinite(value):
        raise InputFileError(f"属性 {name} 不是有限数 (property {name} is not a finite number)")
    text = str(value).strip()
    if "\x00" in text:  # no store keeps a NUL in text (PostgreSQL refuses it)
        raise InputFileError(f"属性 {name} 含有 NUL 字符 (property {name} holds a NUL character)")
    if len(text) > limits.max_cell_chars:
        raise InputFileError(
            f"属性 {name} 超过 {limits.max_cell_chars} 个字符 "
            f"(property {name} is longer than {limits.max_cell_chars} characters)"
        )
    return text


def _geometry_cells(geometry: Any, cells: dict[str, str]) -> str:
    """Set the lon/lat cells from a Point geometry; the geometry's type ("" for none)."""
    cells["lon"], cells["lat"] = "", ""
    if geometry is None:
        return ""
    if not isinstance(geometry, dict) or not isinstance(geometry.get("type"), str):
        raise InputFileError("geometry 须为 GeoJSON 几何对象或 null (geometry must be GeoJSON)")
    kind = str(geometry["type"])
    if kind != "Point":
        return kind  # the ingest rejects it: not_a_point
    coordinates = geometry.get("coordinates")
    if (
        not isinstance(coordinates, list)
        or len(coordinates) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coordinates)
    ):
        raise InputFileError("点坐标须为 [经度, 纬度] (Point coordinates must be [lon, lat])")
    try:
        lon, lat = float(coordinates[0]), float(coordinates[1])
    except OverflowError:  # an integer beyond any float
        lon = lat = math.inf
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InputFileError("点坐标须为有限数 (Point coordinates must be finite numbers)")
    cells["lon"], cells["lat"] = repr(lon), repr(lat)
    return "Point"


def one_row_table(finding: Finding) -> tuple[RawTable, dict[str, str]]:
    """The finding as a file's one-row table (row 1) and its header mapping. Columns the
    checks read and the finding lacks are added empty (then rejected as missing)."""
    cells = dict(finding.cells)
    mapping = map_headers(KIND, list(cells))
    present = set(mapping.values())
    for column in (*SPEC.required, SPEC.id_column):
        if column not in present:
            cells[column], mapping[column] = "", column
            present.add(column)
    headers = list(cells)
    data = pd.DataFrame([[cells[h] for h in headers]], columns=headers, dtype=object)
    raw = RawTable(
        headers,
        data,
        np.array([1], dtype=np.int64),
        np.zeros(1, dtype=bool),
        geometry_types=np.array([finding.geometry_type], dtype=object),
        surface_points=np.zeros(1, dtype=bool),
    )
    return raw, mapping


def ingest_finding(engine: Engine, finding: Finding, options: FindingOptions) -> StoredFinding:
    """Validate, locate, link and store one finding as a batch of its own.

    Raises
    ------
    FindingRejectedError
        A check of the ingest refused it (the reasons, fields named).
    FindingOutsideError
        It is located outside ``options.within`` (where the geocoding chain places it,
        whatever adcode it states).
    FindingExistsError
        A record with its id is stored (anywhere): left unchanged.
    """
    require_schema(engine)
    raw, mapping = one_row_table(finding)
    rows = raw.data.rename(columns=mapping)
    outcome = validate(SPEC, raw, rows, options.today)
    locator = cached_locator(engine)
    extra = [mapping[h] for h in raw.headers]
    with _LOCATING:  # one finding at a time through the shared locator
        prepared = located_rows(
            SPEC, locator, rows, outcome, extra, None, Stages(), options.within, raw.surface_points
        )
    reason = None if pd.isna(outcome.reason.iloc[0]) else str(outcome.reason.iloc[0])
    if reason == "outside_jurisdiction":
        raise FindingOutsideError(
            f"该发现位于本账号辖区 {options.within} 以外，未保存 "
            f"(the finding is located outside {options.within}, this account's jurisdiction; "
            "nothing was stored)"
        )
    if reason is not None:
        detail = str(outcome.detail.iloc[0] or "")
        found = RejectReason(reason, _fields(reason, detail), detail)
        raise FindingRejectedError(
            f"现场检查发现未保存 (the finding was not stored)：{found.text()}", [found]
        )
    record = _record(prepared.table_rows)
    batch_id = _store(engine, record, prepared.reviews or [], finding, options)
    return StoredFinding(
        inspection_id=finding_id(record),
        batch_id=batch_id,
        geocode_method=str(record["geocode_method"]),
        geocode_precision=str(record["geocode_precision"]),
        adcode=record.get("adcode"),
        link_method=record.get("link_method"),
    )


def _fields(reason: str, detail: Any) -> tuple[str, ...]:
    """The fields a reject is about: those its detail names, else the reason's own."""
    text = str(detail or "")
    named = tuple(c for c in SPEC.columns if text.startswith(f"{c} ") or f" {c} " in text)
    return named or REASON_FIELDS.get(reason, ())


def _record(table_rows: pd.DataFrame) -> dict[str, Any]:
    """The one built record as plain Python values for the store (JSON text decoded)."""
    (row,) = table_rows.to_dict(orient="records")
    record: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            value = None
        elif isinstance(value, pd.Timestamp):
            value = value.date()
        if name == "attributes" and isinstance(value, str):
            value = json.loads(value)
        record[str(name)] = value
    return record


def _store(
    engine: Engine,
    record: dict[str, Any],
    reviews: list[dict[str, Any]],
    finding: Finding,
    options: FindingOptions,
) -> int:
    """The finding's batch and record in one transaction; 409 (nothing stored) when its
    id is taken, also by a writer that got there first (the insert does nothing then)."""
    now = dt.datetime.now(dt.UTC)
    key = SPEC.id_column
    with engine.begin() as conn:
        taken = select(func.count()).where(Inspection.inspection_id == finding_id(record))
        if conn.execute(taken).scalar_one():
            raise _exists(finding_id(record))
        batch_id = int(
            conn.execute(
                insert(IngestBatch).returning(IngestBatch.id),
                {
                    "kind": KIND,
                    "source_name": f"{SOURCE_PREFIX}{options.account}",
                    "file_sha256": finding.digest,
                    "rows": 1,
                    "accepted": 1,
                    "rejected": 0,
                    "inserted": 1,
                    "updated": 0,
                    "by_method": {str(record["geocode_method"]): 1},
                    "by_reason": {},
                    "started_at": now,
                    "finished_at": now,
                    "account": options.account,
                    "jurisdiction": options.within,
                },
            ).scalar_one()
        )
        statement = _insert_new(conn, key).values({**record, "batch_id": batch_id})
        if conn.execute(statement.returning(Inspection.id)).first() is None:
            raise _exists(finding_id(record))  # stored meanwhile: roll everything back
        if reviews:
            replace_reviews(conn, KIND, [], [{**r, "batch_id": batch_id} for r in reviews])
    return batch_id


def finding_id(record: dict[str, Any]) -> str:
    """The natural key of a built record."""
    return str(record[SPEC.id_column])


def _insert_new(conn: Connection, key: str) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING`` for the store's dialect."""
    table = Inspection.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=[key])


def _exists(inspection_id: str) -> FindingExistsError:
    return FindingExistsError(
        f"检查编号 {inspection_id} 已存在，未作更改 (a finding with inspection_id "
        f"{inspection_id} is stored already; it was left unchanged)"
    )


class _LocatorCache:
    """The locator (divisions, register index, gazetteer) per store, made again when the
    register or the divisions change: loading the register costs far more than a
    finding."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[tuple[Any, ...], Locator]] = {}
        self._lock = threading.Lock()

    def get(self, engine: Engine) -> Locator:
        version = _register_version(engine)
        key = str(engine.url)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
            locator = Locator(read_divisions(engine), load_register_index(engine))
            self._items[key] = (version, locator)
            return locator


def _register_version(engine: Engine) -> tuple[Any, ...]:
    """The newest register batch (id and time: SQLite hands out a cleared store's ids
    again), the register's size and the number of divisions: what the locator reads."""
    with engine.connect() as conn:
        newest = conn.execute(
            select(IngestBatch.id, IngestBatch.finished_at)
            .where(IngestBatch.kind == "enterprises")
            .order_by(IngestBatch.id.desc())
            .limit(1)
        ).first()
        register = conn.execute(select(func.count()).select_from(Enterprise)).scalar_one()
        divisions = conn.execute(select(func.count()).select_from(Jurisdiction)).scalar_one()
    return (None if newest is None else tuple(newest)), int(register), int(divisions)


_LOCATORS = _LocatorCache()
_LOCATING = threading.Lock()


def cached_locator(engine: Engine) -> Locator:
    """The store's locator, made once per register and divisions version."""
    return _LOCATORS.get(engine)


__all__ = [
    "Finding",
    "FindingExistsError",
    "FindingOptions",
    "FindingOutsideError",
    "FindingRejectedError",
    "RejectReason",
    "StoredFinding",
    "cached_locator",
    "ingest_finding",
    "parse_feature",
]
