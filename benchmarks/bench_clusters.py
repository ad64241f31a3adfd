"""DBSCAN clusters of 100k and 1M points, beside scikit-learn's DBSCAN on the same metres."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from analytics import _grid_dbscan
from analytics.clusters import (
    _renumber,
    _space_time_by_graph,
    density_clusters,
    space_time_clusters,
)
from benchmarks.points import blobs_with_background
from benchmarks.report import Row

TARGET_SPEED_UP = 10.0
EPS_M, MIN_SAMPLES = 500.0, 10


def run(quick: bool = False) -> list[Row]:
    sizes = (20_000, 100_000) if quick else (100_000, 1_000_000)
    first_call = _first_call()  # before anything else compiles the loops in this process
    rows = [*(_row(n, quick) for n in sizes), _space_time_row(50_000 if quick else 200_000)]
    rows[0] = dataclasses.replace(rows[0], note=f"{rows[0].note}; {first_call}")
    return rows


_FIRST_CALL = """
import time
import numpy as np
from analytics import _grid_dbscan
started = time.perf_counter()
for coords, metric in (([np.zeros(3)] * 2, _grid_dbscan.Metric(1.0)),
                       ([np.zeros(3)] * 3, _grid_dbscan.Metric(1.0, 1.0))):
    _grid_dbscan.dbscan(coords, metric, 2)
print(time.perf_counter() - started)
"""


def _first_call() -> str:
    """The first clustering in a process, plane and space-time, apart from the timed runs:
    numba compiles the loops (an empty cache) or loads them from its cache on disk."""
    seconds = []
    with tempfile.TemporaryDirectory() as empty:
        for _ in range(2):  # compiled into an empty cache, then loaded from it
            env = {**os.environ, "NUMBA_CACHE_DIR": empty}
            done = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL], env=env, capture_output=True, check=True
            )
            seconds.append(float(done.stdout))
    return (
        f"first call in a process, apart (numba): {seconds[0]:.1f} s compiling, "
        f"{seconds[1]:.2f} s from its cache on disk (load average {_load_average()})"
    )


def _row(n: int, quick: bool) -> Row:
    load_before = _load_average()
    x, y = blobs_with_background(n, (400_000, 2_300_000, 1_100_000, 3_000_000), 3_000, seed=5)
    xy = np.column_stack([x, y])
    ours_runs, theirs_runs = (7, 7) if n <= 100_000 else (3, 1)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    models: list[DBSCAN] = []

    def fit() -> None:
        models.append(DBSCAN(eps=EPS_M, min_samples=MIN_SAMPLES, n_jobs=1).fit(xy))

    for run in range(ours_runs):  # interleaved, so that load on the machine hits both alike
        ours.append(_timed(lambda: density_clusters(x, y, eps_m=EPS_M, min_samples=MIN_SAMPLES)))
        if run < theirs_runs:
            theirs.append(_timed(fit))
    both_cores = _timed(lambda: DBSCAN(eps=EPS_M, min_samples=MIN_SAMPLES, n_jobs=-1).fit(xy))
    labels = density_clusters(x, y, eps_m=EPS_M, min_samples=MIN_SAMPLES)
    found = _grid_dbscan.dbscan([x, y], _grid_dbscan.Metric(EPS_M), MIN_SAMPLES)
    assert found is not None
    reference = models[0]
    core = np.zeros(n, dtype=bool)
    core[reference.core_sample_indices_] = True
    wall, cpu = min(w for w, _ in ours), min(c for _, c in ours)
    base_wall, base_cpu = min(w for w, _ in theirs), min(c for _, c in theirs)
    speed_up = base_wall / wall
    return Row(
        work=f"DBSCAN clusters, {n:,} points in metres (eps 500 m, min 10)",
        figure=f"{wall:.3f} s (×{speed_up:.1f})",
        target=f"≥ {TARGET_SPEED_UP:.0f}× scikit-learn",
        met=None if quick else speed_up >= TARGET_SPEED_UP,
        baseline="scikit-learn DBSCAN, Euclidean, algorithm auto (k-d tree), n_jobs=1, "
        "the same metres",
        baseline_figure=f"{base_wall:.2f} s",
        note=f"ARI against the baseline {adjusted_rand_score(reference.labels_, labels):.4f}; "
        f"labels identical: {bool((found.labels == reference.labels_).all())}, "
        f"core points identical: {bool((found.core == core).all())}, "
        f"noise identical: {bool(((labels < 0) == (reference.labels_ < 0)).all())}; "
        f"{labels.max() + 1} clusters, {(labels < 0).mean():.0%} noise; wall clock, best of "
        f"{ours_runs} runs against {theirs_runs}, interleaved; CPU time {cpu:.3f} s against "
        f"{base_cpu:.2f} s (×{base_cpu / cpu:.1f}); scikit-learn with n_jobs=-1: "
        f"{both_cores[0]:.2f} s; load average (1/5/15 min) {load_before} before, "
        f"{_load_average()} after, on {os.cpu_count()} cores shared with test runs",
    )


def _space_time_row(n: int) -> Row:
    """Space-time clusters beside the former way: scikit-learn's radius graph in space, cut
    to neighbours in time, then DBSCAN on that graph."""
    load_before = _load_average()
    x, y = blobs_with_background(n, (400_000, 2_300_000, 1_100_000, 3_000_000), 3_000, seed=5)
    t = np.random.default_rng(6).uniform(0, 182, n).round()  # whole days over half a year
    eps_days = 30.0
    ours = _timed(
        lambda: space_time_clusters(
            x, y, t, eps_m=EPS_M, eps_days=eps_days, min_samples=MIN_SAMPLES
        )
    )
    labels = space_time_clusters(x, y, t, eps_m=EPS_M, eps_days=eps_days, min_samples=MIN_SAMPLES)
    graph: list[np.ndarray] = []
    theirs = _timed(
        lambda: graph.append(_space_time_by_graph(x, y, t, EPS_M, eps_days, MIN_SAMPLES))
    )
    identical = bool((labels == _renumber(graph[0])).all())
    return Row(
        work=f"space-time clusters, {n:,} points over half a year (eps 500 m, 30 days, min 10)",
        figure=f"{ours[0]:.2f} s (×{theirs[0] / ours[0]:.1f})",
        target="—",
        met=None,
        baseline="the former way: scikit-learn radius graph in space (k-d tree), cut to "
        "30 days, DBSCAN on that graph",
        baseline_figure=f"{theirs[0]:.2f} s",
        note=f"labels identical: {identical}; {labels.max() + 1} clusters, "
        f"{(labels < 0).mean():.0%} noise; one run each; CPU time {ours[1]:.2f} s against "
        f"{theirs[1]:.2f} s; load average (1/5/15 min) {load_before} before, "
        f"{_load_average()} after",
    )


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())
