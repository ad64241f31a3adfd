"""What a briefing holds, as typed records: the geo_service side fills them from the
ledgers, layers, draws and the data-quality report; :mod:`layers.briefing.pdf` and
:mod:`layers.briefing.html` lay them out. Every figure carries the request that gives it
(:class:`Source`), printed beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd

from analytics.density import DensitySurface
from layers.briefing.periods import BriefPeriod


@dataclass(frozen=True)
class Source:
    """An endpoint and the query that gives a figure (the filters the brief used)."""

    path: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        """``/stats/cases?group_by=year&jurisdiction=450100&period=2024-Q2``.

        Examples
        --------
        >>> Source("/stats/cases", (("group_by", "year"), ("period", "2024-Q2"))).url
        '/stats/cases?group_by=year&period=2024-Q2'
        """
        return self.path + ("?" + urlencode(self.query, safe=",") if self.query else "")


@dataclass(frozen=True)
class Figure:
    """A headline figure in the period, the period before and a year before."""

    key: str  # the ledger's column: cases, penalty_sum, execution_rate …
    label_zh: str
    unit: str  # 件, 元, 次, or % for a rate (a share 0…1)
    value: float | None
    previous: float | None
    year_ago: float | None
    source: Source  # of the period's value; the others: the same query, their period
    previous_source: Source
    year_ago_source: Source

    @property
    def is_rate(self) -> bool:
        return self.unit == "%"


@dataclass(frozen=True)
class HotspotChange:
    """Hot spots of one kind of change (新增, 加强, 减弱) in one place."""

    category: str  # new_hot, intensifying_hot, diminishing_hot
    label_zh: str
    place: str  # the county (or city) the cells lie in
    cells: int


@dataclass(frozen=True)
class ProblemTypeRow:
    """A problem type's cases in the period and the period before."""

    label: str
    cases: int
    previous: int


@dataclass(frozen=True)
class PlaceDifference:
    """One place of the commonalities layer: what sets it apart (or why it was not tested)."""

    place: str
    records: int
    tested: bool
    dominant: str
    distinctive: str  # distinctive_zh of the layer ("—" when none)


@dataclass(frozen=True)
class CommonType:
    """A problem type present in every tested place."""

    label: str
    share: float
    share_min: float
    share_max: float


@dataclass(frozen=True)
class PriorityArea:
    """A priority area of the period, by rank."""

    rank: int
    place: str
    cells: int
    score: float
    expected_findings: float
    reasons_zh: str
    enterprises: tuple[str, ...]


@dataclass(frozen=True)
class DrawState:
    """The latest stored double-random draw within the jurisdiction."""

    draw_id: str
    quarter: str
    place: str
    created_at: str  # Beijing time
    selected: int
    data_version: int


@dataclass(frozen=True)
class QualityNote:
    """Shares of the records placed in the jurisdiction: placed precisely (at a point) and
    linked to the register, per kind (cases, inspections)."""

    kind_zh: str
    records: int
    placed_precisely: float | None
    link_rate: float | None


@dataclass(frozen=True)
class MapInputs:
    """What the two maps are drawn from: the divisions to outline and name (WGS84, with
    ``name``), the density surface (or None without points) and the hot-spot cells
    (``gi_bin``)."""

    outline: gpd.GeoDataFrame
    places: gpd.GeoDataFrame
    density: DensitySurface | None
    hotspots: gpd.GeoDataFrame


@dataclass(frozen=True)
class Brief:
    """The whole briefing of one jurisdiction and period."""

    jurisdiction: str
    jurisdiction_name: str
    period: BriefPeriod
    generated_at: str  # Beijing time
    data_version: int
    figures: tuple[Figure, ...]
    maps: MapInputs
    density_source: Source
    hotspot_source: Source
    changes: tuple[HotspotChange, ...]
    changes_window: str  # 2022-Q3 … 2024-Q2 (按季度)
    changes_source: Source
    problem_types: tuple[ProblemTypeRow, ...]
    problem_types_source: Source
    common: tuple[CommonType, ...]
    differences: tuple[PlaceDifference, ...]
    commonalities_source: Source
    priority_areas: tuple[PriorityArea, ...]
    priority_source: Source
    draw: DrawState | None
    draw_source: Source
    quality: tuple[QualityNote, ...]
    quality_source: Source
    parameters: dict[str, Any] = field(default_factory=dict)  # layer → its provenance

    @property
    def title(self) -> str:
        return f"{self.jurisdiction_name}生态环境执法态势简报（{self.period.label_zh}）"
