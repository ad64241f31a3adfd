"""Words of the synthetic records that depend on the province: prefixes, region words, case
marks, and the towns, villages and waters of addresses and texts.

Guangxi keeps the curated words of :mod:`geo_service.sample.vocab`; another
province's are derived from its name and its official one-character
abbreviation (简称), so a company in 云南省 is called 云南… or 滇西…, and a
penalty decision of 昆明市 is numbered 滇昆环罚〔2024〕12号; its addresses take
town and village names common across China, and its sewage reaches its own
rivers and lakes (滇池, 金沙江…), not Guangxi's 邕江.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from geo_service.sample import vocab
from geo_service.sample.places import GUANGXI, Geography, short_city_name

#: Official one-character abbreviations (简称) of the provinces, by the adcode's first two digits.
PROVINCE_ABBREVIATIONS: Final = {
    "11": "京",
    "12": "津",
    "13": "冀",
    "14": "晋",
    "15": "蒙",
    "21": "辽",
    "22": "吉",
    "23": "黑",
    "31": "沪",
    "32": "苏",
    "33": "浙",
    "34": "皖",
    "35": "闽",
    "36": "赣",
    "37": "鲁",
    "41": "豫",
    "42": "鄂",
    "43": "湘",
    "44": "粤",
    "45": "桂",
    "46": "琼",
    "50": "渝",
    "51": "川",
    "52": "黔",
    "53": "滇",
    "54": "藏",
    "61": "陕",
    "62": "甘",
    "63": "青",
    "64": "宁",
    "65": "新",
}
_PROVINCE_SUFFIX: Final = re.compile(r"(壮族|回族|维吾尔)?(自治区|省|市)$")
_DIRECTIONS: Final = "中东南西北"


def province_prefix(name: str) -> str:
    """The short name a company puts before its name (广东省 → 广东, 新疆维吾尔自治区 → 新疆)."""
    return _PROVINCE_SUFFIX.sub("", name)


def company_prefixes(geo: Geography) -> dict[str, str]:
    """Province adcode → company-name prefix (广西 for Guangxi)."""
    return {
        code: vocab.GUANGXI_PREFIX if code == GUANGXI else province_prefix(name)
        for code, name in geo.provinces.items()
    }


def region_words(province: str) -> tuple[str, ...]:
    """Regional words some company names take instead of a place (桂中…; 粤东, 滇西…).

    Always as many as :data:`vocab.REGION_WORDS`, so that drawing one takes the
    same random numbers whatever the province.
    """
    if province == GUANGXI:
        return tuple(vocab.REGION_WORDS)
    abbr = PROVINCE_ABBREVIATIONS.get(province[:2], "")
    words = [abbr + d for d in _DIRECTIONS]
    return tuple(words[i % len(words)] for i in range(len(vocab.REGION_WORDS)))


def city_abbreviations(geo: Geography) -> dict[str, str]:
    """City adcode → mark of its penalty decision numbers, unique among the sampled cities.

    Guangxi's cities keep their one-character marks (邕, 柳…); another city takes its
    province's abbreviation and the first character of its name (粤深), longer
    when that is taken; a group of directly administered counties takes 直 (鄂直).
    """
    marks = {c: a for c, a in vocab.CITY_ABBREVIATIONS.items() if c in geo.cities}
    taken = set(marks.values())
    for code in sorted(geo.cities):
        if code in marks:
            continue
        abbr = PROVINCE_ABBREVIATIONS.get(code[:2], "")
        short = "直" if code.endswith("9000") else short_city_name(geo.cities[code])
        mark = next(
            (abbr + short[:k] for k in range(1, len(short) + 1) if abbr + short[:k] not in taken),
            abbr + code,
        )
        marks[code] = mark
        taken.add(mark)
    return marks


#: Rivers and lakes of each province (by the adcode's first two digits) that texts may say
#: sewage reached; Guangxi's are :data:`vocab.WATERS`.
PROVINCE_WATERS: Final = {
    "11": ("永定河", "潮白河", "北运河", "拒马河"),
    "12": ("海河", "北运河", "蓟运河", "独流减河"),
    "13": ("滹沱河", "滏阳河", "子牙河", "大清河", "白洋淀"),
    "14": ("汾河", "桑干河", "沁河", "涑水河"),
    "15": ("黄河", "大黑河", "西拉木伦河", "乌梁素海"),
    "21": ("辽河", "浑河", "太子河", "大凌河"),
    "22": ("松花江", "图们江", "辉发河", "伊通河"),
    "23": ("松花江", "嫩江", "牡丹江", "呼兰河"),
    "31": ("黄浦江", "苏州河", "淀山湖"),
    "32": ("长江", "京杭运河", "太湖", "秦淮河", "淮河"),
    "33": ("钱塘江", "瓯江", "曹娥江", "甬江", "京杭运河"),
    "34": ("长江", "淮河", "巢湖", "新安江"),
    "35": ("闽江", "九龙江", "晋江", "汀江"),
    "36": ("赣江", "抚河", "信江", "鄱阳湖", "修河"),
    "37": ("黄河", "小清河", "沂河", "大汶河"),
    "41": ("黄河", "淮河", "沙颍河", "伊洛河", "贾鲁河"),
    "42": ("长江", "汉江", "清江", "府河"),
    "43": ("湘江", "资江", "沅江", "澧水", "洞庭湖"),
    "44": ("珠江", "北江", "东江", "西江", "韩江"),
    "46": ("南渡江", "万泉河", "昌化江"),
    "50": ("长江", "嘉陵江", "乌江", "涪江"),
    "51": ("岷江", "沱江", "嘉陵江", "金沙江", "涪江"),
    "52": ("乌江", "赤水河", "清水江", "南盘江"),
    "53": ("滇池", "金沙江", "澜沧江", "南盘江", "洱海"),
    "54": ("雅鲁藏布江", "拉萨河", "年楚河"),
    "61": ("渭河", "汉江", "延河", "泾河", "无定河"),
    "62": ("黄河", "渭河", "洮河", "石羊河"),
    "63": ("湟水", "黄河", "格尔木河"),
    "64": ("黄河", "清水河", "典农河"),
    "65": ("伊犁河", "塔里木河", "乌鲁木齐河", "额尔齐斯河"),
}
#: Waters any province has: the nearby ditch, stream and pond that end :data:`vocab.WATERS`.
_NEAR_WATERS: Final = tuple(vocab.WATERS[-3:])
#: Town and village names common across China, for provinces other than Guangxi (whose
#: curated names, many Zhuang, are :data:`vocab.TOWNS` and :data:`vocab.VILLAGES`).
COMMON_TOWNS: Final = (
    "城关镇",
    "新城镇",
    "太平镇",
    "永安镇",
    "龙泉镇",
    "青山镇",
    "白石镇",
    "兴隆镇",
    "双河镇",
    "清水镇",
    "石桥镇",
    "高桥镇",
    "柳林镇",
    "桥头镇",
    "东关镇",
    "马庄镇",
    "杨集镇",
    "河口镇",
    "新店镇",
    "三河镇",
    "黄庄镇",
    "王集镇",
    "大河镇",
    "花园镇",
    "长乐镇",
    "白沙镇",
    "红旗镇",
    "新民镇",
    "金山镇",
    "安乐镇",
)
COMMON_VILLAGES: Final = (
    "王庄村",
    "李家村",
    "张湾村",
    "刘营村",
    "新庄村",
    "前进村",
    "红星村",
    "东风村",
    "河西村",
    "杨柳村",
    "陈家村",
    "赵庄村",
    "新华村",
    "平安村",
    "长岭村",
    "大坡村",
)


@dataclass(frozen=True)
class PlaceWords:
    """A province's town, village and water names, as many of each as Guangxi's (so that
    drawing one takes the same random numbers whatever the province)."""

    towns: tuple[str, ...]
    villages: tuple[str, ...]
    waters: tuple[str, ...]


def place_words(province: str) -> PlaceWords:
    """The town, village and water names of addresses and texts in ``province`` (adcode).

    Guangxi keeps :mod:`vocab`'s; another province takes :data:`COMMON_TOWNS`,
    :data:`COMMON_VILLAGES` and its own rivers and lakes (:data:`PROVINCE_WATERS`) with
    the nearby ditch, stream and pond any province has.

    Examples
    --------
    >>> "汉江" in place_words("420000").waters, "邕江" in place_words("420000").waters
    (True, False)
    """
    if province == GUANGXI:
        return PlaceWords(tuple(vocab.TOWNS), tuple(vocab.VILLAGES), tuple(vocab.WATERS))
    rivers = PROVINCE_WATERS.get(province[:2], ())
    n_rivers = len(vocab.WATERS) - len(_NEAR_WATERS)
    waters = tuple(rivers[i % len(rivers)] for i in range(n_rivers)) if rivers else ()
    near = waters + _NEAR_WATERS
    return PlaceWords(
        COMMON_TOWNS,
        COMMON_VILLAGES,
        tuple(near[i % len(near)] for i in range(len(vocab.WATERS))),
    )
