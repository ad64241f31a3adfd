"""The double-random inspection draw (双随机) and its backtest, over the store.

A draw for a quarter scores risk on the data before the quarter (``as_of`` is the
day before its first day), takes every located enterprise of the jurisdiction with
its risk score as weight, leaves out those inspected within ``draw_exclude_days``
before the quarter, and staffs each drawn enterprise with two officers of the
jurisdiction's active roster who have no conflict of interest with it
(:func:`analytics.draw.run_draw`). The record is stored byte for byte
(:func:`geo_service.store.draws.save_draw`).

A draw's id is fixed by its jurisdiction, quarter and seed commitment, so one
committed seed makes one draw: asking again returns the stored draw, and asking
again after the data changed (another record) is a :class:`DrawConflictError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from analytics.backtest import backtest_draws
from analytics.draw import record_bytes, run_draw, seed_commitment, verify_seed
from analytics.errors import DrawError
from geo_service.builds.risk import reasons_text
from geo_service.builds.risk_inputs import enterprise_scores, last_inspections, read_risk_records
from geo_service.core.errors import BadFilterError
from geo_service.core.filters import Filters, period_bounds
from geo_service.core.settings import Settings, parse_quotas
from geo_service.store.draws import (
    DRAW_ID_LENGTH,
    StoredDraw,
    jurisdiction_prefix,
    list_draws,
    read_draw,
    save_draw,
)
from geo_service.store.models import InspectorExclusion, Jurisdiction
from geo_service.store.queries import data_version, jurisdiction_level, read_frame
from layers.maps import DrawMarker

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
#: Years a draw or a backtest may name (dates outside would not be records' dates).
YEARS = (1990, 2100)
#: What the backtest counts as a violation in the test year.
VIOLATIONS = "penalty cases (cases) decided in the test year, counted per enterprise by credit code"


def quarter_bounds(quarter: str) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter written ``2025-Q1``.

    Examples
    --------
    >>> quarter_bounds("2025-Q1")
    (datetime.date(2025, 1, 1), datetime.date(2025, 3, 31))
    """
    match = _QUARTER.match(quarter)
    if not match or not YEARS[0] <= int(match.group(1)) <= YEARS[1]:
        raise BadFilterError(
            f"quarter {quarter!r} is not YYYY-Qn with a year {YEARS[0]}-{YEARS[1]}"
        )
    return period_bounds(quarter)


def draw_id_for(jurisdiction: str, quarter: str, seed: str) -> str:
    """The id of the draw of ``jurisdiction`` and ``quarter`` with ``seed``: the first
    characters of SHA-256 of the three (through the seed's commitment, never the seed).

    Examples
    --------
    >>> draw_id_for("450102", "2025-Q1", "abc") == draw_id_for("450102", "2025-Q1", "abc")
    True
    """
    text = f"{jurisdiction}:{quarter}:{seed_commitment(seed)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DRAW_ID_LENGTH]


def jurisdiction_name(engine: Engine, adcode: str) -> str | None:
    """The stored name of a division (兴宁区), or None."""
    with engine.connect() as conn:
        name = conn.execute(select(Jurisdiction.name).where(Jurisdiction.adcode == adcode))
        return name.scalar()


def draw_inputs(
    engine: Engine, jurisdiction: str | None, as_of: dt.date, settings: Settings
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The located enterprises of ``jurisdiction`` (None: the whole store) with ``weight``
    (risk score with the settings' weights), ``tier``, ``reasons``, ``category`` and
    ``last_inspected`` as of ``as_of``; and the risk parameters."""
    records = read_risk_records(engine, jurisdiction, as_of)
    scores = enterprise_scores(
        engine,
        records,
        jurisdiction=jurisdiction,
        weights=settings.risk_weights,
        tiers=settings.risk_tier_quantiles,
    )
    last = last_inspections(records).to_numpy()
    frame = pd.DataFrame(
        {
            "credit_code": scores["credit_code"],
            "name": scores["name"],
            "category": scores["category"],
            "weight": scores["score"].astype(float),
            "tier": scores["tier"],
            "reasons": scores["reasons"],
            "last_inspected": last,
        }
    )
    return frame, dict(scores.attrs.get("parameters", {}))


def roster_of(engine: Engine, jurisdiction: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The active officers of the units within ``jurisdiction`` and their exclusions."""
    roster = read_frame(
        engine, "inspectors", Filters(jurisdiction=jurisdiction), ["inspector_id", "name", "active"]
    )
    roster = roster[roster["active"].astype(bool)].drop(columns="active").reset_index(drop=True)
    ids = roster["inspector_id"].astype(str).tolist()
    pairs: list[tuple[str, str]] = []
    for start in range(0, len(ids), 500):
        query = select(InspectorExclusion.inspector_id, InspectorExclusion.credit_code).where(
            InspectorExclusion.inspector_id.in_(ids[start : start + 500])
        )
        with engine.connect() as conn:
            pairs.extend((str(i), str(c)) for i, c in conn.execute(query))
    return roster, sorted(pairs)


def make_draw(
    engine: Engine,
    *,
    jurisdiction: str,
    quarter: str,
    seed: str,
    settings: Settings,
    created_by: str,
    commitment: str | None = None,
) -> StoredDraw:
    """Draw the quarter's inspections of ``jurisdiction`` with ``seed`` and store the record.

    The same inputs and seed give the same record, byte for byte; a draw already stored
    under the same id (jurisdiction, quarter, seed) with the same record is returned.

    Raises
    ------
    DrawError
        The seed does not match ``commitment``; quotas, weights or roster unusable
        (:class:`analytics.errors.StaffingError` when an enterprise cannot be staffed).
    BadFilterError
        An unknown jurisdiction or a quarter that is not ``YYYY-Qn``.
    DrawConflictError
        Another record is stored for this jurisdiction, quarter and seed.
    """
    if commitment is not None and not verify_seed(seed, commitment):
        raise DrawError("the seed does not match the commitment published before the draw")
    start, _ = quarter_bounds(quarter)
    jurisdiction_level(engine, jurisdiction)  # an unknown division is a BadFilterError
    as_of = start - dt.timedelta(days=1)
    enterprises, risk_parameters = draw_inputs(engine, jurisdiction, as_of, settings)
    roster, exclusions = roster_of(engine, jurisdiction)
    version = data_version(engine)
    context = {
        "data_version": version,
        "quarter": quarter,
        "jurisdiction": jurisdiction,
        "risk_as_of": as_of,
        "exclude_days": settings.draw_exclude_days,
        "risk": risk_parameters,
    }
    record = run_draw(
        enterprises,
        roster,
        exclusions=exclusions,
        quotas=parse_quotas(settings.draw_quotas),
        exclude_since=start - dt.timedelta(days=settings.draw_exclude_days),
        seed=seed,
        context=context,
    )
    draw_id = draw_id_for(jurisdiction, quarter, seed)
    existing = read_draw(engine, draw_id)
    record_json = record_bytes(record).decode("utf-8")
    if existing is not None and existing.record_json == record_json:
        return existing
    return save_draw(
        engine,
        jurisdiction=jurisdiction,
        quarter=quarter,
        record_json=record_json,
        data_version=version,
        created_by=created_by,
        seed=str(seed),
        seed_commitment=record["seed_commitment"],
        draw_id=draw_id,
    )


def run_backtest(
    engine: Engine,
    *,
    train_until: dt.date,
    test_year: int,
    settings: Settings,
    jurisdiction: str | None = None,
    n_draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Risk-weighted against uniform draws: risk scored as of ``train_until``, hits counted
    as :data:`VIOLATIONS` (:func:`analytics.backtest.backtest_draws`)."""
    if not YEARS[0] <= test_year <= YEARS[1]:
        raise BadFilterError(f"test year {test_year} is outside {YEARS[0]}-{YEARS[1]}")
    if train_until >= dt.date(test_year, 1, 1):
        raise BadFilterError("the training period must end before the test year")
    enterprises, risk_parameters = draw_inputs(engine, jurisdiction, train_until, settings)
    cases = read_frame(
        engine,
        "cases",
        Filters(jurisdiction=jurisdiction, period=str(test_year)),
        ["enterprise_credit_code"],
    )
    counts = cases["enterprise_credit_code"].dropna().astype(str).value_counts()
    violations = counts.reindex(enterprises["credit_code"].astype(str), fill_value=0).to_numpy()
    result = backtest_draws(
        enterprises["weight"].to_numpy(float),
        enterprises["category"].to_numpy(object),
        violations.astype(np.float64),
        quotas=parse_quotas(settings.draw_quotas),
        n_draws=n_draws,
        seed=seed,
    )
    return {
        "train_until": train_until.isoformat(),
        "test_year": test_year,
        "jurisdiction": jurisdiction,
        "violations_definition": VIOLATIONS,
        "test_year_cases": len(cases),
        "cases_at_register_enterprises": int(violations.sum()),
        **result,
        "risk": risk_parameters,
    }


def latest_draw_markers(
    engine: Engine, jurisdiction: str | None
) -> tuple[str, tuple[DrawMarker, ...]]:
    """The latest stored draw within ``jurisdiction`` (all when None): its title and its
    enterprises placed at their register coordinates, with their inspectors."""
    prefixes = None if jurisdiction is None else [jurisdiction_prefix(jurisdiction)]
    draws = list_draws(engine, prefixes)
    if not draws:
        return "", ()
    draw = draws[-1]
    selected = json.loads(draw.record_json).get("selected", [])
    register = read_frame(
        engine,
        "enterprises",
        Filters(jurisdiction=draw.jurisdiction),
        ["credit_code", "lon", "lat"],
    ).dropna(subset=["lon", "lat"])
    places = register.drop_duplicates("credit_code")
    where = dict(
        zip(places["credit_code"], zip(places["lon"], places["lat"], strict=True), strict=True)
    )
    markers = []
    for entry in selected:
        code = str(entry.get("credit_code", ""))
        if code not in where:
            continue
        names = entry.get("inspector_names") or entry.get("inspectors") or []
        _, reasons = reasons_text(list(entry.get("reasons") or []))
        markers.append(
            DrawMarker(
                lon=float(where[code][0]),
                lat=float(where[code][1]),
                name=str(entry.get("name") or code),
                credit_code=code,
                inspectors=tuple(str(n) for n in names),
                reasons=reasons,
            )
        )
    return f"{draw.quarter} ({draw.draw_id})", tuple(markers)
