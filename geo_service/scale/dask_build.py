"""``geo-service build --backend dask``: the layer build over a ``dask.distributed`` cluster.

The store's located records are exported as Parquet partitioned by province
and month (:mod:`geo_service.scale.partitions`); in each pass over the data a worker
reads a partition, computes what the pass needs of it and drops it, so that a
worker holds one partition at a time whatever the size of the store (a pass
costs one Parquet read of every partition). The workers compute additive partials
(:mod:`analytics.partials`) that are summed on the cluster by a tree of
additions; the final statistic — the hexagon table, Gi*, the emerging cube's
Gi* and trends, the KDE's FFT convolution — runs once on the sums. The steps of
each pass and the final statistics are those of the one-process build, which
makes the same partials of chunks of the store (:mod:`geo_service.builds.streaming`),
so the layers are the same (counts exactly, floats to rounding) and are stored the
same way.

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

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from distributed import Client, Future, LocalCluster, wait
from sqlalchemy import Engine

from analytics.partials import add_partials, sum_partials
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import LayerParameters
from geo_service.builds.recipes import geotiff_provenance
from geo_service.builds.registry import ANALYTIC_LAYERS, RECIPES
from geo_service.builds.run import build_layers
from geo_service.builds.skips import THIN_DATA
from geo_service.builds.skips import skipped as skip_reason
from geo_service.builds.streaming import (
    FINISH,
    STREAMED_LAYERS,
    Loaded,
    Plan,
    first_partials,
    plan_of,
    records_of,
)
from geo_service.core.errors import UnknownLayerError
from geo_service.core.filters import Filters
from geo_service.core.settings import Settings
from geo_service.scale.partitions import (
    KINDS,
    Partition,
    RowFilters,
    export_partitions,
    jurisdiction_province,
    partitions_for,
    read_partition,
)
from geo_service.store.layer_builds import GEOTIFF, save_layer

DASK_LAYERS = STREAMED_LAYERS
TIMEOUT_S = 600.0
T = TypeVar("T")


def load_partition(part: Partition, rows: RowFilters) -> Loaded:
    """Read a partition into the records the builds use (as :class:`Inputs` does)."""
    return records_of(part.kind, read_partition(part, rows))


def on_partition(part: Partition, rows: RowFilters, step: Callable[..., T], **kwargs: Any) -> T:
    """A task of one pass: read the partition, apply ``step`` (with ``kwargs``) to its
    records and return what it makes; the records are dropped when the task ends."""
    return step(load_partition(part, rows), **kwargs)


def on_partitions(
    parts: list[Partition], rows: RowFilters, step: Callable[..., dict[str, Any]], **kwargs: Any
) -> dict[str, Any]:
    """A task of one additive pass over a group of partitions: each read in turn, its
    partials made (``step``) and added to the group's as the one-process build adds its
    chunks' (:func:`~analytics.partials.sum_partials`), so that a worker holds one
    partition and a few running sums, not a partial per partition."""
    return sum_partials(on_partition(part, rows, step, **kwargs) for part in parts)


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
    """The plan of the first pass: every variant of the additive layers among ``names``."""
    return plan_of((n, p) for n in names if n in FINISH for p in _variants(n))


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

    def gathered(self, step: Callable[..., Any], **kwargs: Any) -> list[Any]:
        """One pass: what ``step`` makes of every partition, brought to the client."""
        return _gather(self.client, self.map(step, **kwargs), self.timeout_s)

    def first_pass(self, plan: Plan) -> None:
        self.partials = self.summed(first_partials, plan=plan)


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
        if name not in FINISH:  # thin data skips these as the local build does
            local = build_layers(engine, filters, [name], settings)
            built.update(local["layers"])
            skipped += local["skipped"]
            single.append(name)
            continue
        stored = []
        for parameters in _variants(name):
            try:
                stored.append(
                    _store(engine, name, filters, parameters, FINISH[name](run, parameters))
                )
            except THIN_DATA as exc:  # skipped, with its reason, as the local build skips it
                reason = skip_reason(name, exc).as_dict()
                skipped.append({"layer": name, "parameters": parameters.as_dict(), **reason})
        if stored:
            built[name] = stored
    return {
        "filters": filters.as_dict(),
        "layers": built,
        "skipped": skipped,
        "backend": "dask",
        "single_machine": single,
    }
