"""Density clusters: planted blobs recovered, agreement with scikit-learn, space-time, polygons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from analytics import _grid_dbscan
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


# --- the grid DBSCAN against scikit-learn's, label for label -------------------------


def _first_seen(labels: np.ndarray) -> np.ndarray:
    """Clusters numbered in order of first appearance, as density_clusters numbers them."""
    out = np.full(labels.shape, -1)
    first = {c: k for k, c in enumerate(dict.fromkeys(labels[labels >= 0].tolist()))}
    out[labels >= 0] = [first[c] for c in labels[labels >= 0].tolist()]
    return out


def _assert_as_scikit_learn(xy: np.ndarray, eps: float, min_samples: int) -> None:
    """Same labels (scikit-learn's numbering), core points and noise as its k-d tree DBSCAN;
    density_clusters gives them renumbered by first appearance."""
    model = DBSCAN(eps=eps, min_samples=min_samples, algorithm="kd_tree").fit(xy)
    core = np.zeros(len(xy), dtype=bool)
    core[model.core_sample_indices_] = True
    found = _grid_dbscan.dbscan([xy[:, 0], xy[:, 1]], _grid_dbscan.Metric(eps), min_samples)
    assert found is not None
    np.testing.assert_array_equal(found.core, core)
    np.testing.assert_array_equal(found.labels, model.labels_)
    ours = density_clusters(xy[:, 0], xy[:, 1], eps_m=eps, min_samples=min_samples)
    np.testing.assert_array_equal(ours, _first_seen(model.labels_))


def _clustered(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    centres = rng.uniform(0, 10_000, (6, 2))
    xy = centres[rng.integers(0, 6, n)] + rng.normal(0, spread, (n, 2))
    xy[rng.random(n) < 0.2] = rng.uniform(0, 10_000, (1, 2))  # a fifth: one spot, many cases
    return xy


@pytest.mark.parametrize("min_samples", [1, 2, 3, 5, 10, 40])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_dbscan_is_scikit_learns_on_random_and_clustered_points(
    seed: int, min_samples: int
) -> None:
    rng = np.random.default_rng(seed)
    _assert_as_scikit_learn(rng.uniform(0, 10_000, (3_000, 2)), 300.0, min_samples)
    _assert_as_scikit_learn(_clustered(rng, 3_000, 250.0), 120.0, min_samples)


def test_grid_dbscan_counts_points_exactly_eps_apart() -> None:
    # a lattice of step eps: every lattice neighbour lies at exactly eps (DBSCAN: ≤ eps)
    grid = np.array([(i, j) for i in range(12) for j in range(12)], dtype=float) * 7.0
    for min_samples in (1, 2, 3, 4, 5, 6):
        _assert_as_scikit_learn(grid, 7.0, min_samples)
    # eps set to the computed distance of some pairs: their squares round either way
    rng = np.random.default_rng(5)
    xy = rng.uniform(-1e5, 1e5, (400, 2)) + 2_500_000.0
    for k in range(20):
        eps = float(np.hypot(*(xy[2 * k] - xy[2 * k + 1])))
        _assert_as_scikit_learn(xy, eps, 2 + k % 4)


def test_grid_dbscan_edge_cases() -> None:
    _assert_as_scikit_learn(np.array([[5.0, 5.0]]), 1.0, 1)  # one point, its own cluster
    _assert_as_scikit_learn(np.array([[5.0, 5.0]]), 1.0, 2)  # … or noise
    _assert_as_scikit_learn(np.arange(40.0).reshape(20, 2) * 1e4, 50.0, 2)  # all noise
    dup = np.repeat([[0.0, 0.0], [30.0, 0.0], [1e4, 1e4]], [25, 3, 9], axis=0)
    for min_samples in (1, 2, 3, 9, 10, 26, 29):
        _assert_as_scikit_learn(dup, 30.0, min_samples)  # duplicates, one pair at eps
    assert density_clusters([], [], eps_m=10).size == 0
    huge = density_clusters([0.0, 1.0], [0.0, 0.0], eps_m=10, min_samples=10**12)
    assert huge.tolist() == [-1, -1]  # min_samples above any count: all noise


@settings(max_examples=150, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), min_size=1, max_size=60),
    scale=st.sampled_from([1.0, 0.1, 1234.5]),
    eps_steps=st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0]),
    min_samples=st.integers(1, 8),
)
def test_grid_dbscan_is_scikit_learns_on_generated_points(
    points: list[tuple[int, int]], scale: float, eps_steps: float, min_samples: int
) -> None:
    # small integer lattices: many ties at exactly eps, duplicates and mixed densities
    _assert_as_scikit_learn(np.array(points, dtype=float) * scale, eps_steps * scale, min_samples)


@pytest.mark.parametrize(("flat", "box_from"), [(0, 0), (0, 10**9), (10**9, 0)])
def test_grid_dbscan_by_cells_boxes_or_runs(
    monkeypatch: pytest.MonkeyPatch, flat: int, box_from: int
) -> None:
    # the same labels whether neighbouring cells are decided by their boxes first, or
    # compared cell by cell point by point, or as whole runs of points
    monkeypatch.setattr(_grid_dbscan, "FLAT", flat)
    monkeypatch.setattr(_grid_dbscan, "BOX_FROM", box_from)
    rng = np.random.default_rng(9)
    for min_samples in (2, 6, 20):
        _assert_as_scikit_learn(_clustered(rng, 2_000, 150.0), 100.0, min_samples)
    xy = np.round(_clustered(rng, 1_500, 200.0), -1)  # a 10 m lattice: ties at eps
    t = rng.integers(0, 60, len(xy)).astype(float)
    _assert_space_time_as_scikit_learn(xy, t, 150.0, 7.0, 4)


def _varied_densities(rng: np.random.Generator, n: int) -> np.ndarray:
    """Blobs from tight (cells far fuller than min_samples) to loose (a point or two a
    cell), a sparse background, and some points stacked on one spot."""
    spreads = np.array([5.0, 30.0, 80.0, 200.0, 600.0])
    blob = rng.integers(0, spreads.size, n)
    centres = rng.uniform(0, 20_000, (spreads.size, 2))
    xy = centres[blob] + rng.normal(0, 1, (n, 2)) * spreads[blob, None]
    xy[rng.random(n) < 0.15] = rng.uniform(0, 20_000, (1, 2))
    background = rng.random(n) < 0.2
    xy[background] = rng.uniform(0, 20_000, (int(background.sum()), 2))
    return xy


@pytest.mark.parametrize("seed", [3, 4])
def test_grid_dbscan_is_scikit_learns_on_varied_densities(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = _varied_densities(rng, 4_000)
    for eps, min_samples in ((40.0, 5), (100.0, 12), (250.0, 3), (15.0, 30)):
        _assert_as_scikit_learn(xy, eps, min_samples)


def test_too_fine_a_grid_falls_back_to_scikit_learn() -> None:
    x, y = np.array([0.0, 1e-9, 1e6]), np.zeros(3)
    assert _grid_dbscan.dbscan([x, y], _grid_dbscan.Metric(1e-9), 2) is None
    wide = np.array([0.0, 1e9])  # cells along each axis fit, all the cells do not
    assert _grid_dbscan.dbscan([wide, wide], _grid_dbscan.Metric(2e-3), 2) is None
    assert density_clusters(x, y, eps_m=1e-9, min_samples=2).tolist() == [0, 0, -1]
    with pytest.raises(ValueError):
        density_clusters([0.0, np.nan], [0.0, 0.0], eps_m=1.0)


@pytest.mark.parametrize("min_samples", [0, 2.5])
def test_min_samples_is_a_positive_integer(min_samples: float) -> None:
    with pytest.raises(ClusterError, match="min_samples"):
        density_clusters([0.0], [0.0], min_samples=min_samples)  # type: ignore[arg-type]


def _space_time_reference(
    xy: np.ndarray, t: np.ndarray, eps: float, eps_days: float, min_samples: int
) -> np.ndarray:
    """scikit-learn's DBSCAN on the graph of neighbours in space (k-d tree) and time."""
    nn = NearestNeighbors(radius=eps, algorithm="kd_tree").fit(xy)
    pairs = nn.radius_neighbors_graph(mode="connectivity").tocoo()
    close = np.abs(t[pairs.row] - t[pairs.col]) <= eps_days
    rows = np.concatenate([pairs.row[close], np.arange(len(t))])
    cols = np.concatenate([pairs.col[close], np.arange(len(t))])
    graph = sp.csr_matrix((np.full(rows.size, 0.5), (rows, cols)), shape=(len(t), len(t)))
    model = DBSCAN(eps=1.0, min_samples=min_samples, metric="precomputed")
    return _first_seen(model.fit_predict(graph))


@pytest.mark.parametrize("eps_days", [0.0, 1.0, 7.0, 30.0])
@pytest.mark.parametrize("min_samples", [1, 3, 8])
def test_space_time_clusters_are_scikit_learns_on_the_space_time_graph(
    eps_days: float, min_samples: int
) -> None:
    rng = np.random.default_rng(11)
    xy = np.round(_clustered(rng, 2_500, 200.0), -1)  # on a 10 m lattice: ties at eps
    t = rng.integers(0, 120, len(xy)).astype(float)  # whole days: ties at eps_days
    ours = space_time_clusters(
        xy[:, 0], xy[:, 1], t, eps_m=150.0, eps_days=eps_days, min_samples=min_samples
    )
    expected = _space_time_reference(xy, t, 150.0, eps_days, min_samples)
    np.testing.assert_array_equal(ours, expected)


def _assert_space_time_as_scikit_learn(
    xy: np.ndarray, t: np.ndarray, eps: float, eps_days: float, min_samples: int
) -> None:
    """Labels and core points of the grid in space and time are those of scikit-learn's
    DBSCAN on the graph of neighbours in both."""
    nn = NearestNeighbors(radius=eps, algorithm="kd_tree").fit(xy)
    pairs = nn.radius_neighbors_graph(mode="connectivity").tocoo()
    close = np.abs(t[pairs.row] - t[pairs.col]) <= eps_days
    rows = np.concatenate([pairs.row[close], np.arange(len(t))])
    cols = np.concatenate([pairs.col[close], np.arange(len(t))])
    graph = sp.csr_matrix((np.full(rows.size, 0.5), (rows, cols)), shape=(len(t), len(t)))
    model = DBSCAN(eps=1.0, min_samples=min_samples, metric="precomputed").fit(graph)
    core = np.zeros(len(t), dtype=bool)
    core[model.core_sample_indices_] = True
    metric = _grid_dbscan.Metric(eps, eps_days)
    found = _grid_dbscan.dbscan([xy[:, 0], xy[:, 1], t], metric, min_samples)
    assert found is not None
    np.testing.assert_array_equal(found.core, core)
    np.testing.assert_array_equal(found.labels, model.labels_)


@pytest.mark.parametrize("min_samples", [1, 2, 6])
def test_space_time_grid_core_points_are_scikit_learns_on_varied_densities(
    min_samples: int,
) -> None:
    rng = np.random.default_rng(12)
    xy = np.round(_varied_densities(rng, 3_000), -1)
    t = np.round(rng.gamma(2.0, 20.0, len(xy)))  # crowded early days, sparse later ones
    for eps_days in (0.5, 3.0, 20.0):
        _assert_space_time_as_scikit_learn(xy, t, 60.0, eps_days, min_samples)


def test_space_time_clusters_with_missing_times_use_the_graph() -> None:
    x, y = np.zeros(6), np.zeros(6)
    t = np.array([0.0, 1.0, 2.0, np.nan, np.nan, 3.0])
    labels = space_time_clusters(x, y, t, eps_m=10, eps_days=5, min_samples=3)
    assert labels.tolist() == [0, 0, 0, -1, -1, 0]  # a point without a time: alone
    with pytest.raises(ClusterError):
        space_time_clusters(x, y, t, eps_m=10, eps_days=-1)
