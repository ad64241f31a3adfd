"""Words of the synthetic records that depend on the province: prefixes, region words, case marks.

Guangxi keeps the curated words of :mod:`geo_service.sample.vocab`; another
province's are derived from its name and its official one-character
abbreviation (简称), so a company in 云南省 is called 云南… or 滇西…, and a
penalty decision of 昆明市 is numbered 滇昆环罚〔2024〕12号.
"""

from __future__ import annotations

import re
from typing import Final

from geo_service.sample import vocab
from geo_service.sample.places import GUANGXI, Geography, short_city_name

#: Official one-character abbreviations (简称) of the provinces, by the adcode's first two digits.
PROVINCE_ABBREVIATIONS: Final = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉",
    "23": "黑", "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣",
    "37": "鲁", "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "黔", "53": "滇", "54": "藏", "61": "陕", "62": "甘",
    "63": "青", "64": "宁", "65": "新",
}  # fmt: skip
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
