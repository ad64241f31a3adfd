"""Where an inspector goes this quarter: the drawn enterprises of the stored draws.

The field page (``GET /field``) shows them on a map. An account is one of a draw's
officers when its name is the officer's 执法证号 (``inspector_id``) or name, as the
roster holds them; those enterprises are its own. An account that is no officer of
the quarter's draws (a leader, a planner) sees every enterprise drawn in its scope.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Engine

from geo_service.core.clock import china_now
from geo_service.core.filters import Filters
from geo_service.store.draws import StoredDraw, jurisdiction_prefix, list_draws
from geo_service.store.queries import read_frame

#: China Standard Time, in which quarters begin and end.


@dataclass(frozen=True)
class Assignment:
    """One drawn enterprise: where it is, why it was drawn, who goes, and whether the
    account asking is one of them."""

    credit_code: str
    name: str
    lon: float | None
    lat: float | None
    address: str | None
    stratum: str | None
    inspectors: tuple[str, ...]
    reasons: tuple[str, ...]
    draw_id: str
    jurisdiction: str
    mine: bool


def current_quarter(now: dt.datetime | None = None) -> str:
    """The quarter of ``now`` (default: the present) in Beijing time, e.g. ``2026-Q4``.

    Examples
    --------
    >>> current_quarter(dt.datetime(2026, 3, 31, 17, tzinfo=dt.UTC))
    '2026-Q2'
    """
    local = china_now(now)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def quarter_draws(engine: Engine, jurisdiction: str | None, quarter: str) -> list[StoredDraw]:
    """The newest stored draw of ``quarter`` per jurisdiction within ``jurisdiction``
    (the whole store when None)."""
    prefixes = None if jurisdiction is None else [jurisdiction_prefix(jurisdiction)]
    newest: dict[str, StoredDraw] = {}
    for draw in list_draws(engine, prefixes):  # oldest first: the newest wins
        if draw.quarter == quarter:
            newest[draw.jurisdiction] = draw
    return [newest[k] for k in sorted(newest)]


def assignments(
    engine: Engine, jurisdiction: str | None, quarter: str, account: str
) -> list[Assignment]:
    """The enterprises drawn for ``quarter`` within ``jurisdiction``: the account's own
    when it is an officer of any of them, else all; placed at their register entry."""
    found: list[Assignment] = []
    for draw in quarter_draws(engine, jurisdiction, quarter):
        record = json.loads(draw.record_json)
        register = read_frame(
            engine,
            "enterprises",
            Filters(jurisdiction=draw.jurisdiction),
            ["credit_code", "lon", "lat", "address"],
        ).drop_duplicates("credit_code")
        places = register.set_index("credit_code")
        for entry in record.get("selected", []):
            code = str(entry.get("credit_code", ""))
            ids = tuple(str(i) for i in entry.get("inspectors") or [])
            names = tuple(str(n) for n in entry.get("inspector_names") or [])
            place = places.loc[code] if code in places.index else None
            found.append(
                Assignment(
                    credit_code=code,
                    name=str(entry.get("name") or code),
                    lon=_number(None if place is None else place["lon"]),
                    lat=_number(None if place is None else place["lat"]),
                    address=None if place is None else _text(place["address"]),
                    stratum=entry.get("stratum"),
                    inspectors=names or ids,
                    reasons=tuple(str(r) for r in entry.get("reasons") or []),
                    draw_id=draw.draw_id,
                    jurisdiction=draw.jurisdiction,
                    mine=account in ids or account in names,
                )
            )
    own = [a for a in found if a.mine]
    return own or found


def _text(value: object) -> str | None:
    """A register cell as text, or None for an empty one."""
    if not isinstance(value, str) or not value.strip():  # None, NaN: no address
        return None
    return value


def _number(value: object) -> float | None:
    """A coordinate, or None for a missing one."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if number != number else number
