"""What the enterprise linkage ("one source, one file", 一源一档) must get right.

Planted here, from random streams of their own (``[seed, 16, k]``) so that the
positions, dates, forms and defects drawn before stay as they were:

- which coordinate rows state the enterprise's credit code (a minority, as in
  bureau data; the name is always there);
- harder name variants on a few coordinate rows (place word dropped, legal form
  dropped, one character changed): only name, address and distance link them;
- twins: pairs of register entries in one city, in counties at least
  :data:`TWIN_MIN_KM` apart, whose names normalise to the same key;
- invalid credit codes: a few register rows (rejected ``bad_credit_code``) and a
  few stated codes of cases and inspections (flagged; the record keeps its name);
- rows of twins that name them only by name carry a city-level address: they can
  be placed, but never linked (the name fits two entries in that city).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz
from rapidfuzz.process import cdist
from scipy.spatial import cKDTree

from analytics.credit_codes import ALPHABET, is_valid_credit_code, make_credit_codes
from geo_service.geocoding.names import normalize_company_name
from geo_service.sample import mess as m
from geo_service.sample import vocab
from geo_service.sample.events import Events
from geo_service.sample.industries import INDUSTRIES
from geo_service.sample.places import Geography, locate, offset_km
from geo_service.sample.regions import company_prefixes, region_words
from geo_service.sample.register import Register, make_localities, short_place

#: First words of the seeds of this module's random streams (issue 16).
STREAM: Final = 16
#: Second words: one stream per purpose (``[seed, STREAM, k]``).
TWIN_STREAM, REGISTER_REJECT_STREAM, PROJECT_STREAM = 1, 2, 17
#: Tables whose records are linked, with their stream numbers (``10 +`` the file's number).
LINKED_KINDS: Final = {"cases": 12, "inspections": 13, "exceedances": 14, "complaints": 15}
#: Share of coordinate rows (naming an enterprise) that state its credit code.
CODE_SHARES: Final = {"cases": 0.25, "inspections": 0.20, "exceedances": 0.25, "complaints": 0.20}
#: Share of eligible coordinate rows whose name is a hard variant (fuzzy linkage only).
HARD_VARIANT_RATES: Final = {
    "cases": 0.04,
    "inspections": 0.03,
    "exceedances": 0.0,
    "complaints": 0.05,
}
HARD_VARIANTS: Final = ("place_dropped", "form_dropped", "char_changed")
#: Share of the rows stating a code (cases, inspections) whose code is invalid.
BAD_CODE_RATE: Final = 0.005
#: Invalid stated codes: how they are made, and the flag they must get.
BAD_CODES: Final = (
    ("check_char", "bad_check"),  # the GB 32100 check character changed
    ("transposed", "bad_check"),  # two adjacent characters of the organisation code swapped
    ("truncated", "bad_format"),  # the last character missing
    ("letter_o", "bad_format"),  # a letter O typed for a zero (O is not in the alphabet)
    ("short", "bad_format"),  # a few digits only
)
TWIN_MIN_KM: Final = 30.0
#: Register rows with a wrong check character (rejected bad_credit_code), by register size.
REGISTER_REJECTS_MIN_REGISTER: Final = 100
#: Hard variants are kept only when the true entry clearly wins the fuzzy comparison
#: (name similarity, and closeness within this radius) over every other entry.
_SEARCH_KM: Final = 15.0
_NAME_WEIGHT: Final = 0.7
_MIN_NAME: Final = 0.8
_MIN_SCORE: Final = 0.85
_MARGIN: Final = 0.15
_FORM_ENDINGS: Final = ("股份有限公司", "有限公司", "股份公司", "有限合伙", "公司", "集团")
_LEGAL_FORMS: Final = ("股份有限公司", "有限责任公司", "有限公司")
_SUFFIX = re.compile(
    r"(壮族自治区|回族自治区|维吾尔自治区|自治区|各族自治县|自治县|自治州|自治旗|市|区|县|旗|盟|省)$"
)


def stream(seed: int, k: int) -> np.random.Generator:
    """The random stream ``k`` of this module."""
    return np.random.default_rng([seed, STREAM, k])


def code_problem(code: str) -> str:
    """``""`` for a valid credit code, else ``bad_format`` or ``bad_check`` (as the ingest flags).

    Examples
    --------
    >>> code_problem("91450103MA5KB2XY8N"), code_problem("91450103MA5KB2XY8M")
    ('', 'bad_check')
    >>> code_problem("12345"), code_problem("91450103MA5KB2XY8")
    ('bad_format', 'bad_format')
    """
    text = str(code).strip().upper()
    if len(text) != 18 or any(c not in ALPHABET for c in text):
        return "bad_format"
    return "" if is_valid_credit_code(text) else "bad_check"


def _other_char(rng: np.random.Generator, char: str) -> str:
    k = ALPHABET.index(char) if char in ALPHABET else 0
    return ALPHABET[(k + 1 + int(rng.integers(0, len(ALPHABET) - 1))) % len(ALPHABET)]


def bad_code(rng: np.random.Generator, code: str, kind: str) -> str:
    """An invalid version of a valid code, made as ``kind`` of :data:`BAD_CODES` says.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> [code_problem(bad_code(rng, "91450103MA5KB2XY8N", k)) for k, _ in BAD_CODES]
    ['bad_check', 'bad_check', 'bad_format', 'bad_format', 'bad_format']
    """
    if kind == "transposed":
        for i in rng.permutation(np.arange(8, 15)).tolist():
            if code[i] != code[i + 1]:
                out = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                if code_problem(out) == "bad_check":
                    return out
        kind = "check_char"
    if kind == "check_char":
        return code[:17] + _other_char(rng, code[17])
    if kind == "truncated":
        return code[:17]
    if kind == "letter_o":
        zeros = [i for i, c in enumerate(code) if c == "0"]
        i = zeros[int(rng.integers(0, len(zeros)))] if zeros else 10
        return code[:i] + "O" + code[i + 1 :]
    length = int(rng.integers(5, 9))
    return str(int(rng.integers(1, 10))) + "".join(map(str, rng.integers(0, 10, length - 1)))


# -- names -------------------------------------------------------------------------------------


def _place_words(geo: Geography) -> list[str]:
    names = {*map(str, geo.county_name), *map(str, geo.city_name), *geo.provinces.values()}
    words = set(names)
    for name in names:
        short = _SUFFIX.sub("", name)
        if len(short) >= 2:
            words.add(short)
    for province in geo.provinces:
        words.update(region_words(province))
    words.update(company_prefixes(geo).values())
    return sorted(words, key=len, reverse=True)


class NameIndex:
    """The register's normalised names, their cores and places, for checking variants."""

    def __init__(self, geo: Geography, reg: Register) -> None:
        self.keys = [normalize_company_name(n) for n in reg.name]
        self.key_set = set(self.keys)
        words = _place_words(geo)
        self._places = re.compile("^(?:" + "|".join(map(re.escape, words)) + ")+")
        self.cores = [self.core(k) for k in self.keys]
        self.lon, self.lat = reg.lon, reg.lat
        self.tree = cKDTree(_xyz(reg.lon, reg.lat))

    def core(self, key: str) -> str:
        """A normalised name without its legal form and leading place words."""
        for ending in _FORM_ENDINGS:
            if key.endswith(ending) and len(key) - len(ending) >= 2:
                key = key[: -len(ending)]
        stripped = self._places.sub("", key, count=1)
        return stripped if len(stripped) >= 2 else key

    def clearly_best(self, variant: str, ent: int, lon: float, lat: float) -> bool:
        """Whether ``ent`` wins the fuzzy comparison of ``variant`` at a point by a margin."""
        key = normalize_company_name(variant)
        if key in self.key_set:
            return False
        near = self.tree.query_ball_point(_xyz(np.array([lon]), np.array([lat]))[0], _SEARCH_KM)
        block = sorted(set(near) | {ent})
        sims = (
            np.maximum(
                cdist([key], [self.keys[h] for h in block], scorer=fuzz.ratio)[0],
                cdist([self.core(key)], [self.cores[h] for h in block], scorer=fuzz.ratio)[0],
            )
            / 100.0
        )
        d = _chord_km(self.lon[block], self.lat[block], lon, lat)
        score = _NAME_WEIGHT * sims + (1 - _NAME_WEIGHT) * np.clip(1 - d / _SEARCH_KM, 0, 1)
        mine = block.index(ent)
        others = np.delete(score, mine)
        best_other = float(others.max()) if others.size else 0.0
        return bool(
            sims[mine] >= _MIN_NAME
            and score[mine] >= _MIN_SCORE
            and score[mine] - best_other >= _MARGIN
        )


def _xyz(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    lo, la = np.radians(lon), np.radians(lat)
    return 6371.0088 * np.column_stack(
        [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
    )


def _chord_km(
    lon: NDArray[np.float64], lat: NDArray[np.float64], lon0: float, lat0: float
) -> NDArray[np.float64]:
    return np.linalg.norm(_xyz(lon, lat) - _xyz(np.array([lon0]), np.array([lat0])), axis=1)


def name_prefix(
    geo: Geography, reg: Register, ent: int, prefixes: dict[str, str] | None = None
) -> str:
    """The place, province or region word an enterprise's name starts with ("" if none)."""
    c = reg.county[ent]
    province = str(geo.province_code[c])
    prefixes = company_prefixes(geo) if prefixes is None else prefixes
    words = [
        short_place(str(geo.county_name[c]), str(geo.city_name[c])),
        prefixes.get(province, vocab.GUANGXI_PREFIX),
        *region_words(province),
    ]
    found = [w for w in words if reg.name[ent].startswith(w)]
    return max(found, key=len, default="")


def hard_variant(
    geo: Geography, reg: Register, ent: int, kind: str, u: float, pick: int
) -> str | None:
    """A hard variant of an enterprise's name (``kind`` of :data:`HARD_VARIANTS`), or None.

    Examples (names as the register holds them)::

        南宁鑫华糖业有限公司 → 鑫华糖业有限公司 (place_dropped), 南宁鑫华糖业 (form_dropped),
        南宁鑫荣糖业有限公司 (char_changed)
    """
    name = reg.name[ent]
    prefix = name_prefix(geo, reg, ent)
    province_prefix = company_prefixes(geo).get(str(geo.province_code[reg.county[ent]]), "")
    if kind == "place_dropped":
        if not prefix or prefix == province_prefix:
            return None  # a province prefix dropped is an ordinary, normalise-equal variant
        return name[len(prefix) :]
    if kind == "form_dropped":
        form = next((f for f in _LEGAL_FORMS if name.endswith(f)), "")
        return name.removesuffix(form) if form else None
    i = len(prefix) + (1 if u < 0.5 else 0)
    brand = vocab.BRAND_CHARS
    if i >= len(name) or name[i] not in brand:
        return None
    new = brand[(brand.index(name[i]) + 1 + pick % (len(brand) - 1)) % len(brand)]
    return name[:i] + new + name[i + 1 :]


# -- twins -------------------------------------------------------------------------------------


@dataclass
class Twins:
    """Pairs of register entries whose names normalise alike (the first keeps its name)."""

    pairs: list[tuple[int, int]]
    member: NDArray[np.bool_]  # per register entry
    distance_km: list[float]


def twin_pair_count(n: int) -> int:
    """How many twin pairs a register of ``n`` entries gets (a few dozen entries at most)."""
    return 0 if n < 50 else min(25, max(2, round(n / 250)))


def make_twins(
    geo: Geography,
    reg: Register,
    rng: np.random.Generator,
    events: dict[str, Events],
    mess: dict[str, m.Mess],
) -> Twins:
    """Choose twin pairs and rename the second of each after the first (in place).

    Entries with records named only by name come first, then entries with any
    record, so that twins show up in the files; the second entry of a pair is of the
    same industry where possible, in the same city, another county, at least
    :data:`TWIN_MIN_KM` away.
    """
    n = reg.n
    name_only = np.zeros(n, dtype=bool)
    recorded = np.zeros(n, dtype=bool)
    forms = [m.FORMS.index("name"), m.FORMS.index("name_variant")]
    for kind, ev in events.items():
        good = mess[kind].good
        recorded[ev.enterprise[good]] = True
        name_only[ev.enterprise[good & np.isin(mess[kind].form, forms)]] = True
    prefixes = company_prefixes(geo)
    placeless = np.array(
        [
            name_prefix(geo, reg, e, prefixes)
            != short_place(str(geo.county_name[c]), str(geo.city_name[c]))
            for e, c in enumerate(reg.county.tolist())
        ],
        dtype=bool,
    )
    priority = 2.0 * name_only + recorded + 0.5 * placeless + 0.1 * rng.random(n)
    order = np.argsort(-priority, kind="stable")
    city = geo.city_code[reg.county]
    used = np.zeros(n, dtype=bool)
    pairs: list[tuple[int, int]] = []
    dists: list[float] = []
    wanted = twin_pair_count(n)
    for a in order.tolist():
        if len(pairs) >= wanted:
            break
        found = None if used[a] else _partner(reg, rng, a, city, used, recorded)
        if found is not None:
            b, d = found
            used[a] = used[b] = True
            pairs.append((int(a), b))
            dists.append(d)
    for a, b in pairs:
        same_name = rng.random() < 0.5
        reg.name[b] = reg.name[a] if same_name else m.name_variant(reg.name[a], 0)
    member = np.zeros(n, dtype=bool)
    for a, b in pairs:
        member[[a, b]] = True
    return Twins(pairs, member, dists)


def _partner(
    reg: Register,
    rng: np.random.Generator,
    a: int,
    city: NDArray[np.str_],
    used: NDArray[np.bool_],
    recorded: NDArray[np.bool_],
) -> tuple[int, float] | None:
    """A twin for entry ``a`` (same city, other county, far enough), with its distance."""
    pool = np.flatnonzero((city == city[a]) & (reg.county != reg.county[a]) & ~used)
    d = _chord_km(reg.lon[pool], reg.lat[pool], float(reg.lon[a]), float(reg.lat[a]))
    far = d >= TWIN_MIN_KM + 1.0
    pool, d = pool[far], d[far]
    if pool.size == 0:
        return None
    same = reg.industry[pool] == reg.industry[a]
    k = 0
    for sel in (same & recorded[pool], same, recorded[pool], np.ones(pool.size, dtype=bool)):
        if sel.any():
            k = int(rng.choice(np.flatnonzero(sel)))
            break
    return int(pool[k]), round(float(d[k]), 1)


# -- per-table plans ---------------------------------------------------------------------------


@dataclass
class LinkPlan:
    """Per row of a linked table: what it states about its enterprise."""

    code_shown: NDArray[np.bool_]  # a coordinate row states the credit code
    hard_variant: NDArray[np.int64]  # position in HARD_VARIANTS, -1 for none
    bad_code: NDArray[np.int64]  # position in BAD_CODES, -1 for none
    city_address: NDArray[np.bool_]  # a twin named only by name: address at city level
    names: dict[int, str] = field(default_factory=dict)  # row → hard-variant name
    codes: dict[int, str] = field(default_factory=dict)  # row → invalid stated code


def plan_links(
    geo: Geography,
    reg: Register,
    names: NameIndex,
    twins: Twins,
    rng: np.random.Generator,
    kind: str,
    table: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]],
    mess: m.Mess,
    background: NDArray[np.bool_] | None = None,
) -> LinkPlan:
    """Plan the codes, hard variants, invalid codes and twin addresses of one table.

    ``table`` holds each row's enterprise and true WGS84 position.
    """
    ent, lon, lat = table
    n = len(ent)
    named = ~background if background is not None else np.ones(n, dtype=bool)
    coords = (mess.form == m.FORMS.index("coordinates")) & named
    twin = twins.member[ent] if n else np.zeros(0, dtype=bool)
    code_shown = coords & (rng.random(n) < CODE_SHARES[kind])
    pick_hard = rng.random(n) < HARD_VARIANT_RATES[kind]
    hard_order = np.argsort(rng.random((n, len(HARD_VARIANTS))), axis=1)
    hard_u, hard_pick = rng.random(n), rng.integers(0, 1 << 30, n)
    hard = np.full(n, -1, dtype=np.int64)
    texts: dict[int, str] = {}
    eligible = coords & mess.good & (mess.name_variant < 0) & ~twin & pick_hard
    for r in np.flatnonzero(eligible).tolist():
        e = int(ent[r])
        for k in hard_order[r].tolist():
            variant = hard_variant(geo, reg, e, HARD_VARIANTS[k], hard_u[r], int(hard_pick[r]))
            if variant and names.clearly_best(variant, e, float(lon[r]), float(lat[r])):
                hard[r], texts[r] = k, variant
                break
    bad = np.full(n, -1, dtype=np.int64)
    codes: dict[int, str] = {}
    if kind in ("cases", "inspections") and n >= m.MIN_ROWS_FOR_REJECTS:
        stating = mess.good & (code_shown | (mess.form == m.FORMS.index("credit_code")))
        pool = np.flatnonzero(mess.good & code_shown & (hard < 0) & ~twin)
        count = min(pool.size, max(2, round(BAD_CODE_RATE * int(stating.sum()))))
        chosen = np.sort(rng.choice(pool, size=count, replace=False))
        kinds = rng.permutation(np.arange(count) % len(BAD_CODES))
        for r, k in zip(chosen.tolist(), kinds.tolist(), strict=True):
            bad[r] = k
            codes[r] = bad_code(rng, reg.credit_code[ent[r]], BAD_CODES[k][0])
    name_forms = np.isin(mess.form, [m.FORMS.index("name"), m.FORMS.index("name_variant")])
    city_address = name_forms & named & mess.good & twin
    return LinkPlan(code_shown, hard, bad, city_address, texts, codes)


# -- register rows with an invalid code --------------------------------------------------------


@dataclass
class RegisterRejects:
    """Register rows appended after the register, each with a wrong check character."""

    credit_code: list[str]
    name: list[str]
    industry: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    county: NDArray[np.int64]
    address: list[str]

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.name)


def register_reject_count(n: int) -> int:
    """3 rows (4 from 10 000 entries, 5 from 20 000); none for a register under 100."""
    return 0 if n < REGISTER_REJECTS_MIN_REGISTER else min(5, 3 + n // 10_000)


def make_register_rejects(
    geo: Geography, reg: Register, rng: np.random.Generator, seed: int
) -> RegisterRejects:
    """A few new entries near existing ones, with names of their own and invalid codes."""
    k = register_reject_count(reg.n)
    anchor = rng.choice(reg.n, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    dist, angle = rng.uniform(0.5, 3.0, k), rng.uniform(0, 2 * np.pi, k)
    lon, lat = offset_km(
        reg.lon[anchor], reg.lat[anchor], dist * np.cos(angle), dist * np.sin(angle)
    )
    county = locate(geo, lon, lat)
    outside = county < 0
    lon[outside], lat[outside] = reg.lon[anchor][outside], reg.lat[anchor][outside]
    county[outside] = reg.county[anchor][outside]
    industry = reg.industry[anchor]
    known = {normalize_company_name(n) for n in reg.name}
    brand = vocab.BRAND_CHARS
    names: list[str] = []
    for c, i in zip(county.tolist(), industry.tolist(), strict=True):
        place = short_place(str(geo.county_name[c]), str(geo.city_name[c]))
        words = INDUSTRIES[i].words
        while True:
            b = rng.integers(0, len(brand), 2)
            name = (
                f"{place}{brand[b[0]]}{brand[b[1]]}{words[int(rng.integers(len(words)))]}有限公司"
            )
            if normalize_company_name(name) not in known:
                known.add(normalize_company_name(name))
                names.append(name)
                break
    adcodes = [str(geo.county_code[c]) for c in county.tolist()]
    valid = make_credit_codes(k, adcodes, seed + 1601)
    codes = [c[:17] + _other_char(rng, c[17]) for c in valid]
    provinces = [str(geo.province_code[c]) for c in county.tolist()]
    localities = make_localities(rng, [""] * k, provinces)
    address = [
        f"{geo.address_head(c)}{loc}" for c, loc in zip(county.tolist(), localities, strict=True)
    ]
    return RegisterRejects(codes, names, industry, lon, lat, county, address)
