"""Density clusters: planted blobs recovered, agreement with scikit-learn, space-time, polygons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from analytics.clusters import ClusterError, cluster_polygons, density_clusters, space_time_clusters


def _blobs(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [20_000, 0], [0, 20_000]])
    which = rng.integers(0, 3, 3000)
    x = centres[which, 0] + rng.normal(0, 300, 3000)
    y = centres[which, 1] + rng.normal(0, 300, 3000)
    noise_x, noise_y = rng.uniform(-50_000, 70_000, 300), rng.uniform(-50_000, 70_000, 300)
    truth = np.concatenate([which, np.full(300, -1)])
    return np.concatenate([x, noise_x]), np.concatenate([y, noise_y]), truth


def test_planted_blobs_are_recovered_and_noise_is_noise() -> None:
    x, y, truth = _blobs()
    for method in ("dbscan", "hdbscan"):
        labels = density_clusters(x, y, method=method, eps_m=400, min_samples=15)
        planted = truth >= 0
        assert adjusted_rand_score(truth[planted], labels[planted]) > 0.99, method
        assert (labels[~planted] == -1).mean() > 0.9, method


def test_same_partition_as_scikit_learn_dbscan_with_duplicates() -> None:
    x, y, _ = _blobs(2)
    x, y = np.concatenate([x, x[:500]]), np.concatenate([y, y[:500]])  # repeated locations
    ours = density_clusters(x, y, eps_m=400, min_samples=15)
    theirs = DBSCAN(eps=400, min_samples=15).fit_predict(np.column_stack([x, y]))
    assert adjusted_rand_score(theirs, ours) == pytest.approx(1.0)
    assert ((ours == -1) == (theirs == -1)).all()


def test_space_time_clusters_separate_bursts_at_one_place() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 100, 60), rng.normal(0, 100, 60)
    t = np.concatenate([rng.uniform(0, 20, 30), rng.uniform(200, 220, 30)])
    labels = space_time_clusters(x, y, t, eps_m=500, eps_days=30, min_samples=5)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1
    assert labels[0] != labels[30] and labels.min() >= 0
    assert (density_clusters(x, y, eps_m=500, min_samples=5) == 0).all()  # space alone: one


def test_polygons_hold_their_points_and_profile() -> None:
    x, y, truth = _blobs(4)
    labels = density_clusters(x, y, eps_m=400, min_samples=15)
    attrs = pd.DataFrame({"violation_type": np.where(truth == 0, "扬尘", "超标排放")})
    polys = cluster_polygons(x, y, labels, crs="EPSG:3857", attributes=attrs)
    assert len(polys) == 3 and polys["size"].sum() == (labels >= 0).sum()
    import shapely

    for row in polys.itertuples():
        inside = labels == row.cluster
        assert shapely.contains_xy(row.geometry, x[inside], y[inside]).all()
    dust = polys[polys["top_violation_type"].map(lambda t: t[0][0]) == "扬尘"]
    assert len(dust) == 1 and dust.iloc[0]["top_violation_type"][0][1] == dust.iloc[0]["size"]


def test_bad_method_is_refused() -> None:
    with pytest.raises(ClusterError):
        density_clusters([0.0], [0.0], method="kmeans")


def test_no_cluster_gives_the_same_columns_and_no_rows() -> None:
    attributes = pd.DataFrame({"violation_type": ["a", "b"], "date": ["2024-01-01", "2024-02-01"]})
    polygons = cluster_polygons(
        [0.0, 9e5], [0.0, 9e5], [-1, -1], crs="EPSG:3857", attributes=attributes
    )
    assert len(polygons) == 0
    assert list(polygons.columns) == [
        "cluster",
        "size",
        "area_km2",
        "density_per_km2",
        "top_violation_type",
        "first_date",
        "last_date",
        "geometry",
    ]
