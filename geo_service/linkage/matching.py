"""The linkage steps: credit code, normalised name, then name, address and distance.

Each step links the records the earlier ones left. A step that finds several
register entries fitting about equally links none of them: the record is
``ambiguous`` and its candidates go to the review list. Coordinates only say where
a record is; they never stop it from being linked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from geo_service.geocoding.names import normalize_company_names
from geo_service.linkage.codes import clean_codes, credit_code_flags
from geo_service.linkage.register import RegisterIndex, distance_km, unit_vectors

#: ``link_method`` values.
BY_CODE, BY_NAME, FUZZY, AMBIGUOUS, UNMATCHED = (
    "credit_code",
    "name",
    "fuzzy",
    "ambiguous",
    "unmatched",
)
LINKED_METHODS = (BY_CODE, BY_NAME, FUZZY)
#: The columns :func:`link` gives each record.
LINK_COLUMNS = ("enterprise_credit_code", "link_method", "link_score", "credit_code_flag")


@dataclass(frozen=True)
class LinkRules:
    """When a name, an address and a distance are enough to link."""

    near_km: float = 5.0  # namesakes: the one within this of the record's point …
    far_km: float = 20.0  # … when every other is beyond this
    search_km: float = 10.0  # fuzzy candidates of a point record lie within this
    name_weight: float = 0.7  # the rest of the fuzzy score is the place (distance or address)
    min_score: float = 0.80  # fuzzy: the best candidate's score at least this …
    min_name: float = 0.75  # … with a name similarity at least this …
    margin: float = 0.08  # … and this far ahead of the next entry

    def __post_init__(self) -> None:
        if not 0 < self.near_km < self.far_km:
            raise ValueError("near_km must be positive and below far_km")
        if not 0 < self.search_km <= 50:
            raise ValueError("search_km must lie in (0, 50]")
        for name in ("name_weight", "min_score", "min_name"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in (0, 1]")
        if not 0 <= self.margin < 1:
            raise ValueError("margin must lie in [0, 1)")


@dataclass
class Links:
    """Per record: the link columns, and the candidates of ambiguous records."""

    frame: pd.DataFrame  # LINK_COLUMNS, on the records' index
    candidates: dict[Any, list[dict[str, Any]]]  # index → candidates, best first

    @property
    def linked(self) -> pd.Series:
        """Records linked to an entry."""
        return self.frame["link_method"].isin(LINKED_METHODS)

    def update(self, other: Links) -> None:
        """Take ``other``'s links for its records (a second pass over some of them)."""
        self.frame.loc[other.frame.index, list(LINK_COLUMNS)] = other.frame[list(LINK_COLUMNS)]
        for row in other.frame.index:
            self.candidates.pop(row, None)
        self.candidates.update(other.candidates)


@dataclass(frozen=True)
class Located:
    """Where each record is known to be, as far as the linkage uses it."""

    lon: pd.Series  # WGS84, NaN where unplaced
    lat: pd.Series
    precision: pd.Series  # point | county | city | None
    adcode: pd.Series  # county, or None
    city_adcode: pd.Series

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Located:
        def column(name: str) -> pd.Series:
            if name in frame:
                return frame[name]
            return pd.Series(None, index=frame.index, dtype=object)

        return cls(
            pd.to_numeric(column("lon"), errors="coerce"),
            pd.to_numeric(column("lat"), errors="coerce"),
            column("geocode_precision").astype(object),
            column("adcode").astype(object),
            column("city_adcode").astype(object),
        )


def link(
    records: pd.DataFrame, where: Located, index: RegisterIndex, rules: LinkRules | None = None
) -> Links:
    """Link each record (columns ``credit_code``, ``enterprise_name``, ``address``).

    ``where`` says where the records are placed so far: a record's point picks among
    namesakes and bounds the fuzzy search; a county or city bounds it as well.
    """
    rules = rules or LinkRules()
    n_index = records.index
    out = pd.DataFrame(
        {c: pd.Series(None, index=n_index, dtype=object) for c in LINK_COLUMNS}, index=n_index
    )
    out["link_score"] = np.nan
    candidates: dict[Any, list[dict[str, Any]]] = {}
    codes = clean_codes(_column(records, "credit_code")).astype(object)
    out["credit_code_flag"] = credit_code_flags(codes)
    if len(index) == 0:
        return Links(_missing_as_none(out), candidates)
    known = codes.isin(index.code_index) & out["credit_code_flag"].isna()
    out.loc[known, "enterprise_credit_code"] = codes[known]
    out.loc[known, "link_method"] = BY_CODE
    out.loc[known, "link_score"] = 1.0
    names = _column(records, "enterprise_name")
    norm = normalize_company_names(names)
    named = ~known & norm.ne("")
    if not named.any():
        return Links(_missing_as_none(out), candidates)
    hits = _name_hits(norm[named], index)
    lengths = hits.map(len)
    rows = lengths[lengths.eq(1)].index
    out.loc[rows, "enterprise_credit_code"] = [index.codes[h[0]] for h in hits[rows]]
    out.loc[rows, "link_method"] = BY_NAME
    out.loc[rows, "link_score"] = 1.0
    xyz = _points(where)
    for row in lengths[lengths.gt(1)].index:
        _namesakes(row, hits[row], where, xyz, index, rules, out, candidates)
    todo = named & out["link_method"].isna()
    if todo.any():
        _fuzzy(records, norm, todo, where, xyz, index, rules, out, candidates)
    out.loc[named & out["link_method"].isna(), "link_method"] = UNMATCHED
    return Links(_missing_as_none(out), candidates)


def _name_hits(norm: pd.Series, index: RegisterIndex) -> pd.Series:
    """The register entries (positions) of each record's normalised name, an empty list
    where none has it; each distinct name looked up once."""
    codes, names = pd.factorize(norm)
    found = [index.by_name.get(name, []) for name in names.tolist()]
    hits = np.empty(len(found), dtype=object)
    hits[:] = found
    return pd.Series(hits[codes], index=norm.index, dtype=object)


def _missing_as_none(out: pd.DataFrame) -> pd.DataFrame:
    """Text columns with ``None`` (not NaN) where missing, as the store is given them."""
    for column in ("enterprise_credit_code", "link_method", "credit_code_flag"):
        values = out[column].astype(object)
        out[column] = values.where(values.notna(), None)
    return out


def _namesakes(
    row: Any,
    hits: list[int],
    where: Located,
    xyz: pd.Series,
    index: RegisterIndex,
    rules: LinkRules,
    out: pd.DataFrame,
    candidates: dict[Any, list[dict[str, Any]]],
) -> None:
    """Several entries share the record's normalised name: its place may pick one."""
    point = xyz.get(row)
    distances = distance_km(index.xyz[hits], np.asarray(point)) if point is not None else None
    chosen: int | None = None
    if distances is not None and where.precision.get(row) == "point":
        order = np.argsort(distances, kind="stable")
        nearest = distances[order[0]]
        others = distances[order[1:]]
        if nearest <= rules.near_km and (others > rules.far_km).all():
            chosen = hits[int(order[0])]
    elif where.precision.get(row) == "county":
        inside = [h for h in hits if index.frame.at[h, "adcode"] == where.adcode.get(row)]
        chosen = inside[0] if len(inside) == 1 else None
    if chosen is not None:
        out.at[row, "enterprise_credit_code"] = index.codes[chosen]
        out.at[row, "link_method"] = BY_NAME
        out.at[row, "link_score"] = 1.0
        return
    out.at[row, "link_method"] = AMBIGUOUS
    out.at[row, "link_score"] = 1.0
    candidates[row] = [
        _candidate(index, h, 1.0, None if distances is None else float(distances[k]))
        for k, h in enumerate(hits)
    ]


def _fuzzy(
    records: pd.DataFrame,
    norm: pd.Series,
    todo: pd.Series,
    where: Located,
    xyz: pd.Series,
    index: RegisterIndex,
    rules: LinkRules,
    out: pd.DataFrame,
    candidates: dict[Any, list[dict[str, Any]]],
) -> None:
    """Name, address and distance, among the entries near the record's place."""
    rows = todo[todo].index
    names = norm[rows].astype(str).tolist()
    cores = index.cores.cores(norm[rows]).astype(str).tolist()
    addresses = _column(records, "address")[rows].fillna("").astype(str).tolist()
    precision = where.precision[rows].tolist()
    counties = where.adcode[rows].astype(str).tolist()
    cities = where.city_adcode[rows].astype(str).tolist()
    point = np.array([p == "point" for p in precision]) & rows.isin(xyz.index)
    points = np.stack(xyz[rows[point]].to_list()) if point.any() else np.empty((0, 3))
    tree = index.tree
    near = iter(
        tree.query_ball_point(points, r=rules.search_km, return_sorted=True)
        if tree and len(points)
        else []
    )
    names_norm = index.frame["name_norm"].fillna("").astype(str).to_numpy(object)
    entry_addresses = index.frame["address"].to_numpy(object)
    links: list[tuple[Any, str | None, str, float]] = []
    blocks = _search_blocks(point, precision, counties, cities, near, index)
    for k, (row, block) in enumerate(zip(rows, blocks, strict=True)):
        if not block.size:
            continue
        by_name = process.cdist([names[k]], names_norm[block], scorer=fuzz.ratio)[0]
        by_core = process.cdist([cores[k]], index.core[block], scorer=fuzz.ratio)[0]
        name_sim = np.maximum(by_name, by_core).astype(np.float64) / 100.0
        if name_sim.max() < rules.min_name:
            continue  # whichever entry scores best, its name is too unlike
        km: np.ndarray | None = None
        if point[k]:
            km = distance_km(index.xyz[block], np.asarray(xyz[row]))
            place = np.clip(1.0 - km / rules.search_km, 0.0, 1.0)
        else:
            place = _address_similarity(addresses[k], entry_addresses[block])
        score = rules.name_weight * name_sim + (1 - rules.name_weight) * place
        best = int(np.argmax(score))  # the first of the best, as a stable sort has it
        if score[best] < rules.min_score or name_sim[best] < rules.min_name:
            continue
        rounded = round(float(score[best]), 4)
        if np.count_nonzero(score[best] - score < rules.margin) == 1:
            links.append((row, str(index.codes[block[best]]), FUZZY, rounded))
            continue
        order = np.argsort(-score, kind="stable")
        close = order[score[best] - score[order] < rules.margin]
        links.append((row, None, AMBIGUOUS, rounded))
        candidates[row] = [
            _candidate(index, int(block[c]), float(score[c]), None if km is None else float(km[c]))
            for c in close
        ]
    if links:
        found, codes, methods, scores = zip(*links, strict=True)
        out.loc[list(found), "enterprise_credit_code"] = list(codes)
        out.loc[list(found), "link_method"] = list(methods)
        out.loc[list(found), "link_score"] = list(scores)


def _search_blocks(
    point: np.ndarray,
    precision: list[str],
    counties: list[str],
    cities: list[str],
    near: Iterator[list[int]],
    index: RegisterIndex,
) -> Iterator[np.ndarray]:
    """Per record, the register entries to search: those near its point, else those of
    its county or city; none where it is placed no finer (a name alone is matched
    exactly or not at all)."""
    for k, at_point in enumerate(point):
        if at_point:
            block = next(near, [])  # none when the register has no points
        elif precision[k] == "county":
            block = index.by_county.get(counties[k], [])
        elif precision[k] == "city":
            block = index.by_city.get(cities[k], [])
        else:
            block = []
        yield np.asarray(block, dtype=np.int64)


def _address_similarity(address: str, others: np.ndarray) -> np.ndarray:
    """How alike a record's address and each entry's are (0.5 when either is missing)."""
    if not address:
        return np.full(len(others), 0.5)
    return np.array([fuzz.partial_ratio(address, str(o)) / 100.0 if o else 0.5 for o in others])


def _candidate(index: RegisterIndex, h: int, score: float, km: float | None) -> dict[str, Any]:
    return {
        "credit_code": str(index.codes[h]),
        "name": str(index.frame.at[h, "name"]),
        "score": round(score, 4),
        "distance_km": None if km is None else round(km, 3),
    }


def _points(where: Located) -> pd.Series:
    """Each placed record's point as a unit vector (absent for unplaced rows)."""
    placed = where.lon.notna() & where.lat.notna()
    if not placed.any():
        return pd.Series(dtype=object)
    xyz = unit_vectors(
        where.lon[placed].to_numpy(np.float64), where.lat[placed].to_numpy(np.float64)
    )
    return pd.Series(list(xyz), index=where.lon.index[placed], dtype=object)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(None, index=frame.index, dtype=object)
