"""One ingest: read a file, validate, locate, and store it as one batch (one transaction)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, insert, update
from tqdm import tqdm

from analytics.cells import points_to_cells
from geo_service.boundaries import Divisions, read_divisions
from geo_service.errors import InputFileError, StoreNotReadyError
from geo_service.ingest import records, roster
from geo_service.ingest.columns import SPECS, KindSpec, map_headers
from geo_service.ingest.locate import Locator, Outcome
from geo_service.ingest.parsing import blank, parse_amounts, parse_dates, parse_numbers
from geo_service.ingest.readers import RawTable, file_sha256, read_table
from geo_service.ingest.rejects import rejected_frame, write_rejects_csv
from geo_service.ingest.writer import bulk_indexes, count_rows, write_rows
from geo_service.store.db import require_schema
from geo_service.store.models import INGEST_TABLES, IngestBatch, RejectedRow


@dataclass(frozen=True)
class IngestOptions:
    """How to read one file."""

    kind: str
    crs: str | None = None  # default CRS of rows without a ``crs`` cell
    rejects_path: Path | None = None
    chunk_rows: int = 100_000
    progress: bool = True
    today: dt.date | None = None  # latest acceptable date (default: today)
    source_name: str | None = None  # what the batch records as its source (default: the path)
    within: str | None = None  # adcode rows must be placed in (an uploading account's scope)


def validate(spec: KindSpec, raw: RawTable, rows: pd.DataFrame, today: dt.date | None) -> Outcome:
    """Apply the row checks in contract order; returns the per-row outcome."""
    outcome = Outcome.empty(rows.index)
    width = len(raw.headers)
    detail = pd.Series(
        [f"{len(f)} fields, expected {width}: {','.join(f)}" for f in raw.raw_lines],
        index=rows.index[raw.malformed],
        dtype=object,
    ).reindex(rows.index)
    outcome.reject(pd.Series(raw.malformed, index=rows.index), "malformed_row", detail)
    for column in spec.required:
        missing = blank(rows[column]) if column in rows else pd.Series(True, index=rows.index)
        outcome.reject(missing, "missing_required", f"{column} is empty")
    ids = rows[spec.id_column].fillna("").astype(str).str.strip()
    if spec.kind == "enterprises":
        ids = ids.str.upper()
    rows[spec.id_column] = ids
    _reject_repeated_ids(ids, pd.Series(raw.row_numbers, index=rows.index), outcome)
    if spec.date_column is not None:
        parsed = parse_dates(rows[spec.date_column], today=today)
        outcome.reject(parsed.isna(), "bad_date", f"{spec.date_column} is not a date in 1990–today")
        rows[spec.date_column] = parsed
    if "penalty_amount" in spec.columns and "penalty_amount" in rows:
        amount, bad = parse_amounts(rows["penalty_amount"])
        outcome.reject(bad, "bad_amount", "penalty_amount is not a non-negative amount")
        rows["penalty_amount"] = amount
    _check_numbers(spec, rows, outcome)
    return outcome


def _check_numbers(spec: KindSpec, rows: pd.DataFrame, outcome: Outcome) -> None:
    """Parse the kind's plain-number columns in place; reject ``bad_number`` cells."""
    for column in spec.numbers:
        if column not in rows:
            continue
        number = parse_numbers(rows[column])
        bad = ~blank(rows[column]) & ~np.isfinite(number.fillna(np.inf))
        outcome.reject(bad, "bad_number", f"{column} is not a number")
        rows[column] = number.where(~bad)


def _reject_repeated_ids(ids: pd.Series, row_numbers: pd.Series, outcome: Outcome) -> None:
    """Reject every occurrence of an id after its first one in the file (by row number)."""
    candidates = ids[outcome.ok & ids.ne("")]
    shared = candidates[candidates.duplicated(keep=False)]  # every member of a repeated id
    if shared.empty:
        return
    in_file_order = shared.iloc[np.argsort(row_numbers[shared.index].to_numpy(), kind="stable")]
    repeated = in_file_order[in_file_order.duplicated(keep="first")]
    first_row = row_numbers[in_file_order.index].groupby(in_file_order.to_numpy()).min()
    detail = "also in row " + repeated.map(first_row).astype(str)
    mask = pd.Series(ids.index.isin(repeated.index), index=ids.index)
    outcome.reject(mask, "duplicate_id", detail.reindex(ids.index))


def ingest_file(engine: Engine, path: Path, options: IngestOptions) -> dict[str, Any]:
    """Ingest one file as one batch and return the JSON summary.

    Every row read is either stored (inserted or updated in place on its natural
    key) or rejected with a reason written to the rejects file and the store.
    """
    spec = SPECS.get(options.kind)
    if spec is None:
        raise InputFileError(f"unknown kind {options.kind!r}")
    require_schema(engine)
    divisions = read_divisions(engine)
    if divisions.table.empty:
        raise StoreNotReadyError("no boundaries loaded; run `geo-service init`")
    started = dt.datetime.now(dt.UTC)
    clock = _Stages()
    raw = read_table(path)
    clock.lap("read")
    mapping = map_headers(spec.kind, raw.headers)
    rows = raw.data.rename(columns=mapping)
    outcome = validate(spec, raw, rows, options.today)
    clock.lap("validate")
    extra = [mapping[h] for h in raw.headers]
    if spec.located:
        prepared = _located_rows(engine, spec, divisions, rows, outcome, extra,
                                 options.crs or raw.file_crs, clock, options.within)  # fmt: skip
    else:
        prepared = _roster_rows(spec, divisions, rows, outcome, extra, options.within)
    rejected = rejected_frame(raw, outcome)
    clock.lap("prepare")
    summary = _store(engine, path, spec, prepared, rejected, started, options)
    clock.lap("store")
    summary["rejects_path"] = str(
        write_rejects_csv(rejected, raw.headers, _rejects_path(path, options))
    )
    summary["seconds"] = clock.laps
    return summary


@dataclass
class _Prepared:
    """What a batch writes: the table's rows, how they were placed, and any exclusions."""

    table_rows: pd.DataFrame
    methods: pd.Series  # geocode method per row (empty for the roster)
    exclusions: list[dict[str, str]] | None = None  # the roster's (inspector_id, credit_code)


def _located_rows(
    engine: Engine,
    spec: KindSpec,
    divisions: Divisions,
    rows: pd.DataFrame,
    outcome: Outcome,
    extra: list[str],
    default_crs: str | None,
    clock: _Stages,
    within: str | None = None,
) -> _Prepared:
    register = records.load_register(engine) if spec.kind != "enterprises" else None
    located = Locator(divisions, register).locate(rows, outcome, default_crs)
    reject_outside(located, outcome, within)
    clock.lap("locate")
    ok = outcome.ok
    table_rows = records.build(spec, rows[ok], located[ok], extra=extra)
    table_rows["h3_15"] = points_to_cells(
        table_rows["lon"].astype(float), table_rows["lat"].astype(float), 15
    )
    return _Prepared(table_rows, located.loc[ok, "geocode_method"])


def _roster_rows(
    spec: KindSpec,
    divisions: Divisions,
    rows: pd.DataFrame,
    outcome: Outcome,
    extra: list[str],
    within: str | None = None,
) -> _Prepared:
    """Officers: their unit's division (no point), on-duty flag and conflict exclusions."""
    empty = pd.Series("", index=rows.index, dtype=object)
    rows["active"] = roster.parse_active(rows.get("active", empty), outcome)
    codes = roster.parse_exclusions(rows.get("excluded_credit_codes", empty), outcome)
    placed = roster.roster_divisions(rows, divisions, outcome)
    reject_outside(placed, outcome, within)
    ok = outcome.ok
    table_rows = records.build_roster(spec, rows[ok], placed[ok], extra)
    pairs = roster.exclusion_pairs(table_rows["inspector_id"], codes[ok])
    return _Prepared(table_rows, pd.Series([], dtype=object), pairs)


def reject_outside(placed: pd.DataFrame, outcome: Outcome, within: str | None) -> None:
    """Reject rows not placed in the division ``within`` or one below it.

    A row placed only as finely as a city is outside a county it may or may not be in.
    """
    if not within:
        return
    inside = pd.Series(False, index=placed.index)
    for column in ("adcode", "city_adcode", "province_adcode"):
        inside |= placed[column].astype(object).eq(within).fillna(False).astype(bool)
    detail = f"placed outside {within}, the jurisdiction of the uploading account"
    outcome.reject(~inside, "outside_jurisdiction", detail)


class _Stages:
    """Wall-clock seconds per ingest stage, reported in the summary for large files."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _rejects_path(path: Path, options: IngestOptions) -> Path:
    if options.rejects_path is not None:
        return options.rejects_path
    return path.with_name(f"{path.stem}.rejects.csv")


def _store(
    engine: Engine,
    path: Path,
    spec: KindSpec,
    prepared: _Prepared,
    rejected: pd.DataFrame,
    started: dt.datetime,
    options: IngestOptions,
) -> dict[str, Any]:
    table: Table = INGEST_TABLES[spec.kind].__table__  # type: ignore[assignment]
    table_rows = prepared.table_rows
    by_method = {str(k): int(v) for k, v in prepared.methods.value_counts().sort_index().items()}
    by_reason = {str(k): int(v) for k, v in rejected["reason"].value_counts().sort_index().items()}
    n_rows = len(table_rows) + len(rejected)
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(IngestBatch).returning(IngestBatch.id),
            {"kind": spec.kind, "source_name": options.source_name or str(path),
             "file_sha256": file_sha256(path),
             "rows": n_rows, "accepted": len(table_rows), "rejected": len(rejected),
             "inserted": 0, "updated": 0, "by_method": by_method, "by_reason": by_reason,
             "started_at": started, "finished_at": started},
        ).scalar_one()  # fmt: skip
        table_rows = table_rows.assign(batch_id=batch_id)
        before = count_rows(conn, table)
        bar = tqdm(total=len(table_rows), desc=f"ingest {spec.kind}", unit="rows",
                   disable=not options.progress or None, leave=False)  # fmt: skip
        with bulk_indexes(conn, table, len(table_rows)):
            for written in write_rows(conn, table, spec.id_column, table_rows, options.chunk_rows):
                bar.update(written)
        bar.close()
        if prepared.exclusions is not None:
            ids = table_rows[spec.id_column].astype(str).tolist()
            roster.replace_exclusions(conn, ids, prepared.exclusions)
        # ids are unique within a batch (repeats are rejected), so the growth is the inserts
        inserted = count_rows(conn, table) - before
        updated = len(table_rows) - inserted
        if len(rejected):
            conn.execute(insert(RejectedRow), _records(rejected.assign(batch_id=batch_id)))
        conn.execute(
            update(IngestBatch).where(IngestBatch.id == batch_id).values(
                inserted=inserted, updated=updated,
                finished_at=dt.datetime.now(dt.UTC)),
        )  # fmt: skip
    return {
        "rows": n_rows,
        "accepted": len(table_rows),
        "rejected": len(rejected),
        "inserted": inserted,
        "updated": updated,
        "by_method": by_method,
        "by_reason": by_reason,
        "batch_id": int(batch_id),
    }


__all__ = ["IngestOptions", "ingest_file"]
