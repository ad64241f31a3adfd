"""Chinese texts of the records: 违法事实 of cases and 检查情况 of inspections.

Each violation kind has a few sentence templates whose slots (pollutant,
measured value, standard, waste, tonnage…) are filled from the offender's
industry, so that texts of one kind read alike and texts of different kinds
differ — the structure a problem-type clustering should find.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo_service.sample import vocab
from geo_service.sample.industries import INDUSTRIES
from geo_service.sample.regions import place_words
from geo_service.sample.violations import VIOLATIONS, industry_medium

Strs = NDArray[np.str_]

_WATER_STANDARD = [(i.water_standard,) for i in INDUSTRIES]
_AIR_STANDARD = [(i.air_standard,) for i in INDUSTRIES]
_HAZARDOUS = [i.hazardous for i in INDUSTRIES]
_SOLID = [i.solid for i in INDUSTRIES]
_MATERIAL = [(i.extra.get("material", "原料"), "煤炭", "砂石") for i in INDUSTRIES]
_EMISSION = [
    ("生产废水", "锅炉废气") if industry_medium(i) == "water" else ("工艺废气", "生产废气")
    for i in INDUSTRIES
]


@dataclass
class Slots:
    """Random slot values for a group of rows of one violation kind (``provinces``: each
    row's province adcode, for its place names; Guangxi when not given)."""

    rng: np.random.Generator
    industry: NDArray[np.int64]
    provinces: Sequence[str] | None = None

    @property
    def n(self) -> int:
        """Rows in the group."""
        return len(self.industry)

    def pick(self, options: Sequence[str]) -> Strs:
        """One option per row, uniformly."""
        return np.asarray(options)[self.rng.integers(0, len(options), self.n)]

    def water(self) -> Strs:
        """A river, lake or nearby water of each row's province (:func:`place_words`)."""
        k = self.rng.integers(0, len(vocab.WATERS), self.n)
        if self.provinces is None:
            return np.asarray(vocab.WATERS)[k]
        waters = {p: place_words(p).waters for p in set(self.provinces)}
        return np.array([waters[p][i] for p, i in zip(self.provinces, k.tolist(), strict=True)])

    def per_industry(self, tables: Sequence[Sequence[str]]) -> Strs:
        """One entry per row from its industry's options (``tables[industry]``)."""
        lengths = np.array([len(t) for t in tables])[self.industry]
        pos = np.floor(self.rng.random(self.n) * lengths).astype(np.int64)
        width = max(len(t) for t in tables)
        padded = np.array([list(t) + [t[0]] * (width - len(t)) for t in tables])
        return padded[self.industry, pos]

    def pollutant(self, medium: str) -> tuple[Strs, Strs, Strs]:
        """Pollutant name, measured value and times over the limit (all as text)."""
        tables = [getattr(INDUSTRIES[i], f"{medium}_pollutants") for i in range(len(INDUSTRIES))]
        lengths = np.array([len(t) for t in tables])[self.industry]
        pos = np.floor(self.rng.random(self.n) * lengths).astype(np.int64)
        names = [[p for p, _ in t] for t in tables]
        limits = [[v for _, v in t] for t in tables]
        name = np.array([names[i][j] for i, j in zip(self.industry, pos, strict=True)])
        limit = np.array([limits[i][j] for i, j in zip(self.industry, pos, strict=True)])
        over = np.round(np.exp(self.rng.normal(-0.5, 0.9, self.n)).clip(0.05, 12.0), 2)
        value = limit * (1.0 + over)
        text = np.where(
            value >= 100, np.round(value).astype(np.int64).astype(str), np.char.mod("%.2f", value)
        )
        return name, text, np.char.mod("%.2f", over)

    def number(self, lo: float, hi: float, fmt: str = "%.1f") -> Strs:
        """A number uniform in ``[lo, hi)`` formatted with ``fmt``."""
        return np.char.mod(fmt, self.rng.uniform(lo, hi, self.n))


def _fill(templates: Sequence[str], slots: Slots, **values: Strs | str) -> list[str]:
    choice = slots.rng.integers(0, len(templates), slots.n)
    arrays = {k: (np.full(slots.n, v) if isinstance(v, str) else v) for k, v in values.items()}
    keys = list(arrays)
    return [
        templates[c].format(**dict(zip(keys, row, strict=True)))
        for c, row in zip(choice, zip(*(arrays[k] for k in keys), strict=True), strict=True)
    ]


def _water_exceed(s: Slots) -> list[str]:
    p, v, x = s.pollutant("water")
    return _fill(
        (
            "废水总排放口外排废水中{p}浓度为{v}mg/L，超过{std}规定的排放限值{x}倍",
            "外排废水经采样监测{p}浓度为{v}mg/L，超出{std}规定限值{x}倍",
        ),
        s,
        p=p,
        v=v,
        x=x,
        std=s.per_industry(_WATER_STANDARD),
    )


def _water_evade(s: Slots) -> list[str]:
    return _fill(
        (
            "在厂区{d}侧私设暗管，将未经处理的生产废水直接排入{w}",
            "利用厂区{d}侧渗坑排放未经处理的生产废水，逃避监管",
            "通过厂区{d}侧溶洞排放生产废水，未经处理的废水最终流入{w}",
        ),
        s,
        d=s.pick(vocab.DIRECTIONS),
        w=s.water(),
    )


def _air_exceed(s: Slots) -> list[str]:
    p, v, x = s.pollutant("air")
    return _fill(
        (
            "{src}排放口废气中{p}浓度为{v}毫克/立方米，超过{std}规定的排放限值{x}倍",
            "{src}外排废气经监督性监测{p}浓度为{v}毫克/立方米，超标{x}倍",
        ),
        s,
        p=p,
        v=v,
        x=x,
        std=s.per_industry(_AIR_STANDARD),
        src=s.pick(("锅炉", "1号排气筒", "2号排气筒", "窑尾", "焚烧炉")),
    )


def _monitoring_falsify(s: Slots, medium: str) -> list[str]:
    p, _, _ = s.pollutant(medium)
    return _fill(
        (
            "通过修改自动监测设备{param}参数，致使{p}监测数据失真",
            "人为修改在线监测数据，将{p}小时均值改为达标数值后上传",
            "在自动监测设备采样口旁加装稀释装置，篡改{p}监测数据",
        ),
        s,
        p=p,
        param=s.pick(("量程", "斜率", "截距", "折算系数")),
    )


def _monitoring_interfere(s: Slots) -> list[str]:
    return _fill(
        (
            "在自动监测设备采样{part}处{act}，干扰自动监测设施正常采样",
            "自动监测设施采样{part}被人为{act}，监测数据明显偏低",
        ),
        s,
        part=s.pick(("探头", "管路")),
        act=s.pick(("加装过滤棉", "私接稀释管", "遮挡")),
    )


def _hw_storage(s: Slots) -> list[str]:
    return _fill(
        (
            "将{hw}约{t}吨露天堆放于厂区{d}侧空地，未按照国家环境保护标准贮存危险废物",
            "危险废物贮存间未采取防渗、防雨措施，{hw}约{t}吨与一般固体废物混合存放",
        ),
        s,
        hw=s.per_industry(_HAZARDOUS),
        t=s.number(0.5, 60.0),
        d=s.pick(vocab.DIRECTIONS),
    )


def _hw_ledger(s: Slots) -> list[str]:
    return _fill(
        (
            "未按照国家有关规定建立危险废物管理台账，{hw}的产生、贮存、转移情况无记录",
            "{hw}管理台账记录缺失，无法说明约{t}吨危险废物的去向",
        ),
        s,
        hw=s.per_industry(_HAZARDOUS),
        t=s.number(0.5, 30.0),
    )


def _hw_transfer(s: Slots) -> list[str]:
    return _fill(
        ("未填写、运行危险废物转移联单，擅自将{hw}约{t}吨转移至{to}",),
        s,
        hw=s.per_industry(_HAZARDOUS),
        t=s.number(0.5, 40.0),
        to=s.pick(("外省某厂", "郊外一废品收购站", "未取得许可的个人")),
    )


def _hw_unlicensed(s: Slots) -> list[str]:
    return _fill(
        (
            "将{hw}约{t}吨交由无危险废物经营许可证的个人处置",
            "将{hw}约{t}吨委托给无危险废物经营许可证的单位处置",
        ),
        s,
        hw=s.per_industry(_HAZARDOUS),
        t=s.number(0.5, 40.0),
    )


def _dust_construction(s: Slots) -> list[str]:
    faults = ("未设置硬质围挡", "裸露土方未覆盖", "运输车辆未冲洗即驶出工地", "未采取洒水抑尘措施")
    return _fill(
        ("承建的{proj}施工工地{f1}，{f2}，造成扬尘污染",),
        s,
        proj=s.pick(("住宅小区项目", "安置房项目", "商住楼项目", "学校教学楼项目")),
        f1=s.pick(faults[:2]),
        f2=s.pick(faults[2:]),
    )


def _dust_yard(s: Slots) -> list[str]:
    return _fill(
        (
            "厂区{m}堆场未密闭，也未采取有效覆盖措施，造成扬尘污染",
            "{m}露天堆放，未设置不低于堆放物高度的严密围挡",
        ),
        s,
        m=s.per_industry(_MATERIAL),
    )


def _eia_unapproved(s: Slots) -> list[str]:
    return _fill(
        ("{proj}（总投资约{inv}万元）未依法报批环境影响评价文件，擅自开工建设",),
        s,
        proj=s.pick(("生产线扩建项目", "技术改造项目", "新建厂房项目")),
        inv=s.number(80, 8000, "%.0f"),
    )


def _eia_no_acceptance(s: Slots) -> list[str]:
    return _fill(
        ("{proj}需要配套建设的环境保护设施未经验收，主体工程即已投入生产",),
        s,
        proj=s.pick(("生产线扩建项目", "技术改造项目", "二期工程")),
    )


def _permit_none(s: Slots) -> list[str]:
    return _fill(
        ("未取得排污许可证，在生产过程中排放{what}", "未依法取得排污许可证，擅自排放{what}"),
        s,
        what=s.per_industry(_EMISSION),
    )


def _sw_dump(s: Slots) -> list[str]:
    return _fill(
        (
            "将生产过程中产生的{sw}约{t}吨随意堆放于厂区外{d}侧空地，"
            "未采取防扬散、防流失、防渗漏措施",
        ),
        s,
        sw=s.per_industry(_SOLID),
        t=s.number(5.0, 500.0),
        d=s.pick(vocab.DIRECTIONS),
    )


def _noise_industrial(s: Slots) -> list[str]:
    night = s.rng.random(s.n) < 0.5
    limit = np.where(night, "50", "60")
    db = np.char.mod("%.1f", np.where(night, 50.0, 60.0) + s.rng.uniform(1.0, 15.0, s.n))
    return _fill(
        (
            "厂界{when}噪声监测值为{db}分贝，超过《工业企业厂界环境噪声排放标准》"
            "(GB 12348-2008)规定的{lim}分贝限值",
        ),
        s,
        when=np.where(night, "夜间", "昼间"),
        db=db,
        lim=limit,
    )


def _noise_construction(s: Slots) -> list[str]:
    return _fill(
        (
            "在夜间{h}时许进行产生噪声的建筑施工作业，场界噪声为{db}分贝，"
            "超过《建筑施工场界环境噪声排放标准》(GB 12523-2011)规定的55分贝限值",
        ),
        s,
        h=s.pick(("22", "23", "0", "1")),
        db=s.number(56.0, 75.0),
    )


_CORES: dict[str, Callable[[Slots], list[str]]] = {
    "water_exceed": _water_exceed,
    "water_evade": _water_evade,
    "air_exceed": _air_exceed,
    "monitoring_falsify_air": lambda s: _monitoring_falsify(s, "air"),
    "monitoring_falsify_water": lambda s: _monitoring_falsify(s, "water"),
    "monitoring_interfere": _monitoring_interfere,
    "hw_storage": _hw_storage,
    "hw_ledger": _hw_ledger,
    "hw_transfer": _hw_transfer,
    "hw_unlicensed": _hw_unlicensed,
    "dust_construction": _dust_construction,
    "dust_yard": _dust_yard,
    "eia_unapproved": _eia_unapproved,
    "eia_no_acceptance": _eia_no_acceptance,
    "permit_none": _permit_none,
    "permit_none_water_law": _permit_none,
    "permit_none_air_law": _permit_none,
    "sw_dump": _sw_dump,
    "noise_industrial": _noise_industrial,
    "noise_construction": _noise_construction,
}


def violation_cores(
    rng: np.random.Generator,
    violation: NDArray[np.int64],
    industry: NDArray[np.int64],
    provinces: Sequence[str] | None = None,
) -> list[str]:
    """The factual core of each violation ("" where ``violation`` is -1); ``provinces``:
    each row's province adcode (Guangxi when not given)."""
    out = [""] * len(violation)
    for v in np.unique(violation[violation >= 0]):
        rows = np.flatnonzero(violation == v)
        where = None if provinces is None else [provinces[r] for r in rows.tolist()]
        texts = _CORES[VIOLATIONS[v].key](Slots(rng, industry[rows], where))
        for r, t in zip(rows.tolist(), texts, strict=True):
            out[r] = t
    return out


_CASE_OPENINGS = (
    "{d}，{b}对你单位现场检查时发现，你单位",
    "{d}，我局依法对你单位开展现场检查，经查，你单位",
    "根据群众举报，{b}于{d}对你单位进行调查，查明你单位",
    "{d}，我局通过自动监控平台发现数据异常，经现场核查，你单位",
)
_CASE_CLOSINGS = (
    "。上述行为违反了{v}。",
    "。以上事实有现场检查笔录、询问笔录等证据为证。",
    "。你单位的上述行为违反了{v}，我局依法立案调查。",
)
_FOUND_OPENINGS = ("现场检查发现该单位", "经查，该单位", "检查发现该单位")
_FOUND_FOLLOW = ("已责令改正并立案调查。", "已责令限期整改。", "已取证，移交立案。")
_CLEAN_STATES = ("正常生产", "在产", "部分停产检修")
_CLEAN_CHECKS = (
    ("治污设施正常运行", "废气治理设施正常", "废水处理设施正常"),
    ("危废贮存规范", "台账记录完整", "排污口规范", "在线监测正常联网"),
)


def _violated(v: int) -> str:
    """The provision broken, as the closing sentence cites it."""
    kind = VIOLATIONS[v]
    if kind.violated:
        return f"{kind.violated}的规定"
    return kind.article.split("》")[0] + "》的有关规定"


_VIOLATED = tuple(_violated(v) for v in range(len(VIOLATIONS)))


def case_descriptions(
    rng: np.random.Generator,
    cores: list[str],
    violation: NDArray[np.int64],
    dates: NDArray[np.datetime64],
    bureaus: Sequence[str],
) -> list[str]:
    """违法事实: an opening (when and who found it), the core facts, a closing citation.

    The site visit is dated 15-120 days before the decision.
    """
    n = len(cores)
    seen = dates - rng.integers(15, 121, n).astype("timedelta64[D]")
    y = seen.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = seen.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (seen - seen.astype("datetime64[M]")).astype(np.int64) + 1
    opening = rng.integers(0, len(_CASE_OPENINGS), n)
    closing = rng.integers(0, len(_CASE_CLOSINGS), n)
    return [
        _CASE_OPENINGS[o].format(d=f"{a}年{b}月{c}日", b=bu)
        + core
        + _CASE_CLOSINGS[cl].format(v=_VIOLATED[v])
        for o, cl, a, b, c, bu, core, v in zip(
            opening, closing, y, mo, d, bureaus, cores, violation, strict=True
        )
    ]


def inspection_descriptions(rng: np.random.Generator, cores: list[str]) -> list[str]:
    """检查情况: the finding and what was ordered, or what was checked and found in order."""
    n = len(cores)
    a, b = rng.integers(0, 3, n), rng.integers(0, 3, n)
    state = rng.integers(0, len(_CLEAN_STATES), n)
    c1 = rng.integers(0, len(_CLEAN_CHECKS[0]), n)
    c2 = rng.integers(0, len(_CLEAN_CHECKS[1]), n)
    return [
        f"{_FOUND_OPENINGS[i]}{core}。{_FOUND_FOLLOW[j]}"
        if core
        else f"该单位{_CLEAN_STATES[s]}，{_CLEAN_CHECKS[0][k]}，"
        f"{_CLEAN_CHECKS[1][m]}，未发现违法行为。"
        for core, i, j, s, k, m in zip(cores, a, b, state, c1, c2, strict=True)
    ]
