"""Normalising company names so that register variants of one name compare equal."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

# Regional prefixes that bureaus add or drop freely in front of a registered name.
_PREFIXES = ("广西壮族自治区", "广西")
# Legal-form spellings that mean the same thing.
_FORMS = (("有限责任公司", "有限公司"), ("股份有限公司", "股份公司"))
_NOISE = re.compile(r"[\s()\[\]{}<>【】〔〕《》“”\"'‘’·.,，。、:：;；\-—_/\\]+")


def normalize_company_name(name: str) -> str:
    """Return the comparison key of a company name.

    Unicode NFKC (full-width to half-width), brackets, spaces and punctuation
    removed, the regional prefix 广西/广西壮族自治区 dropped, and legal forms
    unified (有限责任公司 → 有限公司).

    Examples
    --------
    >>> normalize_company_name("广西 南宁（青秀）化工有限责任公司")
    '南宁青秀化工有限公司'
    >>> normalize_company_name("南宁(青秀)化工有限公司")
    '南宁青秀化工有限公司'
    """
    key = _NOISE.sub("", unicodedata.normalize("NFKC", str(name))).lower()
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 1:
            key = key[len(prefix) :]
            break
    for long, short in _FORMS:
        if key.endswith(long):
            key = key[: -len(long)] + short
    return key


def normalize_company_names(names: pd.Series) -> pd.Series:
    """:func:`normalize_company_name` over a column; empty or missing names give ``""``."""
    unique = pd.unique(names.fillna("").astype(str))
    lookup = {n: (normalize_company_name(n) if n.strip() else "") for n in unique}
    return names.fillna("").astype(str).map(lookup)
