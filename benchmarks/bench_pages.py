"""Item pages from a large SQLite store, each beside the way the store read it before.

The store: the bundled sample slice's register and cases, its cases written again in SQL
with new ids until the store holds about 870,000 (each copy keeps the sample's places,
dates and divisions; 108,000 of them in Nanning city). A page is what the items route
reads for it: the store's 100 rows and the count bounded at 10,000
(:func:`geo_service.store.queries.read_records_rows`).

- A jurisdiction's page (``?jurisdiction=…``, in key order). Baseline: the division
  indexed alone, as revision 0012 left SQLite (0013 indexes it with the natural key).
- A bbox page (``?bbox=…``, in H3-cell order). Baseline: the table scanned and the box's
  records sorted, as SQLite read it before revision 0014 gave it the H3 indexes the
  ranges are read on.

Both baselines are measured on the same store in the same run, after the figures: the
division indexes are put back before the bbox baseline drops the H3 ones. The note
lists other pages of the same store, without a baseline, so that what SQLite still
reads at length is on record.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import Row, best_of
from benchmarks.serving import fill_store

#: Times the sample's cases are written again (the sample slice holds 3,472).
COPIES = 249
QUICK_COPIES = 9
DIVISIONS = {"Nanning city (450100)": "450100", "Xingning district (450102)": "450102"}
BOXES = {
    "over Nanning (0.3° × 0.25°)": (108.2, 22.7, 108.5, 22.95),
    "of a district's size (0.1° × 0.1°)": (108.3, 22.8, 108.4, 22.9),
    "with no case in it (0.02° × 0.02°)": (108.3, 22.8, 108.32, 22.82),
}


def _store(folder: Path, copies: int) -> str:
    """The sample's register and cases, the cases ``copies`` times more (new ids)."""
    url = f"sqlite:///{folder / 'geo.db'}"
    fill_store(url, folder, kinds=("enterprises", "cases"))
    with sqlite3.connect(folder / "geo.db") as db:
        n = db.execute("SELECT max(id) FROM cases").fetchone()[0]
        columns = [r[1] for r in db.execute("PRAGMA table_info(cases)") if r[1] != "id"]
        values = ", ".join("case_id || '-' || :k" if c == "case_id" else c for c in columns)
        insert = f"INSERT INTO cases ({', '.join(columns)}) SELECT {values} FROM cases"
        for k in range(1, copies + 1):
            db.execute(f"{insert} WHERE id <= :n", {"k": k, "n": n})
        db.execute("ANALYZE")
    return url


def _division_indexes(path: Path, by_key: bool) -> None:
    """The cases' division indexes of revision 0013 (by key) or of 0012 (alone)."""
    with sqlite3.connect(path) as db:
        for column in ("adcode", "city_adcode"):
            db.execute(f"DROP INDEX IF EXISTS ix_cases_{column}_by_key")
            db.execute(f"DROP INDEX IF EXISTS ix_cases_{column}")
            if by_key:
                db.execute(f"CREATE INDEX ix_cases_{column}_by_key ON cases ({column}, case_id)")
            else:
                db.execute(f"CREATE INDEX ix_cases_{column} ON cases ({column})")
        db.execute("ANALYZE")


def _drop_h3_indexes(path: Path) -> None:
    """The store as it was before revision 0014: no H3 index."""
    from geo_service.store.spatial_pages import INDEXED_KINDS

    with sqlite3.connect(path) as db:
        for table in INDEXED_KINDS:  # the kinds are their tables' names
            db.execute(f"DROP INDEX sqlix_{table}_h3_15")
        db.execute("ANALYZE")


def _pages(url: str, repeats: int) -> dict[str, Callable[[], tuple[float, int | None]]]:
    """Each measured page: a function giving its best time of ``repeats`` and its count."""
    from geo_service.core.filters import Filters
    from geo_service.store import make_engine
    from geo_service.store.queries import PageRequest, read_records_rows

    def timed(filters: Filters, page: PageRequest) -> Callable[[], tuple[float, int | None]]:
        def measure() -> tuple[float, int | None]:
            engine = make_engine(url)
            try:
                matched = read_records_rows(engine, "cases", filters, page)[2]  # warm
                return best_of(
                    repeats, lambda: read_records_rows(engine, "cases", filters, page)
                ), matched
            finally:
                engine.dispose()

        return measure

    pages = {
        f"a page of 100 cases of {name}": timed(
            Filters(jurisdiction=code), PageRequest(limit=100, count_limit=10_000)
        )
        for name, code in DIVISIONS.items()
    }
    for name, box in BOXES.items():
        pages[f"a bbox page of 100 cases {name}"] = timed(
            Filters(), PageRequest(bbox=box, limit=100, count_limit=10_000)
        )
    return pages


def _others(url: str) -> str:
    """Other pages of the same store, in ms: what SQLite still reads at length."""
    from geo_service.core.cql2 import SortKey
    from geo_service.core.filters import Filters
    from geo_service.store import make_engine
    from geo_service.store.queries import PageRequest, read_records_rows

    engine = make_engine(url)
    page = PageRequest(limit=100, count_limit=10_000)
    pages = {
        "a month": (Filters(period="2024-03"), page),
        "the city in a month": (Filters(jurisdiction="450100", period="2024-03"), page),
        "a year": (Filters(start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31)), page),
        "an industry (C26)": (Filters(industry="C26"), page),
        "by penalty, largest first": (
            Filters(),
            PageRequest(limit=100, count_limit=10_000, sortby=(SortKey("penalty_amount", True),)),
        ),
    }

    def ms(filters: Filters, asked: PageRequest) -> float:
        return 1000 * best_of(2, lambda: read_records_rows(engine, "cases", filters, asked))

    try:
        return ", ".join(f"{name} {ms(f, p):,.0f}" for name, (f, p) in pages.items())
    finally:
        engine.dispose()


def _before_0014() -> Callable[[], None]:
    """SQLite read bbox pages without H3 ranges before revision 0014; a function that
    puts today's reading back."""
    from geo_service.store import spatial_pages

    kept = spatial_pages.INDEXED_KINDS
    spatial_pages.INDEXED_KINDS = frozenset()  # type: ignore[misc]

    def restore() -> None:
        spatial_pages.INDEXED_KINDS = kept  # type: ignore[misc]

    return restore


def run(quick: bool = False) -> list[Row]:
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    base_repeats = 2 if quick else 3
    with tempfile.TemporaryDirectory(prefix="geo-pages-") as tmp:
        folder, path = Path(tmp), Path(tmp) / "geo.db"
        url = _store(folder, QUICK_COPIES if quick else COPIES)
        with sqlite3.connect(path) as db:
            cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
        ours = {name: measure() for name, measure in _pages(url, 5).items()}
        others = _others(url)
        before = _pages(url, base_repeats)
        _division_indexes(path, by_key=False)
        theirs = {name: before[name]() for name in before if "bbox" not in name}
        _division_indexes(path, by_key=True)
        _drop_h3_indexes(path)
        restore = _before_0014()
        try:
            theirs |= {name: before[name]() for name in before if "bbox" in name}
        finally:
            restore()
    rows = []
    for i, (name, (seconds, matched)) in enumerate(ours.items()):
        bbox = "bbox" in name
        rows.append(
            Row(
                work=f"{name} from a SQLite store of {cases:,} cases",
                figure=f"{1000 * seconds:.1f} ms",
                target="—",
                met=None,
                baseline="the table scanned, the box's records sorted (before revision 0014)"
                if bbox
                else "the division indexed alone (revision 0012)",
                baseline_figure=f"{1000 * theirs[name][0]:,.1f} ms",
                note=f"{'≥ 10,000' if matched is None else f'{matched:,}'} cases match; the "
                f"page and its bounded count, best of 5 (baseline of {base_repeats})"
                + ("" if i else f"; the same store's other pages (ms): {others}")
                + f"; load average {load} at the start",
            )
        )
    return rows
