"""Violation types of the synthetic penalty cases: laws, amounts, problem categories.

Each :class:`Violation` is one concrete kind of offence with the provision it
breaks (``violated``, cited in the text), the penalty provision applied
(``article``, the ``law_article`` column) and the fine range that provision sets.
Families group them as analytics should recover them (see ``industries.FAMILIES``).

Provisions follow the laws in force in 2021-2025: the revised Solid Waste Law
(2020-09-01), the Regulation on Pollutant Discharge Permits (2021-03-01; before
it, permit-less discharge is fined under the Water/Air laws) and the Noise Law
(2022-06-05; no noise fines are generated before it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from geo_service.sample.industries import INDUSTRIES, Industry

WATER_LAW: Final = "《中华人民共和国水污染防治法》"
AIR_LAW: Final = "《中华人民共和国大气污染防治法》"
SOLID_LAW: Final = "《中华人民共和国固体废物污染环境防治法》"
EIA_LAW: Final = "《中华人民共和国环境影响评价法》"
NOISE_LAW: Final = "《中华人民共和国噪声污染防治法》"
PERMIT_REG: Final = "《排污许可管理条例》"
PROJECT_REG: Final = "《建设项目环境保护管理条例》"

PERMIT_REG_START: Final = dt.date(2021, 3, 1)
NOISE_LAW_START: Final = dt.date(2022, 6, 5)


@dataclass(frozen=True)
class Violation:
    """One kind of offence."""

    key: str
    family: str
    category: str  # 问题类别 of an inspection finding of this kind
    label: str  # 违法类型
    article: str  # penalty provision (违反条款 column)
    violated: str  # provision broken, cited in the text ("" → "有关规定")
    amount_min: float  # yuan
    amount_max: float
    medium: str = ""  # "water" / "air" when the offence is tied to one medium
    construction: bool | None = None  # only for building sites (True) / never (False)
    weight: float = 1.0  # share within its family among the applicable kinds
    amount_by_investment: bool = False  # 1-5 % of the project's investment


VIOLATIONS: Final[tuple[Violation, ...]] = (
    Violation(
        "water_exceed",
        "wastewater",
        "废水超标排放",
        "超标排放污染物",
        f"{WATER_LAW}第八十三条第二项",
        f"{WATER_LAW}第十条",
        100_000,
        1_000_000,
        weight=0.7,
    ),
    Violation(
        "water_evade",
        "wastewater",
        "私设排污口",
        "通过暗管、渗坑等逃避监管的方式排放污染物",
        f"{WATER_LAW}第八十三条第三项",
        f"{WATER_LAW}第三十九条",
        100_000,
        1_000_000,
        weight=0.3,
    ),
    Violation(
        "air_exceed",
        "air",
        "废气超标排放",
        "超标排放污染物",
        f"{AIR_LAW}第九十九条第二项",
        f"{AIR_LAW}第十八条",
        100_000,
        1_000_000,
    ),
    Violation(
        "monitoring_falsify_air",
        "monitoring",
        "自动监测数据异常",
        "篡改、伪造自动监测数据",
        f"{AIR_LAW}第九十九条第三项",
        f"{AIR_LAW}第二十条第二款",
        100_000,
        1_000_000,
        medium="air",
        weight=0.6,
    ),
    Violation(
        "monitoring_falsify_water",
        "monitoring",
        "自动监测数据异常",
        "篡改、伪造自动监测数据",
        f"{WATER_LAW}第八十三条第三项",
        f"{WATER_LAW}第三十九条",
        100_000,
        1_000_000,
        medium="water",
        weight=0.6,
    ),
    Violation(
        "monitoring_interfere",
        "monitoring",
        "自动监测设备运行不正常",
        "干扰自动监测设施",
        f"{PERMIT_REG}第三十四条第二项",
        "",
        200_000,
        1_000_000,
        weight=0.4,
    ),
    Violation(
        "hw_storage",
        "hazardous_waste",
        "危险废物贮存不规范",
        "危险废物违法贮存",
        f"{SOLID_LAW}第一百一十二条第一款第六项",
        f"{SOLID_LAW}第七十九条",
        600_000,
        1_500_000,
        weight=0.4,
    ),
    Violation(
        "hw_ledger",
        "hazardous_waste",
        "危险废物管理台账不规范",
        "未建立危险废物管理台账",
        f"{SOLID_LAW}第一百一十二条第一款第十三项",
        f"{SOLID_LAW}第七十八条",
        100_000,
        1_000_000,
        weight=0.25,
    ),
    Violation(
        "hw_transfer",
        "hazardous_waste",
        "危险废物转移不规范",
        "危险废物违法转移",
        f"{SOLID_LAW}第一百一十二条第一款第五项",
        f"{SOLID_LAW}第八十二条",
        100_000,
        1_000_000,
        weight=0.2,
    ),
    Violation(
        "hw_unlicensed",
        "hazardous_waste",
        "危险废物转移不规范",
        "危险废物违法处置",
        f"{SOLID_LAW}第一百一十二条第一款第四项",
        f"{SOLID_LAW}第八十条",
        600_000,
        1_500_000,
        weight=0.15,
    ),
    Violation(
        "dust_construction",
        "dust",
        "扬尘防治措施不到位",
        "扬尘污染防治措施不到位",
        f"{AIR_LAW}第一百一十五条第一款第一项",
        f"{AIR_LAW}第六十九条",
        10_000,
        100_000,
        construction=True,
    ),
    Violation(
        "dust_yard",
        "dust",
        "物料堆场未覆盖",
        "扬尘污染防治措施不到位",
        f"{AIR_LAW}第一百一十七条第二项",
        f"{AIR_LAW}第七十二条",
        10_000,
        100_000,
        construction=False,
    ),
    Violation(
        "eia_unapproved",
        "eia",
        "环评手续不全",
        "未批先建",
        f"{EIA_LAW}第三十一条第一款",
        f"{EIA_LAW}第二十五条",
        20_000,
        5_000_000,
        weight=0.6,
        amount_by_investment=True,
    ),
    Violation(
        "eia_no_acceptance",
        "eia",
        "环保设施未验收",
        "未验先投",
        f"{PROJECT_REG}第二十三条第一款",
        f"{PROJECT_REG}第十九条",
        200_000,
        1_000_000,
        construction=False,
        weight=0.4,
    ),
    Violation(
        "permit_none",
        "permit",
        "未取得排污许可证",
        "无证排污",
        f"{PERMIT_REG}第三十三条第一项",
        f"{PERMIT_REG}第二条",
        200_000,
        1_000_000,
    ),
    Violation(
        "permit_none_water_law",
        "permit",
        "未取得排污许可证",
        "无证排污",
        f"{WATER_LAW}第八十三条第一项",
        f"{WATER_LAW}第二十一条第一款",
        100_000,
        1_000_000,
        medium="water",
    ),
    Violation(
        "permit_none_air_law",
        "permit",
        "未取得排污许可证",
        "无证排污",
        f"{AIR_LAW}第九十九条第一项",
        f"{AIR_LAW}第十九条",
        100_000,
        1_000_000,
        medium="air",
    ),
    Violation(
        "sw_dump",
        "solid_waste",
        "一般固体废物堆放不规范",
        "违规堆放一般工业固体废物",
        f"{SOLID_LAW}第一百零二条第一款第七项",
        f"{SOLID_LAW}第二十条",
        100_000,
        300_000,
    ),
    Violation(
        "noise_industrial",
        "noise",
        "噪声超标",
        "噪声超标",
        f"{NOISE_LAW}第七十五条",
        "",
        20_000,
        200_000,
        construction=False,
    ),
    Violation(
        "noise_construction",
        "noise",
        "噪声超标",
        "噪声超标",
        f"{NOISE_LAW}第七十七条第一项",
        "",
        10_000,
        100_000,
        construction=True,
    ),
)

VIOLATION_INDEX: Final = {v.key: i for i, v in enumerate(VIOLATIONS)}

#: Inspection problem categories (问题类别) of each family.
PROBLEM_CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    f: tuple(dict.fromkeys(v.category for v in VIOLATIONS if v.family == f))
    for f in dict.fromkeys(v.family for v in VIOLATIONS)
}


def industry_medium(industry: Industry) -> str:
    """``"water"`` when water problems outweigh air problems in the industry, else ``"air"``."""
    fam = industry.families
    return "water" if fam.get("wastewater", 0.0) >= fam.get("air", 0.0) else "air"


def _applies(v: Violation, industry: Industry) -> bool:
    is_site = industry.code.startswith("E")
    if v.construction is not None and v.construction != is_site:
        return False
    if v.medium and v.medium != industry_medium(industry):
        return False
    return not v.key.startswith("permit_none_")  # used only for dates before the regulation


def kinds_for(industry: Industry, family: str) -> tuple[list[int], NDArray[np.float64]]:
    """Violation positions applicable to an industry within a family, with their weights."""
    picks = [i for i, v in enumerate(VIOLATIONS) if v.family == family and _applies(v, industry)]
    weights = np.array([VIOLATIONS[i].weight for i in picks])
    return picks, weights / weights.sum()


def draw_violations(
    rng: np.random.Generator, industry: NDArray[np.int64], dates: NDArray[np.datetime64]
) -> NDArray[np.int64]:
    """Draw one violation per row from its industry's planted family mix.

    Dates decide the provision: permit-less discharge before 2021-03-01 is fined
    under the Water or Air Law, and noise before 2022-06-05 (no fines under the
    old law) becomes a dust offence of the same site.
    """
    out = np.full(len(industry), -1, dtype=np.int64)
    for i, ind in enumerate(INDUSTRIES):
        rows = np.flatnonzero(industry == i)
        if rows.size == 0:
            continue
        families = list(ind.families)
        probs = np.array([ind.families[f] for f in families])
        fam = rng.choice(len(families), size=rows.size, p=probs / probs.sum())
        for j, family in enumerate(families):
            sel = rows[fam == j]
            picks, weights = kinds_for(ind, family)
            out[sel] = np.asarray(picks)[rng.choice(len(picks), size=sel.size, p=weights)]
        _date_rules(out, rows, ind, dates)
    return out


def _date_rules(
    out: NDArray[np.int64], rows: NDArray[np.int64], ind: Industry, dates: NDArray[np.datetime64]
) -> None:
    early_permit = (out[rows] == VIOLATION_INDEX["permit_none"]) & (
        dates[rows] < np.datetime64(PERMIT_REG_START)
    )
    out[rows[early_permit]] = VIOLATION_INDEX[f"permit_none_{industry_medium(ind)}_law"]
    noise = np.isin(
        out[rows], [VIOLATION_INDEX["noise_industrial"], VIOLATION_INDEX["noise_construction"]]
    )
    early_noise = noise & (dates[rows] < np.datetime64(NOISE_LAW_START))
    dust = "dust_construction" if ind.code.startswith("E") else "dust_yard"
    out[rows[early_noise]] = VIOLATION_INDEX[dust]


def draw_amounts(rng: np.random.Generator, violation: NDArray[np.int64]) -> NDArray[np.float64]:
    """Fines in yuan: most near the legal minimum, a tail towards the maximum.

    Unapproved construction is fined 1-5 % of the project's investment
    (lognormal, median 6 million yuan) within ``[amount_min, amount_max]``.
    """
    lo = np.array([v.amount_min for v in VIOLATIONS])[violation]
    hi = np.array([v.amount_max for v in VIOLATIONS])[violation]
    by_inv = np.array([v.amount_by_investment for v in VIOLATIONS])[violation]
    near_min = lo * np.exp(np.abs(rng.normal(0.0, 0.45, len(violation))))
    investment = np.exp(rng.normal(np.log(6e6), 1.0, len(violation)))
    by_share = investment * rng.uniform(0.01, 0.05, len(violation))
    amount = np.clip(np.where(by_inv, by_share, near_min), lo, hi)
    step = np.where(amount >= 100_000, 1000.0, 100.0)
    return np.round(amount / step) * step
