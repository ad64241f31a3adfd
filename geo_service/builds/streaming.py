"""The additive layers from partials: one code path for the one-process and the Dask build.

``hexagons``, ``hotspots`` and ``local-moran`` (over H3 cells and over counties),
``kde`` and ``emerging-hotspots`` are made of additive partials
(:mod:`analytics.partials`): a pass over the records computes them piece by piece —
a chunk of a table here, a Parquet partition on a Dask worker
(:mod:`geo_service.scale.dask_build`) — and sums them; the final statistic runs once
on the sums. Both builds use the steps below (:func:`first_partials`,
:func:`centre_distances`, :func:`binned_grids`) and the same last step
(:data:`FINISH`), so they give the same layers.

The one-process build (:class:`StorePasses`) reads the store through a streaming
cursor, :attr:`Inputs.chunk_rows <geo_service.builds.inputs.Inputs.chunk_rows>` rows
at a time and only the columns the pass needs, and folds each chunk into the running
sums (:func:`analytics.partials.sum_partials`): it holds one chunk and the partials,
never a whole table. A build makes the first pass once for every layer variant it
will make (:attr:`Inputs.planned <geo_service.builds.inputs.Inputs.planned>`); the KDE
adds a pass for its automatic bandwidth (each case's distance to the mean centre, kept
as two floats a case: the weighted median is not additive) and one to bin the points.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analytics.cells import points_to_cells
from analytics.density import DensityError, Grid, bin_points, binned_density
from analytics.hexagons import Records
from analytics.partials import (
    BinnedGrid,
    MonthCounts,
    MonthSpan,
    PointMoments,
    counts_on_cells,
    hexagon_partial,
    hexagon_table,
    month_counts,
    month_cube,
    month_ordinals,
    point_moments,
    silverman_from_distances,
    step_labels,
    sum_partials,
)
from analytics.projection import lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs, check_time_steps, placed_at_point
from geo_service.builds.parameters import (
    EmergingParameters,
    HexagonParameters,
    HotspotParameters,
    KdeParameters,
    LayerParameters,
    LocalMoranParameters,
)
from geo_service.builds.recipes import (
    NO_POINT_CASES,
    NO_POINT_REGISTER,
    county_hotspot_frame,
    county_moran_frame,
    emerging_frame,
    hotspot_frame,
    kde_grid,
    kde_imprecise,
    kde_payload,
    moran_frame,
)
from geo_service.core.clock import china_today
from geo_service.core.errors import BadFilterError
from layers.analytic_frames import cells_frame

#: The layers made of additive partials, by either build.
STREAMED_LAYERS = ("hexagons", "hotspots", "local-moran", "kde", "emerging-hotspots")
#: The layers over H3 cells or counties that count cases (Gi*, local Moran).
CASE_COUNT_LAYERS = ("hotspots", "local-moran")
#: The column naming the register entry a record counts for (an enterprise: itself).
ENTITY_COLUMNS = {
    "cases": "enterprise_credit_code",
    "inspections": "enterprise_credit_code",
    "enterprises": "credit_code",
}
DATE_COLUMNS = {"cases": "decision_date", "inspections": "inspection_date"}
_REGISTER = {"cases": "cases", "inspections": "inspections", "enterprises": "register"}


@dataclass(frozen=True)
class Loaded:
    """One piece of a kind's records (a chunk of the table, a partition): located records,
    months, equal-area x/y, each record's county adcode, and whether it is placed at a
    point (the point layers' own). Columns not read are left empty or neutral."""

    kind: str
    records: Records
    months: NDArray[np.int64]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    adcodes: NDArray[np.object_]
    at_point: NDArray[np.bool_]

    def placed(self) -> Loaded:
        """The records placed at a point only."""
        keep = self.at_point
        records = self.records
        months = self.months[keep] if self.months.size else self.months
        return Loaded(
            self.kind,
            Records(
                records.lon[keep],
                records.lat[keep],
                records.entity[keep],
                records.amount[keep],
                records.flag[keep],
            ),
            months,
            self.x_m[keep],
            self.y_m[keep],
            self.adcodes[keep],
            keep[keep],
        )


def records_of(kind: str, f: pd.DataFrame) -> Loaded:
    """A frame of ``kind``'s columns (any of those the builds read) as the builds' records,
    read as :class:`~geo_service.builds.inputs.Inputs` reads them."""
    n = len(f)
    entity_column = ENTITY_COLUMNS[kind]
    entity = f[entity_column].to_numpy(object) if entity_column in f else np.full(n, None)
    if kind == "cases":
        amount = f["penalty_amount"].astype(float).to_numpy() if "penalty_amount" in f else None
        records = Records.of(
            f["lon"], f["lat"], entity=entity, amount=np.zeros(n) if amount is None else amount
        )
    elif kind == "inspections" and "problem_found" in f:
        found = f["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        records = Records.of(f["lon"], f["lat"], entity=entity, flag=found)
    else:
        records = Records.of(f["lon"], f["lat"], entity=entity)
    dated = kind in DATE_COLUMNS and DATE_COLUMNS[kind] in f and n
    months = month_ordinals(f[DATE_COLUMNS[kind]]) if dated else np.empty(0, np.int64)
    x, y = lonlat_to_equal_area(records.lon, records.lat)
    at_point = (
        placed_at_point(f["geocode_precision"])
        if "geocode_precision" in f
        else np.ones(n, dtype=bool)
    )
    adcodes = f["adcode"].to_numpy(object) if "adcode" in f else np.full(n, None)
    return Loaded(
        kind, records, months, np.asarray(x, float), np.asarray(y, float), adcodes, at_point
    )


@dataclass(frozen=True)
class Plan:
    """What the first pass's partials must cover: resolutions, county counts, KDE weightings.

    ``point_resolutions``: the resolutions of the cell counts of the cases placed at a
    point (Gi* and local Moran of H3 cells)."""

    hexagon_resolutions: tuple[int, ...] = ()
    emerging_resolutions: tuple[int, ...] = ()
    kde_weights: tuple[str, ...] = ()
    county_counts: bool = False
    point_resolutions: tuple[int, ...] = ()
    register_sources: bool = False  # the KDE's ratio to the register's density

    def __or__(self, other: Plan) -> Plan:
        def both(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(sorted(set(a) | set(b)))

        return Plan(
            both(self.hexagon_resolutions, other.hexagon_resolutions),
            both(self.emerging_resolutions, other.emerging_resolutions),
            both(self.kde_weights, other.kde_weights),
            self.county_counts or other.county_counts,
            both(self.point_resolutions, other.point_resolutions),
            self.register_sources or other.register_sources,
        )

    def covers(self, other: Plan) -> bool:
        """Whether the partials of this plan hold all of ``other``'s."""
        return (self | other) == self

    def reads(self) -> dict[str, list[str]]:
        """The kinds a first pass reads from the store, and the columns of each."""
        point = ["lon", "lat", "geocode_precision"]
        cases = [*point]
        if self.hexagon_resolutions:
            cases += ["enterprise_credit_code"]
        if self.hexagon_resolutions or "penalty_amount" in self.kde_weights:
            cases += ["penalty_amount"]
        if self.emerging_resolutions:
            cases += ["decision_date"]
        if self.county_counts:
            cases += ["adcode"]
        out = {"cases": cases}
        if self.hexagon_resolutions:
            out["inspections"] = ["lon", "lat", "enterprise_credit_code", "problem_found"]
        if self.hexagon_resolutions or self.register_sources:
            out["enterprises"] = [*point, "credit_code"]
        return out


def plan_of(variants: Iterable[tuple[str, LayerParameters]]) -> Plan:
    """The plan of the partials that some layer variants need (others are ignored)."""
    hexagons, emerging, weights, points = set(), set(), set(), set()
    counties, sources = False, False
    for layer, p in variants:
        if isinstance(p, HexagonParameters) and layer == "hexagons":
            hexagons.add(p.resolution)
        elif isinstance(p, HotspotParameters | LocalMoranParameters):
            if p.unit == "county":
                counties = True
            else:
                points.add(p.resolution)
        elif isinstance(p, EmergingParameters):
            emerging.add(p.resolution)
        elif isinstance(p, KdeParameters):
            weights.add(p.weight)
            sources = sources or p.ratio_to == "enterprises"
    return Plan(
        tuple(sorted(hexagons)),
        tuple(sorted(emerging)),
        tuple(sorted(weights)),
        counties,
        tuple(sorted(points)),
        sources,
    )


def _weights(loaded: Loaded, weight: str) -> NDArray[np.float64]:
    if weight == "penalty_amount":
        return np.nan_to_num(loaded.records.amount)
    return np.ones(len(loaded.records))


def _cell_counts(records: Records, resolution: int) -> Counter[int]:
    """Records per H3 cell at ``resolution`` (additive: Counters add)."""
    cells, counts = np.unique(
        points_to_cells(records.lon, records.lat, resolution), return_counts=True
    )
    return Counter(dict(zip(cells.tolist(), counts.tolist(), strict=True)))


def first_partials(loaded: Loaded, plan: Plan) -> dict[str, Any]:
    """Hexagon, space-time, county-count, point-count and KDE-moment partials of one
    piece of records, and its records not placed at a point (``imprecise:<kind>``)."""
    out: dict[str, Any] = {
        f"hex{r}": hexagon_partial(r, **{_REGISTER[loaded.kind]: loaded.records})
        for r in plan.hexagon_resolutions
    }
    placed = loaded.placed()
    out[f"imprecise:{loaded.kind}"] = int((~loaded.at_point).sum())
    if loaded.kind == "enterprises":
        out["register_n"] = len(placed.records)
    if loaded.kind == "cases":
        if plan.county_counts:
            # value_counts leaves out the missing adcodes (None or NaN) as the single build's
            out["counties"] = Counter(pd.Series(loaded.adcodes).value_counts().to_dict())
        for r in plan.point_resolutions:
            out[f"point{r}"] = _cell_counts(placed.records, r)
        if plan.emerging_resolutions:  # the steps span every case's month, placed or not
            out["case_months"] = MonthSpan.of(loaded.months)
        for r in plan.emerging_resolutions:
            out[f"months{r}"] = month_counts(placed.records, placed.months, r)
        for weight in plan.kde_weights:
            out[f"moments:{weight}"] = point_moments(
                placed.x_m, placed.y_m, _weights(placed, weight)
            )
    return out


def centre_distances(
    loaded: Loaded, centres: dict[str, tuple[float, float]]
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Per weighting, the squared distances of the piece's cases placed at a point to
    its mean centre (``centres``: weighting → centre), and their weights."""
    if loaded.kind != "cases":
        return {}
    placed = loaded.placed()
    return {
        weight: (
            (placed.x_m - centre[0]) ** 2 + (placed.y_m - centre[1]) ** 2,
            _weights(placed, weight),
        )
        for weight, centre in centres.items()
    }


def binned_grids(loaded: Loaded, grids: dict[str, tuple[str, str, Grid]]) -> dict[str, Any]:
    """The piece's points placed at a point, binned on each grid (``key → (kind, weight,
    grid)``)."""
    placed = loaded.placed()
    return {
        key: BinnedGrid.of(bin_points(placed.x_m, placed.y_m, _weights(placed, weight), grid))
        for key, (kind, weight, grid) in grids.items()
        if kind == loaded.kind
    }


#: What the later passes read of each kind: the points, and the penalty of the cases.
_POINT_READS = {
    "cases": ["lon", "lat", "geocode_precision", "penalty_amount"],
    "enterprises": ["lon", "lat", "geocode_precision"],
}


def reads(step: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, list[str]]:
    """The kinds and columns a pass of ``step`` (with ``kwargs``) reads from the store."""
    if step is first_partials:
        plan: Plan = kwargs["plan"]
        return plan.reads()
    if step is binned_grids:
        kinds = dict.fromkeys(kind for kind, _, _ in kwargs["grids"].values())
        return {kind: _POINT_READS[kind] for kind in kinds}
    return {"cases": _POINT_READS["cases"]}


class Passes(Protocol):
    """Passes over the records of a build, and the summed partials of its first pass
    (:class:`StorePasses` in one process; ``_Run`` of :mod:`geo_service.scale.dask_build`)."""

    inputs: Inputs
    partials: dict[str, Any]

    def summed(self, step: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        """One pass: the partials ``step(loaded, **kwargs)`` makes of every piece, summed."""
        ...

    def gathered(self, step: Callable[..., Any], **kwargs: Any) -> list[Any]:
        """One pass: what ``step(loaded, **kwargs)`` makes of every piece, in a list."""
        ...


@dataclass
class StorePasses:
    """The passes of the one-process build: over the store, in chunks (see the module).

    ``plan``: what :attr:`partials` (the first pass's) cover."""

    inputs: Inputs
    plan: Plan | None = None
    partials: dict[str, Any] = field(default_factory=dict)

    def covering(self, plan: Plan) -> StorePasses:
        """These passes with first partials that cover ``plan`` (a first pass made if not)."""
        if self.plan is None or not self.plan.covers(plan):
            wanted = plan if self.plan is None else self.plan | plan
            self.partials = {}  # the earlier sums go before the new pass makes its own
            self.partials = self.summed(first_partials, plan=wanted)
            self.plan = wanted
        return self

    def pieces(self, step: Callable[..., Any], kwargs: dict[str, Any]) -> Iterator[Loaded]:
        """The records a pass of ``step`` reads, a chunk at a time."""
        for kind, columns in reads(step, kwargs).items():
            for frame in self.inputs.chunks(kind, columns):
                yield records_of(kind, frame)

    def summed(self, step: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        return sum_partials(step(piece, **kwargs) for piece in self.pieces(step, kwargs))

    def gathered(self, step: Callable[..., Any], **kwargs: Any) -> list[Any]:
        return [step(piece, **kwargs) for piece in self.pieces(step, kwargs)]


def _hexagons(run: Passes, parameters: HexagonParameters) -> gpd.GeoDataFrame:
    resolution = parameters.resolution
    partial = run.partials.get(f"hex{resolution}", hexagon_partial(resolution))
    return cells_frame(hexagon_table(partial), parameters.as_dict())


def _county_counts(run: Passes) -> pd.Series:
    return pd.Series(run.partials.get("counties", Counter()), dtype=np.int64)


def _point_counts(run: Passes, resolution: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every cell of the area and its count of cases placed at a point."""
    counted: Counter[int] = run.partials.get(f"point{resolution}", Counter())
    cells = cells_in_polygon(run.inputs.area, resolution)
    return cells, counts_on_cells(cells, pd.Series(counted, dtype=np.int64))


def _imprecise(run: Passes, kind: str = "cases") -> int:
    return int(run.partials.get(f"imprecise:{kind}", 0))


def _hotspots(run: Passes, parameters: HotspotParameters) -> gpd.GeoDataFrame:
    if parameters.unit == "county":
        by_county = _county_counts(run)
        return county_hotspot_frame(run.inputs.engine, run.inputs.area, by_county, parameters)
    resolution = parameters.resolution
    cells, counts = _point_counts(run, resolution)
    return hotspot_frame(cells, counts, resolution, parameters, imprecise=_imprecise(run))


def _local_moran(run: Passes, parameters: LocalMoranParameters) -> gpd.GeoDataFrame:
    if parameters.unit == "county":
        by_county = _county_counts(run)
        return county_moran_frame(run.inputs.engine, run.inputs.area, by_county, parameters)
    resolution = parameters.resolution
    cells, counts = _point_counts(run, resolution)
    return moran_frame(cells, counts, resolution, parameters, imprecise=_imprecise(run))


def _month_date(ordinal: int) -> dt.date:
    return dt.date(ordinal // 12, ordinal % 12 + 1, 1)


def _emerging(run: Passes, parameters: EmergingParameters) -> gpd.GeoDataFrame:
    resolution, step = parameters.resolution, parameters.step
    empty = month_counts(Records.of([], []), [], resolution)
    partial: MonthCounts = run.partials.get(f"months{resolution}", empty)
    span: MonthSpan = run.partials.get("case_months", MonthSpan())
    start, end = run.inputs.filters.date_range()
    first = start or (_month_date(span.first) if span.first is not None else china_today())
    last = end or (_month_date(span.last) if span.last is not None else first)
    check_time_steps(pd.Timestamp(first), pd.Timestamp(last), step)
    first_step, labels = step_labels(first, last, step)
    cells = cells_in_polygon(run.inputs.area, resolution)
    cube = month_cube(partial, cells, first_step, len(labels), step)
    return emerging_frame(cells, cube, labels, resolution, parameters, imprecise=_imprecise(run))


def _bandwidth(run: Passes, parameters: KdeParameters, moments: PointMoments) -> float:
    """The variant's bandwidth: fixed, or Silverman's from the distances of the cases to
    their mean centre, gathered in one pass for every weighting of the first pass and
    kept with the partials for the variants that follow."""
    if parameters.bandwidth_m is not None:
        return parameters.bandwidth_m
    key = f"bandwidth:{parameters.weight}"
    if key not in run.partials:
        if moments.n < 2 or moments.weight <= 0:
            raise DensityError("the bandwidth rule needs at least two points with weight")
        centres = {
            name.split(":", 1)[1]: m.centre
            for name, m in list(run.partials.items())
            if name.startswith("moments:") and m.n >= 2 and m.weight > 0
            if f"bandwidth:{name.split(':', 1)[1]}" not in run.partials
        }
        parts = run.gathered(centre_distances, centres=centres)
        for weight in centres:
            pieces = [p[weight] for p in parts if weight in p and p[weight][0].size]
            run.partials[f"bandwidth:{weight}"] = silverman_from_distances(
                np.concatenate([d for d, _ in pieces]), np.concatenate([w for _, w in pieces])
            )
            del pieces
    return float(run.partials[key])


def _binned(
    run: Passes, grids: dict[str, tuple[str, str, Grid]], made_by: str
) -> dict[str, BinnedGrid]:
    """The points binned on each grid (``key → (kind, weight, grid)``), in one pass for
    those not binned yet; kept with the partials under the kind, the weighting and
    ``made_by``, what chose the grid (the KDE's ratio to the register bins the cases on the
    grid of the plain KDE: only the register is read again)."""

    def kept(spec: tuple[str, str, Grid]) -> str:
        return f"binned:{spec[0]}:{spec[1]}:{made_by}"

    missing = {key: spec for key, spec in grids.items() if kept(spec) not in run.partials}
    if missing:
        binned = run.summed(binned_grids, grids=missing)
        for key, spec in missing.items():
            grid = spec[2]
            run.partials[kept(spec)] = binned.get(key, BinnedGrid.of(np.zeros((grid.ny, grid.nx))))
    return {key: run.partials[kept(spec)] for key, spec in grids.items()}


def _kde(run: Passes, parameters: KdeParameters) -> bytes:
    weight = parameters.weight
    moments: PointMoments = run.partials.get(f"moments:{weight}", PointMoments())
    if moments.n == 0:
        raise BadFilterError(NO_POINT_CASES)
    ratio = parameters.ratio_to == "enterprises"
    n_sources = int(run.partials.get("register_n", 0))
    if ratio and n_sources == 0:
        raise BadFilterError(NO_POINT_REGISTER)
    h = _bandwidth(run, parameters, moments)
    kernel = parameters.kernel
    grid = kde_grid(moments.bounds, h, kernel, parameters.cell_m, moments.n)
    grids = {"cases": ("cases", weight, grid)}
    if ratio:
        grids["sources"] = ("enterprises", "none", grid)
    binned = _binned(run, grids, f"{h!r}:{kernel}:{parameters.cell_m!r}")
    surface = binned_density(
        binned["cases"].to_array(),
        grid,
        bandwidth_m=h,
        kernel=kernel,
        n_points=moments.n,
        total_weight=moments.weight,
        fixed_bandwidth=parameters.bandwidth_m is not None,
        weighted=weight == "penalty_amount",
    )
    sources = None
    if ratio:
        sources = binned_density(
            binned["sources"].to_array(),
            grid,
            bandwidth_m=h,
            kernel=kernel,
            n_points=n_sources,
            total_weight=float(n_sources),
        )
    imprecise = kde_imprecise(_imprecise(run), _imprecise(run, "enterprises") if ratio else None)
    return kde_payload(surface, weight, sources, imprecise)


#: The last step of each additive layer, from the summed partials and its parameters.
FINISH: dict[str, Callable[[Passes, Any], gpd.GeoDataFrame | bytes]] = {
    "hexagons": _hexagons,
    "hotspots": _hotspots,
    "local-moran": _local_moran,
    "kde": _kde,
    "emerging-hotspots": _emerging,
}


def store_passes(inputs: Inputs) -> StorePasses:
    """The passes over the store of a build's inputs (made once, kept on them)."""
    if inputs.passes is None:
        inputs.passes = StorePasses(inputs)
    passes: StorePasses = inputs.passes
    return passes


def streamed(layer: str) -> Callable[[Inputs, Any], gpd.GeoDataFrame | bytes]:
    """The one-process recipe of an additive ``layer``: the first pass's partials for every
    variant the build plans (and this one), then the layer's last step."""
    finish = FINISH[layer]

    def compute(inputs: Inputs, parameters: LayerParameters) -> gpd.GeoDataFrame | bytes:
        plan = plan_of([*inputs.planned, (layer, parameters)])
        return finish(store_passes(inputs).covering(plan), parameters)

    compute.__name__ = compute.__qualname__ = f"streamed_{layer.replace('-', '_')}"
    compute.__doc__ = f"The ``{layer}`` layer from partials streamed from the store."
    return compute
