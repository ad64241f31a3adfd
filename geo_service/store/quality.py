"""The data-quality report (数据清洗): the numbers a clerk works through, per ingest batch
and per jurisdiction, read from the store alone.

Parts (docs/DESIGN.md, "Data-quality report"):

- ``links``: per linked kind, records by ``link_method`` (``none`` for records naming no
  enterprise), their shares of all records, and the link rate (linked by credit code,
  name or fuzzy match, over the records naming an enterprise);
- ``precision``: per located kind, records by ``geocode_precision`` and by
  ``geocode_method``;
- ``credit_code_flags``: per linked kind, records by ``credit_code_flag``, and the
  flagged records;
- ``rejects``: rejected rows by reason. A batch's own; for a jurisdiction, those of the
  batches that last wrote a record placed in it, or that an account of it uploaded
  (rejected rows have no place: the counts are whole batches');
- ``duplicates``: rows refused as ``duplicate_id`` (their natural key repeated in the
  file: listed for a batch, counted for a jurisdiction), and register entries sharing a
  normalised name (``enterprises.name_norm``) under several credit codes;
- ``stale``: register entries no longer confirmed (:data:`STALE_DEFINITION`);
- ``reviews``: the ambiguous links (``link_reviews``) with their candidates.

Lists hold at most ``limit`` items each (``count`` is always the full number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, or_, select, true

from geo_service.core.errors import NotFoundError
from geo_service.store.models import (
    INGEST_TABLES,
    LINKED_TABLES,
    NATURAL_KEYS,
    Enterprise,
    IngestBatch,
    Jurisdiction,
    LinkReview,
    RejectedRow,
)
from geo_service.store.queries import data_version, jurisdiction_level

#: Kinds placed on the map (geocode method and precision), in the report's order.
LOCATED_KINDS = ("enterprises", "cases", "inspections", "exceedances", "complaints", "projects")
#: Kinds linked to the register, in the report's order.
LINKED_KINDS = tuple(k for k in LOCATED_KINDS if k in LINKED_TABLES)
#: ``link_method`` values in the report's order; ``none``: the record names no enterprise.
LINK_METHODS = ("credit_code", "name", "fuzzy", "ambiguous", "unmatched", "none")
#: Methods that link a record to a register entry.
LINKED_METHODS = ("credit_code", "name", "fuzzy")
PRECISIONS = ("point", "county", "city")
GEOCODE_METHODS = ("coordinates", "register", "address", "adcode")
CREDIT_CODE_FLAGS = ("bad_format", "bad_check")
#: The natural key of each kind's records.
RECORD_KEYS = {kind: NATURAL_KEYS[kind] for kind in ("enterprises", *LINKED_TABLES)}
STALE_DEFINITION = (
    "a register entry is stale when a register batch (an ingest of kind enterprises) "
    "that covers the entry's place — loaded for the whole store, or for the entry's "
    "county, city or province — is newer than the batch that last wrote the entry: "
    "that newer register file did not confirm it"
)
DEFAULT_LIMIT = 10_000
_LEVEL_COLUMN = {"province": "province_adcode", "city": "city_adcode", "county": "adcode"}


def _table(kind: str) -> Table:
    return cast(Table, INGEST_TABLES[kind].__table__)


class _Scope:
    """Which records a report counts: those placed in a division, or of one batch."""

    def __init__(self, *, column: str | None, adcode: str | None, batch_id: int | None) -> None:
        self.column, self.adcode, self.batch_id = column, adcode, batch_id

    def where(self, table: Table) -> ColumnElement[bool]:
        if self.batch_id is not None:
            return table.c.batch_id == self.batch_id
        if self.column is None or self.adcode is None:
            return true()
        return table.c[self.column] == self.adcode

    def place(self, table: Table) -> ColumnElement[bool]:
        """Placed in the jurisdiction (a batch's report: in the batch's jurisdiction)."""
        if self.column is None or self.adcode is None:
            return true()
        return table.c[self.column] == self.adcode


def jurisdiction_quality(
    engine: Engine, jurisdiction: str | None, *, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """The report over every record placed in ``jurisdiction`` (the whole store if None)."""
    if jurisdiction is None:
        scope_doc: dict[str, Any] = {
            "type": "jurisdiction",
            "jurisdiction": None,
            "name": None,
            "level": None,
        }
        scope = _Scope(column=None, adcode=None, batch_id=None)
    else:
        level = jurisdiction_level(engine, jurisdiction)
        scope_doc = {
            "type": "jurisdiction",
            "jurisdiction": jurisdiction,
            "name": _division_name(engine, jurisdiction),
            "level": level,
        }
        scope = _Scope(column=_LEVEL_COLUMN[level], adcode=jurisdiction, batch_id=None)
    with engine.connect() as conn:
        batches = _jurisdiction_batches(conn, scope)
        report = _report(conn, scope, LOCATED_KINDS, batches, limit)
    report["duplicates"]["rows"] = None  # rows of files hold other places' records
    return _document(engine, scope_doc, report)


def batch_quality(engine: Engine, batch_id: int, *, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The report over one ingest batch: the records it last wrote, its rejected rows, the
    register entries it loaded, and the ambiguous links it left. 404 for no such batch."""
    with engine.connect() as conn:
        columns = IngestBatch.__table__.columns
        row = conn.execute(select(*columns).where(IngestBatch.id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"no ingest batch {batch_id}")
        column = None
        if row.jurisdiction is not None:
            level = conn.execute(
                select(Jurisdiction.level).where(Jurisdiction.adcode == row.jurisdiction)
            ).scalar()
            column = _LEVEL_COLUMN.get(str(level)) if level else None
        scope = _Scope(
            column=column, adcode=row.jurisdiction if column else None, batch_id=batch_id
        )
        kinds = (row.kind,) if row.kind in LOCATED_KINDS else ()
        report = _report(conn, scope, kinds, [batch_id], limit)
    scope_doc = {
        "type": "batch",
        "batch_id": row.id,
        "kind": row.kind,
        "source_name": row.source_name,
        "rows": row.rows,
        "accepted": row.accepted,
        "rejected": row.rejected,
        "inserted": row.inserted,
        "updated": row.updated,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "account": row.account,
        "jurisdiction": row.jurisdiction,
    }
    return _document(engine, scope_doc, report)


def _document(engine: Engine, scope: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    return {
        "scope": scope,
        "data_version": data_version(engine),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **report,
    }


def _report(
    conn: Connection, scope: _Scope, kinds: Iterable[str], batch_ids: list[int], limit: int
) -> dict[str, Any]:
    kinds = tuple(kinds)
    linked = tuple(k for k in kinds if k in LINKED_TABLES)
    rejects = _rejects(conn, batch_ids)
    return {
        "kinds": list(kinds),
        "links": {kind: _links(conn, kind, scope) for kind in linked},
        "precision": {kind: _precision(conn, kind, scope) for kind in kinds},
        "credit_code_flags": _flags(conn, linked, scope, limit),
        "rejects": rejects,
        "duplicates": {
            "duplicate_ids": rejects["by_reason"].get("duplicate_id", 0),
            "rows": _duplicate_rows(conn, batch_ids, limit),
            "register_names": _shared_names(conn, scope, limit),
        },
        "stale": _stale(conn, scope, limit),
        "reviews": _reviews(conn, scope, limit),
    }


def _counts(
    conn: Connection, table: Table, column: str, cond: ColumnElement[bool]
) -> dict[Any, int]:
    query = select(table.c[column], func.count()).where(cond).group_by(table.c[column])
    return {value: int(n) for value, n in conn.execute(query).all()}


def _shares(counts: dict[str, int], total: int) -> dict[str, float | None]:
    return {k: (round(n / total, 4) if total else None) for k, n in counts.items()}


def _links(conn: Connection, kind: str, scope: _Scope) -> dict[str, Any]:
    raw = _counts(conn, _table(kind), "link_method", scope.where(_table(kind)))
    counts = {m: 0 for m in LINK_METHODS}
    for method, n in raw.items():
        key = method or "none"
        counts[key] = counts.get(key, 0) + n
    total = sum(counts.values())
    named = total - counts["none"]
    linked = sum(counts[m] for m in LINKED_METHODS)
    return {
        "records": total,
        "by_method": counts,
        "shares": _shares(counts, total),
        "named": named,
        "linked": linked,
        "link_rate": round(linked / named, 4) if named else None,
    }


def _precision(conn: Connection, kind: str, scope: _Scope) -> dict[str, Any]:
    table = _table(kind)
    cond = scope.where(table)
    by_precision = {p: 0 for p in PRECISIONS}
    by_precision.update(_counts(conn, table, "geocode_precision", cond))
    by_method = {m: 0 for m in GEOCODE_METHODS}
    by_method.update(_counts(conn, table, "geocode_method", cond))
    total = sum(by_precision.values())
    return {
        "records": total,
        "by_precision": by_precision,
        "shares": _shares(by_precision, total),
        "by_method": by_method,
    }


def _flags(conn: Connection, kinds: tuple[str, ...], scope: _Scope, limit: int) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = {}
    items: list[dict[str, Any]] = []
    for kind in kinds:
        table = _table(kind)
        cond = scope.where(table) & table.c.credit_code_flag.is_not(None)
        counts = {f: 0 for f in CREDIT_CODE_FLAGS}
        counts.update(_counts(conn, table, "credit_code_flag", cond))
        by_kind[kind] = counts
        key = table.c[RECORD_KEYS[kind]]
        query = (
            select(
                key.label("record_id"),
                table.c.enterprise_name,
                table.c.credit_code,
                table.c.credit_code_flag,
                table.c.adcode,
            )
            .where(cond)
            .order_by(key)
            .limit(max(limit - len(items), 0))
        )
        items += [
            {
                "kind": kind,
                "record_id": r.record_id,
                "enterprise_name": r.enterprise_name,
                "credit_code": r.credit_code,
                "flag": r.credit_code_flag,
                "adcode": r.adcode,
            }
            for r in conn.execute(query).all()
        ]
    count = sum(sum(c.values()) for c in by_kind.values())
    return {"by_kind": by_kind, "count": count, "items": items, "truncated": count > len(items)}


def _jurisdiction_batches(conn: Connection, scope: _Scope) -> list[int]:
    """The batches that last wrote a record placed in the jurisdiction, and those that an
    account of the jurisdiction (or one below it) uploaded; every batch for the store."""
    if scope.adcode is None:
        return [int(i) for i in conn.execute(select(IngestBatch.id)).scalars()]
    found: set[int] = set()
    for kind in INGEST_TABLES:
        table = _table(kind)
        if scope.column is None or scope.column not in table.c:
            continue
        query = select(table.c.batch_id).where(scope.where(table)).distinct()
        found.update(int(i) for i in conn.execute(query).scalars() if i is not None)
    j = Jurisdiction
    within = select(j.adcode).where(
        (j.adcode == scope.adcode)
        | (j.city_adcode == scope.adcode)
        | (j.province_adcode == scope.adcode)
    )
    uploaded = select(IngestBatch.id).where(IngestBatch.jurisdiction.in_(within))
    found.update(int(i) for i in conn.execute(uploaded).scalars())
    return sorted(found)


def _rejects(conn: Connection, batch_ids: list[int]) -> dict[str, Any]:
    batches: list[dict[str, Any]] = []
    by_reason: dict[str, int] = {}
    if batch_ids:
        columns = (
            IngestBatch.id,
            IngestBatch.kind,
            IngestBatch.finished_at,
            IngestBatch.rows,
            IngestBatch.accepted,
            IngestBatch.rejected,
        )
        rows = conn.execute(
            select(*columns).where(IngestBatch.id.in_(batch_ids)).order_by(IngestBatch.id)
        ).all()
        reasons = conn.execute(
            select(RejectedRow.batch_id, RejectedRow.reason, func.count())
            .where(RejectedRow.batch_id.in_(batch_ids))
            .group_by(RejectedRow.batch_id, RejectedRow.reason)
        ).all()
        per_batch: dict[int, dict[str, int]] = {}
        for batch, reason, n in reasons:
            per_batch.setdefault(int(batch), {})[reason] = int(n)
            by_reason[reason] = by_reason.get(reason, 0) + int(n)
        batches = [
            {
                "batch_id": r.id,
                "kind": r.kind,
                "finished_at": _iso(r.finished_at),
                "rows": r.rows,
                "accepted": r.accepted,
                "rejected": r.rejected,
                "by_reason": dict(sorted(per_batch.get(r.id, {}).items())),
            }
            for r in rows
        ]
    by_reason = dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0])))
    return {"batches": batches, "by_reason": by_reason, "total": sum(by_reason.values())}


def _duplicate_rows(conn: Connection, batch_ids: list[int], limit: int) -> list[dict[str, Any]]:
    if not batch_ids:
        return []
    query = (
        select(RejectedRow.batch_id, RejectedRow.row_number, RejectedRow.detail, RejectedRow.values)
        .where(RejectedRow.batch_id.in_(batch_ids), RejectedRow.reason == "duplicate_id")
        .order_by(RejectedRow.batch_id, RejectedRow.row_number)
        .limit(limit)
    )
    return [
        {"batch_id": r.batch_id, "row_number": r.row_number, "detail": r.detail, "values": r.values}
        for r in conn.execute(query).all()
    ]


def _register_scope(scope: _Scope, table: Table) -> ColumnElement[bool]:
    """Register entries a report looks at: placed in its jurisdiction (for a batch, the
    batch's jurisdiction, or the whole store for a batch loaded from the command line)."""
    return scope.place(table)


def _shared_names(conn: Connection, scope: _Scope, limit: int) -> dict[str, Any]:
    """Normalised names that several credit codes of the register carry, within the
    report's place; for a batch, the names one of its entries carries."""
    e: Table = Enterprise.__table__  # type: ignore[assignment]
    place = _register_scope(scope, e)
    shared = (
        select(e.c.name_norm)
        .where(place, e.c.name_norm != "")
        .group_by(e.c.name_norm)
        .having(func.count(func.distinct(e.c.credit_code)) > 1)
    )
    if scope.batch_id is not None:
        own = select(e.c.name_norm).where(e.c.batch_id == scope.batch_id)
        shared = shared.where(e.c.name_norm.in_(own))
    names = sorted(str(n) for n in conn.execute(shared).scalars())
    query = (
        select(e.c.name_norm, e.c.credit_code, e.c.name, e.c.adcode, e.c.batch_id)
        .where(place, e.c.name_norm.in_(names[:limit]))
        .order_by(e.c.name_norm, e.c.credit_code)
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(query).all() if names else []:
        groups.setdefault(r.name_norm, []).append(
            {
                "credit_code": r.credit_code,
                "name": r.name,
                "adcode": r.adcode,
                "batch_id": r.batch_id,
            }
        )
    items = [{"name_norm": n, "entries": groups.get(n, [])} for n in names[:limit]]
    return {
        "count": len(names),
        "entries": sum(len(g["entries"]) for g in items),
        "items": items,
        "truncated": len(names) > limit,
    }


def _stale(conn: Connection, scope: _Scope, limit: int) -> dict[str, Any]:
    """Register entries a newer register batch covering their place did not confirm
    (:data:`STALE_DEFINITION`)."""
    b = IngestBatch
    register = conn.execute(
        select(b.id, b.jurisdiction, b.finished_at).where(b.kind == "enterprises").order_by(b.id)
    ).all()
    latest = register[-1] if register else None
    newest_all = max((r.id for r in register if r.jurisdiction is None), default=0)
    newest_in: dict[str, int] = {}
    for r in register:
        if r.jurisdiction is not None:
            newest_in[r.jurisdiction] = max(newest_in.get(r.jurisdiction, 0), r.id)
    when = {r.id: _iso(r.finished_at) for r in register}
    e: Table = Enterprise.__table__  # type: ignore[assignment]
    cond = scope.place(e)
    if scope.batch_id is not None:
        cond = e.c.batch_id == scope.batch_id
    items: list[dict[str, Any]] = []
    count = 0
    if register:
        entries = select(
            e.c.credit_code,
            e.c.name,
            e.c.adcode,
            e.c.city_adcode,
            e.c.province_adcode,
            e.c.batch_id,
        ).where(cond, or_(e.c.batch_id.is_(None), e.c.batch_id < register[-1].id))
        for entry in conn.execute(entries.order_by(e.c.credit_code)).all():
            places = (entry.adcode, entry.city_adcode, entry.province_adcode)
            newest = max([newest_all, *(newest_in.get(p, 0) for p in places if p)])
            if newest == 0 or (entry.batch_id is not None and entry.batch_id >= newest):
                continue
            count += 1
            if len(items) < limit:
                items.append(
                    {
                        "credit_code": entry.credit_code,
                        "name": entry.name,
                        "adcode": entry.adcode,
                        "batch_id": entry.batch_id,
                        "confirmed_at": when.get(entry.batch_id) if entry.batch_id else None,
                        "newer_register_batch": newest,
                    }
                )
    return {
        "definition": STALE_DEFINITION,
        "latest_register_batch": (
            {"batch_id": latest.id, "finished_at": _iso(latest.finished_at)} if latest else None
        ),
        "count": count,
        "items": items,
        "truncated": count > len(items),
    }


def _reviews(conn: Connection, scope: _Scope, limit: int) -> dict[str, Any]:
    r: Table = LinkReview.__table__  # type: ignore[assignment]
    cond = scope.where(r)
    count = int(conn.execute(select(func.count()).select_from(r).where(cond)).scalar_one())
    query = (
        select(
            r.c.kind,
            r.c.record_id,
            r.c.enterprise_name,
            r.c.credit_code,
            r.c.adcode,
            r.c.batch_id,
            r.c.candidates,
        )
        .where(cond)
        .order_by(r.c.kind, r.c.record_id)
        .limit(limit)
    )
    items = [
        {
            "kind": row.kind,
            "record_id": row.record_id,
            "enterprise_name": row.enterprise_name,
            "credit_code": row.credit_code,
            "adcode": row.adcode,
            "batch_id": row.batch_id,
            "candidates": list(row.candidates or []),
        }
        for row in conn.execute(query).all()
    ]
    return {"count": count, "items": items, "truncated": count > len(items)}


def _division_name(engine: Engine, adcode: str) -> str | None:
    with engine.connect() as conn:
        name = conn.execute(select(Jurisdiction.name).where(Jurisdiction.adcode == adcode)).scalar()
    return str(name) if name is not None else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
