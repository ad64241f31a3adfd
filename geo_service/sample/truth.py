"""What was planted, written beside the data: truth.json, truth_points.csv, expected_rejects.csv.

All realised counts are over the rows the ingest must accept, at their true
(WGS84, pre-dirt) positions.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import events as ev_mod
from geo_service.sample import link_truth as lt
from geo_service.sample import mess as m
from geo_service.sample import signals as sg
from geo_service.sample import vocab
from geo_service.sample.industries import CATEGORIES, CATEGORY_MULTIPLIERS, FAMILIES, INDUSTRIES
from geo_service.sample.places import distance_km, hot_spot_counties
from geo_service.sample.tables import CHUNK_ROWS, ENCODINGS, HEADERS, Sample
from geo_service.sample.violations import PROBLEM_CATEGORIES, VIOLATIONS

TRUTH_POINT_COLUMNS: Final = (
    "kind",
    "record_id",
    "row_number",
    "lon",
    "lat",
    "adcode",
    "family",
    "locate_by",
    "expected_adcode",
    "expected_precision",
    "source_crs",
    "flags",
)
REJECT_COLUMNS: Final = ("file", "row_number", "reason")
FILES: Final = {
    "enterprises": "enterprises.csv",
    "cases": "cases.csv",
    "inspections": "inspections.csv",
    "exceedances": "exceedances.csv",
    "complaints": "complaints.csv",
    "inspectors": "inspectors.csv",
    "projects": "projects.csv",
}


def _good_case_positions(
    s: Sample,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    _, lon, lat, county = s.positions("cases")
    good = s.mess["cases"].good
    return np.flatnonzero(good), lon[good], lat[good], county[good]


def hot_spot_truth(s: Sample) -> list[dict[str, Any]]:
    """Each hot spot with its realised enterprises, cases and density against the region's."""
    rows, lon, lat, _ = _good_case_positions(s)
    overall = rows.size / float(s.geo.area_km2.sum())
    case_spot = s.reg.hot_spot[s.events["cases"].enterprise[rows]]
    out = []
    for i, spot in enumerate(s.geo.tables.hot_spots):
        area = np.pi * spot.radius_km**2
        inside = int((distance_km(lon, lat, spot.lon, spot.lat) <= spot.radius_km).sum())
        density = inside / area
        members = int((s.reg.hot_spot == i).sum())
        out.append(
            {
                "key": spot.key,
                "name": spot.name,
                "park": spot.park,
                "lon": spot.lon,
                "lat": spot.lat,
                "radius_km": spot.radius_km,
                "case_rate_multiplier": spot.case_multiplier,
                "industries": list(spot.industries),
                "counties": hot_spot_counties(s.geo, spot),
                "enterprises_inside": members,
                "cases_inside": inside,
                "cases_per_enterprise_inside": (
                    round(float((case_spot == i).sum()) / members, 3) if members else None
                ),
                "region_cases_per_enterprise": round(rows.size / s.reg.n, 3),
                "case_density_per_km2": round(density, 4),
                "region_case_density_per_km2": round(overall, 6),
                "density_ratio": round(density / overall, 2) if overall else None,
            }
        )
    return out


def _county_entry(s: Sample, c: np.integer, ent_counts: NDArray[np.int64]) -> dict[str, Any]:
    return {
        "adcode": str(s.geo.county_code[c]),
        "name": str(s.geo.county_name[c]),
        "enterprises": int(ent_counts[c]),
    }


def county_truth(s: Sample) -> dict[str, Any]:
    """Quiet and worsening counties with their realised case counts."""
    rows, _, _, county = _good_case_positions(s)
    year = s.events["cases"].year[rows]
    ent_counts = np.bincount(s.reg.county, minlength=s.geo.n)
    cases = np.bincount(county, minlength=s.geo.n)
    quiet = []
    for c in np.flatnonzero(s.structure.quiet):
        quiet.append(_county_entry(s, c, ent_counts) | {"cases": int(cases[c])})
    worse = []
    for c in np.flatnonzero(s.structure.worsening):
        by_year = {str(y): int(((county == c) & (year == y)).sum()) for y in ev_mod.YEARS}
        worse.append(_county_entry(s, c, ent_counts) | {"cases_by_year": by_year})
    return {
        "quiet_counties": {
            "case_rate_multiplier": ev_mod.QUIET_MULTIPLIER,
            "counties": quiet,
            "region_cases_per_enterprise": round(rows.size / s.reg.n, 4),
        },
        "worsening_counties": {
            "year_multipliers": dict(
                zip(map(str, ev_mod.YEARS), ev_mod.WORSENING_MULTIPLIERS, strict=True)
            ),
            "counties": worse,
            "region_cases_by_year": {str(y): int((year == y).sum()) for y in ev_mod.YEARS},
        },
    }


def industry_truth(s: Sample) -> list[dict[str, Any]]:
    """Planted multipliers and family mixes of each industry, with realised counts."""
    n = len(INDUSTRIES)
    rows = np.flatnonzero(s.mess["cases"].good)
    case_ent = s.events["cases"].enterprise[rows]
    case_ind = s.reg.industry[case_ent]
    ent = np.bincount(s.reg.industry, minlength=n)
    cases = np.bincount(case_ind, minlength=n)
    away = s.reg.hot_spot < 0
    ent_away = np.bincount(s.reg.industry[away], minlength=n)
    cases_away = np.bincount(case_ind[away[case_ent]], minlength=n)
    return [
        {
            "code": ind.code,
            "name": ind.name,
            "case_rate_multiplier": ind.case_multiplier,
            "problem_families": ind.families,
            "top_family": ind.top_family,
            "enterprises": int(ent[i]),
            "cases": int(cases[i]),
            "cases_per_enterprise": _ratio(cases[i], ent[i]),
            "cases_per_enterprise_outside_hot_spots": _ratio(cases_away[i], ent_away[i]),
        }
        for i, ind in enumerate(INDUSTRIES)
    ]


def _ratio(a: np.integer, b: np.integer) -> float | None:
    return round(float(a) / float(b), 3) if b else None


def mess_truth(s: Sample) -> dict[str, Any]:
    """Rates of every kind of dirt, and the realised rows where they matter."""
    out: dict[str, Any] = {
        "crs_shares": dict(zip(m.CRS_NAMES, m.CRS_SHARES, strict=True)),
        "crs_labels": {k: list(v) for k, v in vocab.CRS_LABELS.items()},
        "coordinate_decimals": 6,
        "swap_rates": m.SWAP_RATE,
        "location_forms": list(m.FORMS),
        "location_form_shares": {
            k: dict(zip(m.FORMS, v, strict=True)) for k, v in m.FORM_SHARES.items()
        },
        "name_variants": list(m.NAME_VARIANTS),
        "name_variant_with_coordinates_rate": m.VARIANT_WITH_COORDS,
        "date_formats": dict(vocab.DATE_FORMATS),
        "amount_formats": dict(vocab.AMOUNT_FORMATS),
        "reject_rate": m.REJECT_RATE,
        "files": {},
    }
    for kind in ("enterprises", "cases", "inspections"):
        mess = s.reg_mess if kind == "enterprises" else s.mess[kind]
        ids = s.reg.credit_code if kind == "enterprises" else s.events[kind].ids
        swapped = np.flatnonzero(mess.swapped & mess.good)
        crs = mess.crs[mess.good]
        entry: dict[str, Any] = {
            "crs_counts": {c: int((crs == i).sum()) for i, c in enumerate(m.CRS_NAMES)},
            "swapped": [{"record_id": ids[r], "row_number": int(r) + 2} for r in swapped],
        }
        if kind != "enterprises":
            good = mess.good
            entry["location_form_counts"] = {
                f: int(((mess.form == i) & good).sum()) for i, f in enumerate(m.FORMS)
            }
            entry["name_variant_counts"] = {
                v: int(((mess.name_variant == i) & good).sum())
                for i, v in enumerate(m.NAME_VARIANTS)
            }
            entry["reject_counts"] = {
                r: int((mess.defect == i).sum()) for i, r in enumerate(m.REASONS[kind])
            }
        out["files"][kind] = entry
    return out


def truth_document(s: Sample) -> dict[str, Any]:
    """The whole truth.json document."""
    links = lt.link_rows(s)
    insp = s.events["inspections"]
    good_i = s.mess["inspections"].good
    found = (insp.violation >= 0) & good_i
    return {
        "generator": "geo_service.sample",
        "schema_version": 1,
        "seed": s.seed,
        "files": {
            k: {
                "path": FILES[k],
                "encoding": ENCODINGS[k],
                "headers": list(HEADERS[k]),
                "rows": s.rows(k),
            }
            for k in FILES
        }
        | {
            "truth_points": {
                "path": "truth_points.csv",
                "encoding": "utf-8",
                "headers": list(TRUTH_POINT_COLUMNS),
            },
            "expected_rejects": {
                "path": "expected_rejects.csv",
                "encoding": "utf-8",
                "headers": list(REJECT_COLUMNS),
            },
            "truth_links": {
                "path": "truth_links.csv",
                "encoding": "utf-8",
                "headers": list(lt.LINK_COLUMNS),
            },
        },
        "years": list(ev_mod.YEARS),
        "base_year_weights": dict(
            zip(map(str, ev_mod.YEARS), ev_mod.BASE_YEAR_WEIGHTS, strict=True)
        ),
        "hot_spots": hot_spot_truth(s),
        **county_truth(s),
        "industries": industry_truth(s),
        "category_multipliers": CATEGORY_MULTIPLIERS,
        "category_counts": {c: int((s.reg.category == i).sum()) for i, c in enumerate(CATEGORIES)},
        "families": list(FAMILIES),
        "problem_categories": {f: list(v) for f, v in PROBLEM_CATEGORIES.items()},
        "violation_kinds": [
            {
                "key": v.key,
                "family": v.family,
                "violation_type": v.label,
                "law_article": v.article,
                "violated": v.violated,
                "problem_category": v.category,
                "amount_min": v.amount_min,
                "amount_max": v.amount_max,
            }
            for v in VIOLATIONS
        ],
        "inspections": {
            "base_problem_rate": ev_mod.BASE_PROBLEM_RATE,
            "max_problem_rate": ev_mod.MAX_PROBLEM_RATE,
            "category_weights": dict(
                zip(CATEGORIES, ev_mod.INSPECTION_CATEGORY_WEIGHTS, strict=True)
            ),
            "problem_rate": round(float(found.sum() / max(1, good_i.sum())), 4),
        },
        "mess": mess_truth(s),
        "signals": signals_truth(s),
        "linkage": lt.linkage_truth(s, links),
        "inspection_industries": lt.inspection_industries(s, links),
        # only beyond Guangxi, so that Guangxi's truth.json keeps its bytes
        **({"provinces": s.geo.provinces} if set(s.geo.provinces) - {"450000"} else {}),
    }


def _risk_shares(s: Sample, ent: NDArray[np.int64], year: NDArray[np.int64]) -> dict[str, Any]:
    """Where a table's records fall against the planted risk, beside the register's shares."""
    reg, st = s.reg, s.structure
    top = s.structure.rate >= np.quantile(st.rate, 0.9)
    worse = st.worsening[reg.county[ent]]
    return {
        "hot_spot_share": round(float((reg.hot_spot[ent] >= 0).mean()), 4) if ent.size else None,
        "register_hot_spot_share": round(float((reg.hot_spot >= 0).mean()), 4),
        "top_decile_rate_share": round(float(top[ent].mean()), 4) if ent.size else None,
        "worsening_counties_by_year": {
            str(y): int((worse & (year == y)).sum()) for y in ev_mod.YEARS
        },
    }


def signals_truth(s: Sample) -> dict[str, Any]:
    """How exceedances, complaints and the roster were planted, with realised shares.

    ``top_decile_rate_share``: records of the enterprises in the top tenth by
    planted case rate (a tenth of the register).
    """
    out: dict[str, Any] = {}
    for kind in ("exceedances", "complaints"):
        sig = s.signals[kind]
        year = sig.date.astype("datetime64[Y]").astype(np.int64) + 1970
        named = ~sig.background
        out[kind] = {"rows": sig.n, **_risk_shares(s, sig.enterprise[named], year[named])}
    out["exceedances"] |= {
        "per_case": sg.EXCEEDANCES_PER_CASE,
        "monitored_share": dict(sg.MONITORED_SHARE),
        "value_over_limit": list(sg.EXCEEDANCE_FACTOR),
    }
    out["complaints"] |= {
        "per_case": sg.COMPLAINTS_PER_CASE,
        "background_share": sg.COMPLAINT_BACKGROUND_SHARE,
        "background_rows": int(s.signals["complaints"].background.sum()),
        "categories": dict(sg.COMPLAINT_CATEGORIES),
    }
    ro = s.roster
    assert ro is not None
    out["inspectors"] = {
        "rows": ro.n,
        "inactive": int((~ro.active).sum()),
        "exclusion_rate": sg.EXCLUSION_RATE,
        "with_exclusions": sum(1 for e in ro.excluded if e),
        "exclusions": sum(len(e) for e in ro.excluded),
        "separators": list(sg.EXCLUSION_SEPARATORS),
    }
    return out


def expected_rejects(s: Sample) -> list[tuple[str, int, str]]:
    """(file, row_number, reason) of every row the ingest must reject."""
    out = lt.register_reject_rows(s)
    for kind in ("cases", "inspections"):
        mess = s.mess[kind]
        for r in np.flatnonzero(mess.defect >= 0).tolist():
            out.append((FILES[kind], r + 2, m.REASONS[kind][mess.defect[r]]))
    return out


def write_expected_rejects(s: Sample, path: Path) -> int:
    """Write expected_rejects.csv; returns its number of rows."""
    rows = expected_rejects(s)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REJECT_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def _flags(s: Sample, kind: str, rows: NDArray[np.int64]) -> list[str]:
    mess, ev = s.mess[kind], s.events[kind]
    moved = (ev.near_lon[rows] != s.reg.lon[ev.enterprise[rows]]) & mess.has_coordinates[rows]
    variant = mess.name_variant[rows]
    out = [""] * len(rows)
    for i in np.flatnonzero(mess.swapped[rows] | (variant >= 0) | moved).tolist():
        flags = ["swapped"] if mess.swapped[rows[i]] else []
        if variant[i] >= 0:
            flags.append(f"name_variant={m.NAME_VARIANTS[variant[i]]}")
        if moved[i]:
            flags.append("near_enterprise")
        out[i] = ";".join(flags)
    return out


def _event_points(s: Sample, kind: str, rows: NDArray[np.int64]) -> list[tuple[str, ...]]:
    _, lon, lat, county = s.positions(kind)
    mess, ev, geo = s.mess[kind], s.events[kind], s.geo
    form = mess.form[rows]
    if kind in s.link:  # twins named only by name are placed by their city-level address
        form = np.where(s.link[kind].city_address[rows], m.FORMS.index("address_city"), form)
    c = county[rows]
    # an address naming only a city that is its own county (东莞市, 仙桃市) resolves to the county
    city = (form == m.FORMS.index("address_city")) & ~geo.city_is_county[c]
    expected = np.where(city, geo.city_code[c], geo.county_code[c])
    precision = np.where(
        city, "city", np.where(form == m.FORMS.index("address_county"), "county", "point")
    )
    # position -1 (no violation found, no coordinates) picks the trailing ""
    family = np.array([v.family for v in VIOLATIONS] + [""])[ev.violation[rows]]
    crs = np.array([*m.CRS_NAMES, ""])[mess.crs[rows]]
    return list(
        zip(
            [kind] * len(rows),
            [ev.ids[r] for r in rows.tolist()],
            (rows + 2).astype(str).tolist(),
            [f"{x:.7f}" for x in lon[rows]],
            [f"{y:.7f}" for y in lat[rows]],
            geo.county_code[c].tolist(),
            family.tolist(),
            np.array(m.FORMS)[form].tolist(),
            expected.tolist(),
            precision.tolist(),
            crs.tolist(),
            _flags(s, kind, rows),
            strict=True,
        )
    )


def write_truth_points(s: Sample, path: Path) -> int:
    """Write truth_points.csv (register, then accepted cases and inspections); returns rows."""
    reg, geo = s.reg, s.geo
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(TRUTH_POINT_COLUMNS)
        for r in range(reg.n):
            c = reg.county[r]
            writer.writerow(
                [
                    "enterprises",
                    reg.credit_code[r],
                    r + 2,
                    f"{reg.lon[r]:.7f}",
                    f"{reg.lat[r]:.7f}",
                    geo.county_code[c],
                    INDUSTRIES[reg.industry[r]].top_family,
                    "coordinates",
                    geo.county_code[c],
                    "point",
                    m.CRS_NAMES[s.reg_mess.crs[r]],
                    "swapped" if s.reg_mess.swapped[r] else "",
                ]
            )
        count += reg.n
        for kind in ("cases", "inspections"):
            good = np.flatnonzero(s.mess[kind].good)
            for start in range(0, good.size, CHUNK_ROWS):
                chunk = _event_points(s, kind, good[start : start + CHUNK_ROWS])
                writer.writerows(chunk)
                count += len(chunk)
    return count
