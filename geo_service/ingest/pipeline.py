"""One ingest: read a file in chunks, validate, locate, store it as one batch (one transaction)."""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import tempfile
import time
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, false, func, not_, or_, select
from tqdm import tqdm

from analytics.cells import points_to_cells
from analytics.coords import CRS_NAMES, UnknownCRSError, normalize_crs_name
from geo_service.core.errors import InputFileError, StoreNotReadyError
from geo_service.core.processes import pid_alive
from geo_service.ingest import records, roster
from geo_service.ingest.batch import BatchOrigin, EarlyBatch, store_batch
from geo_service.ingest.chunk_workers import (
    ChunkWorkers,
    large_file,
    worker_locator,
    workers_for,
)
from geo_service.ingest.columns import (
    SPECS,
    KindSpec,
    check_required_headers,
    map_headers,
    unknown_kind,
)
from geo_service.ingest.locate import Locator, Outcome
from geo_service.ingest.options import IngestOptions
from geo_service.ingest.parsing import blank, parse_amounts, parse_dates, parse_numbers
from geo_service.ingest.readers import CarefulReadNeeded, RawTable, TableSource, open_table
from geo_service.ingest.rejects import reject_non_points, rejected_frame, write_rejects_csv
from geo_service.ingest.set_aside import ChunkRecords, SetAside
from geo_service.ingest.writer import MOST_ATTACHED, to_arrow
from geo_service.linkage.codes import BAD_CHECK, BAD_FORMAT, credit_code_flags
from geo_service.linkage.register import load_register_index
from geo_service.linkage.reviews import review_rows
from geo_service.store.boundaries import Divisions, read_divisions
from geo_service.store.db import require_schema
from geo_service.store.models import LINKED_TABLES


def validate(
    spec: KindSpec,
    raw: RawTable,
    rows: pd.DataFrame,
    today: dt.date | None,
    first_rows: dict[str, int] | None = None,
) -> Outcome:
    """Apply the row checks in contract order; returns the per-row outcome.

    ``first_rows`` maps each id seen in the file's earlier chunks to the row it was first
    seen in; this chunk's new ids are added to it.
    """
    outcome = validate_order(spec, raw, rows, first_rows)
    validate_values(spec, rows, outcome, today)
    return outcome


def validate_order(
    spec: KindSpec, raw: RawTable, rows: pd.DataFrame, first_rows: dict[str, int] | None = None
) -> Outcome:
    """The checks up to the repeated ids, which depend on the chunks before this one:
    the part of :func:`validate` that follows the file's order."""
    outcome = Outcome.empty(rows.index)
    width = len(raw.headers)
    detail = pd.Series(
        [f"{len(f)} fields, expected {width}: {','.join(f)}" for f in raw.raw_lines],
        index=rows.index[raw.malformed],
        dtype=object,
    ).reindex(rows.index)
    outcome.reject(pd.Series(raw.malformed, index=rows.index), "malformed_row", detail)
    reject_non_points(raw, rows, outcome)
    for column in spec.required:
        missing = blank(rows[column]) if column in rows else pd.Series(True, index=rows.index)
        outcome.reject(missing, "missing_required", f"{column} is empty")
    ids = rows[spec.id_column].fillna("").astype(str).str.strip()
    if spec.kind == "enterprises":
        ids = ids.str.upper()
        flags = credit_code_flags(ids.where(ids.ne(""), None))
        outcome.reject(
            flags.notna(),
            "bad_credit_code",
            "统一社会信用代码校验不通过 (credit_code fails the GB 32100 check: "
            + flags.map({BAD_FORMAT: "not 18 code characters", BAD_CHECK: "wrong check character"})
            + ")",
        )
    rows[spec.id_column] = ids
    numbers = pd.Series(raw.row_numbers, index=rows.index)
    _reject_repeated_ids(ids, numbers, outcome, {} if first_rows is None else first_rows)
    return outcome


def validate_values(
    spec: KindSpec, rows: pd.DataFrame, outcome: Outcome, today: dt.date | None
) -> None:
    """The checks after the repeated ids, each on the chunk's own values (dates, amounts,
    numbers, parsed in place): the part of :func:`validate` a worker may do."""
    if spec.date_column is not None:
        parsed = parse_dates(rows[spec.date_column], today=today)
        outcome.reject(parsed.isna(), "bad_date", f"{spec.date_column} is not a date in 1990–today")
        rows[spec.date_column] = parsed
    for column in spec.optional_dates:
        if column not in rows:
            continue
        given = ~blank(rows[column])
        parsed = parse_dates(rows[column].where(given, None), today=today)
        outcome.reject(given & parsed.isna(), "bad_date", f"{column} is not a date in 1990–today")
        rows[column] = parsed
    if "penalty_amount" in spec.columns and "penalty_amount" in rows:
        amount, bad = parse_amounts(rows["penalty_amount"])
        outcome.reject(bad, "bad_amount", "penalty_amount is not a non-negative amount")
        rows["penalty_amount"] = amount
    _check_numbers(spec, rows, outcome)


def _check_numbers(spec: KindSpec, rows: pd.DataFrame, outcome: Outcome) -> None:
    """Parse the kind's plain-number columns in place; reject ``bad_number`` cells."""
    for column in spec.numbers:
        if column not in rows:
            continue
        number = parse_numbers(rows[column])
        bad = ~blank(rows[column]) & ~np.isfinite(number.fillna(np.inf))
        outcome.reject(bad, "bad_number", f"{column} is not a number")
        rows[column] = number.where(~bad)


def _reject_repeated_ids(
    ids: pd.Series, row_numbers: pd.Series, outcome: Outcome, first_rows: dict[str, int]
) -> None:
    """Reject every occurrence of an id after its first one in the file (by row number).

    ``first_rows`` holds the ids of the file's earlier chunks (whose rows all come before
    these) with their first row; this chunk's new ids are added.
    """
    candidates = ids[outcome.ok & ids.ne("")]
    if first_rows and not candidates.empty:
        get = first_rows.get
        earlier = [get(i) for i in candidates.tolist()]  # a list: no Series iteration
        seen = np.fromiter((n is not None for n in earlier), dtype=bool, count=len(earlier))
        if seen.any():
            detail = pd.Series(
                [f"also in row {n}" for n in earlier if n is not None],
                index=candidates.index[seen],
                dtype=object,
            )
            mask = pd.Series(ids.index.isin(candidates.index[seen]), index=ids.index)
            outcome.reject(mask, "duplicate_id", detail.reindex(ids.index))
            candidates = candidates[~seen]
    in_file_order = candidates.iloc[
        np.argsort(row_numbers[candidates.index].to_numpy(), kind="stable")
    ]
    repeated = in_file_order.duplicated(keep="first")
    first = in_file_order[~repeated]
    first_rows.update(zip(first.tolist(), row_numbers[first.index].tolist(), strict=True))
    if not repeated.any():
        return
    again = in_file_order[repeated]
    rows = [f"also in row {first_rows[i]}" for i in again.tolist()]  # few: no hash of all
    detail = pd.Series(rows, index=again.index, dtype=object)
    mask = pd.Series(ids.index.isin(again.index), index=ids.index)
    outcome.reject(mask, "duplicate_id", detail.reindex(ids.index))


def ingest_file(engine: Engine, path: Path, options: IngestOptions) -> dict[str, Any]:
    """Ingest one file as one batch and return the JSON summary.

    Every row read is either stored (inserted or updated in place on its natural
    key) or rejected with a reason written to the rejects file and the store.

    The file is read, validated, located and prepared in chunks of
    ``options.chunk_rows`` records, so memory depends on the chunk size, not on the
    file's: each chunk's prepared records and rejects are set aside in a private
    temporary folder (compressed Arrow files, deleted at the end, or by the next
    ingest when this one is killed). Then the batch is written in one transaction,
    chunk by chunk: a failure anywhere stores nothing. What is stored does not depend
    on the chunk size. A large CSV file overlaps its stages: worker processes locate
    its chunks while the next ones are read (:mod:`~geo_service.ingest.chunk_workers`),
    and its batch is written group by group while the rest is read
    (:class:`~geo_service.ingest.batch.EarlyBatch`); what is stored is the same.
    CSV and XLSX files are streamed; GeoJSON and GeoPackage files
    are read whole, then processed in chunks. Kept in memory across chunks: the
    file's ids with their first row (for ``duplicate_id``), the register, and the
    roster's officer ids and exclusions (the roster is small).
    """
    spec = SPECS.get(options.kind)
    if spec is None:
        raise unknown_kind(options.kind)
    _check_crs(options.crs)
    require_schema(engine)
    divisions = read_divisions(engine)
    if divisions.table.empty:
        raise StoreNotReadyError("no boundaries loaded; run `geo-service init`")
    started = dt.datetime.now(dt.UTC)
    clock = Stages(spec.located)
    source = open_table(path, options.limits, centroids=options.centroids)
    clock.lap("read")
    mapping = map_headers(spec.kind, source.headers)
    check_required_headers(spec.kind, source.headers, mapping)
    origin = BatchOrigin(path, source.sha256, started)
    with _private_folder() as folder:
        prepared, early = _prepare(
            engine, spec, divisions, source, mapping, options, clock, Path(folder), origin
        )
        try:
            if early is not None:
                summary = early.finish(prepared)
            else:
                summary = store_batch(engine, spec, prepared, origin, options)
        finally:
            prepared.close()
        clock.lap("store")
        if options.dry_run:  # nothing written: not even the rejects file, nor the batch
            summary["dry_run"] = True
            del summary["batch_id"]
        else:
            columns = {canonical: header for header, canonical in mapping.items()}
            rejects = write_rejects_csv(
                prepared.rejects(), source.headers, _rejects_path(path, options), columns
            )
            summary["rejects_path"] = str(rejects)
    summary["seconds"] = clock.laps
    return summary


def _check_crs(crs: str | None) -> None:
    """Refuse a ``--crs`` that names no supported system, listing those that do."""
    if crs is None:
        return
    try:
        normalize_crs_name(crs)
    except UnknownCRSError:
        names = ", ".join(CRS_NAMES)
        raise InputFileError(
            f"不支持的坐标系 {crs!r}，可选：{names}（或 EPSG:4326、EPSG:4490、gcj-02 等）"
            f" (unknown CRS {crs!r}; expected one of {names}, or EPSG:4326, EPSG:4490 …)"
        ) from None


#: Start of the names of the ingests' temporary folders (then the process id).
FOLDER_PREFIX = "geo-ingest-"


def _private_folder() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for one ingest, named after its process; the folders of
    ingests that died without removing theirs (killed, out of memory) are removed."""
    for stale in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = stale.name.removeprefix(FOLDER_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")


def _prepare(
    engine: Engine,
    spec: KindSpec,
    divisions: Divisions,
    source: TableSource,
    mapping: dict[str, str],
    options: IngestOptions,
    clock: Stages,
    folder: Path,
    origin: BatchOrigin,
) -> tuple[SetAside, EarlyBatch | None]:
    """Every chunk of the file validated, located and set aside (read again record by
    record when the fast read of a CSV file finds it needs that); for a large file,
    also the batch that is being written meanwhile, to be finished."""
    locator = None
    if spec.located:
        register = load_register_index(engine) if spec.kind in LINKED_TABLES else None
        locator = Locator(divisions, register)  # the register loaded once per file
        clock.lap("locate")
    table = spec.table
    stored = StoredPlaces(engine, table, spec.id_column, options.within)
    records_hint = source.scan.lines - 1 if source.scan is not None else None
    workers = workers_for(options.workers, records_hint, options.chunk_rows)
    pool = ChunkWorkers(locator, workers) if locator is not None and workers > 0 else None
    group_plan = _group_plan(options, records_hint)
    attempt = 0
    try:
        while True:
            attempt += 1
            early = None
            if group_plan:
                early = EarlyBatch(engine, spec, origin, options, rows=records_hint or 0)
            aside = SetAside(
                folder / f"read-{attempt}",
                table,
                group_plan,
                on_group=early.write if early is not None else None,
            )
            try:
                _read_chunks(
                    spec, divisions, locator, source, mapping, options, clock, aside, stored, pool
                )
                aside.seal()
                return aside, early
            except CarefulReadNeeded:
                if early is not None:
                    early.abandon()
                aside.discard()  # the fast read's row numbers drifted: read record by record
            except BaseException:
                if early is not None:
                    early.abandon()
                aside.close()
                raise
    finally:
        if pool is not None:
            pool.close()


def _group_plan(options: IngestOptions, records: int | None) -> tuple[int, ...] | None:
    """Chunks each group of records holds when the batch is written while the file is
    read, the last size kept for any further group (None: written once the file is
    read). As asked, every group alike; else, for a large file, its chunks spread over
    the staging files one transaction may attach, the larger groups first: the group
    written after the file is read is then the smallest, and the wait for it the
    shortest (1M records: 2, 2, 1, 1, 1, 1, 1, 1 chunks rather than five groups of 2)."""
    if options.group_chunks is not None:
        return (options.group_chunks,) if options.group_chunks else None
    if records is None or not large_file(records, options.chunk_rows):
        return None
    chunks = math.ceil(records / options.chunk_rows)
    groups = min(chunks, MOST_ATTACHED)
    size, larger = divmod(chunks, groups)
    return tuple(size + 1 if g < larger else size for g in range(groups))


def _read_chunks(
    spec: KindSpec,
    divisions: Divisions,
    locator: Locator | None,
    source: TableSource,
    mapping: dict[str, str],
    options: IngestOptions,
    clock: Stages,
    aside: SetAside,
    stored: StoredPlaces,
    pool: ChunkWorkers | None = None,
) -> None:
    """Each chunk read, validated, located and set aside. With ``pool``, chunks are
    located by its workers while the next ones are read; they are set aside in file
    order, at most one per worker waiting besides the one being located."""
    extra = [mapping[h] for h in source.headers]
    default_crs = options.crs or source.file_crs
    first_rows: dict[str, int] = {}  # id → the row it first appears in, across chunks
    bar = tqdm(
        desc=f"read {spec.kind}", unit="rows", disable=not options.progress or None, leave=False
    )
    pending: deque[tuple[RawTable, Future[_Located]]] = deque()

    def set_aside_oldest() -> None:
        raw, future = pending.popleft()
        located = future.result()
        clock.lap("locate")  # the wait for the worker
        aside.add(located.records, rejected_frame(raw, located.outcome))
        clock.lap("prepare")
        bar.update(len(raw.row_numbers))

    chunks = source.chunks(options.chunk_rows)
    try:
        while True:
            raw = next(chunks, None)
            clock.lap("read")
            if raw is None:
                break
            rows = raw.data.rename(columns=mapping)
            if pool is not None:  # the worker checks the values, places and links
                outcome = validate_order(spec, raw, rows, first_rows)
                outside = stored.outside_of(rows, outcome)
                clock.lap("validate")
                task = _LocateTask(
                    spec.kind,
                    rows,
                    outcome,
                    options.today,
                    outside,
                    extra,
                    default_crs,
                    options.within,
                    raw.surface_points,
                )
                pending.append((raw, pool.submit(_locate_in_worker, task)))
                while len(pending) > pool.workers:
                    set_aside_oldest()
                continue
            outcome = validate(spec, raw, rows, options.today, first_rows)
            stored.reject_outside(rows, outcome)
            clock.lap("validate")
            if locator is not None:
                prepared = located_rows(
                    spec,
                    locator,
                    rows,
                    outcome,
                    extra,
                    default_crs,
                    clock,
                    options.within,
                    surface=raw.surface_points,
                )
            else:
                prepared = _roster_rows(spec, divisions, rows, outcome, extra, options.within)
            aside.add(chunk_records(prepared, spec), rejected_frame(raw, outcome))
            clock.lap("prepare")
            bar.update(len(raw.row_numbers))
        while pending:
            set_aside_oldest()
    finally:
        for _, future in pending:
            future.cancel()
        chunks.close()
        bar.close()


@dataclass
class _Prepared:
    """What a chunk writes: the table's rows, how they were placed, and any exclusions."""

    table_rows: pd.DataFrame
    methods: pd.Series  # geocode method per row (empty for the roster)
    exclusions: list[dict[str, str]] | None = None  # the roster's (inspector_id, credit_code)
    reviews: list[dict[str, Any]] | None = None  # linked kinds: their link_reviews rows


def chunk_records(prepared: _Prepared, spec: KindSpec) -> ChunkRecords:
    """A prepared chunk as it is set aside."""
    table_rows = prepared.table_rows
    keep_ids = prepared.exclusions is not None or prepared.reviews is not None
    by_link = None
    if prepared.reviews is not None:
        by_link = Counter(table_rows["link_method"].fillna("none").astype(str).tolist())
    return ChunkRecords(
        table=to_arrow(table_rows, spec.table) if len(table_rows) else None,
        rows=len(table_rows),
        ids=table_rows[spec.id_column].astype(str).tolist() if keep_ids else [],
        by_method=Counter(str(m) for m in prepared.methods),
        by_link=by_link,
        reviews=prepared.reviews,
        exclusions=prepared.exclusions,
    )


@dataclass
class _LocateTask:
    """A chunk for a worker process to finish validating (from its values on), place
    and link; ``outside``: its ids stored outside ``within``, looked up by the reader."""

    kind: str
    rows: pd.DataFrame
    outcome: Outcome
    today: dt.date | None
    outside: set[str]
    extra: list[str]
    default_crs: str | None
    within: str | None
    surface: np.ndarray | None


@dataclass
class _Located:
    """A worker's answer: the chunk's records and its verdicts, located rows' included."""

    records: ChunkRecords
    outcome: Outcome


def _locate_in_worker(task: _LocateTask) -> _Located:
    """In a worker process: the value checks, then locate and prepare one chunk with
    the worker's locator (the same steps, in the same order, as one process takes)."""
    spec = SPECS[task.kind]
    validate_values(spec, task.rows, task.outcome, task.today)
    reject_stored_outside(task.rows, task.outcome, spec.id_column, task.within, task.outside)
    prepared = located_rows(
        spec,
        worker_locator(),
        task.rows,
        task.outcome,
        task.extra,
        task.default_crs,
        Stages(),
        task.within,
        surface=task.surface,
    )
    return _Located(chunk_records(prepared, spec), task.outcome)


def located_rows(
    spec: KindSpec,
    locator: Locator,
    rows: pd.DataFrame,
    outcome: Outcome,
    extra: list[str],
    default_crs: str | None,
    clock: Stages,
    within: str | None = None,
    surface: np.ndarray | None = None,
) -> _Prepared:
    located, links = locator.locate_and_link(rows, outcome, default_crs)
    if surface is not None:  # placed at a point on a line's or polygon's surface: said so
        by_coordinates = located["geocode_method"].eq("coordinates")
        on_surface = pd.Series(surface, index=rows.index) & by_coordinates
        located.loc[on_surface, "coord_flags"] = "point_on_surface"
    reject_outside(located, outcome, within)
    clock.lap("locate")
    ok = outcome.ok
    table_rows = records.build(spec, rows[ok], located[ok], extra, links, locator.register)
    table_rows["h3_15"] = points_to_cells(
        table_rows["lon"].astype(float), table_rows["lat"].astype(float), 15
    )
    reviews = None
    if links is not None:
        reviews = review_rows(
            spec.kind,
            table_rows,
            spec.id_column,
            {r: links.candidates[r] for r in links.candidates if ok.get(r, False)},
        )
    return _Prepared(table_rows, located.loc[ok, "geocode_method"], reviews=reviews)


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


class StoredPlaces:
    """Where the store already places the records of a file's ids, for an upload scoped
    to ``within``: a row whose natural key is stored outside the uploader's jurisdiction
    would move or overwrite another jurisdiction's record, so it is rejected
    (``outside_jurisdiction``) and the stored record is left as it is."""

    #: Ids looked up per query (well under SQLite's bound on parameters).
    IDS_PER_QUERY = 900

    def __init__(self, engine: Engine, table: Table, id_column: str, within: str | None) -> None:
        self.engine, self.table, self.id_column, self.within = engine, table, id_column, within

    def outside(self, ids: list[str]) -> set[str]:
        """The ids among ``ids`` stored with a place outside ``within`` (or none that
        lies inside it: a record placed only at city level is outside a county)."""
        if not self.within or not ids:
            return set()
        c = self.table.c
        key = c[self.id_column]
        places = (c.adcode, c.city_adcode, c.province_adcode)  # NULL: no match at that level
        inside = or_(*(func.coalesce(place == self.within, false()) for place in places))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), self.IDS_PER_QUERY):
                chunk = ids[start : start + self.IDS_PER_QUERY]
                query = select(key).where(key.in_(chunk), not_(inside))
                found.update(str(v) for v in conn.execute(query).scalars())
        return found

    def reject_outside(self, rows: pd.DataFrame, outcome: Outcome) -> None:
        """Reject the rows of this chunk whose id is stored outside ``within``."""
        outside = self.outside_of(rows, outcome)
        reject_stored_outside(rows, outcome, self.id_column, self.within, outside)

    def outside_of(self, rows: pd.DataFrame, outcome: Outcome) -> set[str]:
        """The ids of this chunk's rows not rejected so far that are stored outside
        ``within`` (rows rejected later keep that reason: see :func:`reject_stored_outside`)."""
        if not self.within:
            return set()
        ids = rows[self.id_column].astype(str)
        return self.outside(sorted(set(ids[outcome.ok & ids.ne("")])))


def reject_stored_outside(
    rows: pd.DataFrame, outcome: Outcome, id_column: str, within: str | None, outside: set[str]
) -> None:
    """Reject the rows not rejected so far whose id is among ``outside``."""
    if not within or not outside:
        return
    detail = (
        f"该编号的记录属于本账号辖区 {within} 以外，未作更改 "
        f"(a record with this id is stored outside {within}, the "
        "jurisdiction of the uploading account; it was left unchanged)"
    )
    outcome.reject(rows[id_column].astype(str).isin(outside), "outside_jurisdiction", detail)


class Stages:
    """Wall-clock seconds per ingest stage (summed over the chunks), reported in the
    summary for large files. When worker processes locate the chunks, ``locate`` is
    the time spent waiting for them: the stages still add up to the ingest's time."""

    def __init__(self, located: bool = True) -> None:
        names = ("read", "validate", "locate", "prepare", "store")
        self._seconds = {n: 0.0 for n in names if located or n != "locate"}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Add the time since the previous lap to stage ``name``."""
        now = time.perf_counter()
        self._seconds[name] += now - self._last
        self._last = now

    @property
    def laps(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self._seconds.items()}


def _rejects_path(path: Path, options: IngestOptions) -> Path:
    """The rejects file: as given, else beside the file, after its full name
    (``cases.xlsx`` → ``cases.xlsx.rejects.csv``: two files never share one)."""
    if options.rejects_path is not None:
        return options.rejects_path
    return path.with_name(f"{path.name}.rejects.csv")


__all__ = ["IngestOptions", "ingest_file"]
