"""Parsing Chinese addresses to the finest administrative division they name.

Only official full names are matched (南宁市, 青秀区, 横州市, 隆林各族自治县):
short forms such as 青秀 or 城中 also occur inside ordinary words (城中村), and a
guess finer than the text supports is worse than a coarser answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class AddressMatch:
    """The division an address resolves to."""

    adcode: str
    precision: str  # "county" or "city"


@dataclass(frozen=True)
class _Entry:
    adcode: str
    level: str
    city_adcode: str | None


class Gazetteer:
    """Official division names → adcodes, for resolving address texts.

    Parameters
    ----------
    divisions : pandas.DataFrame
        Columns ``adcode``, ``name``, ``level`` (province/city/county) and
        ``city_adcode``.

    Examples
    --------
    >>> import pandas as pd
    >>> g = Gazetteer(pd.DataFrame({
    ...     "adcode": ["450100", "450103", "450200", "450202"],
    ...     "name": ["南宁市", "青秀区", "柳州市", "城中区"],
    ...     "level": ["city", "county", "city", "county"],
    ...     "city_adcode": ["450100", "450100", "450200", "450200"]}))
    >>> g.resolve("广西南宁市青秀区民族大道100号")
    AddressMatch(adcode='450103', precision='county')
    >>> g.resolve("柳州市城中村改造项目") is not None and g.resolve("柳州市城中村").precision
    'city'
    >>> g.resolve("某某路88号") is None
    True
    """

    def __init__(self, divisions: pd.DataFrame) -> None:
        self._by_name: dict[str, list[_Entry]] = {}
        for row in divisions.itertuples():
            if row.level not in ("city", "county"):
                continue
            city = row.adcode if row.level == "city" else row.city_adcode
            entry = _Entry(str(row.adcode), str(row.level), None if city is None else str(city))
            self._by_name.setdefault(str(row.name), []).append(entry)
        names = sorted(self._by_name, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names))) if names else None

    def resolve(self, address: str) -> AddressMatch | None:
        """The finest division an address names, or ``None`` when it names none."""
        if self._pattern is None or not address:
            return None
        entries = [e for m in self._pattern.findall(str(address)) for e in self._by_name[m]]
        cities = {e.adcode for e in entries if e.level == "city"}
        counties = {e for e in entries if e.level == "county"}
        if cities:
            # a county must agree with the city the text names
            counties = {e for e in counties if e.city_adcode in cities}
        if len({e.adcode for e in counties}) == 1:
            return AddressMatch(next(iter(counties)).adcode, "county")
        if len(cities) == 1:
            return AddressMatch(next(iter(cities)), "city")
        parents = {e.city_adcode for e in counties}
        if not cities and len(parents) == 1 and None not in parents:
            # several counties of one city named: the city is what the text supports
            return AddressMatch(str(next(iter(parents))), "city")
        return None

    def resolve_many(self, addresses: pd.Series) -> pd.DataFrame:
        """Resolve a column of addresses; columns ``adcode`` and ``precision`` (None if none)."""
        unique = pd.unique(addresses.fillna("").astype(str))
        found = {a: self.resolve(a) for a in unique}
        matches = [found[a] for a in addresses.fillna("").astype(str)]
        return pd.DataFrame(
            {
                "adcode": [m.adcode if m else None for m in matches],
                "precision": [m.precision if m else None for m in matches],
            },
            index=addresses.index,
            dtype=object,
        )
