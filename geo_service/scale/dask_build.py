"""``geo-service build --backend dask``: the layer build over a ``dask.distributed`` cluster.

The store's located records are exported as Parquet partitioned by province
and month (:mod:`geo_service.scale.partitions`); in each pass over the data a worker
reads a partition, computes what the pass needs of it and drops it, so that a
worker holds one partition at a time whatever the size of the store (a pass
costs one Parquet read of every partition). The workers compute additive partials
(:mod:`analytics.partials`) that are summed on the cluster by a tree of
additions; the final statistic — the hexagon table, Gi*, the emerging cube's
Gi* and trends, the KDE's FFT convolution — runs once on the sums with the same
analytics functions as :func:`geo_service.builds.run.build_layers`, so the layers
are the same (counts exactly, floats to rounding) and are stored the same way.

Computed on the cluster: ``hexagons`` (every resolution), ``hotspots`` and
``local-moran`` (over H3 cells and over counties), ``kde`` (every variant; an
automatic bandwidth needs each case's distance to the mean centre gathered once:
the weighted median is not additive) and ``emerging-hotspots``. As in the single
build, the point layers (KDE and the layers of H3 cells but ``hexagons``) count only
the records placed at a point, and the records left out are summed for their
provenance. The rest —
``problem-types`` and ``clusters`` (neither is additive) and any other layer —
fall back to the single-machine computation, in the build's order.

The cluster is a ``LocalCluster`` (2 worker processes, 1 thread each) unless a
scheduler address is given (setting ``GEO_DASK_SCHEDULER``); the workers of a
remote cluster must see ``workdir`` (shared storage) and import this package.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
from distributed import Client, Future, LocalCluster, wait
from numpy.typing import NDArray
from sqlalchemy import Engine

from analytics.cells import points_to_cells
from analytics.density import Grid, bin_points, binned_density
from analytics.hexagons import Records
from analytics.partials import (
    BinnedGrid,
    MonthCounts,
    PointMoments,
    add_partials,
    counts_on_cells,
    hexagon_partial,
    hexagon_table,
    month_counts,
    month_cube,
    month_ordinals,
    point_moments,
    silverman_from_distances,
    step_labels,
)
from analytics.projection import lonlat_to_equal_area
from analytics.weights import cells_in_polygon
from geo_service.builds.inputs import Inputs, placed_at_point
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
    county_hotspot_frame,
    county_moran_frame,
    emerging_frame,
    geotiff_provenance,
    hotspot_frame,
    kde_grid,
    kde_imprecise,
    kde_payload,
    moran_frame,
)
from geo_service.builds.registry import ANALYTIC_LAYERS, RECIPES
from geo_service.builds.run import build_layers
from geo_service.core.errors import BadFilterError, UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.scale.partitions import (
    DATE_COLUMNS,
    ENTITY_COLUMNS,
    KINDS,
    Partition,
    RowFilters,
    export_partitions,
    jurisdiction_province,
    partitions_for,
    read_partition,
)
from geo_service.store.layer_builds import GEOTIFF, save_layer
from layers.analytic_frames import cells_frame

DASK_LAYERS = ("hexagons", "hotspots", "local-moran", "kde", "emerging-hotspots")
#: The layers over H3 cells or counties that count cases (Gi*, local Moran).
_CASE_COUNT_LAYERS = ("hotspots", "local-moran")
TIMEOUT_S = 600.0
T = TypeVar("T")


@dataclass(frozen=True)
class Loaded:
    """One partition's records on a worker: located records, months, equal-area x/y, each
    record's county adcode, and whether it is placed at a point (the point layers' own)."""

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


def load_partition(part: Partition, rows: RowFilters) -> Loaded:
    """Read a partition into the records the builds use (as :class:`Inputs` does)."""
    f = read_partition(part, rows)
    # the register entry a record is linked to; an enterprise is its own
    entity = f[ENTITY_COLUMNS[part.kind]].to_numpy(object)
    if part.kind == "cases":
        records = Records.of(
            f["lon"], f["lat"], entity=entity, amount=f["penalty_amount"].astype(float).to_numpy()
        )
    elif part.kind == "inspections":
        found = f["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
        records = Records.of(f["lon"], f["lat"], entity=entity, flag=found)
    else:
        records = Records.of(f["lon"], f["lat"], entity=entity)
    dated = part.kind in DATE_COLUMNS and len(f)
    months = month_ordinals(f[DATE_COLUMNS[part.kind]]) if dated else np.empty(0, np.int64)
    x, y = lonlat_to_equal_area(records.lon, records.lat)
    at_point = (
        placed_at_point(f["geocode_precision"])
        if "geocode_precision" in f
        else np.ones(len(f), dtype=bool)
    )
    return Loaded(
        part.kind,
        records,
        months,
        np.asarray(x, float),
        np.asarray(y, float),
        f["adcode"].to_numpy(object),
        at_point,
    )


def on_partition(part: Partition, rows: RowFilters, step: Callable[..., T], **kwargs: Any) -> T:
    """A task of one pass: read the partition, apply ``step`` (with ``kwargs``) to its
    records and return what it makes; the records are dropped when the task ends."""
    return step(load_partition(part, rows), **kwargs)


def on_partitions(
    parts: list[Partition], rows: RowFilters, step: Callable[..., dict[str, Any]], **kwargs: Any
) -> dict[str, Any]:
    """A task of one additive pass over a group of partitions: each read in turn, its
    partials made (``step``) and added to the group's, so that a worker holds one
    partition and one running sum, not a partial per partition."""
    total: dict[str, Any] = {}
    for part in parts:
        total = add_partials(total, on_partition(part, rows, step, **kwargs))
    return total


@dataclass(frozen=True)
class Plan:
    """What the partials must cover: resolutions, county counts, and the KDE weightings.

    ``point_resolutions``: the resolutions of the cell counts of the cases placed at a
    point (Gi* and local Moran of H3 cells)."""

    hexagon_resolutions: tuple[int, ...]
    emerging_resolutions: tuple[int, ...]
    kde_weights: tuple[str, ...]
    county_counts: bool = False
    point_resolutions: tuple[int, ...] = ()


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
    partition, and its records not placed at a point (``imprecise:<kind>``)."""
    kind = {"cases": "cases", "inspections": "inspections", "enterprises": "register"}
    out: dict[str, Any] = {
        f"hex{r}": hexagon_partial(r, **{kind[loaded.kind]: loaded.records})
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
        for r in plan.emerging_resolutions:
            out[f"months{r}"] = month_counts(placed.records, placed.months, r)
        for weight in plan.kde_weights:
            out[f"moments:{weight}"] = point_moments(
                placed.x_m, placed.y_m, _weights(placed, weight)
            )
    return out


def centre_distances(
    loaded: Loaded, centre: tuple[float, float], weight: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Squared distances of the partition's cases placed at a point to ``centre``, and
    their weights."""
    if loaded.kind != "cases":
        return np.empty(0), np.empty(0)
    placed = loaded.placed()
    d2 = (placed.x_m - centre[0]) ** 2 + (placed.y_m - centre[1]) ** 2
    return d2, _weights(placed, weight)


def binned_grids(loaded: Loaded, grids: dict[str, tuple[str, str, Grid]]) -> dict[str, Any]:
    """The partition's points placed at a point, binned on each grid (``key → (kind,
    weight, grid)``)."""
    placed = loaded.placed()
    return {
        key: BinnedGrid.of(bin_points(placed.x_m, placed.y_m, _weights(placed, weight), grid))
        for key, (kind, weight, grid) in grids.items()
        if kind == loaded.kind
    }


@contextmanager
def dask_client(scheduler: str | None = None, *, n_workers: int = 2) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, else of a new local cluster (closed after)."""
    if scheduler:
        with Client(scheduler, timeout="60s") as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _gather(client: Client, futures: list[Future], timeout_s: float) -> list[Any]:
    wait(futures, timeout=timeout_s)  # raises TimeoutError rather than hang on lost workers
    return list(client.gather(futures))


def _tree_sum(client: Client, futures: list[Future], fan_in: int = 8) -> list[Future]:
    """Add partials on the cluster, ``fan_in`` at a time, down to one future (none if none)."""
    while len(futures) > 1:
        futures = [
            client.submit(add_partials, *futures[i : i + fan_in], pure=False)
            for i in range(0, len(futures), fan_in)
        ]
    return futures


def _summed(client: Client, futures: list[Future], timeout_s: float) -> dict[str, Any]:
    reduced = _tree_sum(client, futures)
    return _gather(client, reduced, timeout_s)[0] if reduced else {}


def _variants(name: str) -> list[Any]:
    return RECIPES[name].variant_parameters()


def _plan(names: list[str]) -> Plan:
    hexagons = {p.resolution for p in _variants("hexagons")} if "hexagons" in names else set()
    counted = [p for n in _CASE_COUNT_LAYERS if n in names for p in _variants(n)]
    points = {p.resolution for p in counted if p.unit == "h3"}
    emerging = {p.resolution for p in _variants("emerging-hotspots")}
    weights = {p.weight for p in _variants("kde")} if "kde" in names else set()
    counties = any(p.unit == "county" for p in counted)
    return Plan(
        tuple(sorted(hexagons)),
        tuple(sorted(emerging)) if "emerging-hotspots" in names else (),
        tuple(sorted(weights)),
        counties,
        tuple(sorted(points)),
    )


def _store(
    engine: Engine,
    name: str,
    filters: Filters,
    parameters: LayerParameters,
    result: Any,
) -> dict[str, Any]:
    """Store a layer computed on the cluster as :func:`geo_service.builds.run.build_layers` does,
    saying so in its provenance (``backend: dask``); what was built."""
    backend = {"backend": "dask"}
    if isinstance(result, bytes):
        stored = save_layer(
            engine,
            name,
            filters.as_dict(),
            parameters.as_dict(),
            result,
            media_type=GEOTIFF,
            n_features=1,
            details={**geotiff_provenance(result), **backend},
        )
    else:
        details = {**(result.attrs.get("parameters") or {}), **backend}
        stored = save_layer(
            engine, name, filters.as_dict(), parameters.as_dict(), result, details=details
        )
    return {"parameters": stored.parameters, "data_version": stored.data_version}


@dataclass
class _Run:
    """One Dask build: the client, the partitions and their row filters, and the summed
    first partials (once :meth:`first_pass` has run)."""

    client: Client
    inputs: Inputs
    parts: list[Partition]
    rows: RowFilters
    timeout_s: float
    partials: dict[str, Any] = field(default_factory=dict)

    def map(self, step: Callable[..., Any], **kwargs: Any) -> list[Future]:
        """One pass: ``step(loaded, **kwargs)`` on every partition, each task reading its own."""
        return self.client.map(
            on_partition, self.parts, rows=self.rows, step=step, pure=False, **kwargs
        )

    def summed(self, step: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        """One additive pass: the partials ``step`` makes of every partition, summed.

        The partitions are dealt into two groups per worker, each a task that adds up its
        partitions' partials as it reads them: the partials of a month's records at
        every resolution run to hundreds of MB, and a task per partition left one result
        per partition on the workers until all were added."""
        n_groups = max(1, 2 * len(self.client.scheduler_info()["workers"]))
        groups = [g for g in (self.parts[i::n_groups] for i in range(n_groups)) if g]
        futures = self.client.map(
            on_partitions, groups, rows=self.rows, step=step, pure=False, **kwargs
        )
        return _summed(self.client, futures, self.timeout_s)

    def first_pass(self, plan: Plan) -> None:
        self.partials = self.summed(first_partials, plan=plan)


def _hexagons(run: _Run, parameters: HexagonParameters) -> gpd.GeoDataFrame:
    resolution = parameters.resolution
    partial = run.partials.get(f"hex{resolution}", hexagon_partial(resolution))
    return cells_frame(hexagon_table(partial), parameters.as_dict())


def _county_counts(run: _Run) -> pd.Series:
    return pd.Series(run.partials.get("counties", Counter()), dtype=np.int64)


def _point_counts(run: _Run, resolution: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every cell of the area and its count of cases placed at a point."""
    counted: Counter[int] = run.partials.get(f"point{resolution}", Counter())
    cells = cells_in_polygon(run.inputs.area, resolution)
    return cells, counts_on_cells(cells, pd.Series(counted, dtype=np.int64))


def _imprecise(run: _Run, kind: str = "cases") -> int:
    return int(run.partials.get(f"imprecise:{kind}", 0))


def _hotspots(run: _Run, parameters: HotspotParameters) -> gpd.GeoDataFrame:
    if parameters.unit == "county":
        by_county = _county_counts(run)
        return county_hotspot_frame(run.inputs.engine, run.inputs.area, by_county, parameters)
    resolution = parameters.resolution
    cells, counts = _point_counts(run, resolution)
    return hotspot_frame(cells, counts, resolution, parameters, imprecise=_imprecise(run))


def _local_moran(run: _Run, parameters: LocalMoranParameters) -> gpd.GeoDataFrame:
    if parameters.unit == "county":
        by_county = _county_counts(run)
        return county_moran_frame(run.inputs.engine, run.inputs.area, by_county, parameters)
    resolution = parameters.resolution
    cells, counts = _point_counts(run, resolution)
    return moran_frame(cells, counts, resolution, parameters, imprecise=_imprecise(run))


def _month_date(ordinal: int) -> dt.date:
    return dt.date(ordinal // 12, ordinal % 12 + 1, 1)


def _emerging(run: _Run, parameters: EmergingParameters) -> gpd.GeoDataFrame:
    resolution, step = parameters.resolution, parameters.step
    empty = month_counts(Records.of([], []), [], resolution)
    partial: MonthCounts = run.partials.get(f"months{resolution}", empty)
    start, end = run.inputs.filters.date_range()
    today = dt.date.today()
    first = start or (
        _month_date(partial.first_month) if partial.first_month is not None else today
    )
    last = end or (_month_date(partial.last_month) if partial.last_month is not None else first)
    first_step, labels = step_labels(first, last, step)
    cells = cells_in_polygon(run.inputs.area, resolution)
    cube = month_cube(partial, cells, first_step, len(labels), step)
    return emerging_frame(cells, cube, labels, resolution, parameters, imprecise=_imprecise(run))


def _bandwidth(run: _Run, parameters: KdeParameters, moments: PointMoments) -> float:
    """The variant's bandwidth: fixed, or Silverman's from distances gathered once."""
    if parameters.bandwidth_m is not None:
        return parameters.bandwidth_m
    weight = parameters.weight
    futures = run.map(centre_distances, centre=moments.centre, weight=weight)
    parts = [p for p in _gather(run.client, futures, run.timeout_s) if p[0].size]
    return silverman_from_distances(
        np.concatenate([d for d, _ in parts]), np.concatenate([w for _, w in parts])
    )


def _kde(run: _Run, parameters: KdeParameters) -> bytes:
    weight = parameters.weight
    moments: PointMoments = run.partials.get(f"moments:{weight}", PointMoments())
    if moments.n == 0:
        raise BadFilterError(NO_POINT_CASES)
    h = _bandwidth(run, parameters, moments)
    kernel = parameters.kernel
    grid = kde_grid(moments.bounds, h, kernel, parameters.cell_m)
    grids = {"cases": ("cases", weight, grid)}
    if parameters.ratio_to == "enterprises":
        grids["sources"] = ("enterprises", "none", grid)
    binned = run.summed(binned_grids, grids=grids)
    zeros = BinnedGrid.of(np.zeros((grid.ny, grid.nx)))
    cases = binned.get("cases", zeros).to_array()
    surface = binned_density(
        cases,
        grid,
        bandwidth_m=h,
        kernel=kernel,
        n_points=moments.n,
        total_weight=moments.weight,
        fixed_bandwidth=parameters.bandwidth_m is not None,
        weighted=weight == "penalty_amount",
    )
    sources = None
    if parameters.ratio_to == "enterprises":
        n_sources = int(run.partials.get("register_n", 0))
        sources = binned_density(
            binned.get("sources", zeros).to_array(),
            grid,
            bandwidth_m=h,
            kernel=kernel,
            n_points=n_sources,
            total_weight=float(n_sources),
        )
    ratio = parameters.ratio_to == "enterprises"
    imprecise = kde_imprecise(_imprecise(run), _imprecise(run, "enterprises") if ratio else None)
    return kde_payload(surface, weight, sources, imprecise)


#: The last step of each additive layer, from the summed partials and its parameters.
_FINISH: dict[str, Callable[[_Run, Any], gpd.GeoDataFrame | bytes]] = {
    "hexagons": _hexagons,
    "hotspots": _hotspots,
    "local-moran": _local_moran,
    "kde": _kde,
    "emerging-hotspots": _emerging,
}


def _exported(engine: Engine, filters: Filters, root: Path) -> tuple[list[Partition], RowFilters]:
    """Export the store's partitions; those the filters touch, and the filters of their rows."""
    export_partitions(engine, root)
    province, level = None, None
    if filters.jurisdiction:
        province, level = jurisdiction_province(engine, filters.jurisdiction)
    parts = [p for kind in KINDS for p in partitions_for(root, kind, filters, province)]
    return parts, RowFilters.of(filters, level)


def build_layers_dask(
    engine: Engine,
    filters: Filters,
    layers: list[str] | None = None,
    *,
    scheduler: str | None = None,
    client: Client | None = None,
    workdir: Path | None = None,
    timeout_s: float = TIMEOUT_S,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """:func:`geo_service.builds.run.build_layers` with the additive layers computed on a cluster.

    Parameters
    ----------
    engine, filters, layers
        As :func:`~geo_service.builds.run.build_layers` (all layers by default).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``); default a ``LocalCluster``.
    client : distributed.Client, optional
        Use this client (and its cluster) instead; left open.
    workdir : Path, optional
        Where the partitions are written (shared with the workers); default a
        temporary directory, removed after the build.
    timeout_s : float
        Longest wait for any step on the cluster (``TimeoutError`` beyond).

    Returns
    -------
    dict
        What :func:`~geo_service.builds.run.build_layers` returns, with ``backend``
        ``"dask"`` and ``single_machine``: the layers computed without the cluster.
    """
    names = layers or list(ANALYTIC_LAYERS)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise UnknownLayerError(f"no analytic layer {unknown[0]!r}")
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="geo-partitions-"))
    try:
        with _client(client, scheduler) as active:
            where = root / "partitions"
            return _build(active, engine, filters, names, where, timeout_s, settings)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _client(client: Client | None, scheduler: str | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    with dask_client(scheduler) as created:
        yield created


def _build(
    client: Client,
    engine: Engine,
    filters: Filters,
    names: list[str],
    root: Path,
    timeout_s: float,
    settings: Settings | None,
) -> dict[str, Any]:
    if root.exists():
        shutil.rmtree(root)
    parts, rows = _exported(engine, filters, root)
    run = _Run(client, Inputs(engine, filters), parts, rows, timeout_s)
    run.first_pass(_plan(names))
    built: dict[str, list[dict[str, Any]]] = {}
    skipped: list[dict[str, Any]] = []
    single: list[str] = []
    for name in names:
        if name not in _FINISH:  # thin data skips these as the local build does
            local = build_layers(engine, filters, [name], settings)
            built.update(local["layers"])
            skipped += local["skipped"]
            single.append(name)
            continue
        built[name] = [
            _store(engine, name, filters, parameters, _FINISH[name](run, parameters))
            for parameters in _variants(name)
        ]
    return {
        "filters": filters.as_dict(),
        "layers": built,
        "skipped": skipped,
        "backend": "dask",
        "single_machine": single,
    }
