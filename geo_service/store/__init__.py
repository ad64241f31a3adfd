"""The store: tables, engines, migrations and queries."""

from geo_service.store.db import is_postgres, make_engine, migrate, require_schema, session_factory
from geo_service.store.models import (
    Base,
    Enterprise,
    IngestBatch,
    Inspection,
    Jurisdiction,
    PenaltyCase,
    RejectedRow,
)

__all__ = [
    "Base",
    "Enterprise",
    "IngestBatch",
    "Inspection",
    "Jurisdiction",
    "PenaltyCase",
    "RejectedRow",
    "is_postgres",
    "make_engine",
    "migrate",
    "require_schema",
    "session_factory",
]
