"""Penalty cases and inspections: who, when, where and what, before any text or dirt.

The planted structure lives here: each enterprise's case rate (industry,
category, hot spot, quiet county, frailty), the year weights of worsening
counties, and inspection findings that follow the same risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import vocab
from geo_service.sample.places import (
    Geography,
    hot_spot_counties,
    locate,
    offset_km,
)
from geo_service.sample.regions import city_abbreviations
from geo_service.sample.register import Register, case_rates
from geo_service.sample.violations import draw_amounts, draw_violations

YEARS: Final = (2021, 2022, 2023, 2024, 2025)
#: Relative number of cases per year everywhere (a gentle decline, as nationally).
BASE_YEAR_WEIGHTS: Final = (1.10, 1.00, 1.00, 0.95, 0.95)
#: Extra factor on the case rate of worsening counties, per year.
WORSENING_MULTIPLIERS: Final = (1.0, 1.0, 1.0, 2.0, 3.5)
QUIET_MULTIPLIER: Final = 0.1
N_QUIET: Final = 5
N_WORSENING: Final = 4
#: Fewer decisions around the Spring Festival, more at the year's end.
MONTH_WEIGHTS: Final = (
    0.06,
    0.05,
    0.08,
    0.085,
    0.085,
    0.085,
    0.085,
    0.085,
    0.085,
    0.085,
    0.095,
    0.115,
)
#: Share of inspections that find a problem, for an enterprise of average risk.
BASE_PROBLEM_RATE: Final = 0.25
MAX_PROBLEM_RATE: Final = 0.9
INSPECTION_CATEGORY_WEIGHTS: Final = (4.0, 2.0, 1.0)  # key, special, general
#: Share of cases/inspections placed near (not at) the enterprise, and how far.
CASE_NEAR_SHARE: Final = 0.15
CASE_NEAR_KM: Final = (0.1, 0.8)
INSPECTION_NEAR_SHARE: Final = 0.3
INSPECTION_NEAR_KM: Final = (0.01, 0.15)


@dataclass(frozen=True)
class Structure:
    """The planted structure chosen for one seed."""

    quiet: NDArray[np.bool_]  # per county
    worsening: NDArray[np.bool_]  # per county
    rate: NDArray[np.float64]  # per enterprise, relative case rate
    year_weights: NDArray[np.float64]  # per county × year

    def risk(
        self, reg: Register, enterprise: NDArray[np.int64], year: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Relative risk of an enterprise in a year (1 = average)."""
        worse = np.asarray(WORSENING_MULTIPLIERS)[year]
        factor = np.where(self.worsening[reg.county[enterprise]], worse, 1.0)
        return self.rate[enterprise] / self.rate.mean() * factor


def choose_structure(geo: Geography, reg: Register, rng: np.random.Generator) -> Structure:
    """Pick quiet and worsening counties and compute every enterprise's case rate."""
    touched = {a for spot in geo.tables.hot_spots for a in hot_spot_counties(geo, spot)}
    free = np.array([str(a) not in touched for a in geo.county_code])
    quiet_pool = np.flatnonzero(np.isin(geo.county_name, geo.tables.quiet_candidates) & free)
    quiet = np.zeros(geo.n, dtype=bool)
    quiet[rng.choice(quiet_pool, size=min(N_QUIET, quiet_pool.size), replace=False)] = True
    counts = np.bincount(reg.county, minlength=geo.n)
    busy = np.flatnonzero((counts >= np.quantile(counts, 0.75)) & free & ~quiet)
    worsening = np.zeros(geo.n, dtype=bool)
    worsening[rng.choice(busy, size=min(N_WORSENING, busy.size), replace=False)] = True
    weights = np.tile(np.asarray(BASE_YEAR_WEIGHTS), (geo.n, 1))
    weights[worsening] *= np.asarray(WORSENING_MULTIPLIERS)
    rate = case_rates(reg, rng, quiet, QUIET_MULTIPLIER, geo.tables.hot_spots)
    return Structure(quiet, worsening, rate, weights)


@dataclass
class Events:
    """Cases or inspections, row-aligned, sorted by date."""

    enterprise: NDArray[np.int64]
    date: NDArray[np.datetime64]
    near_lon: NDArray[np.float64]  # where the record is if it carries coordinates
    near_lat: NDArray[np.float64]
    near_county: NDArray[np.int64]  # county of that point
    violation: NDArray[np.int64]  # -1 for inspections that found nothing
    ids: list[str]
    amount: NDArray[np.float64] | None = None  # cases: fine in yuan
    status: NDArray[np.int64] | None = None  # cases: position in vocab.CASE_STATUSES
    inspectors: list[str] | None = None  # inspections: "name,name"

    @property
    def n(self) -> int:
        """Number of records."""
        return len(self.enterprise)

    @property
    def year(self) -> NDArray[np.int64]:
        """Calendar year of each record."""
        return self.date.astype("datetime64[Y]").astype(np.int64) + 1970


def draw_dates(rng: np.random.Generator, year: NDArray[np.int64]) -> NDArray[np.datetime64]:
    """Random days in the given calendar years, months weighted by :data:`MONTH_WEIGHTS`."""
    w = np.asarray(MONTH_WEIGHTS)
    month = rng.choice(12, size=len(year), p=w / w.sum())
    start = ((year - 1970) * 12 + month).astype("datetime64[M]")
    first = start.astype("datetime64[D]")
    length = ((start + 1).astype("datetime64[D]") - first).astype(np.int64)
    return first + np.floor(rng.random(len(year)) * length).astype("timedelta64[D]")


def group_sequence(key: NDArray[np.int64]) -> NDArray[np.int64]:
    """1-based running number of each row within its key, in row order."""
    n = len(key)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    lengths = np.diff(np.r_[starts, n])
    seq = np.empty(n, dtype=np.int64)
    seq[order] = np.arange(n) - np.repeat(starts, lengths) + 1
    return seq


def near_positions(
    geo: Geography,
    reg: Register,
    rng: np.random.Generator,
    ent: NDArray[np.int64],
    share: float,
    km: tuple[float, float],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Positions at the enterprise, a share moved a little (never out of the region)."""
    lon, lat, county = reg.lon[ent].copy(), reg.lat[ent].copy(), reg.county[ent].copy()
    moved = rng.random(len(ent)) < share
    dist = rng.uniform(km[0], km[1], int(moved.sum()))
    angle = rng.uniform(0, 2 * np.pi, len(dist))
    x, y = offset_km(lon[moved], lat[moved], dist * np.cos(angle), dist * np.sin(angle))
    found = locate(geo, x, y)
    inside = found >= 0
    rows = np.flatnonzero(moved)[inside]
    lon[rows], lat[rows], county[rows] = x[inside], y[inside], found[inside]
    return lon, lat, county


def _sort_by_date(
    rng: np.random.Generator, ent: NDArray[np.int64], dates: NDArray[np.datetime64]
) -> tuple[NDArray[np.int64], NDArray[np.datetime64]]:
    order = np.lexsort((rng.random(len(ent)), dates))
    return ent[order], dates[order]


def make_cases(
    geo: Geography, reg: Register, st: Structure, rng: np.random.Generator, n: int
) -> Events:
    """Draw ``n`` penalty cases over 2021-2025 from the planted rates."""
    weights = st.rate[:, None] * st.year_weights[reg.county]
    cell = rng.choice(weights.size, size=n, p=(weights / weights.sum()).ravel())
    ent, year_pos = np.divmod(cell, len(YEARS))
    ent, dates = _sort_by_date(rng, ent, draw_dates(rng, np.asarray(YEARS)[year_pos]))
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    violation = draw_violations(rng, reg.industry[ent], dates)
    city = geo.city_code[reg.county[ent]]
    seq = group_sequence(city.astype(np.int64) * 10_000 + year)
    marks = city_abbreviations(geo)
    abbr = np.array([marks.get(c, "桂") for c in city.tolist()])
    ids = [f"{a}环罚〔{y}〕{s}号" for a, y, s in zip(abbr, year, seq, strict=True)]
    t = (year - YEARS[0]) / (YEARS[-1] - YEARS[0])
    old, new = np.asarray(vocab.STATUS_SHARES_OLD), np.asarray(vocab.STATUS_SHARES_NEW)
    cum = np.cumsum(old[None, :] * (1 - t[:, None]) + new[None, :] * t[:, None], axis=1)
    status = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, len(vocab.CASE_STATUSES) - 1)
    lon, lat, county = near_positions(geo, reg, rng, ent, CASE_NEAR_SHARE, CASE_NEAR_KM)
    amount = draw_amounts(rng, violation)
    return Events(ent, dates, lon, lat, county, violation, ids, amount=amount, status=status)


def make_rosters(geo: Geography, reg: Register, rng: np.random.Generator) -> list[list[str]]:
    """Each county's enforcement officers (6-40 distinct names, by its number of enterprises)."""
    counts = np.bincount(reg.county, minlength=geo.n)
    sizes = np.clip(np.round(counts / 40), 6, 40).astype(np.int64)
    surnames, given = list(vocab.SURNAMES), list(vocab.GIVEN_CHARS)
    rosters = []
    for size in sizes:
        names: list[str] = []
        while len(names) < size:
            k = 1 + int(rng.random() < 0.6)
            name = surnames[rng.integers(len(surnames))] + "".join(
                given[i] for i in rng.integers(0, len(given), k)
            )
            if name not in names:
                names.append(name)
        rosters.append(names)
    return rosters


def make_inspections(
    geo: Geography,
    reg: Register,
    st: Structure,
    rng: np.random.Generator,
    n: int,
    rosters: list[list[str]],
) -> Events:
    """Draw ``n`` inspections: key units more often, findings following the planted risk."""
    w = np.asarray(INSPECTION_CATEGORY_WEIGHTS)[reg.category]
    ent = rng.choice(reg.n, size=n, p=w / w.sum())
    ent, dates = _sort_by_date(rng, ent, draw_dates(rng, rng.choice(np.asarray(YEARS), size=n)))
    year_pos = dates.astype("datetime64[Y]").astype(np.int64) + 1970 - YEARS[0]
    p = np.clip(BASE_PROBLEM_RATE * st.risk(reg, ent, year_pos), 0.0, MAX_PROBLEM_RATE)
    found = rng.random(n) < p
    violation = np.where(found, draw_violations(rng, reg.industry[ent], dates), -1)
    county = reg.county[ent]
    day = dates.astype(np.int64)
    seq = group_sequence(county * 100_000 + day)
    stamp = np.datetime_as_string(dates, unit="D")
    ids = [
        f"JC{geo.county_code[c]}{s.replace('-', '')}{q:04d}"
        for c, s, q in zip(county, stamp, seq, strict=True)
    ]
    sizes = np.array([len(r) for r in rosters])[county]
    first = np.floor(rng.random(n) * sizes).astype(np.int64)
    second = (first + 1 + np.floor(rng.random(n) * (sizes - 1)).astype(np.int64)) % sizes
    pairs = [
        f"{rosters[c][a]},{rosters[c][b]}" for c, a, b in zip(county, first, second, strict=True)
    ]
    lon, lat, near = near_positions(geo, reg, rng, ent, INSPECTION_NEAR_SHARE, INSPECTION_NEAR_KM)
    return Events(ent, dates, lon, lat, near, violation, ids, inspectors=pairs)
