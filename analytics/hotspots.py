"""Getis-Ord Gi* hot and cold spots (H3 cells, jurisdictions) with FDR-corrected bins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from analytics.errors import AnalyticsError
from analytics.weights import h3_ring_weights, polygon_contiguity_weights

#: (significance level, |bin|): 90 %, 95 % and 99 % confidence, as ArcGIS's Gi_Bin.
GI_BIN_LEVELS: tuple[tuple[float, int], ...] = ((0.10, 1), (0.05, 2), (0.01, 3))


class HotspotError(AnalyticsError):
    """Inputs on which a hot-spot statistic cannot be computed."""


@dataclass(frozen=True)
class GiStarResult:
    """Getis-Ord Gi* of every observation.

    ``z``: analytic z-score (0 where undefined, e.g. constant values); ``p``:
    its two-sided normal p-value; ``p_sim``: directed pseudo p-value (as esda's),
    None without permutations; ``n_neighbors``: neighbours, self excluded;
    ``parameters``: how it was computed.
    """

    z: NDArray[np.float64]
    p: NDArray[np.float64]
    p_sim: NDArray[np.float64] | None
    n_neighbors: NDArray[np.int64]
    parameters: dict[str, Any] = field(default_factory=dict)


def _as_values(values: ArrayLike) -> NDArray[np.float64]:
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1:
        raise HotspotError(f"values must be 1-D, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise HotspotError("values must be finite (no NaN or inf)")
    return y


def _as_weights(weights: Any, n: int) -> tuple[sp.csr_array, bool]:
    """CSR float64 weights with a self weight; whether the identity had to be added."""
    if not sp.issparse(weights):
        raise HotspotError("weights must be a scipy.sparse matrix or array")
    if weights.shape != (n, n):
        raise HotspotError(f"weights of shape {weights.shape} do not match {n} values")
    w = sp.csr_array(weights, dtype=np.float64)
    if w.nnz and (w.data < 0).any():
        raise HotspotError("weights must be non-negative")
    if w.nnz and (w.data == 0).any():
        w = w.copy()
        w.eliminate_zeros()
    added = bool(n) and not w.diagonal().any()
    if added:  # Gi* counts the focal observation: esda's star=True does the same
        w = sp.csr_array(w + sp.eye_array(n, format="csr"))
    return w, added


def _gi_star_z(y: NDArray[np.float64], w: sp.csr_array) -> NDArray[np.float64]:
    n = y.size
    if n == 0:
        return np.zeros(0)
    row_sum = np.asarray(w.sum(axis=1)).ravel()
    binary = bool(np.all(w.data == 1.0))
    row_sq = row_sum if binary else np.asarray(w.multiply(w).sum(axis=1)).ravel()
    mean = y.mean()
    sd = np.sqrt(np.mean((y - mean) ** 2))
    spread = (n * row_sq - row_sum**2) / max(n - 1, 1)
    denom = sd * np.sqrt(np.clip(spread, 0.0, None))
    numer = w @ y - mean * row_sum
    z = np.zeros(n)
    ok = denom > 0
    z[ok] = numer[ok] / denom[ok]
    return z


def _off_diagonal(w: sp.csr_array) -> sp.csr_array:
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
    keep = w.indices != rows
    indptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=w.shape[0]), out=indptr[1:])
    return sp.csr_array((w.data[keep], w.indices[keep], indptr), shape=w.shape)


def _tails(
    y: NDArray[np.float64],
    observed: NDArray[np.float64],
    card: NDArray[np.int64],
    ids: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each observation: simulated neighbour sums ≥ and ≤ the observed one."""
    n, permutations = y.size, ids.shape[0]
    upper = np.zeros(n, dtype=np.int64)
    lower = np.zeros(n, dtype=np.int64)
    sums = np.cumsum(y[ids], axis=1)  # sums[:, c - 1]: the first c draws
    for c in np.unique(card[card > 0]):  # a handful of cardinalities, never the cells
        members = np.flatnonzero(card == c)
        sims = sums[:, c - 1]
        ranked = np.sort(sims)
        upper[members] = permutations - np.searchsorted(ranked, observed[members], "left")
        lower[members] = np.searchsorted(ranked, observed[members], "right")
        # A draw that hit the focal cell i itself stands, for i, for the same draw
        # with i skipped: its (c+1)-th id replaces it. These few fixes make every
        # cell's null exactly "c others drawn without replacement, i excluded".
        p_hit, j_hit = np.nonzero(card[ids[:, :c]] == c)
        focal = ids[p_hit, j_hit]
        fixed = sims[p_hit] - y[focal] + y[ids[p_hit, c]]
        target = observed[focal]
        np.add.at(upper, focal, (fixed >= target).astype(np.int64) - (sims[p_hit] >= target))
        np.add.at(lower, focal, (fixed <= target).astype(np.int64) - (sims[p_hit] <= target))
    return upper, lower


def _pseudo_p(
    y: NDArray[np.float64], w: sp.csr_array, permutations: int, seed: int | None
) -> NDArray[np.float64]:
    off = _off_diagonal(w)
    if off.nnz and not np.all(off.data == 1.0):
        raise HotspotError("permutation inference needs binary neighbour weights")
    card = np.diff(off.indptr).astype(np.int64)
    observed = off @ y
    p_sim = np.ones(y.size)
    if not card.any():
        return p_sim
    rng = np.random.default_rng(seed)
    m = int(card.max()) + 1  # each draw: m distinct ids out of all n
    ids = np.stack([rng.choice(y.size, m, replace=False) for _ in range(permutations)])
    upper, lower = _tails(y, observed, card, ids)
    tail = np.minimum(upper, lower)
    has = card > 0  # an island has nothing to permute: p_sim = 1
    p_sim[has] = (tail[has] + 1) / (permutations + 1)
    return p_sim


def getis_ord_gi_star(
    values: ArrayLike,
    weights: Any,
    *,
    permutations: int = 0,
    seed: int | None = None,
) -> GiStarResult:
    """Local Getis-Ord Gi* z-scores, analytic p-values and optional pseudo p-values.

    **Analytic.** With ``x̄`` the mean, ``s`` the population standard deviation,
    ``W_i = Σ_j w_ij``, ``S1_i = Σ_j w_ij²`` (self weight included)::

        z_i = (Σ_j w_ij x_j − x̄ W_i) / (s · sqrt((n S1_i − W_i²) / (n − 1)))

    (Getis & Ord 1995; ArcGIS). For binary weights ``S1_i = W_i``, and this is
    algebraically esda's ``G_Local(star=True, transform="B")`` z (``V[G_i] =
    W_i (n − W_i) / ((n − 1) n²) · s² / x̄²``); they agree to ~1e-12. Weights
    without any diagonal get a self weight of 1 (as esda's ``star=True``).

    **Permutations** (conditional randomisation, as esda's ``crand``): cell
    ``i`` keeps its value; its ``c_i`` neighbour values are replaced by ``c_i``
    values drawn without replacement from the other ``n − 1``. esda shares one
    matrix of random ids among all cells but still gathers and sums values for
    *each* cell (``O(n · P · c)``). With binary weights a simulated statistic
    depends only on the *sum* of the ``c`` drawn values, so here one sorted set
    of ``P`` sums per neighbour count ``c`` serves every cell with ``c``
    neighbours, and a cell's tail counts are two ``searchsorted`` calls. Draws
    are ``c + 1`` distinct ids from all ``n``; where a draw contains the focal
    cell itself, that cell is skipped and the ``(c+1)``-th id used (a handful of
    fixes), so each cell's null is *exactly* uniform sampling from the other
    ``n − 1`` values, as in esda. Shared draws make cells' p-values dependent
    (as esda's shared ids do) but each stays valid. Cost ``O(P c + n log P)``.

    ``p_sim`` is esda's default (``alternative="directed"``): ``(m + 1) / (P + 1)``
    with ``m`` the simulated statistics as or more extreme than the observed
    one in its own direction (the smaller tail); ``min(1, 2·p_sim)`` is the
    two-sided version. Ties count in both tails, ``m = min(#sim ≥ obs, #sim ≤
    obs)``: esda counts them in the upper tail only, so with count data a cell
    whose every draw equals the observed value (all zeros) gets ``1/(P + 1)``
    there and 1 here; without ties the two are the same. Islands get 1.

    Parameters
    ----------
    values : array_like of float
        One value per observation (counts, sums), finite.
    weights : scipy.sparse matrix or array
        ``n × n`` non-negative spatial weights including the self weight (e.g.
        :func:`analytics.weights.h3_ring_weights`). Permutations need binary
        neighbour weights (any self weight).
    permutations : int, default 0
        Number of conditional randomisations (e.g. 999); 0 for analytic only.
    seed : int, optional
        Seed of the random draws.

    Returns
    -------
    GiStarResult

    Examples
    --------
    >>> w = sp.csr_array(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1.0]]))
    >>> r = getis_ord_gi_star([1.0, 2.0, 6.0, 9.0], w)
    >>> np.round(r.z, 4).tolist(), r.n_neighbors.tolist()
    ([-1.623, -1.4056, 1.0932, 1.623], [1, 2, 2, 1])
    >>> r = getis_ord_gi_star([1.0, 2.0, 6.0, 9.0], w, permutations=99, seed=1)
    >>> bool((r.p_sim >= 0.01).all() and (r.p_sim <= 1).all())
    True
    """
    y = _as_values(values)
    if int(permutations) != permutations or permutations < 0:
        raise HotspotError(f"permutations must be a non-negative integer, got {permutations}")
    w, added = _as_weights(weights, y.size)
    z = _gi_star_z(y, w)
    p = 2.0 * ndtr(-np.abs(z))
    n_neighbors = (np.diff(w.indptr) - (w.diagonal() != 0)).astype(np.int64)
    p_sim = _pseudo_p(y, w, int(permutations), seed) if permutations and y.size else None
    parameters = {
        "statistic": "Getis-Ord Gi*",
        "n": int(y.size),
        "permutations": int(permutations),
        "seed": seed,
        "self_weight_added": added,
    }
    return GiStarResult(z=z, p=p, p_sim=p_sim, n_neighbors=n_neighbors, parameters=parameters)


def fdr_threshold(p: ArrayLike, alpha: float) -> float:
    """Benjamini–Hochberg cut-off: the largest ``p_(k)`` with ``p_(k) ≤ k·alpha/m``.

    ``p ≤ threshold`` are the discoveries at false discovery rate ``alpha``;
    0.0 when there are none. NaN p-values are ignored (``m`` counts the others).

    Examples
    --------
    >>> fdr_threshold([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205], 0.05)
    0.008
    >>> fdr_threshold([0.2, 0.5], 0.05)
    0.0
    """
    if not 0 < alpha < 1:
        raise HotspotError(f"alpha must be in (0, 1), got {alpha}")
    ps = np.sort(np.asarray(p, dtype=np.float64).ravel())
    ps = ps[~np.isnan(ps)]
    if ps.size == 0:
        return 0.0
    below = ps <= alpha * np.arange(1, ps.size + 1) / ps.size
    return float(ps[np.flatnonzero(below)[-1]]) if below.any() else 0.0


def gi_bins(z: ArrayLike, p: ArrayLike, *, fdr: bool = True) -> NDArray[np.int8]:
    """ArcGIS-style confidence bins: ±3 / ±2 / ±1 = 99 / 95 / 90 % hot (+) or cold (−).

    With ``fdr=True`` (ArcGIS's "Apply False Discovery Rate Correction") the
    cut-off of each level is the Benjamini–Hochberg threshold at 0.01, 0.05
    and 0.10 over all ``p``; otherwise the plain levels. 0 = not significant.

    Examples
    --------
    >>> z = [3.0, 2.2, 1.7, 0.5, -2.2, -3.0]
    >>> p = [0.0027, 0.0278, 0.0891, 0.6171, 0.0278, 0.0027]
    >>> gi_bins(z, p, fdr=False).tolist()
    [3, 2, 1, 0, -2, -3]
    >>> gi_bins(z, p).tolist()  # the 90 % cell does not survive FDR
    [3, 2, 0, 0, -2, -3]
    """
    zs = np.asarray(z, dtype=np.float64)
    ps = np.asarray(p, dtype=np.float64)
    if zs.shape != ps.shape:
        raise HotspotError(f"z {zs.shape} and p {ps.shape} differ in shape")
    level = np.zeros(zs.shape, dtype=np.int8)
    for alpha, value in GI_BIN_LEVELS:
        cut = fdr_threshold(ps, alpha) if fdr else alpha
        level[ps <= cut] = value
    return (level * np.sign(zs)).astype(np.int8)


def _frame(
    ids: dict[str, Any], value_name: str, values: ArrayLike, gi: GiStarResult, fdr: bool
) -> pd.DataFrame:
    p_bins = gi.p if gi.p_sim is None else np.minimum(1.0, 2.0 * gi.p_sim)
    p_bins = np.where(gi.n_neighbors > 0, p_bins, 1.0)  # one cell alone is no cluster
    columns: dict[str, Any] = dict(ids)
    columns[value_name] = np.asarray(values)
    columns.update(
        gi_z=gi.z, gi_p=gi.p, gi_bin=gi_bins(gi.z, p_bins, fdr=fdr), n_neighbors=gi.n_neighbors
    )
    if gi.p_sim is not None:
        columns["gi_p_sim"] = gi.p_sim
    frame = pd.DataFrame(columns)
    frame.attrs["parameters"] = {
        **gi.parameters,
        "fdr": fdr,
        "bins_from": "analytic p" if gi.p_sim is None else "min(1, 2 * p_sim)",
    }
    return frame


def cell_hotspots(
    cells: ArrayLike,
    counts: ArrayLike,
    *,
    k: int = 1,
    permutations: int = 0,
    seed: int | None = None,
    fdr: bool = True,
) -> pd.DataFrame:
    """Gi* hot spots of counts on H3 cells: the cell and its ``k`` rings, binary weights.

    Pass *every* cell of the study area (e.g. from
    :func:`analytics.weights.cells_in_polygon`), zero counts included.

    Parameters
    ----------
    cells : array_like of int64
        Unique H3 ids of one resolution.
    counts : array_like
        One value per cell.
    k : int, default 1
        Neighbourhood: grid distance ``k``.
    permutations, seed
        See :func:`getis_ord_gi_star`.
    fdr : bool, default True
        FDR-corrected bins (:func:`gi_bins`).

    Returns
    -------
    pandas.DataFrame
        In the order of ``cells``: ``h3`` (int64), ``count``, ``gi_z``,
        ``gi_p`` (analytic, two-sided), ``gi_bin`` (int8, −3…3), ``n_neighbors``,
        and ``gi_p_sim`` when permuting — then the bins use the two-sided
        pseudo p-value ``min(1, 2·p_sim)``. Cells without neighbours get bin 0.
        ``attrs["parameters"]`` records how it was made.

    Examples
    --------
    >>> import h3
    >>> disk = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(22.8, 108.3, 8), 6)]
    >>> counts = np.zeros(len(disk))
    >>> counts[:7] = 20  # the centre cell and its first ring
    >>> out = cell_hotspots(disk, counts)
    >>> out.loc[0, ["gi_bin", "n_neighbors"]].tolist(), int(out["gi_bin"].iloc[-1])
    ([3, 6], 0)
    """
    ids = np.asarray(cells, dtype=np.int64)
    if np.shape(counts) != ids.shape:
        raise HotspotError(f"{np.size(counts)} counts for {ids.size} cells")
    w = h3_ring_weights(ids, k, include_self=True)
    gi = getis_ord_gi_star(counts, w, permutations=permutations, seed=seed)
    frame = _frame({"h3": ids}, "count", counts, gi, fdr)
    frame.attrs["parameters"].update(weights=f"H3 grid_disk k={k}, binary, self included")
    return frame


def polygon_hotspots(
    geoms: Any,
    values: ArrayLike,
    *,
    rule: Literal["queen", "rook"] = "queen",
    permutations: int = 0,
    seed: int | None = None,
    fdr: bool = True,
) -> pd.DataFrame:
    """Gi* hot spots over polygons (jurisdictions) with binary contiguity weights.

    Parameters
    ----------
    geoms : sequence of shapely (Multi)Polygons
    values : array_like
        One value per polygon.
    rule : {"queen", "rook"}, default "queen"
        See :func:`analytics.weights.polygon_contiguity_weights`.
    permutations, seed, fdr
        As :func:`cell_hotspots`.

    Returns
    -------
    pandas.DataFrame
        In the order of ``geoms``: ``value``, ``gi_z``, ``gi_p``, ``gi_bin``,
        ``n_neighbors`` (and ``gi_p_sim`` when permuting).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> squares = [box(x, y, x + 1, y + 1) for x in range(5) for y in range(5)]
    >>> values = [9.0 if x + y < 2 else 1.0 for x in range(5) for y in range(5)]
    >>> out = polygon_hotspots(squares, values)
    >>> out["n_neighbors"].tolist()[:3], int(out.loc[0, "gi_bin"])
    ([3, 5, 5], 3)
    """
    w = polygon_contiguity_weights(geoms, rule, include_self=True)
    gi = getis_ord_gi_star(values, w, permutations=permutations, seed=seed)
    frame = _frame({}, "value", values, gi, fdr)
    frame.attrs["parameters"].update(weights=f"{rule} contiguity, binary, self included")
    return frame
