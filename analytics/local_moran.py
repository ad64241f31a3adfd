"""Anselin Local Moran's I (cluster and outlier analysis) with FDR-corrected HH/LL/HL/LH types.

What ArcGIS's Cluster and Outlier Analysis computes, over H3 cells and polygons: a
local Moran's I per observation, its analytic z under total randomisation and a
permutation pseudo p-value under conditional randomisation, and a cluster/outlier type
for the observations significant after a Benjamini–Hochberg correction. Weights are the
sparse ones of :mod:`analytics.weights`; permutations reuse the neighbour-sum draws of
:mod:`analytics.hotspots`, so the cost stays ``O(P c + n log P)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from analytics.errors import AnalyticsError
from analytics.hotspots import _off_diagonal, _pseudo_p, fdr_threshold
from analytics.weights import h3_ring_weights, polygon_contiguity_weights

#: Quadrant codes of esda's default (PySAL) scheme: 1 HH, 2 LH, 3 LL, 4 HL.
QUADRANTS: Final = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
#: What a cluster/outlier type is called (ArcGIS's COType; "not significant" left blank there).
NOT_SIGNIFICANT: Final = "not_significant"
TYPE_LABELS: Final = {
    "HH": "高高",
    "LL": "低低",
    "HL": "高低",
    "LH": "低高",
    NOT_SIGNIFICANT: "不显著",
}


class LocalMoranError(AnalyticsError):
    """Inputs on which Local Moran's I cannot be computed."""


@dataclass(frozen=True)
class LocalMoranResult:
    """Local Moran's I of every observation, as esda's ``Moran_Local`` names them.

    ``Is``: the statistic ``(n − 1) z_i Σ_j w_ij z_j / Σ_k z_k²``; ``EI``, ``VI``: its
    mean and variance under total randomisation; ``z``: ``(Is − EI) / sqrt(VI)`` (0
    where VI is 0); ``p``: its two-sided normal p-value; ``p_sim``: the folded pseudo
    p-value (None without permutations); ``q``: quadrant 1 HH, 2 LH, 3 LL, 4 HL;
    ``lag``: the spatial lag of the standardised values; ``n_neighbors``: neighbours.
    """

    Is: NDArray[np.float64]  # esda's names
    EI: NDArray[np.float64]
    VI: NDArray[np.float64]
    z: NDArray[np.float64]
    p: NDArray[np.float64]
    p_sim: NDArray[np.float64] | None
    q: NDArray[np.int8]
    lag: NDArray[np.float64]
    n_neighbors: NDArray[np.int64]
    parameters: dict[str, Any] = field(default_factory=dict)


def _values(values: ArrayLike) -> NDArray[np.float64]:
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1:
        raise LocalMoranError(f"values must be 1-D, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise LocalMoranError("values must be finite (no NaN or inf)")
    return y


def _neighbours(weights: Any, n: int) -> sp.csr_array:
    """CSR float64 weights without the diagonal (Local Moran leaves the focal value out)."""
    if not sp.issparse(weights):
        raise LocalMoranError("weights must be a scipy.sparse matrix or array")
    if weights.shape != (n, n):
        raise LocalMoranError(f"weights of shape {weights.shape} do not match {n} values")
    w = sp.csr_array(weights, dtype=np.float64)
    if w.nnz and (w.data < 0).any():
        raise LocalMoranError("weights must be non-negative")
    w = _off_diagonal(w)
    w.eliminate_zeros()
    w.sort_indices()
    return w


def _row_standardised(w: sp.csr_array) -> sp.csr_array:
    row_sum = np.asarray(w.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
    scale = np.divide(1.0, row_sum, out=np.zeros_like(row_sum), where=row_sum > 0)
    return sp.csr_array((w.data * scale[rows], w.indices, w.indptr), shape=w.shape)


def _moments(
    z: NDArray[np.float64], w: sp.csr_array
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """E[I_i] and V[I_i] under total randomisation (Sokal et al. 1998, A3 and A4*), as esda."""
    n = z.size
    z2 = z * z
    m2 = float(np.mean(z2))
    m4 = float(np.mean(z2 * z2))
    b2 = m4 / m2**2 if m2 > 0 else 0.0
    rows = np.repeat(np.arange(n), np.diff(w.indptr))  # row sums without a sparse product
    wi = np.bincount(rows, weights=w.data, minlength=n)
    wi2 = np.bincount(rows, weights=w.data**2, minlength=n)
    n1 = n - 1
    expectation = -wi / n1
    variance = wi2 * (n - b2) / n1
    variance += (wi**2 - wi2) * (2 * b2 - n) / (n1 * (n - 2))
    variance -= (wi / n1) ** 2
    return expectation, variance


def local_moran(
    values: ArrayLike,
    weights: Any,
    *,
    transform: Literal["R", "B"] = "R",
    permutations: int = 0,
    seed: int | None = None,
) -> LocalMoranResult:
    """Anselin's Local Moran's I, its analytic z and optional permutation pseudo p-values.

    **Statistic** (esda's ``Moran_Local``; ArcGIS's up to the constant ``(n−1)/n``). With
    ``z`` the values less their mean over their population standard deviation and
    ``w`` the weights (row-standardised with ``transform="R"``, the default of esda and
    ArcGIS; as given with ``"B"``), self weights dropped::

        I_i = (n − 1) z_i Σ_j w_ij z_j / Σ_k z_k²

    ``EI`` and ``VI`` are esda's total-randomisation moments (Sokal, Oden & Thomson
    1998, A3 and A4*: ``EI_i = −W_i / (n − 1)``), ``z = (I − EI) / sqrt(VI)`` and ``p``
    its two-sided normal p-value: what ArcGIS reports as ``LMiZScore`` / ``LMiPValue``
    without permutations.

    **Permutations** (conditional randomisation, as esda's ``crand``): observation
    ``i`` keeps its value, its ``c_i`` neighbours get ``c_i`` of the other ``n − 1``
    values drawn without replacement. With binary neighbour weights (row-standardised
    or not) a simulated ``I_i`` is ``z_i`` times a positive constant times the *sum* of
    the drawn values, so its tails are the tails of that sum: the shared sorted sums of
    :func:`analytics.hotspots.getis_ord_gi_star` serve every observation. ``p_sim`` is
    ``(m + 1) / (P + 1)`` with ``m = min(#sim ≥ I_i, #sim ≤ I_i)``: esda's folded p
    (``#sim ≥ I_i``, or ``P`` less it when that is smaller) when there are no ties;
    esda counts ties in the upper tail only, so with counts a cell whose every
    neighbourhood draw ties its own (all zeros among zeros) gets a tiny p there and a
    large one here. ``p_sim`` is 1 where ``z_i = 0`` (every draw gives ``I_i = 0``) and
    for islands. Same data, weights and seed give the same ``p_sim`` as Gi*'s.

    Parameters
    ----------
    values : array_like of float
        One finite value per observation.
    weights : scipy.sparse matrix or array
        ``n × n`` non-negative spatial weights (e.g. :func:`analytics.weights.h3_ring_weights`);
        the diagonal is ignored. Permutations need binary weights.
    transform : {"R", "B"}, default "R"
        Row-standardised or as given.
    permutations : int, default 0
        Number of conditional randomisations (0: analytic only). ``p_sim`` is never below
        ``1/(P + 1)``, and a Benjamini–Hochberg cut-off over ``m`` observations calls ``k``
        of them only at ``p ≤ k·alpha/m``: thousands of cells need ``P`` in the thousands
        (the layers' 9999; GeoDa's default is 999, ArcGIS's 499).
    seed : int, optional
        Seed of the random draws.

    Returns
    -------
    LocalMoranResult

    Examples
    --------
    >>> w = sp.csr_array(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0.0]]))
    >>> r = local_moran([1.0, 2.0, 6.0, 9.0], w)
    >>> np.round(r.Is, 4).tolist(), r.q.tolist()
    ([0.6402, 0.1829, 0.1098, 0.4939], [3, 3, 1, 1])
    """
    y = _values(values)
    if transform not in ("R", "B"):
        raise LocalMoranError(f"transform must be 'R' or 'B', got {transform!r}")
    if int(permutations) != permutations or permutations < 0:
        raise LocalMoranError(f"permutations must be a non-negative integer, got {permutations}")
    binary = _neighbours(weights, y.size)
    if permutations and binary.nnz and not np.all(binary.data == 1.0):
        raise LocalMoranError("permutation inference needs binary neighbour weights")
    w = _row_standardised(binary) if transform == "R" else binary
    n = y.size
    sd = float(y.std()) if n else 0.0
    z = (y - y.mean()) / sd if sd > 0 else np.zeros(n)
    lag = w @ z
    den = float(np.sum(z**2))
    scale = (n - 1) / den if den > 0 else 0.0
    local_i = scale * z * lag
    n_neighbors = np.diff(binary.indptr).astype(np.int64)
    if n > 2 and den > 0:
        expectation, variance = _moments(z, w)
    else:  # a constant (or too short) series: no spread to test
        expectation, variance = np.zeros(n), np.zeros(n)
    z_score = np.zeros(n)
    ok = variance > 0
    z_score[ok] = (local_i[ok] - expectation[ok]) / np.sqrt(variance[ok])
    p_sim = None
    if permutations and n:
        p_sim = _pseudo_p(y, binary, int(permutations), seed)
        p_sim[z == 0] = 1.0
    high, lag_high = z > 0, lag > 0
    q = np.where(high, np.where(lag_high, 1, 4), np.where(lag_high, 2, 3)).astype(np.int8)
    parameters = {
        "statistic": "Anselin Local Moran's I",
        "n": int(n),
        "transform": transform,
        "permutations": int(permutations),
        "seed": seed,
    }
    return LocalMoranResult(
        Is=local_i,
        EI=expectation,
        VI=variance,
        z=z_score,
        p=2.0 * ndtr(-np.abs(z_score)),
        p_sim=p_sim,
        q=q,
        lag=lag,
        n_neighbors=n_neighbors,
        parameters=parameters,
    )


def cluster_outlier_types(
    q: ArrayLike, p: ArrayLike, *, alpha: float = 0.05, fdr: bool = True
) -> NDArray[np.object_]:
    """ArcGIS's COType: ``HH``/``LL`` clusters and ``HL``/``LH`` outliers where ``p`` is
    significant at ``alpha`` (the Benjamini–Hochberg cut-off over all ``p`` with
    ``fdr``), ``not_significant`` elsewhere.

    Examples
    --------
    >>> p = [0.001, 0.002, 0.004, 0.3, 0.045]  # BH at 0.05 over five: cut-off 0.004
    >>> cluster_outlier_types([1, 3, 4, 2, 1], p).tolist()
    ['HH', 'LL', 'HL', 'not_significant', 'not_significant']
    >>> cluster_outlier_types([1, 3, 4, 2, 1], p, fdr=False)[-1]
    'HH'
    """
    codes = np.asarray(q, dtype=np.int64)
    ps = np.asarray(p, dtype=np.float64)
    if codes.shape != ps.shape:
        raise LocalMoranError(f"quadrants {codes.shape} and p {ps.shape} differ in shape")
    if not 0 < alpha < 1:
        raise LocalMoranError(f"alpha must be in (0, 1), got {alpha}")
    cut = fdr_threshold(ps, alpha) if fdr else alpha
    names = np.array([QUADRANTS.get(int(c), NOT_SIGNIFICANT) for c in range(5)], dtype=object)
    out = names[np.clip(codes, 0, 4)]
    out[~(ps <= cut)] = NOT_SIGNIFICANT
    return out


def _frame(
    ids: dict[str, Any],
    values: NDArray[np.float64],
    lm: LocalMoranResult,
    alpha: float,
    fdr: bool,
) -> pd.DataFrame:
    """The per-observation table. Significance from the analytic two-sided p, or when
    permuting from the folded ``p_sim`` itself, as GeoDa, ArcGIS and esda's
    ``get_cluster_labels`` judge LISAs (the Gi* layer doubles its directed p); islands
    are never significant."""
    p_test = lm.p if lm.p_sim is None else lm.p_sim
    p_test = np.where(lm.n_neighbors > 0, p_test, 1.0)
    co_type = cluster_outlier_types(lm.q, p_test, alpha=alpha, fdr=fdr)
    columns: dict[str, Any] = dict(ids)
    columns["value"] = values
    columns.update(moran_i=lm.Is, moran_z=lm.z, moran_p=lm.p)
    if lm.p_sim is not None:
        columns["moran_p_sim"] = lm.p_sim
    columns.update(
        quadrant=np.array([QUADRANTS[int(c)] for c in lm.q], dtype=object),
        co_type=co_type,
        co_label=np.array([TYPE_LABELS[t] for t in co_type], dtype=object),
        n_neighbors=lm.n_neighbors,
    )
    frame = pd.DataFrame(columns)
    frame.attrs["parameters"] = {
        **lm.parameters,
        "alpha": alpha,
        "fdr": fdr,
        "significance_from": "analytic p" if lm.p_sim is None else "p_sim",
    }
    return frame


def cell_local_moran(
    cells: ArrayLike,
    counts: ArrayLike,
    *,
    k: int = 1,
    permutations: int = 9999,
    seed: int | None = None,
    alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Cluster and outlier analysis of counts on H3 cells: the cell's ``k`` rings, row
    standardised. Pass *every* cell of the study area, zero counts included.

    Returns
    -------
    pandas.DataFrame
        In the order of ``cells``: ``h3`` (int64), ``value``, ``moran_i``, ``moran_z``,
        ``moran_p`` (analytic), ``moran_p_sim`` (when permuting), ``quadrant``,
        ``co_type`` (HH, LL, HL, LH or not_significant), ``co_label`` (高高, 低低, 高低,
        低高, 不显著) and ``n_neighbors``; ``attrs["parameters"]`` says how.

    Examples
    --------
    >>> import h3
    >>> disk = [h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(22.8, 108.3, 8), 6)]
    >>> counts = np.zeros(len(disk))
    >>> counts[:7] = 20  # the centre cell and its first ring
    >>> out = cell_local_moran(disk, counts, seed=0)
    >>> out.loc[0, ["co_type", "co_label"]].tolist(), int((out["co_type"] == "HH").sum())
    (['HH', '高高'], 7)
    """
    ids = np.asarray(cells, dtype=np.int64)
    y = _values(counts)
    if y.shape != ids.shape:
        raise LocalMoranError(f"{y.size} counts for {ids.size} cells")
    w = h3_ring_weights(ids, k, include_self=False)
    lm = local_moran(y, w, permutations=permutations, seed=seed)
    frame = _frame({"h3": ids}, y, lm, alpha, fdr)
    frame.attrs["parameters"].update(weights=f"H3 grid_disk k={k}, row-standardised")
    return frame


def polygon_local_moran(
    geoms: Any,
    values: ArrayLike,
    *,
    rule: Literal["queen", "rook"] = "queen",
    permutations: int = 9999,
    seed: int | None = None,
    alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Cluster and outlier analysis over polygons (counties), contiguity row standardised.

    The columns of :func:`cell_local_moran` without ``h3``, in the order of ``geoms``.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> squares = [box(x, y, x + 1, y + 1) for x in range(8) for y in range(8)]
    >>> values = [float(x + y) for x in range(8) for y in range(8)]  # a slope
    >>> values[0] = 20.0  # the lowest corner made the highest value: an outlier
    >>> out = polygon_local_moran(squares, values, seed=1)
    >>> out.loc[0, ["quadrant", "co_type", "co_label"]].tolist()
    ['HL', 'HL', '高低']
    """
    y = _values(values)
    w = polygon_contiguity_weights(geoms, rule, include_self=False)
    if w.shape[0] != y.size:
        raise LocalMoranError(f"{y.size} values for {w.shape[0]} polygons")
    lm = local_moran(y, w, permutations=permutations, seed=seed)
    frame = _frame({}, y, lm, alpha, fdr)
    frame.attrs["parameters"].update(weights=f"{rule} contiguity, row-standardised")
    return frame
