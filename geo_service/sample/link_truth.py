"""The linkage truth: truth_links.csv, truth.json's ``linkage`` and ``inspection_industries``.

``truth_links.csv`` has one row per record the ingest must accept, of the linked
kinds (cases, inspections, exceedances, complaints, projects): ``kind``,
``record_id``, ``credit_code`` (the true register enterprise; empty for records of
none), ``expected`` (:data:`EXPECTED`) and ``planted`` (:data:`PLANTED`, what makes
the record easy or hard to link), and its ``row_number`` (header = 1).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import linkage as lk
from geo_service.sample import mess as m
from geo_service.sample.industries import INDUSTRIES
from geo_service.sample.tables import Sample

LINK_COLUMNS: Final = ("kind", "record_id", "credit_code", "expected", "planted", "row_number")
LINK_KINDS: Final = ("cases", "inspections", "exceedances", "complaints", "projects")
#: ``expected``: linked to ``credit_code``; ambiguous (never linked); or names no one.
EXPECTED: Final = ("link", "ambiguous", "none")
#: ``planted``, with the ``expected`` each implies.
PLANTED: Final = {
    "code": "link",  # a valid credit code of the register stated
    "twin_code": "link",  # … of a twin
    "bad_check": "link",  # an invalid code (check character) and the name: linked by name
    "bad_format": "link",  # a malformed code and the name: linked by name
    "name": "link",  # the register name, no code
    "variant": "link",  # a variant that normalises to the register name, no code
    "fuzzy_variant": "link",  # a hard variant with coordinates: name, address and distance
    "twin_near": "link",  # a twin's name with coordinates near it (the twin is ≥ 30 km away)
    "twin_name_only": "ambiguous",  # a twin's name with a city-level address only
    "address_only": "none",  # an address only: the record names no enterprise
    "none": "none",  # a record of no enterprise (background complaints)
}
_ID_FILES: Final = {
    "cases": "cases.csv",
    "inspections": "inspections.csv",
    "exceedances": "exceedances.csv",
    "complaints": "complaints.csv",
    "projects": "projects.csv",
}


def _planted(
    form: NDArray[np.int64],
    plan: lk.LinkPlan,
    variant: NDArray[np.int64],
    twin: NDArray[np.bool_],
    background: NDArray[np.bool_],
) -> list[str]:
    coords, by_code = m.FORMS.index("coordinates"), m.FORMS.index("credit_code")
    names = (m.FORMS.index("name"), m.FORMS.index("name_variant"))
    out = []
    for f, shown, bad, hard, v, t, b in zip(
        form.tolist(),
        plan.code_shown.tolist(),
        plan.bad_code.tolist(),
        plan.hard_variant.tolist(),
        variant.tolist(),
        twin.tolist(),
        background.tolist(),
        strict=True,
    ):
        if b:
            out.append("none")
        elif f == by_code or (f == coords and shown and bad < 0):
            out.append("twin_code" if t else "code")
        elif f == coords and bad >= 0:
            out.append(lk.BAD_CODES[bad][1])
        elif f == coords and t:
            out.append("twin_near")
        elif f == coords and hard >= 0:
            out.append("fuzzy_variant")
        elif f in names and t:
            out.append("twin_name_only")
        elif f == coords or f in names:
            out.append("variant" if v >= 0 else "name")
        else:
            out.append("address_only")
    return out


def link_rows(s: Sample) -> list[tuple[str, str, str, str, str, int]]:
    """Every row of truth_links.csv, kind by kind in file order."""
    assert s.twins is not None
    out: list[tuple[str, str, str, str, str, int]] = []
    for kind in LINK_KINDS[:4]:
        if kind in s.events:
            ev, mess = s.events[kind], s.mess[kind]
            ent, ids = ev.enterprise, ev.ids
            background = np.zeros(ev.n, dtype=bool)
        else:
            sig = s.signals[kind]
            ent, ids, mess, background = sig.enterprise, sig.ids, sig.mess, sig.background
        planted = _planted(
            mess.form, s.link[kind], mess.name_variant, s.twins.member[ent], background
        )
        for r in np.flatnonzero(mess.good).tolist():
            p = planted[r]
            code = "" if background[r] else s.reg.credit_code[ent[r]]
            out.append((kind, ids[r], code, PLANTED[p], p, r + 2))
    p_ = s.projects
    if p_ is not None:
        for r, e in enumerate(p_.enterprise.tolist()):
            twin = bool(s.twins.member[e])
            coords = bool(p_.mess.crs[r] >= 0)
            if p_.code_shown[r]:
                planted_p = "twin_code" if twin else "code"
            elif twin:
                planted_p = "twin_near" if coords else "twin_name_only"
            elif p_.hard_variant[r] >= 0:
                planted_p = "fuzzy_variant"
            else:
                planted_p = "variant" if p_.builder_variant[r] >= 0 else "name"
            out.append(
                ("projects", p_.ids[r], s.reg.credit_code[e], PLANTED[planted_p], planted_p, r + 2)
            )
    return out


def write_truth_links(s: Sample, path: Path) -> int:
    """Write truth_links.csv; returns its number of rows."""
    rows = link_rows(s)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(LINK_COLUMNS)
        writer.writerows(rows)
    return len(rows)


def register_reject_rows(s: Sample) -> list[tuple[str, int, str]]:
    """(file, row_number, reason) of the register rows with an invalid code."""
    first = s.reg.n + 2
    return [
        ("enterprises.csv", first + k, "bad_credit_code") for k in range(s.register_reject_rows)
    ]


def invalid_codes(s: Sample) -> list[dict[str, Any]]:
    """Every invalid credit code written: register rows (rejected), then stated codes (flagged)."""
    out: list[dict[str, Any]] = []
    bad = s.register_rejects
    if bad is not None:
        for k, code in enumerate(bad.credit_code):
            out.append(
                {
                    "file": "enterprises.csv",
                    "record_id": code,
                    "row_number": s.reg.n + 2 + k,
                    "code": code,
                    "reason": lk.code_problem(code),
                    "credit_code": "",
                    "outcome": "rejected",
                }
            )
    for kind, plan in s.link.items():
        ids = s.events[kind].ids if kind in s.events else s.signals[kind].ids
        ent = s.events[kind].enterprise if kind in s.events else s.signals[kind].enterprise
        for r in sorted(plan.codes):
            out.append(
                {
                    "file": _ID_FILES[kind],
                    "record_id": ids[r],
                    "row_number": r + 2,
                    "code": plan.codes[r],
                    "reason": lk.BAD_CODES[plan.bad_code[r]][1],
                    "made_as": lk.BAD_CODES[plan.bad_code[r]][0],
                    "credit_code": s.reg.credit_code[ent[r]],
                    "outcome": "flagged",
                }
            )
    return out


def _iso(day: np.datetime64) -> str | None:
    return None if np.isnat(day) else str(np.datetime_as_string(day, unit="D"))


def project_truth(s: Sample) -> dict[str, Any]:
    """Projects: counts, and each 未批先建 / 未验先投 case with its enterprise's project."""
    p = s.projects
    if p is None:
        return {}
    from geo_service.sample import projects as pj

    cases = s.events["cases"]

    def case(t: dict[str, Any]) -> dict[str, Any]:
        r, i = t["case_row"], t["project"]
        return {
            "case_id": cases.ids[r],
            "case_date": _iso(cases.date[r]),
            "credit_code": t["credit_code"],
            "project_id": p.ids[i],
            "eia_approval_date": _iso(p.approval[i]),
            "acceptance_date": _iso(p.acceptance[i]),
        }

    unapproved = [case(t) | {"approval": t["approval"]} for t in p.unapproved]
    unaccepted = [case(t) | {"acceptance": t["acceptance"]} for t in p.unaccepted]
    return {
        "rows": p.n,
        "per_enterprise": pj.PROJECTS_PER_ENTERPRISE,
        "code_share": pj.CODE_SHARE,
        "coordinate_share": pj.COORDINATE_SHARE,
        "statuses": {st: int((p.status == k).sum()) for k, st in enumerate(pj.STATUSES)},
        "without_approval": int(np.isnat(p.approval).sum()),
        "without_acceptance": int(np.isnat(p.acceptance).sum()),
        "unapproved_relations": dict(pj.UNAPPROVED_RELATIONS),
        "unapproved_cases": unapproved,
        "unapproved_counts": dict(Counter(c["approval"] for c in unapproved)),
        "unaccepted_cases": unaccepted,
        "unaccepted_counts": dict(Counter(c["acceptance"] for c in unaccepted)),
    }


def linkage_truth(s: Sample, rows: list[tuple[str, str, str, str, str, int]]) -> dict[str, Any]:
    """truth.json's ``linkage`` section."""
    assert s.twins is not None
    kinds: dict[str, Any] = {}
    for kind in LINK_KINDS:
        mine = [r for r in rows if r[0] == kind]
        kinds[kind] = {
            "rows": len(mine),
            "expected": {e: sum(r[3] == e for r in mine) for e in EXPECTED},
            "planted": {p: n for p in PLANTED if (n := sum(r[4] == p for r in mine))},
        }
    reg, geo = s.reg, s.geo
    twins = [
        {
            "key": lk.normalize_company_name(reg.name[a]),
            "distance_km": d,
            "members": [
                {
                    "credit_code": reg.credit_code[e],
                    "name": reg.name[e],
                    "adcode": str(geo.county_code[reg.county[e]]),
                }
                for e in (a, b)
            ],
        }
        for (a, b), d in zip(s.twins.pairs, s.twins.distance_km, strict=True)
    ]
    return {
        "truth_links": {"path": "truth_links.csv", "headers": list(LINK_COLUMNS)},
        "expected_values": list(EXPECTED),
        "planted_values": dict(PLANTED),
        "code_shares_on_coordinate_rows": dict(lk.CODE_SHARES),
        "hard_variants": list(lk.HARD_VARIANTS),
        "hard_variant_rates": dict(lk.HARD_VARIANT_RATES),
        "bad_code_rate": lk.BAD_CODE_RATE,
        "bad_code_kinds": dict(lk.BAD_CODES),
        "kinds": kinds,
        "twins": {"min_distance_km": lk.TWIN_MIN_KM, "pairs": twins},
        "invalid_credit_codes": invalid_codes(s),
        "projects": project_truth(s),
    }


def inspection_industries(
    s: Sample, rows: list[tuple[str, str, str, str, str, int]]
) -> list[dict[str, Any]]:
    """Accepted inspections per (city, industry code's first 3 characters, year).

    By the true enterprise's industry and the record's true city: ``accepted``
    counts every accepted inspection, ``linked`` those expected to be linked (the
    ones that can inherit the industry).
    """
    _, _, _, county = s.positions("inspections")
    ev = s.events["inspections"]
    linked = {r[5] - 2 for r in rows if r[0] == "inspections" and r[3] == "link"}
    counts: Counter[tuple[str, str, int]] = Counter()
    links: Counter[tuple[str, str, int]] = Counter()
    codes = [ind.code[:3] for ind in INDUSTRIES]
    years = ev.year
    for r in np.flatnonzero(s.mess["inspections"].good).tolist():
        key = (
            str(s.geo.city_code[county[r]]),
            codes[s.reg.industry[ev.enterprise[r]]],
            int(years[r]),
        )
        counts[key] += 1
        links[key] += r in linked
    return [
        {
            "city_adcode": c,
            "industry": i,
            "year": y,
            "accepted": counts[(c, i, y)],
            "linked": links[(c, i, y)],
        }
        for c, i, y in sorted(counts)
    ]
