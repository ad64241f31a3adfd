"""Writing accepted records into the store: upsert on the natural key.

The ingest prepares the records of a file chunk by chunk as Arrow tables
(:func:`to_arrow`) and sets them aside (:class:`~geo_service.ingest.staging.Staging`).
SQLite takes them all in one ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE`` from
the attached staging file, in C. On PostgreSQL each chunk is streamed with ``COPY …
FROM STDIN`` (CSV written by Arrow) into a temporary staging table, then moved by one
``INSERT … SELECT … ON CONFLICT``, or, into a table empty when the batch began, COPY'd
straight into it (the PostGIS ``geom`` column is generated from lon/lat as the rows are
stored). The row-wise ``executemany`` of the same upsert is kept as
the baseline the bulk paths are measured and tested against. Every path runs inside
the caller's transaction: a batch is written whole or not at all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Index,
    Table,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import DropIndex
from sqlalchemy.sql.dml import Insert

from geo_service.ingest.staging import ROWID, Staging, staged_table

#: Batches at least this large, and at least as large as the table already is, are
#: written with the table's secondary indexes dropped and rebuilt afterwards (on
#: PostgreSQL only into an empty table, :func:`bulk_write`): sorting once beats a
#: million random inserts into a small table. Into a large table
#: the batch goes through the indexes: a rebuild sorts the whole table again, and one
#: per batch made the national loads quadratic (the 50M benchmark's batches slowed from
#: 1 to 2.4 minutes by 10M rows).
BULK_ROWS = 50_000
#: PostgreSQL batches go through COPY and a staging table (False: ``executemany``, the
#: earlier path, kept as the benchmarks' baseline).
COPY_ON_POSTGRES = True
#: SQLite batches go in one ``INSERT … SELECT`` from the attached staging file (False:
#: ``executemany``, kept as the baseline the bulk path is tested and measured against).
BULK_ON_SQLITE = True


def _insert(table: Table, dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


def upsert_statement(table: Table, key: str, columns: list[str], dialect: str) -> Insert:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` setting every given column but the key."""
    stmt = _insert(table, dialect).values({c: None for c in columns})
    update = {c: stmt.excluded[c] for c in columns if c != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=update)


def count_rows(conn: Connection, table: Table) -> int:
    """Number of rows in ``table``."""
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def to_arrow(frame: pd.DataFrame, table: Table) -> pa.Table:
    """The record columns of ``frame`` as the driver will be given them (NaN/None → null,
    JSON columns as JSON text): what :func:`write_rows` writes, ready to set aside."""
    return pa.table({str(c): _arrow_column(frame[c], table, str(c)) for c in frame.columns})


def _arrow_column(values: pd.Series, table: Table, name: str) -> pa.Array | pa.ChunkedArray:
    if isinstance(table.c[name].type, JSON):  # JSON text as built, or objects to encode
        text = [
            v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in values.where(values.notna(), None)
        ]
        return pa.array(text, type=pa.string())
    return pa.array(values, from_pandas=True)  # NaN/None → null, in C


def _python_column(values: pa.ChunkedArray, table: Table, name: str, dialect: str) -> list[Any]:
    """One column as plain Python values ready for the DB-API driver (None for missing)."""
    if dialect == "sqlite" and pa.types.is_date(values.type):
        values = values.cast(pa.string())  # SQLAlchemy's SQLite DATE storage: YYYY-MM-DD
    return values.to_pylist()


def write_rows(
    conn: Connection, table: Table, key: str, parts: Iterable[pa.Table], fresh: bool = False
) -> Iterator[int]:
    """Upsert ``parts`` (tables from :func:`to_arrow`, all with the same columns) into
    ``table`` one after the other; yields the rows written after each part. ``fresh``:
    the table held no row when the batch began (the parts' keys are unique in a batch).

    The next part's Python values are prepared (and the part read, when ``parts`` reads
    it) on a worker thread while the driver writes the current one (sqlite3 and psycopg
    release the GIL while the database works), so conversion and writing overlap.
    """
    if conn.dialect.name == "postgresql" and COPY_ON_POSTGRES:
        yield from copy_rows(conn, table, key, parts, fresh)
        return
    source = iter(parts)
    first = next(source, None)
    if first is None:
        return
    columns = list(first.column_names)
    dialect = conn.dialect.name
    compiled = upsert_statement(table, key, columns, dialect).compile(dialect=conn.dialect)
    order = list(compiled.positiontup or []) if compiled.positional else columns

    def prepare(part: pa.Table | None) -> list[Any] | None:
        if part is None:
            return None
        if part.column_names != columns:
            raise ValueError("the parts of one batch must have the same columns")
        rows = zip(*(_python_column(part.column(c), table, c, dialect) for c in order), strict=True)
        if compiled.positional:
            return list(rows)
        return [dict(zip(order, row, strict=True)) for row in rows]

    sql = str(compiled)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, first)
        try:
            while True:
                batch = pending.result()
                if batch is None:
                    break
                pending = pool.submit(lambda: prepare(next(source, None)))
                cursor.executemany(sql, batch)
                yield len(batch)
        finally:
            pending.cancel()
            cursor.close()


def _staging_statements(table: Table, key: str, columns: list[str]) -> tuple[Any, ...]:
    """CREATE of the staging table, its COPY, the upsert from it and its TRUNCATE."""
    stage = sql.Identifier(f"_stage_{table.name}")
    target = sql.Identifier(table.name)
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    create = sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS"
        " SELECT 0::bigint AS _n, {names} FROM {target} WITH NO DATA"
    ).format(stage=stage, names=names, target=target)
    copy = sql.SQL("COPY {stage} (_n, {names}) FROM STDIN (FORMAT csv)").format(
        stage=stage, names=names
    )
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns if c != key
    )
    upsert = sql.SQL(
        "INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ORDER BY _n"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}"
    ).format(target=target, names=names, stage=stage, key=sql.Identifier(key), updates=updates)
    return create, copy, upsert, sql.SQL("TRUNCATE {stage}").format(stage=stage)


def _direct_copy(table: Table, columns: list[str]) -> Any:
    """The COPY of rows straight into ``table``."""
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL("COPY {target} ({names}) FROM STDIN (FORMAT csv)").format(
        target=sql.Identifier(table.name), names=names
    )


_SAVEPOINT = "SAVEPOINT direct_copy"
_RELEASE = "RELEASE SAVEPOINT direct_copy"
_ROLL_BACK = "ROLLBACK TO SAVEPOINT direct_copy"


def copy_rows(
    conn: Connection, table: Table, key: str, parts: Iterable[pa.Table], fresh: bool = False
) -> Iterator[int]:
    """:func:`write_rows` on PostgreSQL: each part COPY'd into a staging table, then
    upserted from it in row order (ids are given as ``executemany`` gives them).

    Into a table that was empty when the batch began (``fresh``), whose keys are unique
    in the batch, the parts are COPY'd straight in, in the same order: a first load does
    not move every row twice. Should a part still meet a key already there (another
    batch committed meanwhile), its COPY is undone to a savepoint, and it and the parts
    after it go through the staging table's upsert.
    """
    source = iter(parts)
    part = next(source, None)
    if part is None:
        return
    columns = list(part.column_names)
    create, copy, upsert, truncate = _staging_statements(table, key, columns)
    direct, copy_direct = fresh, _direct_copy(table, columns)
    staged = False  # the staging table made (once, by the first part that needs it)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        start = 0
        while part is not None:
            if part.column_names != columns:
                raise ValueError("the parts of one batch must have the same columns")
            direct = direct and _copy_direct(cursor, copy_direct, part)
            if not direct:
                if not staged:
                    cursor.execute(create)
                    staged = True
                with cursor.copy(copy) as stream:
                    stream.write(_csv(part, start))
                cursor.execute(upsert)
                cursor.execute(truncate)
            start += part.num_rows
            yield part.num_rows
            part = next(source, None)
    finally:
        cursor.close()


def _copy_direct(cursor: Any, copy: Any, part: pa.Table) -> bool:
    """COPY ``part`` straight into its table; False, with nothing written, if one of its
    keys is there already."""
    cursor.execute(_SAVEPOINT)
    try:
        with cursor.copy(copy) as stream:
            stream.write(_csv(part))
    except psycopg.errors.UniqueViolation:
        cursor.execute(_ROLL_BACK)
        return False
    cursor.execute(_RELEASE)
    return True


def _csv(part: pa.Table, start: int | None = None) -> bytes:
    """``part`` as COPY's CSV, its row numbers first from ``start`` (None: none): strings
    always quoted (an empty string stays one), nulls as nothing (NULL)."""
    if start is not None:
        numbers = pa.array(range(start, start + part.num_rows), pa.int64())
        part = part.add_column(0, "_n", numbers)
    sink = io.BytesIO()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    pa_csv.write_csv(part, sink, options)
    return sink.getvalue()


#: The schema names of a batch's staging files, group by group, with their ATTACH and
#: DETACH statements written out (no SQL is built from strings); SQLite's usual build
#: lets a connection attach 10 files.
_STAGING_SCHEMAS = (
    ("staging", "ATTACH DATABASE ? AS staging", "DETACH DATABASE staging"),
    ("staging1", "ATTACH DATABASE ? AS staging1", "DETACH DATABASE staging1"),
    ("staging2", "ATTACH DATABASE ? AS staging2", "DETACH DATABASE staging2"),
    ("staging3", "ATTACH DATABASE ? AS staging3", "DETACH DATABASE staging3"),
    ("staging4", "ATTACH DATABASE ? AS staging4", "DETACH DATABASE staging4"),
    ("staging5", "ATTACH DATABASE ? AS staging5", "DETACH DATABASE staging5"),
    ("staging6", "ATTACH DATABASE ? AS staging6", "DETACH DATABASE staging6"),
    ("staging7", "ATTACH DATABASE ? AS staging7", "DETACH DATABASE staging7"),
)
#: Staging files one transaction may attach.
MOST_ATTACHED = len(_STAGING_SCHEMAS)


def _staging_schema(group: int) -> tuple[str, str, str]:
    """Schema name, ATTACH and DETACH of a batch's ``group``-th staging file (0, 1, …)."""
    if not 0 <= group < MOST_ATTACHED:
        raise ValueError(f"a batch attaches at most {MOST_ATTACHED} staging files")
    return _STAGING_SCHEMAS[group]


@contextmanager
def begin_batch(engine: Engine, commit: bool = True) -> Iterator[Connection]:
    """A connection in a transaction, like ``engine.begin()`` (rolled back at the end
    instead when not ``commit``: a dry run); the staging files that :func:`write_staged`
    attached are detached after the transaction ends (SQLite keeps a file read in a
    transaction locked until then), whether it committed or not."""
    detach = {name: statement for name, _, statement in _STAGING_SCHEMAS}
    with engine.connect() as conn:
        try:
            with conn.begin() as transaction:
                yield conn
                if not commit:
                    transaction.rollback()
        finally:
            if conn.dialect.name == "sqlite":
                listed = conn.exec_driver_sql("PRAGMA database_list").all()
                for name in sorted(detach.keys() & {str(row[1]) for row in listed}):
                    conn.exec_driver_sql(detach[name])
                conn.rollback()  # end the transaction the pragma began (nothing to undo)


def write_staged(
    conn: Connection,
    table: Table,
    key: str,
    staging: Staging,
    batch_id: int,
    group: int = 0,
    fresh: bool = False,
) -> Iterator[int]:
    """Upsert the records set aside in ``staging`` into ``table``, in file order, with
    their batch; yields the rows written as it goes.

    SQLite (:data:`BULK_ON_SQLITE`): the staging file is attached and its records go in
    by an ``INSERT … SELECT … ON CONFLICT`` per prepared chunk (the ``WHERE`` clause
    keeps SQLite's parser from reading ``ON`` as a join); ``conn`` must come from
    :func:`begin_batch`, which detaches the file once the transaction has ended. A
    batch written in groups (one staging file each) numbers them by ``group``.
    Otherwise they are read back chunk by chunk and given to :func:`write_rows` (with
    ``fresh``: the table held no row when the batch began).
    """
    staging.finish()
    if staging.columns is None:
        return
    if conn.dialect.name == "sqlite" and BULK_ON_SQLITE:
        columns = [*staging.columns, "batch_id"]
        schema, attach, _ = _staging_schema(group)
        staged = staged_table(table, staging.columns, schema=schema)
        rows = select(*(staged.c[c] for c in staging.columns), literal(batch_id))
        chunk = rows.where(bindparam("start") < ROWID, bindparam("end") >= ROWID)
        insert_ = sqlite.insert(table).from_select(columns, chunk.order_by(ROWID))
        update = {c: insert_.excluded[c] for c in columns if c != key}
        statement = insert_.on_conflict_do_update(index_elements=[key], set_=update)
        conn.exec_driver_sql(attach, (str(staging.path),))
        start = 0
        for end in staging.ends:  # one statement per chunk the ingest prepared
            conn.execute(statement, {"start": start, "end": end})
            yield end - start
            start = end
        return
    parts = (
        p.append_column("batch_id", pa.array([batch_id] * p.num_rows, pa.int64()))
        for p in staging.parts()
    )
    yield from write_rows(conn, table, key, parts, fresh)


def bulk_write(dialect: str, rows: int, existing: int, overlapped: bool = False) -> bool:
    """Whether a batch of ``rows`` into a table of ``existing`` rows is written with the
    table's secondary indexes dropped and rebuilt after (:func:`bulk_indexes`).

    SQLite: a batch large (:data:`BULK_ROWS`) and at least as large as the table; its
    readers keep reading the committed table meanwhile. Not a batch ``overlapped`` with
    the reading of its file: SQLite keeps the indexes up on a core the reading leaves
    free, where a rebuild would only add to the end. PostgreSQL: a large batch into an
    empty table only, since a dropped index holds the table's exclusive lock until the
    batch commits, and the readers of a table that holds rows must not wait for it.
    """
    if rows < BULK_ROWS:
        return False
    if dialect == "sqlite":
        return rows >= existing and not overlapped
    return dialect == "postgresql" and existing == 0


#: The secondary indexes of a table with the statements that made them, on each store.
_INDEX_STATEMENTS = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
    " AND sql IS NOT NULL",  # an index SQLite made for a constraint keeps no sql
    "postgresql": "SELECT indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() AND tablename = %s",
}


@contextmanager
def bulk_indexes(
    conn: Connection, table: Table, rows: int, existing: int = 0, overlapped: bool = False
) -> Iterator[None]:
    """Drop ``table``'s non-unique indexes for a batch of ``rows`` that :func:`bulk_write`
    chooses, and rebuild them after: the models' and those a migration made alone
    (``sqlix_…``, ``pgix_…``), each made again by the statement the store kept for it.
    Unique indexes stay: the upsert finds its rows by them.

    Runs inside the caller's transaction: a failed batch rolls the drop back too.
    """
    indexes: list[tuple[str, str]] = []
    dialect = conn.dialect.name
    if bulk_write(dialect, rows, existing, overlapped):
        kept = conn.exec_driver_sql(_INDEX_STATEMENTS[dialect], (table.name,))
        indexes = [(name, made) for name, made in kept if not _unique(made)]
    for name, _ in indexes:
        conn.execute(DropIndex(Index(name)))  # the name quoted by the dialect
    yield
    for _, made in indexes:
        conn.exec_driver_sql(made)


def _unique(statement: str) -> bool:
    """Whether a kept ``CREATE … INDEX`` statement makes a unique index."""
    return statement.split(None, 2)[1].upper() == "UNIQUE"
