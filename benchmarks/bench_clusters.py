"""DBSCAN-style clusters of 100k points, beside scikit-learn's DBSCAN with the haversine metric."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from analytics.clusters import density_clusters
from analytics.projection import equal_area_to_lonlat
from benchmarks.points import blobs_with_background
from benchmarks.report import Row, best_of, stopwatch

TARGET_S = 0.5


def run(quick: bool = False) -> list[Row]:
    n = 20_000 if quick else 100_000
    x, y = blobs_with_background(n, (400_000, 2_300_000, 1_100_000, 3_000_000), 3_000, seed=5)
    eps_m, min_samples = 500.0, 10
    seconds = best_of(3, lambda: density_clusters(x, y, eps_m=eps_m, min_samples=min_samples))
    ours = density_clusters(x, y, eps_m=eps_m, min_samples=min_samples)
    lon, lat = equal_area_to_lonlat(x, y)
    radians = np.radians(np.column_stack([lat, lon]))
    model = DBSCAN(
        eps=eps_m / 6_371_008.8,
        min_samples=min_samples,
        metric="haversine",
        algorithm="ball_tree",
        n_jobs=-1,
    )
    with stopwatch() as baseline:
        theirs = model.fit_predict(radians)
    agreement = adjusted_rand_score(theirs, ours)
    return [
        Row(
            work=f"DBSCAN-style clusters, {n:,} points (eps 500 m, min 10)",
            figure=f"{seconds:.3f} s",
            target=f"≤ {TARGET_S} s",
            met=None if quick else seconds <= TARGET_S,
            baseline="scikit-learn DBSCAN, haversine, ball tree, n_jobs=-1 (lon/lat radians)",
            baseline_figure=f"{baseline():.2f} s",
            note=f"{ours.max() + 1} clusters, {(ours < 0).mean():.0%} noise; ARI against the "
            f"baseline {agreement:.4f} (metres in the equal-area projection vs great-circle)",
        )
    ]
