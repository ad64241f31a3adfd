"""Inspector teams of a draw: distinct, non-conflicted, drawn at random, loads balanced.

Each drawn enterprise gets a team of inspectors drawn at random among the
least-loaded ones allowed (no conflict-of-interest exclusion with it); then
assignments are shifted along conflict-free chains until the loads are as even as
the exclusions allow. The draw's seed drives the choice (its ``"inspectors"``
stream, :func:`analytics.draw_seeds.seeded_generator`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analytics.draw_seeds import seeded_generator
from analytics.errors import DrawError, StaffingError


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
