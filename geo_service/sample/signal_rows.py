"""Rows of the planning files: exceedances.csv, complaints.csv and inspectors.csv."""

from __future__ import annotations

import numpy as np

from geo_service.sample.render import LocationCells, date_texts, location_cells
from geo_service.sample.signals import COMPLAINT_CODE_SHARE, Signal
from geo_service.sample.tables import Record, Rows, Sample

_COMPLAINT_TEXTS = {
    "废气": (
        "反映{who}排放刺鼻异味，夜间尤为严重",
        "{who}烟囱冒黑烟，周边居民意见很大",
        "{who}粉尘飘散，晾晒衣物落满灰尘",
    ),
    "废水": ("反映{who}向附近河沟排放污水，水体发黑发臭", "{who}疑似通过雨水管道偷排废水"),
    "噪声": ("{who}夜间生产噪声扰民，影响休息", "{who}机器轰鸣，白天夜里都很吵"),
    "固废": ("{who}在厂区外随意堆放废渣", "{who}疑似倾倒固体废物，气味难闻"),
}
_SOMEONE = ("附近一家工厂", "附近的作坊", "该处", "路边一家企业")


def _location(
    s: Sample, signal: Signal, rows: Rows, rng: np.random.Generator, *, with_address: bool
) -> LocationCells:
    ctx = (signal.enterprise, signal.lon, signal.lat, signal.county)
    kind = next(k for k, v in s.signals.items() if v is signal)
    return location_cells(
        s.geo,
        s.reg,
        ctx,
        signal.mess,
        rows,
        rng,
        (),
        {},
        address_with_coordinates=with_address,
        link=s.link.get(kind),
    )


def exceedance_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Online-monitoring exceedances (UTF-8, Chinese headers), at the outlet or by credit code."""
    ex = s.signals["exceedances"]
    assert ex.hour is not None and ex.value is not None and ex.limit is not None
    assert ex.unit is not None
    loc = _location(s, ex, rows, rng, with_address=False)
    days = np.datetime_as_string(ex.date[rows], unit="D")
    columns = (
        [ex.ids[r] for r in rows.tolist()],
        [f"{d} {h:02d}:00" for d, h in zip(days, ex.hour[rows], strict=True)],
        loc.credit_code,
        loc.name,
        loc.lon,
        loc.lat,
        loc.crs,
        [ex.label[r] for r in rows.tolist()],
        [f"{v:g}" for v in ex.value[rows]],
        [f"{v:g}" for v in ex.limit[rows]],
        [ex.unit[r] for r in rows.tolist()],
        loc.adcode,
    )
    return list(zip(*columns, strict=True))


def _complaint_texts(rng: np.random.Generator, labels: list[str], who: list[str]) -> list[str]:
    picks = rng.random(len(labels))
    someone = rng.integers(0, len(_SOMEONE), len(labels))
    out = []
    for label, name, p, k in zip(labels, who, picks, someone, strict=True):
        texts = _COMPLAINT_TEXTS[label]
        out.append(texts[int(p * len(texts))].format(who=name or _SOMEONE[k]))
    return out


def complaint_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """Public complaints (GB18030, Chinese headers): named or not, by point, name or address."""
    co = s.signals["complaints"]
    loc = _location(s, co, rows, rng, with_address=True)
    background = co.background[rows]
    names = ["" if b else n for n, b in zip(loc.name, background, strict=True)]
    # which rows state a code is planned up front (linkage.CODE_SHARES); the draw that
    # once decided it is still taken, so that the later cells keep their random numbers
    coded = ~background & (rng.random(len(rows)) < COMPLAINT_CODE_SHARE)
    if "complaints" in s.link:
        coded = ~background
    codes = [c if k else "" for c, k in zip(loc.credit_code, coded, strict=True)]
    labels = [co.label[r] for r in rows.tolist()]
    columns = (
        [co.ids[r] for r in rows.tolist()],
        date_texts(rng, co.date[rows]),
        names,
        codes,
        loc.address,
        loc.lon,
        loc.lat,
        loc.crs,
        labels,
        _complaint_texts(rng, labels, names),
        loc.adcode,
    )
    return list(zip(*columns, strict=True))


def inspector_rows(s: Sample, rows: Rows, rng: np.random.Generator) -> list[Record]:
    """The officers of every county (UTF-8 with BOM), with their conflict exclusions."""
    ro, geo, reg = s.roster, s.geo, s.reg
    assert ro is not None
    out: list[Record] = []
    for r in rows.tolist():
        c = ro.county[r]
        excluded = ro.separator[r].join(reg.credit_code[e] for e in ro.excluded[r])
        out.append(
            (
                ro.ids[r],
                ro.names[r],
                f"{geo.city_name[c]}生态环境局{geo.county_name[c]}分局",
                str(geo.county_code[c]),
                "是" if ro.active[r] else "否",
                excluded,
            )
        )
    return out
