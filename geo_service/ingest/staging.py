"""A file's prepared records, set aside in a SQLite file until the batch's transaction.

The ingest prepares a file chunk by chunk before it writes anything to the store (a
failure anywhere stores nothing). Each chunk's records, as Arrow tables, go into one
table of a scratch SQLite file in the ingest's private folder through the ADBC SQLite
driver: a bulk append in C, with no Python object per cell, made on a worker thread
while the next chunk is prepared. The store then takes them in one statement (SQLite:
``INSERT … SELECT`` from the attached file) or reads them back chunk by chunk, with
the Arrow types they were given (PostgreSQL's COPY, and the row-wise path).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    literal_column,
    select,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.types import TypeEngine

#: The staged table's name inside the scratch file.
STAGED = "staged"
#: SQLite's row id of the staged table: the order records were appended in.
ROWID: ColumnClause[int] = literal_column("rowid", Integer())


def _affinity(table: Table, name: str) -> TypeEngine[object]:
    """The declared type of a staged column: stable types on the way back."""
    kind = table.c[name].type
    if isinstance(kind, Boolean | Integer):
        return Integer()  # type: ignore[return-value]
    if isinstance(kind, Float | Numeric):
        return Float()  # type: ignore[return-value]
    return Text()  # type: ignore[return-value]  # strings, JSON text, dates as YYYY-MM-DD


def staged_table(table: Table, columns: list[str], schema: str | None = None) -> Table:
    """The staged table of ``table``'s ``columns`` (in the attached ``schema`` if given),
    for SQL built by SQLAlchemy, never from strings."""
    declared = [Column(c, _affinity(table, c)) for c in columns]
    return Table(STAGED, MetaData(), *declared, schema=schema)


def _sql(statement: object) -> str:
    """A statement as SQLite text, its values inlined (row ids: integers)."""
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


class Staging:
    """The records of one file, appended in file order; ``rows`` counts them and
    ``ends`` holds the row count after each append (rowids run from 1, in order).

    Appends run one at a time on a worker thread; :meth:`append` waits for the
    previous one, so at most one chunk waits in memory. :meth:`finish` waits for the
    last one and must be called before the records are read or attached.
    """

    def __init__(self, path: Path, table: Table) -> None:
        self.path = path
        self.table = table
        self.rows = 0
        self.ends: list[int] = []
        self.columns: list[str] | None = None
        self._types: dict[str, pa.DataType] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging")
        self._pending: Future[None] | None = None
        self._conn = self._pool.submit(self._connect).result()

    def _connect(self) -> adbc.Connection:
        conn = adbc.connect(str(self.path), autocommit=True)  # each append its own write
        with conn.cursor() as cur:
            cur.execute("PRAGMA journal_mode=OFF")  # a scratch file: rebuilt, never recovered
            cur.execute("PRAGMA synchronous=OFF")
        return conn

    def append(self, part: pa.Table) -> None:
        """Set aside ``part`` (every part with the same columns) after those before it."""
        if self.columns is None:
            self.columns = list(part.column_names)
            self._wait()
            self._pending = self._pool.submit(self._create)
        elif part.column_names != self.columns:
            raise ValueError("the parts of one file must have the same columns")
        for name in self.columns:  # the first non-null type of each column, to read back as
            kind = part.schema.field(name).type
            if name not in self._types and not pa.types.is_null(kind):
                self._types[name] = kind
        self._wait()
        self._pending = self._pool.submit(self._ingest, part)
        self.rows += part.num_rows
        self.ends.append(self.rows)

    def _create(self) -> None:
        assert self.columns is not None
        create = CreateTable(staged_table(self.table, self.columns))
        with self._conn.cursor() as cur:
            cur.execute(_sql(create))

    def _ingest(self, part: pa.Table) -> None:
        with self._conn.cursor() as cur:
            cur.adbc_ingest(STAGED, part, mode="append")

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def finish(self) -> None:
        """Wait for the last append."""
        self._wait()

    def parts(self) -> Iterator[pa.Table]:
        """The staged records in file order, as they were appended (one table a chunk),
        with the Arrow types they were given (dates, booleans and JSON text as given)."""
        if self.columns is None:
            return
        staged = staged_table(self.table, self.columns)
        chosen = select(*(staged.c[c] for c in self.columns)).order_by(ROWID)
        with adbc.connect(str(self.path)) as conn, conn.cursor() as cur:
            start = 0
            for end in self.ends:
                # the driver types a column by the values of its first batch: one batch a
                # chunk, so a column empty in its first rows is not typed as integers
                rows = {"adbc.sqlite.query.batch_rows": str(max(end - start, 1))}
                cur.adbc_statement.set_options(**rows)
                cur.execute(_sql(chosen.where(start < ROWID, end >= ROWID)))
                yield self._typed(cur.fetch_arrow_table())
                start = end

    def _typed(self, part: pa.Table) -> pa.Table:
        columns = []
        for name, values in zip(part.column_names, part.columns, strict=True):
            kind = self._types.get(name)
            columns.append(values if kind is None or values.type == kind else values.cast(kind))
        return pa.table(columns, names=part.column_names)

    def close(self) -> None:
        """Close the scratch file (its folder is removed with the ingest's)."""
        try:
            self._wait()
        finally:
            self._pool.submit(self._conn.close).result()
            self._pool.shutdown()
