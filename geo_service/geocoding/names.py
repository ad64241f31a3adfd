"""Normalising company names so that register variants of one name compare equal."""

from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd

# Provinces' short names (广西, 广东 …), and the suffixes of their full names.
_PROVINCES = (
    ("北京", "市"),
    ("天津", "市"),
    ("河北", "省"),
    ("山西", "省"),
    ("内蒙古", "自治区"),
    ("辽宁", "省"),
    ("吉林", "省"),
    ("黑龙江", "省"),
    ("上海", "市"),
    ("江苏", "省"),
    ("浙江", "省"),
    ("安徽", "省"),
    ("福建", "省"),
    ("江西", "省"),
    ("山东", "省"),
    ("河南", "省"),
    ("湖北", "省"),
    ("湖南", "省"),
    ("广东", "省"),
    ("广西", "壮族自治区"),
    ("海南", "省"),
    ("重庆", "市"),
    ("四川", "省"),
    ("贵州", "省"),
    ("云南", "省"),
    ("西藏", "自治区"),
    ("陕西", "省"),
    ("甘肃", "省"),
    ("青海", "省"),
    ("宁夏", "回族自治区"),
    ("新疆", "维吾尔自治区"),
)
# Regional prefixes that bureaus add or drop freely in front of a registered name: the
# province's full or short name (广西壮族自治区, 广西; 广东省, 广东 …), longest first.
_PREFIXES = tuple(
    sorted(
        {p for short, suffix in _PROVINCES for p in (short + suffix, short)}, key=len, reverse=True
    )
)
_PREFIX = re.compile("|".join(map(re.escape, _PREFIXES)))
# Legal-form spellings that mean the same thing.
_FORMS = (("有限责任公司", "有限公司"), ("股份有限公司", "股份公司"))
_NOISE = re.compile(r"[\s()\[\]{}<>【】〔〕《》“”\"'‘’·.,，。、:：;；\-—_/\\]+")


def normalize_company_name(name: str) -> str:
    """Return the comparison key of a company name.

    Unicode NFKC (full-width to half-width), brackets, spaces and punctuation
    removed, a province prefix dropped (广西/广西壮族自治区, 广东/广东省 …), and
    legal forms unified (有限责任公司 → 有限公司).

    Examples
    --------
    >>> normalize_company_name("广西 南宁（青秀）化工有限责任公司")
    '南宁青秀化工有限公司'
    >>> normalize_company_name("南宁(青秀)化工有限公司")
    '南宁青秀化工有限公司'
    >>> normalize_company_name("广东省龙湖五金有限公司")
    '龙湖五金有限公司'
    """
    key = _NOISE.sub("", unicodedata.normalize("NFKC", str(name))).lower()
    if _PREFIX.match(key) is not None:  # the longest prefix that leaves two characters
        for prefix in _PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix) + 1:
                key = key[len(prefix) :]
                break
    for long, short in _FORMS:
        if key.endswith(long):
            key = key[: -len(long)] + short
    return key


def normalize_company_names(names: pd.Series) -> pd.Series:
    """:func:`normalize_company_name` over a column; empty or missing names give ``""``.

    Each distinct name is normalised once per process (while it stays among the most
    recent :data:`_REMEMBERED`): a file's chunks and the register repeat their names.
    """
    codes, uniques = pd.factorize(names.fillna("").astype(str))
    normalized = pd.array(list(map(_normalized, uniques.tolist())), dtype="str")
    return pd.Series(normalized.take(codes), index=names.index, name=names.name)


#: Distinct names whose normal form a process keeps (a few tens of MB at most).
_REMEMBERED = 1 << 17


@functools.lru_cache(maxsize=_REMEMBERED)
def _normalized(name: str) -> str:
    return normalize_company_name(name) if name.strip() else ""
