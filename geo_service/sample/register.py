"""The synthetic pollution-source register: where enterprises are, what they are called."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analytics.credit_codes import make_credit_codes
from geo_service.geocoding.names import normalize_company_name
from geo_service.sample import vocab
from geo_service.sample.industries import (
    CATEGORIES,
    CATEGORY_MULTIPLIERS,
    CATEGORY_SHARES,
    INDUSTRIES,
)
from geo_service.sample.places import (
    GUANGXI,
    Geography,
    HotSpot,
    hot_spot_of,
    locate,
    park_industries,
    scatter,
    uniform_in_counties,
)
from geo_service.sample.regions import company_prefixes, place_words, region_words

#: Shares of the register by spatial component (the countryside takes the rest).
COMPONENT_SHARES = {"city": 0.35, "county_seat": 0.22, "park": 0.20}
_SEAT_SIGMA_KM = 3.0
_PARK_OWN_INDUSTRY = 0.65
_HOT_SPOT_OWN_INDUSTRY = 0.75
_ETHNIC = (
    "各族|瑶族|苗族|侗族|仫佬族|毛南族|土家族|彝族|藏族|回族|羌族|蒙古族|哈萨克族|满族|黎族|"
    "畲族|白族|傣族|哈尼族|佤族|拉祜族|纳西族|傈僳族|布依族|水族|仡佬族|壮族|朝鲜族|达斡尔族|"
    "鄂温克族|鄂伦春族|锡伯族|撒拉族|保安族|东乡族|裕固族|土族|塔吉克族|柯尔克孜族|景颇族|"
    "独龙族|怒族|普米族|布朗族|德昂族|阿昌族|基诺族|维吾尔族"
)
_COUNTY_SUFFIX = re.compile(rf"(?:{_ETHNIC})*(自治县|自治旗|区|县|市|旗)$")


@dataclass
class Register:
    """The enterprises, row-aligned arrays (true WGS84 positions)."""

    credit_code: list[str]
    name: list[str]
    industry: NDArray[np.int64]
    category: NDArray[np.int64]  # position in CATEGORIES
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    county: NDArray[np.int64]
    address: list[str]
    locality: list[str]  # the address after city and county (street/town/park part)
    hot_spot: NDArray[np.int64]  # -1 outside every hot spot
    park: list[str]  # park name ("" when not placed in a park)

    @property
    def n(self) -> int:
        """Number of enterprises."""
        return len(self.industry)


def _industry_weights(urban_power: float) -> NDArray[np.float64]:
    w = np.array([ind.share * ind.urban**urban_power for ind in INDUSTRIES])
    return w / w.sum()


def _draw_industries(
    rng: np.random.Generator,
    n: int,
    urban_power: float,
    own: NDArray[np.int64] | None = None,
    own_share: float = 0.0,
) -> NDArray[np.int64]:
    out = rng.choice(len(INDUSTRIES), size=n, p=_industry_weights(urban_power))
    if own is not None and own.size:
        mine = rng.random(n) < own_share
        out[mine] = own[rng.integers(0, own.size, int(mine.sum()))]
    return out


def _component_sizes(n: int, hot_spots: tuple[HotSpot, ...]) -> dict[str, int]:
    sizes = {k: round(v * n) for k, v in COMPONENT_SHARES.items()}
    for i, spot in enumerate(hot_spots):
        sizes[f"hot:{i}"] = round(spot.park_share * n)
    sizes["rural"] = max(0, n - sum(sizes.values()))
    return sizes


@dataclass(frozen=True)
class _Centres:
    """Where the enterprises of one spatial component are scattered from."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    sigma_km: NDArray[np.float64]
    industry: NDArray[np.int64]
    park: list[str]


def _city_centres(geo: Geography, rng: np.random.Generator, size: int) -> _Centres:
    centres = geo.tables.city_centres
    w = np.array([c.weight for c in centres])
    pick = rng.choice(len(centres), size=size, p=w / w.sum())
    return _Centres(
        np.array([c.lon for c in centres])[pick],
        np.array([c.lat for c in centres])[pick],
        np.array([c.sigma_km for c in centres])[pick],
        _draw_industries(rng, size, 1.0),
        [""] * size,
    )


def _seat_centres(geo: Geography, rng: np.random.Generator, size: int) -> _Centres:
    pick = rng.integers(0, geo.n, size)
    return _Centres(
        geo.seat_lon[pick],
        geo.seat_lat[pick],
        np.full(size, _SEAT_SIGMA_KM),
        _draw_industries(rng, size, 0.3),
        [""] * size,
    )


def _park_centres(geo: Geography, rng: np.random.Generator, size: int) -> _Centres:
    parks = geo.tables.parks
    w = np.array([p.weight for p in parks])
    pick = rng.choice(len(parks), size=size, p=w / w.sum())
    ind = np.zeros(size, dtype=np.int64)
    for j, park in enumerate(parks):
        rows = np.flatnonzero(pick == j)
        ind[rows] = _draw_industries(rng, rows.size, 0.0, park_industries(park), _PARK_OWN_INDUSTRY)
    return _Centres(
        np.array([p.lon for p in parks])[pick],
        np.array([p.lat for p in parks])[pick],
        np.array([p.sigma_km for p in parks])[pick],
        ind,
        [parks[j].name for j in pick],
    )


def _hot_spot_centres(spot: HotSpot, rng: np.random.Generator, size: int) -> _Centres:
    ind = _draw_industries(rng, size, 0.0, park_industries(spot), _HOT_SPOT_OWN_INDUSTRY)
    return _Centres(
        np.full(size, spot.lon),
        np.full(size, spot.lat),
        np.full(size, spot.radius_km / 3.0),
        ind,
        [spot.park] * size,
    )


_COMPONENTS = {"city": _city_centres, "county_seat": _seat_centres, "park": _park_centres}


def place_enterprises(
    geo: Geography, rng: np.random.Generator, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], list[str]]:
    """Positions, industries and park names of ``n`` enterprises, component by component.

    City centres, county seats and parks scatter enterprises in Gaussian
    clusters, each hot spot gets a park of its industries, and the rest spread
    uniformly over the countryside (counties drawn by area); every point is in
    a county.
    """
    lons, lats, inds, parks = [], [], [], []
    for comp, size in _component_sizes(n, geo.tables.hot_spots).items():
        if size == 0:
            continue
        if comp == "rural":
            pick = rng.choice(geo.n, size=size, p=geo.area_km2 / geo.area_km2.sum())
            x, y = uniform_in_counties(geo, rng, pick)
            ind, park = _draw_industries(rng, size, -1.0), [""] * size
        else:
            if comp.startswith("hot:"):
                spec = _hot_spot_centres(geo.tables.hot_spots[int(comp[4:])], rng, size)
            else:
                spec = _COMPONENTS[comp](geo, rng, size)
            x, y, _ = scatter(geo, rng, spec.lon, spec.lat, spec.sigma_km)
            ind, park = spec.industry, spec.park
        lons.append(x)
        lats.append(y)
        inds.append(ind)
        parks.extend(park)
    return np.concatenate(lons), np.concatenate(lats), np.concatenate(inds), parks


def short_place(county_name: str, city_name: str) -> str:
    """The short name a company takes from its place (武鸣区 → 武鸣; 容县 → 玉林)."""
    short = _COUNTY_SUFFIX.sub("", county_name)
    return short if len(short) >= 2 else city_name.removesuffix("市")


@dataclass(frozen=True)
class NameContext:
    """Per-enterprise words of its province: the place word, the province prefix, the
    region words (each row as long as vocab.REGION_WORDS)."""

    place: list[str]
    province_prefix: list[str]
    region_words: list[tuple[str, ...]]


def _candidate_names(
    rng: np.random.Generator, industry: NDArray[np.int64], ctx: NameContext
) -> list[str]:
    n = len(industry)
    brand = np.array(list(vocab.BRAND_CHARS))
    i1 = rng.integers(0, brand.size, n)
    b1 = brand[i1]
    b2 = brand[(i1 + rng.integers(1, brand.size, n)) % brand.size]  # never the same twice
    pick = rng.integers(0, len(vocab.REGION_WORDS), n)
    region = np.array([words[k] for words, k in zip(ctx.region_words, pick, strict=True)])
    u = rng.random(n)
    prefix = np.where(
        u < vocab.GUANGXI_PREFIX_SHARE,
        np.array(ctx.province_prefix, dtype=object),
        np.where(u < 0.3, region, np.array(ctx.place)),
    )
    forms = np.array([f for f, _ in vocab.LEGAL_FORMS])
    fw = np.array([w for _, w in vocab.LEGAL_FORMS])
    form = forms[rng.choice(forms.size, size=n, p=fw / fw.sum())]
    group = rng.random(n) < vocab.GROUP_SHARE
    factory = rng.random(n) < vocab.FACTORY_SHARE
    word_pick = rng.random(n)
    names = []
    for i in range(n):
        ind = INDUSTRIES[industry[i]]
        head = f"{prefix[i]}{b1[i]}{b2[i]}"
        if factory[i] and ind.factory_word:
            names.append(head + ind.factory_word)
            continue
        word = ind.words[int(word_pick[i] * len(ind.words))]
        names.append(f"{head}{word}{vocab.GROUP_MARK if group[i] else ''}{form[i]}")
    return names


def make_names(
    rng: np.random.Generator, industry: NDArray[np.int64], ctx: NameContext
) -> list[str]:
    """Distinct company names: no two share a normalised name (the ingest's match key)."""
    n = len(industry)
    names = [""] * n
    seen: set[str] = set()
    todo = np.arange(n)
    while todo.size:
        rows = todo.tolist()
        sub = NameContext(
            [ctx.place[i] for i in rows],
            [ctx.province_prefix[i] for i in rows],
            [ctx.region_words[i] for i in rows],
        )
        batch = _candidate_names(rng, industry[todo], sub)
        retry = []
        for i, name in zip(todo.tolist(), batch, strict=True):
            key = normalize_company_name(name)
            if key in seen:
                retry.append(i)
            else:
                seen.add(key)
                names[i] = name
        todo = np.asarray(retry, dtype=np.int64)
    return names


def make_localities(
    rng: np.random.Generator, park: list[str], provinces: Sequence[str] | None = None
) -> list[str]:
    """The part of each address after the county: street and number, town and village, or
    park; towns and villages are those of each row's province (Guangxi's by default)."""
    n = len(park)
    rows = list(provinces) if provinces is not None else [GUANGXI] * n
    by_province = {p: place_words(p) for p in set(rows)}
    words = [by_province[p] for p in rows]
    street = np.array(vocab.STREETS)[rng.integers(0, len(vocab.STREETS), n)]
    pick_town = rng.integers(0, len(vocab.TOWNS), n)
    town = [w.towns[k] for w, k in zip(words, pick_town.tolist(), strict=True)]
    pick_village = rng.integers(0, len(vocab.VILLAGES), n)
    village = [w.villages[k] for w, k in zip(words, pick_village.tolist(), strict=True)]
    road = np.array(vocab.PARK_ROADS)[rng.integers(0, len(vocab.PARK_ROADS), n)]
    number = rng.integers(1, 400, n)
    u = rng.random(n)
    out = []
    for i in range(n):
        if park[i] and u[i] < 0.7:
            out.append(f"{park[i]}{road[i]}{number[i]}号")
        elif u[i] < 0.15:
            out.append(f"{town[i]}{village[i]}")
        else:
            out.append(f"{street[i]}{number[i]}号")
    return out


def assign_categories(rng: np.random.Generator, industry: NDArray[np.int64]) -> NDArray[np.int64]:
    """key / special / general by industry keyness plus noise, in the planted shares."""
    keyness = np.array([ind.keyness for ind in INDUSTRIES])[industry]
    score = keyness + rng.uniform(0, 0.6, industry.size)
    rank = np.empty(industry.size, dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(industry.size)
    key_n = round(CATEGORY_SHARES["key"] * industry.size)
    special_n = round(CATEGORY_SHARES["special"] * industry.size)
    return np.where(rank < key_n, 0, np.where(rank < key_n + special_n, 1, 2))


def make_register(geo: Geography, rng: np.random.Generator, n: int, seed: int) -> Register:
    """Generate the register: positions, industries, categories, names, codes and addresses."""
    lon, lat, industry, park = place_enterprises(geo, rng, n)
    county = locate(geo, lon, lat)
    order = np.lexsort((rng.random(n), county))
    lon, lat, county, industry = lon[order], lat[order], county[order], industry[order]
    park = [park[i] for i in order]
    places = [short_place(str(geo.county_name[c]), str(geo.city_name[c])) for c in county]
    prefixes, provinces = company_prefixes(geo), geo.province_code[county].tolist()
    words = {p: region_words(p) for p in set(provinces)}
    ctx = NameContext(
        places,
        [prefixes.get(p, vocab.GUANGXI_PREFIX) for p in provinces],
        [words[p] for p in provinces],
    )
    names = make_names(rng, industry, ctx)
    codes = make_credit_codes(n, [str(geo.county_code[c]) for c in county], seed)
    locality = make_localities(rng, park, provinces)
    head = {c: geo.address_head(c) for c in np.unique(county).tolist()}
    address = [f"{head[c]}{loc}" for c, loc in zip(county.tolist(), locality, strict=True)]
    return Register(
        credit_code=codes,
        name=names,
        industry=industry,
        category=assign_categories(rng, industry),
        lon=lon,
        lat=lat,
        county=county,
        address=address,
        locality=locality,
        hot_spot=hot_spot_of(lon, lat, geo.tables.hot_spots),
        park=park,
    )


def case_rates(
    reg: Register,
    rng: np.random.Generator,
    quiet: NDArray[np.bool_],
    quiet_multiplier: float,
    hot_spots: tuple[HotSpot, ...],
) -> NDArray[np.float64]:
    """Each enterprise's planted relative case rate (mean 1 before the hot-spot boost).

    Industry × category × hot spot × quiet county × a gamma(2) frailty (some
    enterprises offend again and again).
    """
    ind = np.array([i.case_multiplier for i in INDUSTRIES])[reg.industry]
    cat = np.array([CATEGORY_MULTIPLIERS[c] for c in CATEGORIES])[reg.category]
    boost = np.array([s.case_multiplier for s in hot_spots] or [1.0])
    spot = np.where(reg.hot_spot >= 0, boost[np.maximum(reg.hot_spot, 0)], 1.0)
    calm = np.where(quiet[reg.county], quiet_multiplier, 1.0)
    frailty = rng.gamma(2.0, 0.5, reg.n)
    return ind * cat * spot * calm * frailty
