"""A jurisdiction's page of records from a large SQLite store, beside the index it had.

The store: the bundled sample slice's register and cases, its cases written again in SQL
with new ids until the store holds about 870,000 (each copy keeps the sample's places,
dates and divisions; 108,000 of them in Nanning city). The page is what the items route
reads for ``?jurisdiction=…&limit=100``: the store's rows of the division in key order,
and the count bounded at 10,000 (:func:`geo_service.store.queries.read_records_rows`).
The baseline is the same page with the division indexed alone, as revision 0012 left
SQLite (revision 0013 indexes the division with the natural key), in the same store and
run. The note lists other pages of the same store, without a baseline, so that what is
still slow on SQLite is on record.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from benchmarks.report import Row, best_of
from benchmarks.serving import fill_store

#: Times the sample's cases are written (the sample slice holds about 3,500).
COPIES = 249
QUICK_COPIES = 9
PAGES = {"Nanning city (450100)": "450100", "Xingning district (450102)": "450102"}


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


def _swap_indexes(path: Path, by_key: bool) -> None:
    """The division indexes of revision 0013 (by key) or of 0012 (the division alone)."""
    with sqlite3.connect(path) as db:
        for column in ("adcode", "city_adcode"):
            db.execute(f"DROP INDEX IF EXISTS ix_cases_{column}_by_key")
            db.execute(f"DROP INDEX IF EXISTS ix_cases_{column}")
            if by_key:
                db.execute(f"CREATE INDEX ix_cases_{column}_by_key ON cases ({column}, case_id)")
            else:
                db.execute(f"CREATE INDEX ix_cases_{column} ON cases ({column})")
        db.execute("ANALYZE")


def _seconds(url: str, jurisdiction: str, repeats: int) -> tuple[float, int | None]:
    from geo_service.core.filters import Filters
    from geo_service.store import make_engine
    from geo_service.store.queries import PageRequest, read_records_rows

    engine = make_engine(url)
    page = PageRequest(limit=100, count_limit=10_000)
    filters = Filters(jurisdiction=jurisdiction)
    try:
        _, rows, matched = read_records_rows(engine, "cases", filters, page, json_text=True)
        assert len(rows) == 100, rows  # a whole page, or the figure means nothing
        return best_of(repeats, lambda: read_records_rows(engine, "cases", filters, page)), matched
    finally:
        engine.dispose()


def _others(url: str) -> str:
    """Other pages of the same store, in ms: what SQLite still reads at length."""
    import datetime as dt

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
        "a bbox over Nanning": (
            Filters(),
            PageRequest(limit=100, count_limit=10_000, bbox=(108.2, 22.7, 108.5, 22.95)),
        ),
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


def run(quick: bool = False) -> list[Row]:
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="geo-pages-") as tmp:
        folder = Path(tmp)
        url = _store(folder, QUICK_COPIES if quick else COPIES)
        with sqlite3.connect(folder / "geo.db") as db:
            cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
        _swap_indexes(folder / "geo.db", by_key=True)
        ours = {name: _seconds(url, code, 5) for name, code in PAGES.items()}
        others = _others(url)
        _swap_indexes(folder / "geo.db", by_key=False)
        theirs = {name: _seconds(url, code, 2 if quick else 3) for name, code in PAGES.items()}
    rows = []
    for i, name in enumerate(PAGES):
        (seconds, matched), (base, _) = ours[name], theirs[name]
        rows.append(
            Row(
                work=f"a page of 100 cases of {name} from a SQLite store of {cases:,} cases",
                figure=f"{1000 * seconds:.1f} ms",
                target="—",
                met=None,
                baseline="the same page with the division indexed alone (revision 0012)",
                baseline_figure=f"{1000 * base:,.1f} ms",
                note=f"{'≥ 10,000' if matched is None else f'{matched:,}'} cases match; the "
                f"store's page and its bounded count, best of 5 (baseline of "
                f"{2 if quick else 3})"
                + ("" if i else f"; the same store's other pages (ms): {others}")
                + f"; load average {load} at the start",
            )
        )
    return rows
