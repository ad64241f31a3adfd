"""The store's tables (SQLAlchemy 2 declarative), the same on SQLite and PostGIS.

Geometry is written portably — lon/lat columns for points, WKB for polygons — and
on PostgreSQL the migration adds generated PostGIS ``geom`` columns with GiST
indexes derived from them, so that spatial SQL works without a second write path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[dict[str, Any]]: JSON,
    }


class Jurisdiction(Base):
    """An administrative division: province, prefecture city or county."""

    __tablename__ = "jurisdictions"

    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str] = mapped_column(String(8), index=True)  # province | city | county
    parent_adcode: Mapped[str | None] = mapped_column(String(6), index=True)
    city_adcode: Mapped[str | None] = mapped_column(String(6))
    province_adcode: Mapped[str] = mapped_column(String(6))
    rep_lon: Mapped[float] = mapped_column(Float)  # representative point (inside the polygon)
    rep_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    geom_wkb: Mapped[bytes] = mapped_column(LargeBinary)  # WGS84 (Multi)Polygon as WKB


class LocatedMixin:
    """Where a record is, how it was placed there, and which divisions hold it."""

    lon: Mapped[float] = mapped_column(Float)  # WGS84
    lat: Mapped[float] = mapped_column(Float)
    source_lon: Mapped[float | None] = mapped_column(Float)  # as given in the file
    source_lat: Mapped[float | None] = mapped_column(Float)
    source_crs: Mapped[str | None] = mapped_column(String(16))
    geocode_method: Mapped[str] = mapped_column(String(16))  # coordinates|register|address|adcode
    geocode_precision: Mapped[str] = mapped_column(String(8))  # point|county|city
    coord_flags: Mapped[str | None] = mapped_column(String(64))  # e.g. "swapped"
    h3_15: Mapped[int] = mapped_column(BigInteger)  # H3 cell at resolution 15 (integer id)
    adcode: Mapped[str | None] = mapped_column(String(6))  # county: indexed by _division_indexes
    city_adcode: Mapped[str | None] = mapped_column(String(6))
    province_adcode: Mapped[str | None] = mapped_column(String(6))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown input columns
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))


def _division_indexes(table: str, key: str | None = None) -> tuple[Index, Index]:
    """The county and city indexes of a located table. With the natural ``key`` of a
    table served in pages: (division, key), so that a jurisdiction's page in key order
    reads its rows in that order and stops at the page's end, where an index on the
    division alone makes the store read and sort every record of the division."""
    suffix, by = ("_by_key", (key,)) if key else ("", ())
    county, city = (Index(f"ix_{table}_{c}{suffix}", c, *by) for c in ("adcode", "city_adcode"))
    return county, city


class LinkedMixin:
    """Which register entry a record concerns, how it was found, and what it inherited.

    ``credit_code`` stays as the file stated it; ``enterprise_credit_code`` is the
    register entry the linkage chose (credit code, then normalised name, then name,
    address and distance). ``link_method`` is ``credit_code``, ``name`` or ``fuzzy``
    when linked, ``ambiguous`` when several entries fit equally (never linked; listed
    in ``link_reviews``), ``unmatched`` when a named enterprise fits none, and empty
    when the record names no enterprise.
    """

    enterprise_credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    link_method: Mapped[str | None] = mapped_column(String(16))
    link_score: Mapped[float | None] = mapped_column(Float)  # 0..1, 1 for code and exact name
    credit_code_flag: Mapped[str | None] = mapped_column(String(16))  # bad_format | bad_check
    # supervision category (key | special | general), always the linked register entry's
    supervision_category: Mapped[str | None] = mapped_column(String(8))
    # the fields filled from the register entry, comma-separated (e.g. "industry_code")
    inherited: Mapped[str | None] = mapped_column(String(64))


class Enterprise(LocatedMixin, Base):
    """A pollution source in the register ("one file per source")."""

    __tablename__ = "enterprises"
    __table_args__ = _division_indexes("enterprises", "credit_code")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_norm: Mapped[str] = mapped_column(String(200), index=True)
    industry_code: Mapped[str | None] = mapped_column(String(8), index=True)
    industry_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(8))  # key | special | general
    permit_no: Mapped[str | None] = mapped_column(String(64))


class PenaltyCase(LinkedMixin, LocatedMixin, Base):
    """An administrative penalty case."""

    __tablename__ = "cases"
    __table_args__ = _division_indexes("cases", "case_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(100), unique=True)
    decision_date: Mapped[dt.date] = mapped_column(Date, index=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    # no index: prefix filters (LIKE 'C26%') cannot use a plain b-tree
    industry_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(Text)
    violation_type: Mapped[str | None] = mapped_column(String(100))
    law_article: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    penalty_amount: Mapped[float | None] = mapped_column(Float)  # yuan
    status: Mapped[str | None] = mapped_column(String(32))
    problem_type: Mapped[int | None] = mapped_column(Integer)
    problem_type_label: Mapped[str | None] = mapped_column(String(200))


class Inspection(LinkedMixin, LocatedMixin, Base):
    """An on-site inspection finding from a mobile enforcement terminal."""

    __tablename__ = "inspections"
    __table_args__ = _division_indexes("inspections", "inspection_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(String(100), unique=True)
    inspection_date: Mapped[dt.date] = mapped_column(Date, index=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    # no index: prefix filters (LIKE 'C26%') cannot use a plain b-tree
    industry_code: Mapped[str | None] = mapped_column(String(8))
    inspectors: Mapped[str | None] = mapped_column(String(200))
    problem_found: Mapped[bool | None] = mapped_column(Boolean)
    problem_category: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    problem_type: Mapped[int | None] = mapped_column(Integer)
    problem_type_label: Mapped[str | None] = mapped_column(String(200))


class Exceedance(LinkedMixin, LocatedMixin, Base):
    """An exceedance reported by online (automatic) monitoring of a source (在线监测超标)."""

    __tablename__ = "exceedances"
    __table_args__ = _division_indexes("exceedances")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exceedance_id: Mapped[str] = mapped_column(String(100), unique=True)
    monitor_date: Mapped[dt.date] = mapped_column(Date, index=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    industry_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(Text)
    pollutant: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)  # measured, in ``unit``
    limit: Mapped[float | None] = mapped_column(Float)  # the standard's limit, in ``unit``
    unit: Mapped[str | None] = mapped_column(String(32))


class Complaint(LinkedMixin, LocatedMixin, Base):
    """A public complaint (信访投诉) about pollution, with the unit complained about if named."""

    __tablename__ = "complaints"
    __table_args__ = _division_indexes("complaints")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(String(100), unique=True)
    complaint_date: Mapped[dt.date] = mapped_column(Date, index=True)
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)
    industry_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(32))  # 废气 | 噪声 | 废水 | 固废 …
    description: Mapped[str | None] = mapped_column(Text)


class Project(LinkedMixin, LocatedMixin, Base):
    """A construction project (建设项目) with its EIA approval and completion acceptance.

    A project without an approval date was built without one as far as the file
    knows; a case of "未批先建" is borne out when the enterprise's approval is dated
    after the case, or missing.
    """

    __tablename__ = "projects"
    __table_args__ = _division_indexes("projects", "project_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(100), unique=True)  # 项目编号
    project_name: Mapped[str] = mapped_column(String(200))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))  # 建设单位
    credit_code: Mapped[str | None] = mapped_column(String(18), index=True)  # 建设单位代码
    industry_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(Text)
    eia_approval_no: Mapped[str | None] = mapped_column(String(100))  # 环评批复文号
    eia_approval_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    acceptance_date: Mapped[dt.date | None] = mapped_column(Date)  # 竣工环保验收日期
    status: Mapped[str | None] = mapped_column(String(32))  # 在建 | 已建成 | 已验收 | 停建


class LinkReview(Base):
    """A record the linkage could not settle: several register entries fit about equally.

    Rewritten whenever the record is linked again (a new file, a register change);
    a clerk works through the list in the data-quality report.
    """

    __tablename__ = "link_reviews"
    __table_args__ = (
        UniqueConstraint("kind", "record_id", name="uq_link_reviews_kind_record"),
        Index("ix_link_reviews_adcode", "adcode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(String(100))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))  # as stated
    adcode: Mapped[str | None] = mapped_column(String(6))  # the record's county
    city_adcode: Mapped[str | None] = mapped_column(String(6))
    province_adcode: Mapped[str | None] = mapped_column(String(6))
    # [{"credit_code", "name", "score", "distance_km"}], best first
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))


class Inspector(Base):
    """An enforcement officer on a jurisdiction's roster (not on the map)."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspector_id: Mapped[str] = mapped_column(String(64), unique=True)  # 执法证号
    name: Mapped[str] = mapped_column(String(64))
    adcode: Mapped[str] = mapped_column(String(6), index=True)  # the unit's division, any level
    level: Mapped[str] = mapped_column(String(8))  # province | city | county (of ``adcode``)
    city_adcode: Mapped[str | None] = mapped_column(String(6), index=True)
    province_adcode: Mapped[str | None] = mapped_column(String(6))
    active: Mapped[bool] = mapped_column(Boolean)  # 在岗
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # unknown input columns
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))


class InspectorExclusion(Base):
    """A conflict-of-interest exclusion: the officer never inspects this enterprise (回避)."""

    __tablename__ = "inspector_exclusions"

    inspector_id: Mapped[str] = mapped_column(
        ForeignKey("inspectors.inspector_id", ondelete="CASCADE"), primary_key=True
    )
    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True, index=True)


class Draw(Base):
    """A stored inspection draw (双随机): its canonical JSON record and that record's digest."""

    __tablename__ = "draws"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    draw_id: Mapped[str] = mapped_column(String(64), unique=True)
    jurisdiction: Mapped[str] = mapped_column(String(6), index=True)  # adcode
    quarter: Mapped[str] = mapped_column(String(7))  # 2025-Q1
    seed_commitment: Mapped[str | None] = mapped_column(String(128))
    seed: Mapped[str | None] = mapped_column(String(128))
    data_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))  # account name or "cli"
    record_json: Mapped[str] = mapped_column(Text)  # canonical JSON, kept byte for byte
    record_digest: Mapped[str] = mapped_column(String(64))  # sha256 of record_json (UTF-8)


class IngestBatch(Base):
    """One ingested file: what it was, what happened to its rows."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    by_method: Mapped[dict[str, Any]] = mapped_column(JSON)
    by_reason: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # who loaded it over HTTP (none from the command line): whose admins may read it
    account: Mapped[str | None] = mapped_column(String(100))
    jurisdiction: Mapped[str | None] = mapped_column(String(6))


class RejectedRow(Base):
    """A row an ingest refused, with its reason and original values."""

    __tablename__ = "rejected_rows"
    __table_args__ = (Index("ix_rejected_rows_batch_row", "batch_id", "row_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    row_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)


class LayerBuild(Base):
    """A built analytic layer for one set of filters and parameters (GeoParquet or GeoTIFF)."""

    __tablename__ = "layer_builds"
    __table_args__ = (UniqueConstraint("layer", "key", name="uq_layer_builds_layer_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    layer: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))  # sha256 of filters + parameters
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    n_features: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class Account(Base):
    """A person or system that may read the service: a role and a jurisdiction scope.

    The API key itself is never stored, only its SHA-256 (keys are 256-bit random
    tokens, so a fast hash is enough) and a short prefix to recognise it by.
    """

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | leader | planner | gis | inspector
    jurisdiction: Mapped[str] = mapped_column(String(6))  # adcode of a province, city or county
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LoginSession(Base):
    """A browser's log-in: the cookie carries a random token, the store only its SHA-256.

    A session ends when it expires (12 h after log-in), when it is revoked (``/logout``)
    or when its account is disabled (every session of the account is revoked)."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_account_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceSecret(Base):
    """A secret the service makes once per store (the public view's cell-key secret)."""

    __tablename__ = "service_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """One access to point records or one draw: who, when, what and with which parameters."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_account", "account"),
        Index("ix_audit_log_entry_key", "entry_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    account: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))  # read | download | tile | draw …
    resource: Mapped[str] = mapped_column(String(200))  # path of the request
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    records: Mapped[int | None] = mapped_column(Integer)  # point records handed out
    address: Mapped[str | None] = mapped_column(String(64))
    #: Unique, given by the writer: a replayed journal skips the entries already stored.
    entry_key: Mapped[str | None] = mapped_column(String(32))


#: The tables of point records served as layers, by the ingest kind that fills them.
RECORD_TABLES: dict[str, type[LocatedMixin]] = {
    "enterprises": Enterprise,
    "cases": PenaltyCase,
    "inspections": Inspection,
    "projects": Project,
}
#: Records kept for planning (risk, the draw) but not served as layers, by ingest kind.
PLANNING_TABLES: dict[str, type[Base]] = {
    "exceedances": Exceedance,
    "complaints": Complaint,
    "inspectors": Inspector,
}
#: Every table an ingest fills, by kind.
INGEST_TABLES: dict[str, type[Base]] = {
    "enterprises": Enterprise,
    "cases": PenaltyCase,
    "inspections": Inspection,
    "projects": Project,
    **PLANNING_TABLES,
}
#: The natural key of each ingest kind's records: what a re-ingest updates in place on.
NATURAL_KEYS: dict[str, str] = {
    "enterprises": "credit_code",
    "cases": "case_id",
    "inspections": "inspection_id",
    "projects": "project_id",
    "exceedances": "exceedance_id",
    "complaints": "complaint_id",
    "inspectors": "inspector_id",
}
#: The tables whose records are linked to the register, by ingest kind.
LINKED_TABLES: dict[str, type[LinkedMixin]] = {
    "cases": PenaltyCase,
    "inspections": Inspection,
    "exceedances": Exceedance,
    "complaints": Complaint,
    "projects": Project,
}
