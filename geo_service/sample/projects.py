"""Construction projects (建设项目): projects.csv, with EIA approvals and acceptances.

About :data:`PROJECTS_PER_ENTERPRISE` projects per register entry, each built by a
register enterprise (its credit code stated on :data:`CODE_SHARE` of the rows, its
name always). Every enterprise penalised for building without an approved EIA
(未批先建) has one project, approved after the latest such case (or not at all;
a tenth approved before the earliest, which does not bear the case out); every
enterprise penalised for operating before the completion acceptance (未验先投) has
one project approved before the case and accepted after it (or not yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import mess as m
from geo_service.sample import vocab
from geo_service.sample.events import YEARS, Events, near_positions
from geo_service.sample.industries import INDUSTRIES
from geo_service.sample.linkage import HARD_VARIANTS, NameIndex, Twins, hard_variant
from geo_service.sample.places import Geography
from geo_service.sample.regions import city_abbreviations
from geo_service.sample.register import Register
from geo_service.sample.render import coordinate_texts, date_texts
from geo_service.sample.tables import Record, Rows, Sample
from geo_service.sample.violations import VIOLATION_INDEX

PROJECTS_PER_ENTERPRISE: Final = 0.13
CODE_SHARE: Final = 0.6
COORDINATE_SHARE: Final = 0.85
NEAR_KM: Final = (0.05, 0.6)
CRS: Final = (("WGS84", 0.5), ("CGCS2000", 0.3), ("GCJ02", 0.2))
#: Builder names: the register name, an ordinary variant, or (with coordinates) a hard one.
VARIANT_SHARE: Final = 0.15
HARD_VARIANT_RATE: Final = 0.04
INDUSTRY_CODE_SHARE: Final = 0.9
STATUSES: Final = ("在建", "已建成", "已验收", "停建")
#: Relation of a 未批先建 enterprise's approval to its cases: after, missing, before.
UNAPPROVED_RELATIONS: Final = (("after", 0.7), ("missing", 0.2), ("before", 0.1))
#: Share of other projects without an approval.
MISSING_APPROVAL_SHARE: Final = 0.08
FIRST_DAY: Final = np.datetime64(f"{YEARS[0]}-01-01")
LAST_DAY: Final = np.datetime64(f"{YEARS[-1]}-12-31")
NAT: Final = np.datetime64("NaT", "D")
_NAME_TAILS: Final = (
    "年产{n}万吨扩建项目",
    "技术改造项目",
    "新建生产线项目",
    "污水处理站提标改造项目",
    "废气治理设施升级改造项目",
    "{n}万吨/年生产线建设项目",
)


@dataclass
class Projects:
    """Projects, row-aligned, sorted by project code."""

    enterprise: NDArray[np.int64]
    ids: list[str]
    names: list[str]
    builder: list[str]  # 建设单位 as written
    code_shown: NDArray[np.bool_]
    builder_variant: NDArray[np.int64]  # position in mess.NAME_VARIANTS, -1 for none
    hard_variant: NDArray[np.int64]  # position in linkage.HARD_VARIANTS, -1 for none
    industry_shown: NDArray[np.bool_]
    lon: NDArray[np.float64]  # true WGS84 position
    lat: NDArray[np.float64]
    county: NDArray[np.int64]
    mess: m.Mess  # coordinate rows and their CRS
    approval: NDArray[np.datetime64]  # NaT when missing
    approval_no: list[str]
    acceptance: NDArray[np.datetime64]  # NaT when missing
    status: NDArray[np.int64]  # position in STATUSES
    unapproved: list[dict[str, Any]]  # per accepted 未批先建 case: its project and relation
    unaccepted: list[dict[str, Any]]  # per accepted 未验先投 case

    @property
    def n(self) -> int:
        """Number of projects."""
        return len(self.ids)


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> NDArray[np.timedelta64]:
    return rng.integers(low, high + 1, n).astype("timedelta64[D]")


def _cases_by_enterprise(cases: Events, good: NDArray[np.bool_], key: str) -> dict[int, list[int]]:
    rows = np.flatnonzero(good & (cases.violation == VIOLATION_INDEX[key]))
    out: dict[int, list[int]] = {}
    for r in rows.tolist():
        out.setdefault(int(cases.enterprise[r]), []).append(r)
    return out


def _pick(rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int) -> NDArray:
    w = np.array([s for _, s in table])
    return rng.choice(len(table), size=n, p=w / w.sum())


def make_projects(
    geo: Geography,
    reg: Register,
    twins: Twins,
    names: NameIndex,
    rng: np.random.Generator,
    cases: Events,
    good: NDArray[np.bool_],
) -> Projects:
    """Draw the projects (see the module docstring)."""
    unapproved = _cases_by_enterprise(cases, good, "eia_unapproved")
    unaccepted = {
        e: r
        for e, r in _cases_by_enterprise(cases, good, "eia_no_acceptance").items()
        if e not in unapproved
    }
    planted = np.array(sorted(unapproved) + sorted(unaccepted), dtype=np.int64)
    total = max(round(PROJECTS_PER_ENTERPRISE * reg.n), planted.size)
    free = np.setdiff1d(np.arange(reg.n), planted)
    others = np.sort(rng.choice(free, size=min(free.size, total - planted.size), replace=False))
    ent = np.concatenate([planted, others]).astype(np.int64)
    n = ent.size
    approval, acceptance, filed, relation = _dates(rng, ent, cases, unapproved, unaccepted)
    filed = np.where(np.isnat(filed), FIRST_DAY, filed)
    status = _statuses(rng, approval, acceptance)
    ids = _project_ids(rng, geo, reg, ent, filed)
    order = np.argsort(np.array(ids), kind="stable")
    ent, status = ent[order], status[order]
    approval, acceptance = approval[order], acceptance[order]
    ids = [ids[i] for i in order.tolist()]
    relation = [relation[i] for i in order.tolist()]
    county = reg.county[ent]
    lon, lat, near = near_positions(geo, reg, rng, ent, 1.0, NEAR_KM)
    coords = (rng.random(n) < COORDINATE_SHARE) | twins.member[ent]
    code_shown = rng.random(n) < CODE_SHARE
    crs = np.array([m.CRS_NAMES.index(c) for c, _ in CRS])[_pick(rng, CRS, n)]
    crs = np.where(coords, crs, -1)
    label_u = rng.random(n)
    labels = np.array([len(vocab.CRS_LABELS[m.CRS_NAMES[c]]) for c in np.maximum(crs, 0)])
    none = np.full(n, -1, dtype=np.int64)
    mess = m.Mess(
        np.where(coords, 0, m.FORMS.index("address_county")),
        crs,
        np.floor(label_u * labels).astype(np.int64),
        np.zeros(n, dtype=bool),
        none.copy(),
        none.copy(),
        none.copy(),
        none.copy(),
    )
    lon, lat = np.where(coords, lon, reg.lon[ent]), np.where(coords, lat, reg.lat[ent])
    county = np.where(coords, near, county)
    builder, variant, hard = _builders(geo, reg, twins, names, rng, ent, coords, lon, lat)
    approval_no = _approval_numbers(rng, geo, reg, ent, approval)
    tails = rng.integers(0, len(_NAME_TAILS), n)
    sizes = rng.integers(1, 50, n)
    project_names = [
        reg.name[e].removesuffix(_form(reg.name[e])) + _NAME_TAILS[t].format(n=k)
        for e, t, k in zip(ent.tolist(), tails.tolist(), sizes.tolist(), strict=True)
    ]
    unapproved_truth = [
        {
            "case_row": r,
            "credit_code": reg.credit_code[e],
            "project": i,
            "approval": relation[i],
        }
        for i, e in enumerate(ent.tolist())
        if e in unapproved
        for r in unapproved[e]
    ]
    unaccepted_truth = [
        {
            "case_row": r,
            "credit_code": reg.credit_code[e],
            "project": i,
            "acceptance": _relation(acceptance[i], cases.date[[r]]),
        }
        for i, e in enumerate(ent.tolist())
        if e in unaccepted
        for r in unaccepted[e]
    ]
    return Projects(
        ent,
        ids,
        project_names,
        builder,
        code_shown,
        variant,
        hard,
        rng.random(n) < INDUSTRY_CODE_SHARE,
        lon,
        lat,
        county,
        mess,
        approval,
        approval_no,
        acceptance,
        status,
        sorted(unapproved_truth, key=lambda t: t["case_row"]),
        sorted(unaccepted_truth, key=lambda t: t["case_row"]),
    )


def _dates(
    rng: np.random.Generator,
    ent: NDArray[np.int64],
    cases: Events,
    unapproved: dict[int, list[int]],
    unaccepted: dict[int, list[int]],
) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64], NDArray[np.datetime64], list[str]]:
    """Approval, acceptance and filing dates of each project, and its 未批先建 relation."""
    n = ent.size
    approval = np.full(n, NAT)
    acceptance = np.full(n, NAT)
    filed = np.full(n, NAT)
    relation = [""] * n
    # 未批先建: approval after the latest case, missing, or (a tenth) before the earliest
    rel = _pick(rng, UNAPPROVED_RELATIONS, n)
    gap = _days(rng, 20, 300, n)
    back_u = rng.random(n)
    lead = _days(rng, 30, 400, n)
    accept_gap = _days(rng, 180, 900, n)
    accept_u = rng.random(n)
    for i, e in enumerate(ent.tolist()):
        if e in unapproved:
            dates = cases.date[unapproved[e]]
            want = UNAPPROVED_RELATIONS[rel[i]][0]
            if want == "after" and dates.max() + gap[i] <= LAST_DAY:
                approval[i] = dates.max() + gap[i]
            elif want == "before" and _room(dates.min()) >= 30:
                approval[i] = dates.min() - _back(dates.min(), back_u[i])
            filed[i] = max(FIRST_DAY, dates.min() - lead[i])
            relation[i] = _relation(approval[i], dates)
            continue
        if e in unaccepted:
            dates = cases.date[unaccepted[e]]
            if _room(dates.min()) >= 30:
                approval[i] = dates.min() - _back(dates.min(), back_u[i])
            else:
                filed[i] = dates.min()  # no room for an approval before the case
            if not np.isnat(approval[i]) and dates.max() + gap[i] <= LAST_DAY and accept_u[i] < 0.6:
                acceptance[i] = dates.max() + gap[i]
        else:
            approval[i], acceptance[i], filed[i] = _other_dates(rng, accept_u[i], accept_gap[i])
        if not np.isnat(approval[i]):
            filed[i] = max(FIRST_DAY, approval[i] - lead[i])
    return approval, acceptance, filed, relation


def _other_dates(
    rng: np.random.Generator, u: float, gap: np.timedelta64
) -> tuple[np.datetime64, np.datetime64, np.datetime64]:
    """Approval, acceptance and filing of a project of no planted case."""
    span = int((LAST_DAY - FIRST_DAY).astype(np.int64))
    day = FIRST_DAY + np.timedelta64(int(rng.integers(0, span + 1)), "D")
    if rng.random() < MISSING_APPROVAL_SHARE:
        return NAT, NAT, day
    accepted = day + gap if u < 0.5 and day + gap <= LAST_DAY else NAT
    return day, accepted, NAT


def _room(day: np.datetime64) -> int:
    """Days between the first day of the sample's years and ``day``."""
    return int((day - FIRST_DAY).astype(np.int64))


def _back(day: np.datetime64, u: float) -> np.timedelta64:
    """How long before ``day`` an approval was given: 30 days to 900, within the years."""
    longest = min(900, _room(day))
    return np.timedelta64(30 + int(u * (longest - 30)), "D")


def _form(name: str) -> str:
    return next((f for f in ("股份有限公司", "有限责任公司", "有限公司") if name.endswith(f)), "")


def _relation(day: np.datetime64, cases: NDArray[np.datetime64]) -> str:
    """``missing``, ``after`` (every case) or ``before`` (every case) of a date to cases."""
    if np.isnat(day):
        return "missing"
    if (day > cases).all():
        return "after"
    return "before" if (day < cases).all() else "between"


def _statuses(
    rng: np.random.Generator, approval: NDArray[np.datetime64], acceptance: NDArray[np.datetime64]
) -> NDArray[np.int64]:
    n = len(approval)
    u = rng.random(n)
    no_approval = np.where(u < 0.7, STATUSES.index("在建"), STATUSES.index("停建"))
    approved = np.where(
        u < 0.45,
        STATUSES.index("在建"),
        np.where(u < 0.9, STATUSES.index("已建成"), STATUSES.index("停建")),
    )
    return np.where(
        ~np.isnat(acceptance),
        STATUSES.index("已验收"),
        np.where(np.isnat(approval), no_approval, approved),
    ).astype(np.int64)


def _project_ids(
    rng: np.random.Generator,
    geo: Geography,
    reg: Register,
    ent: NDArray[np.int64],
    filed: NDArray[np.datetime64],
) -> list[str]:
    """National project codes: YYMM-adcode-industry-type-serial (2303-450102-04-01-518237)."""
    seen: set[str] = set()
    out = []
    types = rng.integers(1, 4, len(ent))
    for e, day, t in zip(ent.tolist(), filed, types.tolist(), strict=True):
        stamp = np.datetime_as_string(day, unit="D")
        sector = 4 if INDUSTRIES[reg.industry[e]].code.startswith(("C", "D")) else 2
        while True:
            code = (
                f"{stamp[2:4]}{stamp[5:7]}-{geo.county_code[reg.county[e]]}-"
                f"{sector:02d}-{t:02d}-{int(rng.integers(100_000, 1_000_000))}"
            )
            if code not in seen:
                seen.add(code)
                out.append(code)
                break
    return out


def _approval_numbers(
    rng: np.random.Generator,
    geo: Geography,
    reg: Register,
    ent: NDArray[np.int64],
    approval: NDArray[np.datetime64],
) -> list[str]:
    marks = city_abbreviations(geo)
    seq: dict[tuple[str, int], int] = {}
    out = []
    for e, day in zip(ent.tolist(), approval, strict=True):
        if np.isnat(day):
            out.append("")
            continue
        city = str(geo.city_code[reg.county[e]])
        year = int(str(day)[:4])
        seq[(city, year)] = seq.get((city, year), int(rng.integers(1, 30))) + int(
            rng.integers(1, 4)
        )
        out.append(f"{marks.get(city, '桂')}环审〔{year}〕{seq[(city, year)]}号")
    return out


def _builders(
    geo: Geography,
    reg: Register,
    twins: Twins,
    names: NameIndex,
    rng: np.random.Generator,
    ent: NDArray[np.int64],
    coords: NDArray[np.bool_],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> tuple[list[str], NDArray[np.int64], NDArray[np.int64]]:
    n = len(ent)
    u = rng.random(n)
    kinds = rng.integers(0, len(m.NAME_VARIANTS), n)
    order = np.argsort(rng.random((n, len(HARD_VARIANTS))), axis=1)
    hard_u, hard_pick = rng.random(n), rng.integers(0, 1 << 30, n)
    variant = np.where(u < VARIANT_SHARE, kinds, -1)
    hard = np.full(n, -1, dtype=np.int64)
    out = [reg.name[e] for e in ent.tolist()]
    for i in np.flatnonzero(variant >= 0).tolist():
        out[i] = m.name_variant(out[i], int(variant[i]), vocab.GUANGXI_PREFIX)
    candidates = (u >= VARIANT_SHARE) & (u < VARIANT_SHARE + HARD_VARIANT_RATE) & coords
    for i in np.flatnonzero(candidates & ~twins.member[ent]).tolist():
        e = int(ent[i])
        for k in order[i].tolist():
            text = hard_variant(geo, reg, e, HARD_VARIANTS[k], hard_u[i], int(hard_pick[i]))
            if text and names.clearly_best(text, e, float(lon[i]), float(lat[i])):
                out[i], hard[i] = text, k
                break
    return out, variant, hard


def project_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Construction projects (UTF-8, Chinese headers)."""
    p, reg, geo = s.projects, s.reg, s.geo
    assert p is not None
    lon, lat, crs = coordinate_texts(p.lon, p.lat, p.mess, rows)
    coords = p.mess.crs[rows] >= 0
    ent = p.enterprise[rows]
    approval = _optional_dates(rng, p.approval[rows])
    acceptance = _optional_dates(rng, p.acceptance[rows])
    return [
        (
            p.ids[r],
            p.names[r],
            p.builder[r],
            reg.credit_code[e] if p.code_shown[r] else "",
            INDUSTRIES[reg.industry[e]].code if p.industry_shown[r] else "",
            reg.address[e],
            x,
            y,
            c,
            p.approval_no[r],
            a,
            b,
            STATUSES[p.status[r]],
            str(geo.county_code[p.county[r]]) if k else "",
        )
        for r, e, x, y, c, a, b, k in zip(
            rows.tolist(), ent.tolist(), lon, lat, crs, approval, acceptance, coords, strict=True
        )
    ]


def _optional_dates(rng: np.random.Generator, dates: NDArray[np.datetime64]) -> list[str]:
    """Mixed-format dates; empty where there is none."""
    missing = np.isnat(dates)
    texts = date_texts(rng, np.where(missing, np.datetime64("2000-01-01"), dates))
    return ["" if x else t for t, x in zip(texts, missing.tolist(), strict=True)]


def approval_iso(day: np.datetime64) -> str:
    """An ISO date, or "" for NaT."""
    return "" if np.isnat(day) else str(np.datetime_as_string(day, unit="D"))
