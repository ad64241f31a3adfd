"""The three data files: their headers, encodings, and rows rendered chunk by chunk."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import mess as m
from geo_service.sample import vocab
from geo_service.sample.events import Events, Structure
from geo_service.sample.industries import CATEGORIES, INDUSTRIES
from geo_service.sample.linkage import LinkPlan, RegisterRejects, Twins
from geo_service.sample.places import Geography
from geo_service.sample.register import Register
from geo_service.sample.render import (
    amount_texts,
    coordinate_texts,
    date_texts,
    location_cells,
)
from geo_service.sample.signals import Roster, Signal
from geo_service.sample.texts import case_descriptions, inspection_descriptions, violation_cores
from geo_service.sample.violations import VIOLATIONS

Rows = NDArray[np.int64]
Record = Sequence[str]
CHUNK_ROWS: Final = 50_000
#: Marker written as the surplus field of a malformed record.
SURPLUS_FIELD: Final = "（补录）"

HEADERS: Final = {
    "enterprises": (
        "credit_code",
        "name",
        "industry_code",
        "industry_name",
        "address",
        "lon",
        "lat",
        "crs",
        "adcode",
        "category",
        "permit_no",
    ),
    "cases": (
        "案件编号",
        "处罚决定日期",
        "当事人",
        "统一社会信用代码",
        "行业代码",
        "地址",
        "经度",
        "纬度",
        "坐标系",
        "违法类型",
        "违反条款",
        "违法事实",
        "罚款金额",
        "执行情况",
        "行政区划代码",
    ),
    "inspections": (
        "检查编号",
        "检查日期",
        "企业名称",
        "统一社会信用代码",
        "地址",
        "经度",
        "纬度",
        "坐标系",
        "执法人员",
        "是否发现问题",
        "问题类别",
        "检查情况",
        "行政区划代码",
    ),
    "exceedances": (
        "超标记录编号",
        "超标日期",
        "统一社会信用代码",
        "单位名称",
        "经度",
        "纬度",
        "坐标系",
        "污染因子",
        "监测值",
        "标准限值",
        "单位",
        "行政区划代码",
    ),
    "complaints": (
        "投诉编号",
        "投诉日期",
        "被投诉单位",
        "统一社会信用代码",
        "地址",
        "经度",
        "纬度",
        "坐标系",
        "投诉类别",
        "投诉内容",
        "行政区划代码",
    ),
    "inspectors": ("执法证号", "姓名", "所属单位", "所属单位行政区划代码", "在岗", "回避单位"),
    "projects": (
        "项目编号",
        "项目名称",
        "建设单位",
        "统一社会信用代码",
        "行业代码",
        "地址",
        "经度",
        "纬度",
        "坐标系",
        "环评批复文号",
        "环评批复日期",
        "竣工环保验收日期",
        "项目状态",
        "行政区划代码",
    ),
}
ENCODINGS: Final = {
    "enterprises": "utf-8",
    "cases": "gb18030",
    "inspections": "utf-8-sig",
    "exceedances": "utf-8",
    "complaints": "gb18030",
    "inspectors": "utf-8-sig",
    "projects": "utf-8",
}
KIND_NUMBERS: Final = {
    "enterprises": 1,
    "cases": 2,
    "inspections": 3,
    "exceedances": 4,
    "complaints": 5,
    "inspectors": 6,
    "projects": 7,
}


@dataclass
class Sample:
    """Everything generated for one seed, before it is written."""

    seed: int
    geo: Geography
    reg: Register
    reg_mess: m.Mess
    structure: Structure
    events: dict[str, Events]  # "cases", "inspections"
    mess: dict[str, m.Mess]
    strangers: dict[str, dict[int, tuple[str, str]]]
    _positions: dict[str, tuple[Rows, NDArray[np.float64], NDArray[np.float64], Rows]] = field(
        default_factory=dict
    )
    signals: dict[str, Signal] = field(default_factory=dict)  # "exceedances", "complaints"
    roster: Roster | None = None
    #: What the linkage must get right (see :mod:`geo_service.sample.linkage`).
    twins: Twins | None = None
    link: dict[str, LinkPlan] = field(default_factory=dict)  # the four linked tables
    register_rejects: RegisterRejects | None = None  # appended to enterprises.csv
    projects: Any = None  # geo_service.sample.projects.Projects

    def positions(self, kind: str) -> tuple[Rows, NDArray[np.float64], NDArray[np.float64], Rows]:
        """Enterprise, true WGS84 lon/lat and true county of every row of a table.

        Rows with coordinates are where their event happened (at or near the
        enterprise); rows without are at the enterprise itself.
        """
        if kind not in self._positions:
            ev, coords = self.events[kind], self.mess[kind].has_coordinates
            ent = ev.enterprise
            self._positions[kind] = (
                ent,
                np.where(coords, ev.near_lon, self.reg.lon[ent]),
                np.where(coords, ev.near_lat, self.reg.lat[ent]),
                np.where(coords, ev.near_county, self.reg.county[ent]),
            )
        return self._positions[kind]

    def rows(self, kind: str) -> int:
        """Number of data records of a file."""
        if kind == "enterprises":
            return self.reg.n + self.register_reject_rows
        if kind == "projects":
            return self.projects.n if self.projects is not None else 0
        if kind == "inspectors":
            return self.roster.n if self.roster is not None else 0
        return self.signals[kind].n if kind in self.signals else self.events[kind].n

    @property
    def register_reject_rows(self) -> int:
        """Register rows with an invalid credit code, written after the register."""
        return self.register_rejects.n if self.register_rejects is not None else 0


def write_csv(
    path: Path,
    kind: str,
    n: int,
    seed: int,
    chunk: Callable[[Rows, np.random.Generator], list[Record]],
) -> None:
    """Write a file chunk by chunk; each chunk draws from its own seeded generator."""
    with path.open("w", encoding=ENCODINGS[kind], newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADERS[kind])
        for k, start in enumerate(range(0, n, CHUNK_ROWS)):
            rows = np.arange(start, min(n, start + CHUNK_ROWS), dtype=np.int64)
            writer.writerows(chunk(rows, np.random.default_rng([seed, KIND_NUMBERS[kind], k])))


def enterprise_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Register records (every one with coordinates), then the rows with invalid codes."""
    reg = s.reg
    extra = rows[rows >= reg.n] - reg.n
    rows = rows[rows < reg.n]
    return _register_records(s, rows, rng) + _register_reject_records(s, extra)


def _register_reject_records(s: Sample, rows: Rows) -> list[Record]:
    bad = s.register_rejects
    if bad is None or rows.size == 0:
        return []
    label = vocab.CRS_LABELS["WGS84"][0]
    return [
        [
            bad.credit_code[r],
            bad.name[r],
            INDUSTRIES[bad.industry[r]].code,
            INDUSTRIES[bad.industry[r]].name,
            bad.address[r],
            f"{bad.lon[r]:.6f}",
            f"{bad.lat[r]:.6f}",
            label,
            str(s.geo.county_code[bad.county[r]]),
            CATEGORIES[-1],
            "",
        ]
        for r in rows.tolist()
    ]


def _register_records(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    reg = s.reg
    lon, lat, crs = coordinate_texts(reg.lon, reg.lat, s.reg_mess, rows)
    industry = reg.industry[rows]
    category = reg.category[rows]
    permitted = (category < 2) | (rng.random(len(rows)) < 0.4)
    return [
        [
            reg.credit_code[r],
            reg.name[r],
            INDUSTRIES[i].code,
            INDUSTRIES[i].name,
            reg.address[r],
            x,
            y,
            c,
            str(s.geo.county_code[reg.county[r]]),
            CATEGORIES[k],
            f"{reg.credit_code[r]}001P" if p else "",
        ]
        for r, i, x, y, c, k, p in zip(
            rows.tolist(), industry, lon, lat, crs, category, permitted, strict=True
        )
    ]


def _ids_and_dates(
    s: Sample, kind: str, rows: Rows, rng: np.random.Generator
) -> tuple[list[str], list[str]]:
    ev, mess, reasons = s.events[kind], s.mess[kind], m.REASONS[kind]
    ids = [ev.ids[r] for r in rows.tolist()]
    dates = date_texts(rng, ev.date[rows])
    for i in np.flatnonzero(mess.defect[rows] >= 0).tolist():
        r = int(rows[i])
        reason, variant = reasons[mess.defect[r]], int(mess.defect_variant[r])
        if reason == "missing_required":
            if m.MISSING[variant] == "id":
                ids[i] = ""
            else:
                dates[i] = ""
        elif reason == "bad_date":
            dates[i] = m.BAD_DATES[variant]
        elif reason == "duplicate_id":
            ids[i] = ev.ids[mess.duplicate_of[r]]
    return ids, dates


def _records(columns: Sequence[list[str]], s: Sample, kind: str, rows: Rows) -> list[Record]:
    """Rows of cells; malformed rows get a surplus field."""
    records: list[Record] = list(zip(*columns, strict=True))
    malformed = m.REASONS[kind].index("malformed_row")
    for i in np.flatnonzero(s.mess[kind].defect[rows] == malformed).tolist():
        records[i] = (*records[i], SURPLUS_FIELD)
    return records


def _bureaus(s: Sample, county: Rows, rng: np.random.Generator) -> list[str]:
    city = s.geo.city_name[county]
    branch = rng.random(len(county)) < 0.5
    return [
        f"{c}生态环境局{k}分局" if b else f"{c}生态环境局"
        for c, k, b in zip(city, s.geo.county_name[county], branch, strict=True)
    ]


def _provinces(s: Sample, county: Rows) -> list[str]:
    """The province adcode of each row's county (for its place names)."""
    return [str(p) for p in s.geo.province_code[county].tolist()]


def case_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Penalty case records (GB18030, Chinese headers)."""
    ev, mess, reg = s.events["cases"], s.mess["cases"], s.reg
    loc = location_cells(
        s.geo,
        reg,
        s.positions("cases"),
        mess,
        rows,
        rng,
        m.REASONS["cases"],
        s.strangers["cases"],
        link=s.link.get("cases"),
    )
    ids, dates = _ids_and_dates(s, "cases", rows, rng)
    ent, violation = ev.enterprise[rows], ev.violation[rows]
    assert ev.amount is not None and ev.status is not None
    cores = violation_cores(rng, violation, reg.industry[ent], _provinces(s, reg.county[ent]))
    text = case_descriptions(
        rng, cores, violation, ev.date[rows], _bureaus(s, reg.county[ent], rng)
    )
    amounts = amount_texts(rng, ev.amount[rows])
    bad_amount = m.REASONS["cases"].index("bad_amount")
    for i in np.flatnonzero(mess.defect[rows] == bad_amount).tolist():
        variant = m.BAD_AMOUNTS[mess.defect_variant[rows[i]]]
        amounts[i] = variant if variant != "negative" else f"-{int(ev.amount[rows[i]])}"
    columns = (
        ids,
        dates,
        loc.name,
        loc.credit_code,
        [INDUSTRIES[i].code for i in reg.industry[ent]],
        loc.address,
        loc.lon,
        loc.lat,
        loc.crs,
        [VIOLATIONS[v].label for v in violation],
        [VIOLATIONS[v].article for v in violation],
        text,
        amounts,
        [vocab.CASE_STATUSES[k] for k in ev.status[rows]],
        loc.adcode,
    )
    return _records(columns, s, "cases", rows)


def inspection_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Inspection records (UTF-8 with BOM, Chinese headers)."""
    ev, mess, reg = s.events["inspections"], s.mess["inspections"], s.reg
    loc = location_cells(
        s.geo,
        reg,
        s.positions("inspections"),
        mess,
        rows,
        rng,
        m.REASONS["inspections"],
        s.strangers["inspections"],
        address_with_coordinates=False,
        link=s.link.get("inspections"),
    )
    ids, dates = _ids_and_dates(s, "inspections", rows, rng)
    ent, violation = ev.enterprise[rows], ev.violation[rows]
    assert ev.inspectors is not None
    cores = violation_cores(rng, violation, reg.industry[ent], _provinces(s, reg.county[ent]))
    columns = (
        ids,
        dates,
        loc.name,
        loc.credit_code,
        loc.address,
        loc.lon,
        loc.lat,
        loc.crs,
        [ev.inspectors[r] for r in rows.tolist()],
        ["是" if v >= 0 else "否" for v in violation],
        [VIOLATIONS[v].category if v >= 0 else "" for v in violation],
        inspection_descriptions(rng, cores),
        loc.adcode,
    )
    return _records(columns, s, "inspections", rows)
