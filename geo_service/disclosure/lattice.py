"""What anonymous callers may ask for: fixed periods, one resolution, default parameters.

Requests outside this lattice are refused with 401 (an account may ask them), so that
no two public answers differ by a handful of records (:mod:`geo_service.disclosure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo_service.core.errors import AuthenticationRequiredError
from geo_service.core.filters import Filters

#: The one resolution of the cell layers (hexagons, hot spots, emerging hot spots, local
#: Moran) anonymous callers get.
PUBLIC_RESOLUTION = 6
#: The layers of H3 cells: at :data:`PUBLIC_RESOLUTION` only.
CELL_LAYERS = ("hexagons", "hotspots", "emerging-hotspots", "local-moran")
#: Floors of the public density surface (metres).
KDE_MIN_BANDWIDTH_M = 5_000.0
KDE_MIN_CELL_M = 1_000.0
#: Resolution of the H3 cells that outline a public cluster (about 5 km² each).
CLUSTER_COVER_RESOLUTION = 7
#: Published with every public build: the method and its version.
METHOD = "cell-key/1"
#: Layers about single enterprises' risk: an account is needed.
ACCOUNT_ONLY = ("risk", "priority-areas")
#: A county's leading problem type is named when at least this many records are published.
MIN_RECORDS_FOR_TYPE = 10

_LOGIN = "登录后可用 (log in for this)"


def refuse(what: str) -> AuthenticationRequiredError:
    """The answer to an anonymous request outside the public lattice."""
    return AuthenticationRequiredError(f"{_LOGIN}: {what}")


def check_filters(filters: Filters) -> None:
    """Anonymous callers get fixed periods: a year, quarter or month, no free dates."""
    if filters.start is not None or filters.end is not None:
        raise refuse(
            "free start/end dates need an account; without one use "
            "period=YYYY, YYYY-Qn or YYYY-MM (自定义起止日期需要登录)"
        )


def public_parameters(
    layer: str, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The parameters an anonymous request of ``layer`` is built with, from those ``given``
    (as asked) and the layer's ``defaults``; one outside the public lattice is a 401."""
    if layer in ACCOUNT_ONLY:
        raise refuse(f"{layer} rates single enterprises: it needs an account")
    wanted = {**defaults, **given}
    if layer in CELL_LAYERS:
        if "resolution" in given and int(given["resolution"]) != PUBLIC_RESOLUTION:
            raise refuse(f"without an account {layer} come at resolution {PUBLIC_RESOLUTION}")
        if "resolution" in wanted:
            wanted["resolution"] = PUBLIC_RESOLUTION
    elif layer == "kde":
        _check_kde(given)
    elif layer in ("clusters", "problem-types", "commonalities"):
        changed = sorted(k for k, v in given.items() if defaults.get(k) != v)
        if changed:
            raise refuse(f"without an account {layer} come with their defaults ({changed})")
    return {**wanted, "disclosure": METHOD}


def _check_kde(given: Mapping[str, Any]) -> None:
    """The public density surface: unweighted, no ratio, bandwidth and cells above the floors."""
    if given.get("weight", "none") != "none" or given.get("ratio_to") is not None:
        raise refuse("weighted and ratio density surfaces need an account")
    for name, floor in (("bandwidth_m", KDE_MIN_BANDWIDTH_M), ("cell_m", KDE_MIN_CELL_M)):
        if given.get(name) is not None and float(given[name]) < floor:
            raise refuse(f"without an account {name} is at least {floor:,.0f} m")
