"""Planning signals of the sample: monitoring exceedances, public complaints, the officer roster.

Exceedances and complaints follow the same planted risk as the cases (each
enterprise's case rate — industry, category, hot spot, quiet county, frailty —
and the worsening counties' year weights), so that they carry information
about where cases happen. A share of complaints is background noise about
any enterprise's neighbourhood, naming no one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import mess as m
from geo_service.sample.events import YEARS, Structure, draw_dates, group_sequence, near_positions
from geo_service.sample.industries import CATEGORIES, INDUSTRIES
from geo_service.sample.places import Geography
from geo_service.sample.register import Register

EXCEEDANCES_PER_CASE: Final = 0.3
COMPLAINTS_PER_CASE: Final = 0.4
#: Share of each category's enterprises under online monitoring (key units all).
MONITORED_SHARE: Final = {"key": 1.0, "special": 0.5, "general": 0.0}
EXCEEDANCE_FORMS: Final = (("coordinates", 0.9), ("credit_code", 0.1))
EXCEEDANCE_CRS: Final = (("WGS84", 0.7), ("CGCS2000", 0.3))
#: An exceedance's value over its limit: between these factors.
EXCEEDANCE_FACTOR: Final = (1.05, 3.0)
#: Share of complaints about an arbitrary enterprise's neighbourhood, naming no one.
COMPLAINT_BACKGROUND_SHARE: Final = 0.3
COMPLAINT_NEAR_KM: Final = (0.05, 1.0)
COMPLAINT_NAMED_FORMS: Final = (
    ("coordinates", 0.5),
    ("name", 0.2),
    ("name_variant", 0.05),
    ("address_county", 0.15),
    ("address_city", 0.1),
)
COMPLAINT_BACKGROUND_FORMS: Final = (
    ("coordinates", 0.6),
    ("address_county", 0.3),
    ("address_city", 0.1),
)
COMPLAINT_CRS: Final = (("WGS84", 0.2), ("GCJ02", 0.6), ("BD09", 0.2))
#: Share of named complaints whose credit code the bureau filled in.
COMPLAINT_CODE_SHARE: Final = 0.2
#: What the public complains of, by problem family.
COMPLAINT_CATEGORIES: Final = {
    "wastewater": "废水",
    "air": "废气",
    "monitoring": "废气",
    "dust": "废气",
    "hazardous_waste": "固废",
    "solid_waste": "固废",
    "noise": "噪声",
    "eia": "噪声",
    "permit": "废水",
}
BACKGROUND_CATEGORIES: Final = (("噪声", 0.5), ("废气", 0.3), ("废水", 0.1), ("固废", 0.1))
INACTIVE_RATE: Final = 0.05
#: Share of officers with conflict-of-interest exclusions, and how many enterprises each.
EXCLUSION_RATE: Final = 0.03
EXCLUSIONS_PER_OFFICER: Final = (1, 3)
EXCLUSION_SEPARATORS: Final = (";", "；", ",", "、", " ")


@dataclass
class Signal:
    """Exceedances or complaints, row-aligned, sorted by date (a clean table: no rejects)."""

    enterprise: NDArray[np.int64]
    date: NDArray[np.datetime64]
    lon: NDArray[np.float64]  # true WGS84 position of the record
    lat: NDArray[np.float64]
    county: NDArray[np.int64]
    mess: m.Mess  # location forms and CRS (no defects)
    ids: list[str]
    background: NDArray[np.bool_]  # complaints naming no one (always False for exceedances)
    label: list[str]  # pollutant or complaint category
    hour: NDArray[np.int64] | None = None  # exceedances: hour of the reading
    value: NDArray[np.float64] | None = None
    limit: NDArray[np.float64] | None = None
    unit: list[str] | None = None

    @property
    def n(self) -> int:
        """Number of records."""
        return len(self.enterprise)


@dataclass
class Roster:
    """The officers of every county: id, name, county, on duty, excluded enterprises."""

    ids: list[str]
    names: list[str]
    county: NDArray[np.int64]
    active: NDArray[np.bool_]
    excluded: list[list[int]]  # register rows each officer must not inspect
    separator: list[str]

    @property
    def n(self) -> int:
        """Number of officers."""
        return len(self.ids)


def _pick(rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int) -> NDArray:
    shares = np.array([s for _, s in table])
    return rng.choice(len(table), size=n, p=shares / shares.sum())


def _clean_mess(
    rng: np.random.Generator, form: NDArray[np.int64], crs_table: tuple[tuple[str, float], ...]
) -> m.Mess:
    """Forms as given, CRS drawn for coordinate rows; no swaps, variants or defects."""
    n = len(form)
    crs = np.array([m.CRS_NAMES.index(c) for c, _ in crs_table])[_pick(rng, crs_table, n)]
    crs = np.where(form == 0, crs, -1)
    none = np.full(n, -1, dtype=np.int64)
    return m.Mess(
        form,
        crs,
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
        none.copy(),
        none.copy(),
        none.copy(),
        none.copy(),
    )


def _risk_draw(
    reg: Register, st: Structure, rng: np.random.Generator, n: int, eligible: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.datetime64]]:
    """Enterprises and dates drawn as the cases are: case rate × county year weights."""
    weights = (st.rate * eligible)[:, None] * st.year_weights[reg.county]
    cell = rng.choice(weights.size, size=n, p=(weights / weights.sum()).ravel())
    ent, year_pos = np.divmod(cell, len(YEARS))
    return ent, draw_dates(rng, np.asarray(YEARS)[year_pos])


def _sorted(
    rng: np.random.Generator, dates: NDArray[np.datetime64], *columns: NDArray
) -> list[NDArray]:
    order = np.lexsort((rng.random(len(dates)), dates))
    return [dates[order], *(c[order] for c in columns)]


def make_exceedances(
    geo: Geography, reg: Register, st: Structure, rng: np.random.Generator, n: int
) -> Signal:
    """``n`` exceedances of monitored enterprises, pollutants by industry, at the outlet."""
    share = np.array([MONITORED_SHARE[c] for c in CATEGORIES])[reg.category]
    monitored = rng.random(reg.n) < share
    if not monitored.any():
        monitored[:] = True
    ent, dates = _risk_draw(reg, st, rng, n, monitored)
    dates, ent = _sorted(rng, dates, ent)
    hour = rng.integers(0, 24, n)
    fam = [INDUSTRIES[i].families for i in reg.industry[ent]]
    water = np.array([f.get("wastewater", 0.0) for f in fam])
    air = np.array([sum(f.get(k, 0.0) for k in ("air", "monitoring", "dust")) for f in fam])
    is_water = rng.random(n) < np.where(water + air > 0, water / np.maximum(water + air, 1e-9), 0.5)
    pick = rng.random(n)
    labels, limits, units = [], np.zeros(n), []
    for k, (i, w, p) in enumerate(zip(reg.industry[ent], is_water, pick, strict=True)):
        choices = INDUSTRIES[i].water_pollutants if w else INDUSTRIES[i].air_pollutants
        name, limits[k] = choices[int(p * len(choices))]
        labels.append(name)
        units.append(("倍" if name == "色度" else "mg/L") if w else "mg/m³")
    value = np.round(limits * rng.uniform(*EXCEEDANCE_FACTOR, n), 2)
    form = np.array([m.FORMS.index(f) for f, _ in EXCEEDANCE_FORMS])[
        _pick(rng, EXCEEDANCE_FORMS, n)
    ]
    county = reg.county[ent]
    stamp = np.datetime_as_string(dates, unit="D")
    seq = group_sequence(county * 100_000 + dates.astype(np.int64))
    ids = [
        f"CB{geo.county_code[c]}{s.replace('-', '')}{q:03d}"
        for c, s, q in zip(county, stamp, seq, strict=True)
    ]
    return Signal(
        ent,
        dates,
        reg.lon[ent],
        reg.lat[ent],
        county,
        _clean_mess(rng, form, EXCEEDANCE_CRS),
        ids,
        np.zeros(n, dtype=bool),
        labels,
        hour=hour,
        value=value,
        limit=limits,
        unit=units,
    )


def _complaint_categories(
    rng: np.random.Generator, reg: Register, ent: NDArray[np.int64], background: NDArray[np.bool_]
) -> list[str]:
    out = []
    noise = [c for c, _ in BACKGROUND_CATEGORIES]
    drawn = _pick(rng, BACKGROUND_CATEGORIES, len(ent))
    u = rng.random(len(ent))
    for e, b, d, x in zip(ent, background, drawn, u, strict=True):
        if b:
            out.append(noise[d])
            continue
        families = INDUSTRIES[reg.industry[e]].families
        cum = np.cumsum(list(families.values()))
        family = list(families)[min(int(np.searchsorted(cum, x * cum[-1])), len(cum) - 1)]
        out.append(COMPLAINT_CATEGORIES[family])
    return out


def make_complaints(
    geo: Geography, reg: Register, st: Structure, rng: np.random.Generator, n: int
) -> Signal:
    """``n`` complaints: most about risky enterprises (named or not), the rest background."""
    background = rng.random(n) < COMPLAINT_BACKGROUND_SHARE
    ent, dates = _risk_draw(reg, st, rng, n, np.ones(reg.n, dtype=bool))
    any_ent = rng.integers(0, reg.n, n)
    any_dates = draw_dates(rng, rng.choice(np.asarray(YEARS), size=n))
    ent, dates = np.where(background, any_ent, ent), np.where(background, any_dates, dates)
    dates, ent, background = _sorted(rng, dates, ent, background)
    named = np.array([m.FORMS.index(f) for f, _ in COMPLAINT_NAMED_FORMS])
    other = np.array([m.FORMS.index(f) for f, _ in COMPLAINT_BACKGROUND_FORMS])
    form = np.where(
        background,
        other[_pick(rng, COMPLAINT_BACKGROUND_FORMS, n)],
        named[_pick(rng, COMPLAINT_NAMED_FORMS, n)],
    )
    lon, lat, county = near_positions(geo, reg, rng, ent, 1.0, COMPLAINT_NEAR_KM)
    coords = form == 0
    lon, lat = np.where(coords, lon, reg.lon[ent]), np.where(coords, lat, reg.lat[ent])
    county = np.where(coords, county, reg.county[ent])
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    ids = [f"XF{y}{s:06d}" for y, s in zip(year, group_sequence(year), strict=True)]
    labels = _complaint_categories(rng, reg, ent, background)
    return Signal(
        ent, dates, lon, lat, county, _clean_mess(rng, form, COMPLAINT_CRS), ids, background, labels
    )


def make_roster(
    geo: Geography, reg: Register, rng: np.random.Generator, rosters: list[list[str]]
) -> Roster:
    """Every county's officers with ids, on-duty flags and a few conflict exclusions."""
    county = np.array([c for c, names in enumerate(rosters) for _ in names], dtype=np.int64)
    names = [name for names in rosters for name in names]
    seq = group_sequence(county)
    ids = [f"HJ{geo.county_code[c]}{q:03d}" for c, q in zip(county, seq, strict=True)]
    n = len(ids)
    active = rng.random(n) >= INACTIVE_RATE
    excluding = rng.random(n) < EXCLUSION_RATE
    low, high = EXCLUSIONS_PER_OFFICER
    sizes = rng.integers(low, high + 1, n)
    separator = [EXCLUSION_SEPARATORS[k] for k in rng.integers(0, len(EXCLUSION_SEPARATORS), n)]
    members = [np.flatnonzero(reg.county == c) for c in range(geo.n)]
    excluded: list[list[int]] = []
    for c, x, k in zip(county, excluding, sizes, strict=True):
        pool = members[c]
        if not x or pool.size == 0:
            excluded.append([])
            continue
        chosen = rng.choice(pool, size=min(int(k), pool.size), replace=False)
        excluded.append(sorted(int(e) for e in chosen))
    return Roster(ids, names, county, active, excluded, separator)
