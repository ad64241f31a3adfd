"""Cell texts of the output files: dates, amounts, coordinates and location fields.

Functions take a chunk of rows (positions into the table) and return one list
of strings per column, applying the dirt planned in :mod:`geo_service.sample.mess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.coords import from_wgs84
from analytics.credit_codes import make_credit_codes
from geo_service.geocoding.names import normalize_company_name
from geo_service.sample import mess as m
from geo_service.sample import vocab
from geo_service.sample.linkage import LinkPlan
from geo_service.sample.places import Geography
from geo_service.sample.regions import company_prefixes
from geo_service.sample.register import Register

Rows = NDArray[np.int64]


def make_strangers(
    rng: np.random.Generator, reg: Register, rows: Rows, seed: int, region: str = "450000"
) -> dict[int, tuple[str, str]]:
    """Identities for unlocatable rows: row → (name, valid credit code) matching no register entry.

    Codes are registered at province level (``region``, 450000 for Guangxi), which no
    register code is.
    """
    known = {normalize_company_name(n) for n in reg.name}
    brand = list(vocab.BRAND_CHARS)
    names: list[str] = []
    while len(names) < len(rows):
        picks = rng.integers(0, len(brand), 3)
        name = f"某{''.join(brand[i] for i in picks)}贸易有限公司"
        if normalize_company_name(name) not in known and name not in names:
            names.append(name)
    codes = make_credit_codes(len(rows), [region] * len(rows), seed + 7)
    return dict(zip(rows.tolist(), zip(names, codes, strict=True), strict=True))


def date_texts(rng: np.random.Generator, dates: NDArray[np.datetime64]) -> list[str]:
    """Dates in mixed formats: 2023-05-04, 2023/5/4, 2023年5月4日, 20230504."""
    shares = np.array([s for _, s in vocab.DATE_FORMATS])
    fmt = rng.choice(len(shares), size=len(dates), p=shares / shares.sum())
    y = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    patterns = ("{0}-{1:02d}-{2:02d}", "{0}/{1}/{2}", "{0}年{1}月{2}日", "{0}{1:02d}{2:02d}")
    return [patterns[f].format(a, b, c) for f, a, b, c in zip(fmt, y, mo, d, strict=True)]


def amount_texts(rng: np.random.Generator, amount: NDArray[np.float64]) -> list[str]:
    """Fines as 50000, 50,000元 or 5万元 (every form parses back to the same yuan)."""
    shares = np.array([s for _, s in vocab.AMOUNT_FORMATS])
    fmt = rng.choice(len(shares), size=len(amount), p=shares / shares.sum())
    out = []
    for f, a in zip(fmt, amount.astype(np.int64), strict=True):
        if f == 1:
            out.append(f"{a:,}元")
        elif f == 2:
            out.append(f"{a / 10_000:g}万元")
        else:
            out.append(str(a))
    return out


def coordinate_texts(
    lon: NDArray[np.float64], lat: NDArray[np.float64], mess: m.Mess, rows: Rows
) -> tuple[list[str], list[str], list[str]]:
    """Longitude, latitude and CRS label cells: true WGS84 points written in each row's CRS."""
    n = len(rows)
    x, y = np.zeros(n), np.zeros(n)
    crs = mess.crs[rows]
    row_lon, row_lat = lon[rows], lat[rows]
    for c, name in enumerate(m.CRS_NAMES):
        sel = crs == c
        if sel.any():
            x[sel], y[sel] = from_wgs84(row_lon[sel], row_lat[sel], name)
    lon_t = [f"{v:.6f}" for v in x]
    lat_t = [f"{v:.6f}" for v in y]
    labels = [
        vocab.CRS_LABELS[m.CRS_NAMES[c]][k] if c >= 0 else ""
        for c, k in zip(crs, mess.crs_label[rows], strict=True)
    ]
    for i in np.flatnonzero(mess.swapped[rows]):
        lon_t[i], lat_t[i] = lat_t[i], lon_t[i]
    for i in np.flatnonzero(crs < 0):
        lon_t[i] = lat_t[i] = ""
    return lon_t, lat_t, labels


def _bad_coordinates(
    rng: np.random.Generator,
    variant: int,
    lon: str,
    lat: str,
    outside: tuple[float, float] = m.BEIJING,
) -> tuple[str, str, str | None]:
    """One bad_coordinates defect: new lon/lat texts and, if it changes, the CRS label.

    A point "outside the area" is near ``outside``: Beijing for a Guangxi sample,
    Tokyo (:data:`mess.ABROAD`) for samples of other provinces.
    """
    kind = m.BAD_COORDINATES[variant]
    if kind == "not_a_number":
        return f"{float(lon):.1f}x", lat, None
    if kind == "latitude_out_of_range":
        return lon, f"{rng.uniform(100.0, 150.0):.6f}", None
    bx, by = outside
    return f"{bx + rng.uniform(-0.05, 0.05):.6f}", f"{by + rng.uniform(-0.05, 0.05):.6f}", "WGS84"


@dataclass
class LocationCells:
    """The location columns of a chunk of cases or inspections."""

    name: list[str]
    credit_code: list[str]
    address: list[str]
    lon: list[str]
    lat: list[str]
    crs: list[str]
    adcode: list[str]


def _objects(values: list[str] | NDArray[np.str_]) -> NDArray[np.object_]:
    return np.asarray(values, dtype=object)


def location_cells(
    geo: Geography,
    reg: Register,
    ctx: tuple[Rows, NDArray[np.float64], NDArray[np.float64], Rows],
    mess: m.Mess,
    rows: Rows,
    rng: np.random.Generator,
    reasons: tuple[str, ...],
    strangers: dict[int, tuple[str, str]],
    *,
    address_with_coordinates: bool = True,
    link: LinkPlan | None = None,
) -> LocationCells:
    """Name, credit code, address, lon, lat, CRS and adcode cells of rows, dirt applied.

    ``ctx`` holds each table row's enterprise, true WGS84 position and true county.
    Addresses are the register's (province, city, county, locality); address-only
    rows name the county (40 % without province and city where the county name
    is unique) or only the city. Rows with coordinates carry the address only
    if ``address_with_coordinates``. ``link`` says which coordinate rows state the
    credit code (all without it), their hard name variants and invalid codes, and
    which name-only rows of twins carry a city-level address.
    """
    enterprise, true_lon, true_lat, true_county = ctx
    lon_t, lat_t, crs_t = coordinate_texts(true_lon, true_lat, mess, rows)
    ent = enterprise[rows]
    form = mess.form[rows]
    f = {name: form == i for i, name in enumerate(m.FORMS)}
    names = _objects(reg.name)[ent]
    variant = mess.name_variant[rows]
    by_province = company_prefixes(geo)
    prefixes = [
        by_province.get(p, vocab.GUANGXI_PREFIX) for p in geo.province_code[reg.county[ent]]
    ]
    for i in np.flatnonzero(variant >= 0).tolist():
        names[i] = m.name_variant(names[i], int(variant[i]), prefixes[i])
    shown = np.ones(len(rows), dtype=bool)
    twin_city = np.zeros(len(rows), dtype=bool)
    if link is not None:
        shown, twin_city = link.code_shown[rows], link.city_address[rows]
        for i in np.flatnonzero(link.hard_variant[rows] >= 0).tolist():
            names[i] = link.names[int(rows[i])]
    county = reg.county[ent]
    locality = _objects(reg.locality)[ent]
    address = _objects(reg.address)[ent]
    short = (rng.random(len(rows)) < 0.4) & geo.unique_county_names[county] & f["address_county"]
    address[short] = _objects(geo.county_name[county][short]) + locality[short]
    city_only = f["address_city"] | twin_city
    labels = _objects([geo.city_label(c) for c in county[city_only].tolist()])
    address[city_only] = labels + locality[city_only]
    empty = _objects([""] * len(rows))
    named = f["coordinates"] | f["name"] | f["name_variant"]
    codes = _objects(reg.credit_code)[ent]
    if link is not None:
        for i in np.flatnonzero(link.bad_code[rows] >= 0).tolist():
            codes[i] = link.codes[int(rows[i])]
    cells = LocationCells(
        name=np.where(named, names, empty).tolist(),
        credit_code=np.where((f["coordinates"] & shown) | f["credit_code"], codes, empty).tolist(),
        address=np.where(
            (f["coordinates"] & address_with_coordinates) | f["address_county"] | city_only,
            address,
            empty,
        ).tolist(),
        lon=lon_t,
        lat=lat_t,
        crs=crs_t,
        adcode=np.where(
            f["coordinates"], _objects(geo.county_code[true_county[rows]]), empty
        ).tolist(),
    )
    outside = m.BEIJING if set(geo.provinces) <= {"450000"} else m.ABROAD
    _apply_location_defects(cells, mess, rows, rng, reasons, strangers, outside)
    return cells


def _apply_location_defects(
    cells: LocationCells,
    mess: m.Mess,
    rows: Rows,
    rng: np.random.Generator,
    reasons: tuple[str, ...],
    strangers: dict[int, tuple[str, str]],
    outside: tuple[float, float] = m.BEIJING,
) -> None:
    for i in np.flatnonzero(mess.defect[rows] >= 0).tolist():
        r = int(rows[i])
        reason = reasons[mess.defect[r]]
        if reason == "unlocatable":
            cells.name[i], cells.credit_code[i] = strangers[r]
            cells.address[i] = vocab.NOWHERE_ADDRESSES[r % len(vocab.NOWHERE_ADDRESSES)]
            cells.adcode[i] = ""
        elif reason == "bad_coordinates":
            cells.lon[i], cells.lat[i], label = _bad_coordinates(
                rng, int(mess.defect_variant[r]), cells.lon[i], cells.lat[i], outside
            )
            cells.crs[i] = label or cells.crs[i]
