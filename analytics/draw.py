"""The risk-weighted, stratified "double random" inspection draw (双随机).

Enterprises are drawn at random within each stratum (``key``, ``special``,
``general``) with probability proportional to their risk weight; inspectors are
then drawn at random, in teams, for each drawn enterprise. One seed drives both.

Seeds: the text of a seed is ``str(seed)``. The bureau publishes
:func:`seed_commitment` (SHA-256 of ``"geo-service-draw:" + text``) before the
draw and reveals the seed after. The generators are seeded from SHA-256 of a
*different* text (``"geo-service-draw-rng:<purpose>:" + text``), so the
commitment tells nothing about the draw. The commitment is an unsalted hash: a
guessable seed (a date, a small number) can be found from it, so use a long
random one (e.g. 32 hex characters from a secure source).

Sampling is Efraimidis–Spirakis: each eligible enterprise gets the key ``E / w``,
``E`` standard exponential (``-log1p(-U)`` with ``U`` from ``Generator.random``)
and ``w`` its sampling weight; the ``k`` smallest keys of a stratum are its
sample, in the order a successive weighted draw takes them. Inspector teams
and the draw record are in :mod:`analytics.draw` too (see :func:`run_draw`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analytics.errors import DrawError, StaffingError

#: Strata in draw order; any other stratum named in the quotas follows, sorted.
STRATA = ("key", "special", "general")

#: Share of each stratum drawn per quarter (a floor: the quota is rounded up).
DEFAULT_QUOTAS: Mapping[str, float] = MappingProxyType(
    {"key": 0.25, "special": 0.15, "general": 0.05}
)

#: Version of the record layout written by :func:`draw_record`.
RECORD_FORMAT = "geo-service-draw/1"

#: Decimal digits every float in a draw record is rounded to.
RECORD_FLOAT_DIGITS = 6

_COMMIT_PREFIX = "geo-service-draw:"
_RNG_PREFIX = "geo-service-draw-rng:"


# --- seeds ---------------------------------------------------------------------------


def seed_text(seed: str | int) -> str:
    """The canonical text of a seed: the string itself, or the integer in decimal.

    Examples
    --------
    >>> seed_text(42), seed_text("2025-Q1/abc")
    ('42', '2025-Q1/abc')
    """
    if isinstance(seed, bool) or not isinstance(seed, str | int | np.integer):
        raise DrawError(f"a seed is a string or an integer, not {type(seed).__name__}")
    text = seed if isinstance(seed, str) else str(int(seed))
    if not text:
        raise DrawError("the seed is empty")
    return text


def seed_commitment(seed: str | int) -> str:
    """Hex SHA-256 of ``"geo-service-draw:" + seed_text(seed)``, published before the draw.

    Examples
    --------
    >>> c = seed_commitment("f3a9c2")
    >>> len(c), verify_seed("f3a9c2", c), verify_seed("f3a9c3", c)
    (64, True, False)
    """
    return hashlib.sha256((_COMMIT_PREFIX + seed_text(seed)).encode("utf-8")).hexdigest()


def verify_seed(seed: str | int, commitment: str) -> bool:
    """Whether a revealed seed matches the commitment published before the draw."""
    return hmac.compare_digest(seed_commitment(seed), commitment.strip().lower())


def seeded_generator(seed: str | int, purpose: str) -> np.random.Generator:
    """A PCG64 generator seeded from SHA-256 of the seed's text and a purpose label.

    Each purpose (``"enterprises"``, ``"inspectors"``, ``"backtest"``) has its
    own stream, so a change of roster does not change which enterprises are drawn.
    """
    text = f"{_RNG_PREFIX}{purpose}:{seed_text(seed)}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


# --- stratified weighted sampling (shared with analytics.backtest) -------------------


def strata_order(quotas: Mapping[str, float]) -> list[str]:
    """Strata of ``quotas`` in draw order; raises on a share outside [0, 1]."""
    for name, share in quotas.items():
        if not (isinstance(share, int | float) and 0.0 <= float(share) <= 1.0):
            raise DrawError(f"the quota share of stratum {name!r} must be in [0, 1]: {share!r}")
    return [s for s in STRATA if s in quotas] + sorted(set(quotas) - set(STRATA))


def stratum_labels(categories: ArrayLike, quotas: Mapping[str, float]) -> NDArray[np.object_]:
    """Stratum of each enterprise: its category, ``general`` where missing."""
    labels = pd.Series(np.asarray(categories, dtype=object)).replace("", None)
    out = labels.where(labels.notna(), "general").astype(str).to_numpy(dtype=object)
    unknown = sorted(set(out) - set(quotas))
    if unknown:
        raise DrawError(f"no quota for categories {', '.join(map(repr, unknown))}")
    return out


def stratum_quota(share: float, population: int) -> int:
    """``ceil(share × population)``, the least a bureau may draw from a stratum.

    Examples
    --------
    >>> stratum_quota(0.15, 20), stratum_quota(0.05, 21), stratum_quota(0.25, 0)
    (3, 2, 0)
    """
    return math.ceil(round(float(share) * population, 9))


def sampling_weights(
    weights: NDArray[np.float64], members: Sequence[NDArray[np.intp]], min_weight: float
) -> NDArray[np.float64]:
    """``max(weight, min_weight × stratum max)`` for each member; 1 in an all-zero stratum."""
    if not 0.0 < min_weight <= 1.0:
        raise DrawError(f"min_weight must be in (0, 1]: {min_weight}")
    out = np.zeros(weights.shape, dtype=np.float64)
    for rows in members:
        top = weights[rows].max() if rows.size else 0.0
        out[rows] = np.maximum(weights[rows], min_weight * top) if top > 0 else 1.0
    return out


def exponential_keys(rng: np.random.Generator, n_draws: int, n: int) -> NDArray[np.float64]:
    """``(n_draws, n)`` standard exponential variates ``-log1p(-U)``."""
    return -np.log1p(-rng.random((n_draws, n)))


def sample_by_keys(
    exponentials: NDArray[np.float64],
    weights: NDArray[np.float64],
    members: Sequence[NDArray[np.intp]],
    sizes: Sequence[int],
) -> NDArray[np.intp]:
    """Weighted sampling without replacement, stratum by stratum, one draw per row.

    Parameters
    ----------
    exponentials : (n_draws, n) array
        Standard exponential variates (:func:`exponential_keys`).
    weights : (n,) array
        Positive sampling weights of the members.
    members, sizes
        Row indices of each stratum's eligible enterprises, and how many to take.

    Returns
    -------
    (n_draws, sum(sizes)) array of row indices, stratum after stratum, each in draw order.

    Examples
    --------
    >>> e = exponential_keys(seeded_generator(1, "doc"), 2, 4)
    >>> sample_by_keys(e, np.ones(4), [np.arange(4)], [4]).shape
    (2, 4)
    """
    parts = [np.empty((exponentials.shape[0], 0), dtype=np.intp)]
    for rows, k in zip(members, sizes, strict=True):
        if k > rows.size:
            raise DrawError(f"cannot take {k} of {rows.size} enterprises")
        if k == 0:
            continue
        keys = exponentials[:, rows] / weights[rows]
        top = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < rows.size else keys.argsort(1)
        order = np.take_along_axis(keys, top, 1).argsort(axis=1, kind="stable")
        parts.append(rows[np.take_along_axis(top, order, 1)])
    return np.concatenate(parts, axis=1)


# --- enterprises ---------------------------------------------------------------------


def _reasons(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _prepared(
    enterprises: pd.DataFrame, quotas: Mapping[str, float], exclude_since: dt.date | None
) -> pd.DataFrame:
    """Validated copy, sorted by credit code, with ``stratum``, ``reasons`` and ``_eligible``."""
    if not {"credit_code", "weight"} <= set(enterprises.columns):
        raise DrawError("enterprises need the columns credit_code and weight")
    frame = enterprises.assign(credit_code=enterprises["credit_code"].astype(str))
    dupes = frame["credit_code"][frame["credit_code"].duplicated()].unique()
    if dupes.size:
        raise DrawError(f"credit codes listed twice: {', '.join(dupes[:5])}")
    frame = frame.sort_values("credit_code", kind="stable").reset_index(drop=True)
    weight = pd.to_numeric(frame["weight"], errors="coerce").astype(float)
    bad = frame["credit_code"][~(np.isfinite(weight) & (weight >= 0))]
    if bad.size:
        raise DrawError(f"weights must be finite and ≥ 0: {', '.join(bad[:5])}")

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)

    last = pd.to_datetime(column("last_inspected"))
    recent = last >= pd.Timestamp(exclude_since) if exclude_since is not None else False
    return frame.assign(
        name=column("name").fillna("").astype(str),
        stratum=stratum_labels(column("category"), quotas),
        weight=weight,
        last_inspected=last,
        reasons=pd.Series([_reasons(v) for v in column("reasons")], frame.index, dtype=object),
        _eligible=~np.asarray(recent, dtype=bool),
    )


def draw_enterprises(
    enterprises: pd.DataFrame,
    *,
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    exclude_since: dt.date | None,
    seed: str | int,
    min_weight: float = 0.05,
) -> pd.DataFrame:
    """Draw enterprises per stratum, risk-weighted, without replacement.

    Parameters
    ----------
    enterprises : DataFrame
        ``credit_code``, ``weight`` (risk score ≥ 0) and optionally ``name``,
        ``category`` (``key``/``special``/``general``; missing → ``general``),
        ``last_inspected`` (date or NaT) and ``reasons`` (list of str).
    quotas : mapping
        Share of each stratum to draw; the quota is ``ceil(share × population)``.
    exclude_since : date or None
        Enterprises inspected on or after this date are not eligible.
    seed : str or int
        The draw's seed; the same seed and enterprises give the same draw,
        whatever the order of the rows.
    min_weight : float
        Floor of the sampling weight as a share of the stratum's largest, so every
        eligible enterprise keeps a chance.

    Returns
    -------
    DataFrame
        The drawn rows in draw order with ``stratum``, ``weight``, ``probability``
        (the enterprise's share of its stratum's sampling weight) and ``draw_order``
        (from 1). ``attrs["strata"]`` maps each stratum to its ``population``,
        ``eligible``, ``quota``, ``selected`` and ``shortfall`` (quota − selected).

    Examples
    --------
    >>> frame = pd.DataFrame({"credit_code": list("abcd"), "weight": [1.0, 2.0, 3.0, 4.0]})
    >>> out = draw_enterprises(frame, quotas={"general": 0.5}, exclude_since=None, seed=7)
    >>> len(out), out.attrs["strata"]["general"]["quota"]
    (2, 2)
    """
    names = strata_order(quotas)
    frame = _prepared(enterprises, quotas, exclude_since)
    labels, eligible = frame["stratum"].to_numpy(), frame["_eligible"].to_numpy(bool)
    members = [np.flatnonzero((labels == s) & eligible) for s in names]
    strata = {}
    for name, rows in zip(names, members, strict=True):
        population = int((labels == name).sum())
        quota = stratum_quota(quotas[name], population)
        selected = min(quota, rows.size)
        strata[name] = {"population": population, "eligible": int(rows.size), "quota": quota}
        strata[name] |= {"selected": selected, "shortfall": quota - selected}
    weights = sampling_weights(frame["weight"].to_numpy(float), members, min_weight)
    exponentials = exponential_keys(seeded_generator(seed, "enterprises"), 1, len(frame))
    picked = sample_by_keys(exponentials, weights, members, [strata[s]["selected"] for s in names])
    totals = pd.Series(weights).groupby(labels).transform("sum").to_numpy()
    probability = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    out = frame.iloc[picked[0]].drop(columns="_eligible")
    out = out.assign(probability=probability[picked[0]], draw_order=np.arange(1, len(out) + 1))
    out = out.reset_index(drop=True)
    out.attrs["strata"] = strata
    return out


# --- inspectors ----------------------------------------------------------------------


def _roster(roster: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    if "inspector_id" not in roster.columns:
        raise DrawError("the roster needs the column inspector_id")
    ids = roster["inspector_id"].astype(str)
    if ids.duplicated().any():
        raise DrawError(f"inspectors listed twice: {', '.join(ids[ids.duplicated()].unique())}")
    names = roster["name"].fillna("").astype(str) if "name" in roster else pd.Series("", ids.index)
    return sorted(ids), dict(zip(ids, names, strict=True))


def _draw_teams(
    allowed: list[list[int]], n_inspectors: int, team_size: int, rng: np.random.Generator
) -> list[list[int]]:
    """Each team member drawn at random among the least-loaded allowed inspectors."""
    load = np.zeros(n_inspectors, dtype=np.int64)
    teams = []
    for candidates in allowed:
        team: list[int] = []
        for _ in range(team_size):
            free = [j for j in candidates if j not in team]
            low = load[free].min()
            least = [j for j in free if load[j] == low]
            team.append(least[int(rng.random() * len(least))])
            load[team[-1]] += 1
        teams.append(team)
    return teams


def _moves_from(
    sources: list[int],
    target_load: int,
    teams: list[list[int]],
    allowed: list[set[int]],
    load: NDArray[np.int64],
) -> list[tuple[int, int, int]] | None:
    """Breadth-first chain of (enterprise, from, to) moves from a source to an inspector
    with load ≤ ``target_load``, or None."""
    held: dict[int, list[int]] = {}
    for e, team in enumerate(teams):
        for j in team:
            held.setdefault(j, []).append(e)
    parent: dict[int, tuple[int, int] | None] = dict.fromkeys(sources)
    queue = list(sources)
    for a in queue:
        for e in held.get(a, []):
            for b in sorted(allowed[e] - set(teams[e]) - parent.keys()):
                parent[b] = (a, e)
                if load[b] <= target_load:
                    moves, node = [], b
                    while (step := parent[node]) is not None:
                        moves.append((step[1], step[0], node))
                        node = step[0]
                    return moves
                queue.append(b)
    return None


def _balance(teams: list[list[int]], allowed: list[set[int]], n_inspectors: int) -> None:
    """Shift assignments along chains until no inspector could hand one to another with
    2 fewer: the most even loads the conflicts allow (max − min ≤ 1 when possible)."""
    moves: list[tuple[int, int, int]] | None = []
    while moves is not None:
        for e, a, b in moves:
            teams[e][teams[e].index(a)] = b
        load = np.bincount([j for t in teams for j in t], minlength=n_inspectors)
        levels = sorted(set(load.tolist()), reverse=True)
        found = (
            _moves_from(
                [j for j in range(n_inspectors) if load[j] >= level],
                level - 2,
                teams,
                allowed,
                load,
            )
            for level in levels
        )
        moves = next((m for m in found if m is not None), None)


def assign_inspectors(
    selected: pd.DataFrame,
    roster: pd.DataFrame,
    *,
    exclusions: Iterable[tuple[str, str]] = (),
    seed: str | int,
    team_size: int = 2,
) -> pd.DataFrame:
    """Draw a team of distinct inspectors for each drawn enterprise.

    Inspectors are drawn at random among the least-loaded ones allowed, then
    assignments are shifted until loads are as even as the conflicts allow (the
    counts differ by at most 1 whenever that is possible). Enterprises are served
    in ``draw_order`` (else credit-code order), so the seed fixes the teams.

    Parameters
    ----------
    selected : DataFrame
        Drawn enterprises with ``credit_code`` (and ``name``, ``draw_order``).
    roster : DataFrame
        ``inspector_id`` and ``name``.
    exclusions : iterable of (inspector_id, credit_code)
        Conflict-of-interest pairs never assigned.
    seed : str or int
        The draw's seed (its ``"inspectors"`` stream).
    team_size : int
        Inspectors per enterprise.

    Returns
    -------
    DataFrame
        ``selected`` in draw order with ``inspectors`` (sorted ids) and
        ``inspector_names`` (in the same order).

    Raises
    ------
    StaffingError
        When an enterprise has fewer than ``team_size`` non-conflicted inspectors.
    """
    if team_size < 1:
        raise DrawError(f"team_size must be at least 1: {team_size}")
    ids, names = _roster(roster)
    conflicts = {(str(i), str(c)) for i, c in exclusions}
    key = (
        selected["draw_order"] if "draw_order" in selected else selected["credit_code"].astype(str)
    )
    order = selected.iloc[np.argsort(key.to_numpy(), kind="stable")]
    codes = order["credit_code"].astype(str).tolist()
    allowed = [[j for j, i in enumerate(ids) if (i, code) not in conflicts] for code in codes]
    named = order["name"].fillna("").astype(str) if "name" in order else ""
    labels = (order["credit_code"].astype(str) + " " + named).str.strip().tolist()
    short = [label for label, a in zip(labels, allowed, strict=True) if len(a) < team_size]
    if short:
        raise StaffingError(
            f"cannot staff {'; '.join(short)}: fewer than {team_size} of the {len(ids)} "
            "inspectors on the roster are free of a conflict of interest"
        )
    teams = _draw_teams(allowed, len(ids), team_size, seeded_generator(seed, "inspectors"))
    _balance(teams, [set(a) for a in allowed], len(ids))
    team_ids = [sorted(ids[j] for j in t) for t in teams]
    out = order.assign(
        inspectors=pd.Series(team_ids, order.index, dtype=object),
        inspector_names=pd.Series(
            [[names[i] for i in t] for t in team_ids], order.index, dtype=object
        ),
    )
    out.attrs = dict(selected.attrs)
    return out


# --- the record ----------------------------------------------------------------------


def _enterprise_entry(row: Mapping[Any, Any]) -> dict[str, Any]:
    last = row.get("last_inspected")
    return {
        "draw_order": row["draw_order"],
        "credit_code": row["credit_code"],
        "name": row.get("name", ""),
        "stratum": row["stratum"],
        "weight": row["weight"],
        "probability": row["probability"],
        "last_inspected": None if last is None or pd.isna(last) else pd.Timestamp(last).date(),
        "reasons": _reasons(row.get("reasons")),
        "inspectors": list(row.get("inspectors", [])),
        "inspector_names": list(row.get("inspector_names", [])),
    }


def draw_record(
    assigned: pd.DataFrame,
    *,
    seed: str | int,
    data_version: int | str,
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The auditable record of a draw.

    Parameters
    ----------
    assigned : DataFrame
        :func:`assign_inspectors` output (``attrs["strata"]`` from :func:`draw_enterprises`).
    seed : str or int
        The revealed seed; the record holds its text and its commitment.
    data_version : int or str
        Version of the enterprise register the draw read.
    parameters : mapping
        Quarter, jurisdiction, quotas, exclusion window and whatever else was set.

    Returns
    -------
    dict
        ``format``, ``seed``, ``seed_commitment``, ``data_version``, ``parameters``,
        ``method``, ``strata`` (per stratum counts) and ``selected`` (one entry per
        enterprise in draw order). Serialise with :func:`record_bytes`.
    """
    if "strata" not in assigned.attrs:
        raise DrawError("the drawn enterprises carry no per-stratum counts (attrs['strata'])")
    rows = assigned.sort_values("draw_order").to_dict("records")
    return {
        "format": RECORD_FORMAT,
        "seed": seed_text(seed),
        "seed_commitment": seed_commitment(seed),
        "data_version": data_version,
        "parameters": dict(parameters),
        "method": {
            "rng": "numpy PCG64, seed sha256('geo-service-draw-rng:<purpose>:' + seed)",
            "enterprises": "efraimidis-spirakis keys -log1p(-U)/w per stratum, quota ceil",
            "inspectors": "least-loaded at random, then balanced along conflict-free chains",
        },
        "strata": assigned.attrs["strata"],
        "selected": [_enterprise_entry(row) for row in rows],
    }


def _canonical(value: Any) -> Any:
    """JSON-ready copy: floats rounded, NaN → null, dates in ISO form, numpy → Python."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, RECORD_FLOAT_DIGITS) + 0.0 if math.isfinite(value) else None
    if value is None or value is pd.NaT or isinstance(value, bool | int | str):
        return None if value is pd.NaT else value
    if isinstance(value, dt.date):
        return value.isoformat()
    raise DrawError(f"a draw record cannot hold a {type(value).__name__}")


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON of a record: sorted keys, no spaces, floats rounded.

    Examples
    --------
    >>> record_bytes({"b": 0.1 + 0.2, "a": float("nan"), "名": dt.date(2025, 1, 2)})
    b'{"a":null,"b":0.3,"\\xe5\\x90\\x8d":"2025-01-02"}'
    """
    text = json.dumps(
        _canonical(record),
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    return text.encode("utf-8")


def record_digest(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of :func:`record_bytes` (the store's digest of the same JSON text)."""
    return hashlib.sha256(record_bytes(record)).hexdigest()


def run_draw(
    enterprises: pd.DataFrame,
    roster: pd.DataFrame,
    *,
    exclusions: Iterable[tuple[str, str]] = (),
    quotas: Mapping[str, float] = DEFAULT_QUOTAS,
    exclude_since: dt.date | None,
    seed: str | int,
    context: Mapping[str, Any],
    min_weight: float = 0.05,
    team_size: int = 2,
) -> dict[str, Any]:
    """Draw enterprises, assign inspectors and return the record.

    ``context`` holds ``data_version``, ``quarter`` and ``jurisdiction`` (required)
    and any further parameters to keep in the record.
    """
    missing = {"data_version", "quarter", "jurisdiction"} - set(context)
    if missing:
        raise DrawError(f"the draw context lacks {', '.join(sorted(missing))}")
    exclusions = sorted({(str(i), str(c)) for i, c in exclusions})
    drawn = draw_enterprises(
        enterprises, quotas=quotas, exclude_since=exclude_since, seed=seed, min_weight=min_weight
    )
    assigned = assign_inspectors(
        drawn, roster, exclusions=exclusions, seed=seed, team_size=team_size
    )
    parameters = {k: v for k, v in context.items() if k != "data_version"} | {
        "quotas": dict(quotas),
        "exclude_since": exclude_since,
        "min_weight": min_weight,
        "team_size": team_size,
        "roster_size": len(roster),
        "conflict_exclusions": len(exclusions),
    }
    return draw_record(
        assigned, seed=seed, data_version=context["data_version"], parameters=parameters
    )
