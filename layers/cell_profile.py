"""What a click on an H3 cell shows: its records' counts, penalties, types and enterprises."""

from __future__ import annotations

from typing import Any

import h3
import pandas as pd

from analytics.cells import points_to_cells


def cell_profile(
    cell: str, cases: pd.DataFrame, inspections: pd.DataFrame, top: int = 5
) -> dict[str, Any]:
    """What a click on an H3 cell shows: counts, penalty sum, top problem types and enterprises.

    ``cases`` has ``lon``, ``lat``, ``penalty_amount``, ``problem_type_label`` and
    ``enterprise_name``; ``inspections`` has ``lon``, ``lat``, ``problem_found`` and
    ``problem_type_label``. Records are placed in cells from their coordinates at the
    cell's resolution, as the hexagon layer does.
    """
    resolution = h3.get_resolution(cell)
    target = h3.str_to_int(cell)

    def inside(frame: pd.DataFrame) -> pd.DataFrame:
        lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
        return frame[points_to_cells(lon, lat, resolution) == target]

    in_cases, in_inspections = inside(cases), inside(inspections)
    found = in_inspections["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
    labels = pd.concat(
        [in_cases["problem_type_label"], in_inspections.loc[found, "problem_type_label"]]
    ).dropna()
    names = in_cases["enterprise_name"].dropna().astype(str)
    amounts = pd.to_numeric(in_cases["penalty_amount"], errors="coerce").fillna(0.0)
    return {
        "h3": cell,
        "resolution": resolution,
        "cases": len(in_cases),
        "inspections": len(in_inspections),
        "problems_found": int(found.sum()),
        "penalty_sum": float(amounts.sum()),
        "top_problem_types": _top(labels, top),
        "top_enterprises": _top(names[names != ""], top),
    }


def _top(values: pd.Series, n: int) -> list[list[Any]]:
    counts = values.value_counts(sort=False)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]
    return [[str(k), int(v)] for k, v in ordered]
