"""Alembic environment: runs migrations on the engine handed over by geo_service.store.db."""

from alembic import context
from sqlalchemy import create_engine

from geo_service.store.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Leave PostGIS's own table, the geometry columns/indexes migrations add by hand and
    the serving indexes of one dialect alone (PostgreSQL's ``pgix_*``, revision 0005;
    SQLite's ``sqlix_*``, revision 0014)."""
    if type_ == "table" and name == "spatial_ref_sys":
        return False
    named = name or ""
    return not (name == "geom" or named.endswith("_geom") or named.startswith(("pgix_", "sqlix_")))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(
        str(config.get_main_option("sqlalchemy.url"))
    )
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_object,
        )
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
