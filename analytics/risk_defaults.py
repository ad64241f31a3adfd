"""The risk score's components and defaults, apart from the scoring itself.

Settings read them at start-up; keeping them free of numpy and pandas keeps every
command's start fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: Components in the order they are reported (and break ties in ``reasons``).
COMPONENTS: tuple[str, ...] = (
    "repeat_offending",
    "severity",
    "problems_found",
    "industry_rate",
    "inspection_gap",
    "case_density",
    "hotspot",
    "trend",
    "exceedances",
    "complaints",
    "problem_mix",
)

#: Default weight of each component (they sum to 1).
DEFAULT_RISK_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "repeat_offending": 0.15,
        "severity": 0.10,
        "problems_found": 0.10,
        "industry_rate": 0.15,
        "inspection_gap": 0.05,
        "case_density": 0.10,
        "hotspot": 0.10,
        "trend": 0.05,
        "exceedances": 0.10,
        "complaints": 0.05,
        "problem_mix": 0.05,
    }
)

#: Score quantiles from which a unit is ``high`` and ``medium`` risk.
DEFAULT_TIERS: tuple[float, float] = (0.9, 0.7)
